"""Every parameter set: the exact engine against an independent solve_ivp integration.

The reference (ketasim.testing.ode_reference) builds its right-hand side flow by
flow from the YAML structure and integrates with LSODA at rtol 1e-10; the
exact solution must agree to 1e-6 of Cmax on random regimens, for every route
the set serves, and conserve mass.
"""

import zlib

import numpy as np
import pytest

from ketasim import testing as kt
from ketasim.dosing import ROUTES, Bolus, Infusion, Regimen
from ketasim.layers.pk import run_pk
from ketasim.parameters import ETA_ROLES, get_parameter_set, list_parameter_sets

SETS = list_parameter_sets()


def _random_regimen(rng, routes, per_kg_ok=True):
    events = []
    for _ in range(rng.integers(1, 4)):
        route = str(rng.choice(routes))
        t = float(np.round(rng.uniform(0, 10), 3))
        amt = float(np.round(rng.uniform(5, 60), 2))
        if route == "iv" and rng.random() < 0.5:
            events.append(Infusion(t, amt, float(np.round(rng.uniform(0.1, 2), 3)), route="iv", drug="esketamine"))
        else:
            events.append(Bolus(t, amt, route=route, drug="esketamine"))
    return Regimen(tuple(events))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("set_id", SETS)
def test_exact_engine_matches_solve_ivp(set_id, seed):
    ps = get_parameter_set(set_id)
    rng = np.random.default_rng(zlib.crc32(set_id.encode()) + seed)
    routes = sorted(ps.routes)
    weight = 0.3 if ps.species == "rat" else 70.0
    age = 0.25 if ps.species == "rat" else 40.0
    cov = {"weight": np.array([weight]), "age": np.array([age]), "sex": np.array(["F"]),
           "asian": np.array([False]), "japanese": np.array([False]), "cyp2b6": np.array(["normal"])}
    times = np.round(np.arange(0, 30, 0.05), 10)
    for trial in range(2):
        eta = None if trial == 0 else rng.standard_normal((1, len(ETA_ROLES)))
        reg = _random_regimen(rng, routes)
        if ps.species == "rat":
            reg = Regimen(tuple(type(e)(**{**{f: getattr(e, f) for f in e.__dataclass_fields__},
                                            "amount": e.amount / 100}) for e in reg.events))
        params = {k: float(v[0]) for k, v in ps.individual(cov, eta).items()}
        ref = kt.ode_reference(ps, reg, params, times, weight=weight)
        comps = [f"A_{c}" for c in ps.compartments]
        got = run_pk(reg, cov, eta, times, ps, ["C_plasma_ketamine", "C_effect_ketamine", "A_eliminated"] + comps)
        kt.assert_close_relative(got["C_plasma_ketamine"][0], ref["central"], 1e-6, f"{set_id} plasma {reg}")
        kt.assert_close_relative(got["C_effect_ketamine"][0], ref["effect"], 1e-6, f"{set_id} effect")
        kt.assert_close_relative(got["A_eliminated"][0], ref["eliminated"], 1e-6, f"{set_id} eliminated")
        for c in comps:
            if np.max(np.abs(ref[c])) > 1e-9:
                kt.assert_close_relative(got[c][0], ref[c], 1e-6, f"{set_id} {c}")


@pytest.mark.parametrize("set_id", SETS)
def test_mass_balance(set_id):
    """Every mg of ketamine put in is in a ketamine compartment or eliminated, at every time."""
    ps = get_parameter_set(set_id)
    weight = 0.3 if ps.species == "rat" else 70.0
    cov = {"weight": np.array([weight, weight]), "age": np.array([30.0, 30.0]) if ps.species == "human"
           else np.array([0.25, 0.25]), "sex": np.array(["M", "F"]), "asian": np.array([False, True]),
           "japanese": np.array([False, False]), "cyp2b6": np.array(["normal", "normal"])}
    dose = 0.5 * weight
    reg = Regimen((Infusion(0.0, dose, 0.5, route="iv", drug="esketamine"), Bolus(3.0, dose, "iv", "esketamine")))
    times = np.linspace(0, 48, 961)
    comps = [f"A_{c}" for c, s in ps.compartments.items() if s["analyte"] == "ketamine"]
    got = run_pk(reg, cov, np.random.default_rng(0).standard_normal((2, len(ETA_ROLES))), times, ps,
                 comps + ["A_eliminated"])
    total_in = np.clip(times / 0.5, 0, 1) * dose + (times >= 3.0) * dose
    body = sum(got[c] for c in comps)
    np.testing.assert_allclose(body + got["A_eliminated"], np.broadcast_to(total_in, body.shape), atol=1e-9 * dose)
    assert np.all(got["A_eliminated"] >= -1e-9 * dose)
    assert np.all(np.diff(got["A_eliminated"], axis=1) >= -1e-9 * dose)  # elimination never runs backwards


@pytest.mark.parametrize("set_id", SETS)
def test_mass_balance_every_route(set_id):
    """For every route: dose given = ketamine in the body + eliminated (+ the part of a zero-order input
    still waiting to enter), with each dose counted once however many inputs its route has."""
    ps = get_parameter_set(set_id)
    weight = 0.3 if ps.species == "rat" else 70.0
    age = 0.25 if ps.species == "rat" else 40.0
    cov = {"weight": np.array([weight]), "age": np.array([age]), "sex": np.array(["M"]),
           "asian": np.array([False]), "japanese": np.array([False]), "cyp2b6": np.array(["normal"])}
    times = np.linspace(0, 48, 481)
    dose = 0.5 * weight
    for route in sorted(ps.routes):
        reg = Regimen((Bolus(0.0, dose, route=route, drug="esketamine"),))
        comps = [f"A_{c}" for c, s in ps.compartments.items() if s["analyte"] == "ketamine"]
        got = run_pk(reg, cov, None, times, ps, comps + ["A_eliminated"])
        body = sum(got[c] for c in comps)[0]
        late = times >= 6.0  # every zero-order absorption phase of the shipped routes is over by then
        np.testing.assert_allclose((body + got["A_eliminated"][0])[late], dose, rtol=1e-9,
                                   err_msg=f"{set_id} {route}")

"""Resuming the exact PK solution from a saved state (the self-administration driver's need).

By superposition, continuing from the state at t0 with only the inputs that
enter after t0 is exactly the solution of the whole regimen: checked on every
parameter set, on random regimens whose infusions and zero-order absorptions
run across the cut, with and without inter-individual variability.
"""

import zlib

import numpy as np
import pytest

from ketasim import testing as kt
from ketasim.dosing import Bolus, Infusion, Regimen
from ketasim.engine import Inputs, solve_linear
from ketasim.errors import InputError
from ketasim.layers.pk import PKState, pk_state, run_pk
from ketasim.parameters import ETA_ROLES, get_parameter_set, list_parameter_sets


def _cov(ps, n=2):
    rat = ps.species == "rat"
    return {"weight": np.array([0.25, 0.32][:n]) if rat else np.array([70.0, 55.0][:n]),
            "age": np.full(n, 0.5 if rat else 40.0), "sex": np.array(["F", "M"][:n]),
            "asian": np.zeros(n, bool), "japanese": np.zeros(n, bool), "cyp2b6": np.array(["normal"] * n)}


def _regimen(rng, ps):
    scale = 0.01 if ps.species == "rat" else 1.0
    drugs = ["racemic", "esketamine", "arketamine"] if ps.enantiomers != ["racemic"] else ["racemic"]
    events = []
    for _ in range(6):
        route = str(rng.choice(sorted(ps.routes)))
        t = float(np.round(rng.uniform(0, 6), 3))
        drug = str(rng.choice(drugs))
        amt = float(np.round(rng.uniform(5, 60), 2)) * scale
        if route == "iv" and rng.random() < 0.5:
            events.append(Infusion(t, amt, float(np.round(rng.uniform(0.2, 2), 3)), route="iv", drug=drug))
        else:
            events.append(Bolus(t, amt, route=route, drug=drug))
    return Regimen(tuple(events))


def test_engine_resume_closed_form():
    """One compartment, infusion across the cut: resuming equals the closed form."""
    k, V, R, T = 0.5, 10.0, 20.0, 2.0            # 1/h, L, mg/h, h
    A = np.array([[[-k]]])
    C = np.array([[1 / V]])
    inp = Inputs(np.array([0.0]), np.array([T]), np.array([0]), np.array([[R * T]]), np.ones((1, 1, 1)))
    t0 = 0.7
    x0 = np.array([[R / k * (1 - np.exp(-k * t0))]])
    times = np.array([0.7, 1.0, 2.0, 3.5])
    got = solve_linear(A, C, inp.after(t0).with_initial_state(t0, x0), times)[0, 0]
    want = np.where(times <= T, R / (k * V) * (1 - np.exp(-k * times)),
                    R / (k * V) * (1 - np.exp(-k * T)) * np.exp(-k * (times - T)))
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_inputs_after_keeps_remaining_amount_and_drops_past_boluses():
    inp = Inputs(np.array([0.0, 1.0, 2.0]), np.array([0.0, 2.0, 0.0]), np.array([0, 0, 0]),
                 np.array([[5.0, 8.0, 3.0]]), np.ones((1, 1, 1)))
    a = inp.after(1.5)
    np.testing.assert_allclose(a.start, [1.5, 2.0])
    np.testing.assert_allclose(a.duration, [1.5, 0.0])
    np.testing.assert_allclose(a.amount, [[6.0, 3.0]])          # 8 mg over 2 h: 6 mg still to come
    assert inp.after(2.0).duration.tolist() == [1.0, 0.0]      # the state is the left limit: the bolus at the cut is resumed
    assert inp.before(2.0).start.tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="before the initial state"):
        inp.with_initial_state(1.5, np.zeros((1, 1)))


@pytest.mark.parametrize("set_id", list_parameter_sets())
def test_resumed_pk_equals_direct_simulation(set_id):
    ps = get_parameter_set(set_id)
    rng = np.random.default_rng(zlib.crc32(set_id.encode()))
    cov = _cov(ps)
    eta = rng.standard_normal((2, len(ETA_ROLES)))
    reg = _regimen(rng, ps)
    outs = ["C_plasma_ketamine", "C_effect_S_ketamine", "C_effect_R_ketamine", "AUC_plasma_ketamine",
            "AUC_effect_S_ketamine", "A_eliminated"]
    times = np.round(np.arange(0, 12, 0.1), 10)
    direct = run_pk(reg, cov, eta, times, ps, outs)
    # chain three segments: state at the cut points (off the grid and on it), resume after each
    state = None
    pieces = {o: [] for o in outs}
    cuts = [0.0, 1.2345, 3.3, 12.0]
    for a, b in zip(cuts[:-1], cuts[1:]):
        seg = times[(times >= a) & (times < b)] if b < 12 else times[times >= a]
        got = run_pk(reg, cov, eta, seg, ps, outs, start=state)
        for o in outs:
            pieces[o].append(got[o])
        state = pk_state(reg, cov, eta, b, ps, start=state)
    for o in outs:
        kt.assert_close_relative(np.concatenate(pieces[o], axis=1), direct[o], 1e-9, f"{set_id} {o} {reg}")


def test_appending_doses_then_resuming_equals_final_regimen():
    """The driver's pattern: the state is saved before later doses are known."""
    ps = get_parameter_set("rat_ketamine_pk")
    cov = _cov(ps)
    doses = [Bolus(t, 0.5, "iv", per_kg=True) for t in (0.05, 0.3, 0.31, 1.0, 1.7)]
    final = Regimen(tuple(doses))
    times = np.round(np.arange(0, 2.5, 1 / 60), 10)
    direct = run_pk(final, cov, None, times, ps, ["C_effect_ketamine", "AUC_plasma_ketamine"])
    state, reg, got = None, Regimen(()), []
    edges = np.arange(0, 2.5 + 1e-9, 0.25)
    for a, b in zip(edges[:-1], edges[1:]):
        reg = Regimen(reg.events + tuple(d for d in doses if a <= d.time < b))   # doses chosen in [a, b)
        seg = times[(times >= a) & (times < b - 1e-12)]
        got.append(run_pk(reg, cov, None, seg, ps, ["C_effect_ketamine", "AUC_plasma_ketamine"], start=state))
        state = pk_state(reg, cov, None, b, ps, start=state)
    for o in ("C_effect_ketamine", "AUC_plasma_ketamine"):
        kt.assert_close_relative(np.concatenate([g[o] for g in got], axis=1), direct[o], 1e-9, o)


def test_resume_rejects_mismatched_state():
    ps = get_parameter_set("rat_ketamine_pk")
    cov = _cov(ps)
    reg = Regimen((Bolus(0.0, 0.5, "iv", per_kg=True),))
    st = pk_state(reg, cov, None, 1.0, ps)
    assert isinstance(st, PKState) and st.time == 1.0
    with pytest.raises(InputError, match="times must be >= the start state's time 1 h"):
        run_pk(reg, cov, None, np.array([0.5, 2.0]), ps, ["C_plasma_ketamine"], start=st)
    with pytest.raises(InputError, match="parameter set 'rat_ketamine_pk'"):
        run_pk(reg, _cov(get_parameter_set("kamp_2020_racemic_meta")), None, np.array([2.0]),
               get_parameter_set("kamp_2020_racemic_meta"), ["C_plasma_ketamine"], start=st)


def test_one_regimen_per_subject_equals_separate_simulations():
    ps = get_parameter_set("kamp_2020_racemic_meta")
    cov = _cov(ps)
    regs = [Regimen((Bolus(0.2, 20.0, "iv"), Infusion(1.0, 30.0, 0.5, "iv"))),
            Regimen((Bolus(0.5, 50.0, "intranasal", "esketamine"),))]
    times = np.linspace(0, 6, 73)
    outs = ["C_plasma_S_ketamine", "C_effect_R_ketamine", "AUC_plasma_norketamine", "A_eliminated"]
    both = run_pk(regs, cov, None, times, ps, outs)
    for i, r in enumerate(regs):
        one = run_pk(r, {k: v[i:i + 1] for k, v in cov.items()}, None, times, ps, outs)
        for o in outs:
            kt.assert_close_relative(both[o][i], one[o][0], 1e-12, f"subject {i} {o}")
    with pytest.raises(InputError, match="one Regimen per subject"):
        run_pk(regs[:1], cov, None, times, ps, outs)

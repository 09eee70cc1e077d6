"""Pharmacokinetic layer: plasma, effect-site and compartment amounts.

Builds, from a :class:`~ketasim.parameters.ParameterSet`, a population and a
regimen, the linear system of every subject and solves it exactly with
:func:`ketasim.engine.solve_linear`.

Enantiomers. A set estimated on racemic ketamine with an achiral assay
(``enantiomers: [racemic]``) is non-stereoselective: S and R are simulated
with the same parameters, so after a racemic dose each is half the total
(modelling assumption; measured S/R clearance ratios are close to 1, e.g.
18.4 vs 15.8 mL/min/kg, Wang 2019). A set estimated on S-ketamine simulates
R-ketamine with the same structure and its elimination parameters
multiplied by the set's ``stereo_ratio`` (R/S clearance, Wang 2019 [V]:
15.8/18.4 = 0.86 [D]). A racemic dose is split 50:50 into S and R.

Effect site. Each ketamine chain has an effect compartment,
``dCe/dt = ke0 (Cp - Ce)``, a state without mass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..dosing import Regimen
from ..engine import Inputs, solve_linear
from ..errors import InputError, RouteNotSupportedError, unknown
from ..parameters import ParameterSet
from ..units import MOLAR_MASS

__all__ = ["PK_OUTPUTS", "pk_variables", "run_pk", "DEFAULT_PK_OUTPUTS", "KE0_DEFAULT_PER_H"]

#: Default blood/effect-site equilibration rate: t1/2,ke0 = 6.1 min, the mean over
#: endpoints of Olofsen et al. 2012 (S-ketamine) [V]; ke0 = ln 2 / 6.1 min = 0.114 /min [D].
KE0_DEFAULT_PER_H = float(np.log(2) / 6.1 * 60.0)

_ANALYTE_OUT = {"norketamine": "C_plasma_norketamine", "hnk": "C_plasma_hnk", "dhnk": "C_plasma_dhnk"}

#: name -> (unit, long name)
PK_OUTPUTS: dict[str, tuple[str, str]] = {
    "C_plasma_ketamine": ("ng/mL", "plasma ketamine concentration (S + R)"),
    "C_plasma_S_ketamine": ("ng/mL", "plasma S-ketamine concentration"),
    "C_plasma_R_ketamine": ("ng/mL", "plasma R-ketamine concentration"),
    "C_plasma_norketamine": ("ng/mL", "plasma norketamine concentration (S + R)"),
    "C_plasma_hnk": ("ng/mL", "plasma hydroxynorketamine concentration (S + R)"),
    "C_plasma_dhnk": ("ng/mL", "plasma dehydronorketamine concentration (S + R)"),
    "C_effect_ketamine": ("ng/mL", "effect-site ketamine concentration (S + R), ke0 model"),
    "C_effect_S_ketamine": ("ng/mL", "effect-site S-ketamine concentration, ke0 model"),
    "C_effect_R_ketamine": ("ng/mL", "effect-site R-ketamine concentration, ke0 model"),
    "A_eliminated": ("mg", "cumulative ketamine input that has left the ketamine compartments "
                           "(metabolism, excretion, pre-systemic loss)"),
}
# Exact cumulative areas under every concentration, AUC_x = int_0^t C_x ds (ng*h/mL), computed by the
# engine in closed form, so exposure increments between output times do not depend on the grid.
PK_OUTPUTS.update({
    "AUC_" + k[2:]: ("ng*h/mL", f"exact cumulative area under the {v[1]} from time 0")
    for k, v in list(PK_OUTPUTS.items()) if k.startswith("C_")
})
DEFAULT_PK_OUTPUTS = ("C_plasma_ketamine", "C_plasma_S_ketamine", "C_plasma_R_ketamine",
                      "C_plasma_norketamine", "C_plasma_hnk", "C_effect_ketamine")


def pk_variables(ps: ParameterSet) -> dict[str, tuple[str, str]]:
    """Output variables a parameter set can produce: name -> (unit, long name)."""
    names = ["C_plasma_ketamine", "C_plasma_S_ketamine", "C_plasma_R_ketamine"]
    names += [_ANALYTE_OUT[a] for a in ps.analytes if a in _ANALYTE_OUT and ps.metabolite_central(a)]
    names += ["C_effect_ketamine", "C_effect_S_ketamine", "C_effect_R_ketamine", "A_eliminated"]
    names += ["AUC_" + k[2:] for k in names if k.startswith("C_")]
    out = {k: PK_OUTPUTS[k] for k in names}
    for c, spec in ps.compartments.items():
        out[f"A_{c}"] = ("mg", f"amount in compartment {c} ({spec['analyte']})")
    return out


@dataclass(frozen=True)
class _Chain:
    enantiomer: str            # "S" or "R"
    share: Mapping[str, float]  # drug -> fraction of the dose entering this chain
    scale_elimination: float


def _chains(ps: ParameterSet, regimen: Regimen) -> list[_Chain]:
    drugs = set(regimen.drugs)
    s_share = {"esketamine": 1.0, "racemic": 0.5, "arketamine": 0.0}
    r_share = {"esketamine": 0.0, "racemic": 0.5, "arketamine": 1.0}
    chains = []
    if any(s_share[d] > 0 for d in drugs):
        chains.append(_Chain("S", s_share, 1.0))
    if any(r_share[d] > 0 for d in drugs):
        ratio = 1.0 if "racemic" in ps.enantiomers else ps.stereo_ratio
        chains.append(_Chain("R", r_share, ratio))
    return chains


def _states(ps: ParameterSet, routes: Sequence[str] | None = None) -> list[str]:
    """State names: the compartments reachable from the given routes' inputs, then the effect site.

    Compartments that no dose of the regimen can reach (absorption depots of
    other routes) are left out: they would stay empty and only cost time.
    """
    if routes is None:
        keep = set(ps.compartments)
    else:
        keep = {ps.central}
        for r in routes:
            keep |= {inp["to"] for inp in ps.routes[r]["inputs"]}
        changed = True
        while changed:
            changed = False
            for f in ps.flows:
                if f["from"] in keep and f["to"] != "out" and f["to"] not in keep:
                    keep.add(f["to"])
                    changed = True
    return [c for c in ps.compartments if c in keep] + ["__effect__"]


def _value(p: Mapping[str, np.ndarray], ref, n: int) -> np.ndarray:
    if isinstance(ref, (int, float)) and not isinstance(ref, bool):
        return np.full(n, float(ref))
    return p[ref]


def _rate_matrix(ps: ParameterSet, p: Mapping[str, np.ndarray], n: int, scale_elim: float,
                 states: Sequence[str] | None = None) -> np.ndarray:
    states = list(states) if states is not None else _states(ps)
    idx = {s: i for i, s in enumerate(states)}
    A = np.zeros((n, len(states), len(states)))
    elim = {name for name, par in ps.params.items() if par.elimination}
    for f in ps.flows:
        src = f["from"]
        if src not in idx:
            continue
        comp = ps.compartments[src]
        if "rate" in f:
            k = _value(p, f["rate"], n).copy()
            key = f["rate"]
        elif "mean_time" in f:
            k = 1.0 / _value(p, f["mean_time"], n)
            key = f["mean_time"]
        else:
            k = p[f["clearance"]] / p[comp["volume"]]
            key = f["clearance"]
        if scale_elim != 1.0 and key in elim:
            k = k * scale_elim
        if "fraction" in f:
            k = k * _value(p, f["fraction"], n)
        if "fraction_complement" in f:
            k = k * (1.0 - _value(p, f["fraction_complement"], n))
        i = idx[src]
        A[:, i, i] -= k
        if f["to"] != "out":
            gain = k
            if f.get("molar"):
                gain = k * MOLAR_MASS[ps.compartments[f["to"]]["analyte"]] / MOLAR_MASS[comp["analyte"]]
            A[:, idx[f["to"]], i] += gain
    c = ps.central
    ke0 = p["ke0"] if "ke0" in p else np.full(n, KE0_DEFAULT_PER_H)
    e = idx["__effect__"]
    A[:, e, idx[c]] += ke0 / p[ps.compartments[c]["volume"]]
    A[:, e, e] -= ke0
    return A


def _check_routes(ps: ParameterSet, regimen: Regimen) -> None:
    for r in regimen.routes:
        if r not in ps.routes:
            raise RouteNotSupportedError(
                f"route {r!r} is not available in parameter set {ps.id!r} (species {ps.species}); "
                f"it supports {', '.join(sorted(ps.routes))}. Choose another set with parameters=..., "
                "or leave parameters unset for the default set of the route."
            )


def _inputs(ps: ParameterSet, regimen: Regimen, chain: _Chain, p: Mapping[str, np.ndarray],
            weights: np.ndarray, n: int, states: Sequence[str] | None = None) -> Inputs:
    states = list(states) if states is not None else _states(ps)
    idx = {s: i for i, s in enumerate(states)}
    kinds: dict[tuple, int] = {}
    vectors: list[np.ndarray] = []
    starts, durs, kind_of, amounts = [], [], [], []
    first_of_dose: list[bool] = []

    def kind(route: str, j: int, later: bool) -> int:
        key = (route, j, later)
        if key not in kinds:
            spec = ps.routes[route]["inputs"][j]
            v = np.zeros((n, len(states)))
            frac = np.ones(n)
            if "fraction" in spec:
                frac = _value(p, spec["fraction"], n).copy()
                if later and "later_device_multiplier" in spec:
                    frac = frac * _value(p, spec["later_device_multiplier"], n)
            if "fraction_complement" in spec:
                g = _value(p, spec["fraction_complement"], n).copy()
                if later:
                    other = [s for s in ps.routes[route]["inputs"] if s.get("fraction") == spec["fraction_complement"]]
                    if other and "later_device_multiplier" in other[0]:
                        g = g * _value(p, other[0]["later_device_multiplier"], n)
                frac = frac * (1.0 - g)
            v[:, idx[spec["to"]]] = frac
            kinds[key] = len(vectors)
            vectors.append(v)
        return kinds[key]

    def typical(ref, what: str, route: str) -> float:
        val = _value(p, ref, n)
        if not np.allclose(val, val[0], rtol=1e-12, atol=0):
            raise InputError(f"parameter set {ps.id!r}: {what} of route {route!r} varies between subjects; "
                             "only typical values are allowed there.")
        return float(val[0])

    for ev in regimen.events:
        share = chain.share[ev.drug]
        if share <= 0:
            continue
        route = ps.routes[ev.route]
        dose = np.full(n, ev.amount) * (weights if ev.per_kg else 1.0) * share
        lag = typical(route["lag"], "lag", ev.route) if "lag" in route else 0.0
        devices = [(0.0, dose, False)]
        if "device_mg" in route and ev.duration == 0:
            dev_mg = float(route["device_mg"]) * share
            interval = float(route.get("device_interval_min", 5.0)) / 60.0
            ndev = int(np.ceil(np.max(dose) / dev_mg - 1e-9))
            devices = []
            for kdev in range(ndev):
                amt = np.clip(dose - kdev * dev_mg, 0.0, dev_mg)
                devices.append((kdev * interval, amt, kdev > 0))
        for offset, amt, later in devices:
            for j, spec in enumerate(route["inputs"]):
                d_in = typical(spec["duration"], "duration", ev.route) if "duration" in spec else 0.0
                if ev.duration > 0 and d_in > 0:
                    raise InputError(
                        f"route {ev.route!r} of parameter set {ps.id!r} has its own zero-order absorption; "
                        f"give the dose as a bolus, not 'over {ev.duration:g} h'."
                    )
                starts.append(ev.time + lag + offset)
                durs.append(max(ev.duration, d_in))
                kind_of.append(kind(ev.route, j, later))
                amounts.append(amt)
                first_of_dose.append(j == 0)
    if not starts:
        return Inputs(np.zeros(0), np.zeros(0), np.zeros(0, int), np.zeros((n, 0)), np.zeros((n, 1, len(states))))
    return Inputs(np.array(starts, float), np.array(durs, float), np.array(kind_of, int),
                  np.stack(amounts, axis=1), np.stack(vectors, axis=1), np.array(first_of_dose, bool))


def _output_matrix(ps: ParameterSet, p: Mapping[str, np.ndarray], names: Sequence[str], n: int,
                   states: Sequence[str] | None = None) -> np.ndarray:
    states = list(states) if states is not None else _states(ps)
    idx = {s: i for i, s in enumerate(states)}
    C = np.zeros((n, len(names), len(states)))
    central = ps.central
    for o, name in enumerate(names):
        if name in ("C_plasma_ketamine", "C_plasma_S_ketamine", "C_plasma_R_ketamine"):
            C[:, o, idx[central]] = 1000.0 / p[ps.compartments[central]["volume"]]
        elif name in ("C_effect_ketamine", "C_effect_S_ketamine", "C_effect_R_ketamine"):
            C[:, o, idx["__effect__"]] = 1000.0
        elif name in _ANALYTE_OUT.values():
            an = [a for a, v in _ANALYTE_OUT.items() if v == name][0]
            mc = ps.metabolite_central(an)
            if mc is not None and mc in idx:
                C[:, o, idx[mc]] = 1000.0 / p[ps.compartments[mc]["volume"]]
        elif name == "__ketamine_amount__":
            for c, spec in ps.compartments.items():
                if spec["analyte"] == "ketamine" and c in idx:
                    C[:, o, idx[c]] = 1.0
        elif name.startswith("A_") and name[2:] in ps.compartments:
            if name[2:] in idx:
                C[:, o, idx[name[2:]]] = 1.0
        else:  # pragma: no cover - guarded by run_pk's validation
            raise AssertionError(name)
    return C


def run_pk(regimen: Regimen, covariates: Mapping[str, np.ndarray], eta: np.ndarray | None,
           times: np.ndarray, ps: ParameterSet, outputs: Sequence[str]) -> dict[str, np.ndarray]:
    """Simulate the PK outputs ``outputs`` for N subjects; returns name -> array (N, T).

    Parameters
    ----------
    regimen : Regimen
    covariates : mapping name -> array (N,)
    eta : ndarray (N, len(ETA_ROLES)) or None for typical values
    times : ndarray (T,), h
    ps : ParameterSet
    outputs : names from :func:`pk_variables`
    """
    avail = pk_variables(ps)
    for o in outputs:
        if o not in avail:
            if o in PK_OUTPUTS:
                raise InputError(
                    f"output {o!r} is not available from parameter set {ps.id!r}, which models "
                    f"{', '.join(ps.analytes)}. Choose a set with that analyte or drop the output."
                )
            raise unknown("outputs", o, sorted(avail))
    _check_routes(ps, regimen)
    n = len(np.asarray(covariates["weight"]))
    weights = np.asarray(covariates["weight"], float)
    T = len(times)
    result = {o: np.zeros((n, T)) for o in outputs}
    if not regimen.events:
        return result
    p = ps.individual(covariates, eta)
    names = list(outputs)
    if "A_eliminated" in names:
        names = [x for x in names if x != "A_eliminated"] + ["__ketamine_amount__"]
    chains = _chains(ps, regimen)
    # A non-stereoselective set given only racemic drug: S and R are identical; solve once.
    same = "racemic" in ps.enantiomers and set(regimen.drugs) == {"racemic"}
    for chain in chains[:1] if same else chains:
        wanted: list[tuple[str, str, float, bool]] = []   # (row name, result name, multiplier, integral)
        for nm in names:
            # AUC_x is the exact cumulative integral of C_x (same output row, integrated by the engine)
            row, integ = ("C_" + nm[4:], True) if nm.startswith("AUC_") else (nm, False)
            if row in ("C_plasma_S_ketamine", "C_plasma_R_ketamine", "C_effect_S_ketamine", "C_effect_R_ketamine"):
                if same or row in (f"C_plasma_{chain.enantiomer}_ketamine", f"C_effect_{chain.enantiomer}_ketamine"):
                    wanted.append((row, nm, 1.0, integ))
            elif row == "__ketamine_amount__":
                wanted.append((row, "A_eliminated", -2.0 if same else -1.0, False))
            else:
                wanted.append((row, nm, 2.0 if same else 1.0, integ))
        if not wanted:
            continue
        states = _states(ps, regimen.routes)
        A = _rate_matrix(ps, p, n, chain.scale_elimination, states)
        inp = _inputs(ps, regimen, chain, p, weights, n, states)
        C = _output_matrix(ps, p, [w[0] for w in wanted], n, states)
        y = solve_linear(A, C, inp, np.asarray(times, float), integral=np.array([w[3] for w in wanted]))
        for j, (row, res_name, mult, _) in enumerate(wanted):
            result[res_name] += mult * y[:, j]
            if row == "__ketamine_amount__":
                result[res_name] += -mult * inp.delivered(times)
    for arr in result.values():
        # Exact values are >= 0; floating-point cancellation leaves residues of order
        # 1e-16 of the curve's maximum (e.g. -1e-13 ng/mL). Zero them so printed results are clean.
        # Anything larger is left alone, so a real sign error still shows.
        scale = np.abs(arr).max(axis=1, keepdims=True)
        arr[np.abs(arr) <= 1e-12 * scale] = 0.0
    return result

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

__all__ = ["PK_OUTPUTS", "pk_variables", "run_pk", "pk_state", "PKState", "input_span", "DEFAULT_PK_OUTPUTS", "KE0_DEFAULT_PER_H"]

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


@dataclass(frozen=True)
class PKState:
    """The exact PK state of N subjects at one time, to resume a simulation from.

    Attributes
    ----------
    time : float
        h. The state is the left limit at ``time``: doses given at ``time`` are
        not in it, so a dose decided at ``time`` can still be added before resuming.
    parameter_set : str
        Id of the set the state belongs to.
    states : tuple of str
        Names of the state variables (compartments, then ``"__effect__"``).
    x : mapping chain -> ndarray (N, n)
        State of each enantiomer chain (``"S"``, ``"R"``): compartment amounts, mg,
        and the effect-site concentration, mg/L.
    ix : mapping chain -> ndarray (N, n)
        Exact integral of ``x`` from time 0 to ``time`` (for cumulative ``AUC_*`` outputs).
    """

    time: float
    parameter_set: str
    states: tuple[str, ...]
    x: Mapping[str, np.ndarray]
    ix: Mapping[str, np.ndarray]


def _per_subject(regimen, n: int) -> tuple[Regimen, list[Regimen] | None]:
    """(union regimen, per-subject regimens or None) from a Regimen or a sequence of N Regimens."""
    if isinstance(regimen, Regimen):
        return regimen, None
    regs = list(regimen)
    if len(regs) != n or not all(isinstance(r, Regimen) for r in regs):
        raise InputError(f"regimen must be a Regimen or a list of one Regimen per subject ({n}); "
                         f"got {len(regs)} items.")
    return Regimen(tuple(e for r in regs for e in r.events)), regs


def _inputs_for(ps: ParameterSet, regimen: Regimen, regs: list[Regimen] | None, chain: _Chain,
                p: Mapping[str, np.ndarray], weights: np.ndarray, n: int, states: Sequence[str]) -> Inputs:
    """Inputs of one shared regimen, or of one regimen per subject (events of the others get amount 0)."""
    if regs is None:
        return _inputs(ps, regimen, chain, p, weights, n, states)
    parts = [_inputs(ps, r, chain, {k: v[i:i + 1] for k, v in p.items()}, weights[i:i + 1], 1, states)
             for i, r in enumerate(regs)]
    ns = len(states)
    R = [pt.vectors.shape[1] for pt in parts]
    E = [pt.start.size for pt in parts]
    vec = np.zeros((n, sum(R), ns))
    amt = np.zeros((n, sum(E)))
    r0 = e0 = 0
    for i, pt in enumerate(parts):
        vec[i, r0:r0 + R[i]] = pt.vectors[0]
        amt[i, e0:e0 + E[i]] = pt.amount[0]
        r0, e0 = r0 + R[i], e0 + E[i]
    offs = np.cumsum([0] + R[:-1])
    ds = [pt.dose_start if pt.dose_start is not None else np.ones(pt.start.size, bool) for pt in parts]
    return Inputs(np.concatenate([pt.start for pt in parts]), np.concatenate([pt.duration for pt in parts]),
                  np.concatenate([pt.kind + o for pt, o in zip(parts, offs)]).astype(int), amt, vec,
                  np.concatenate(ds).astype(bool))


def input_span(event, covariates: Mapping[str, np.ndarray], eta: np.ndarray | None, ps: ParameterSet) -> float:
    """Hours from a dose's time to the end of its last input (lag, later spray devices, zero-order parts).

    A dose given before ``t`` whose span reaches past ``t`` still has input pending at ``t``: when
    resuming from a state at ``t`` it must be in the regimen passed to :func:`run_pk` (its part after
    ``t`` is added; the part before is in the state).
    """
    ev = event.shift(-event.time)
    reg = Regimen((ev,))
    _check_routes(ps, reg)
    n = len(np.asarray(covariates["weight"]))
    p = ps.individual(covariates, eta)
    weights = np.asarray(covariates["weight"], float)
    span = 0.0
    for chain in _chains(ps, reg):
        inp = _inputs(ps, reg, chain, p, weights, n, _states(ps, reg.routes))
        if inp.start.size:
            span = max(span, float(np.max(inp.start + inp.duration)))
    return span


def _resume_states(ps: ParameterSet, regimen: Regimen, start: PKState | None) -> list[str]:
    states = _states(ps, regimen.routes)
    if start is None:
        return states
    keep = set(states) | set(start.states)
    return [c for c in ps.compartments if c in keep] + ["__effect__"]


def _embed(start: PKState, arrays: Mapping[str, np.ndarray], chain: str, states: Sequence[str],
           n: int) -> np.ndarray:
    """``arrays[chain]`` (N, len(start.states)) placed on ``states``; zeros for new states."""
    out = np.zeros((n, len(states)))
    if chain in arrays:
        pos = {s: i for i, s in enumerate(start.states)}
        for j, s in enumerate(states):
            if s in pos:
                out[:, j] = arrays[chain][:, pos[s]]
    return out


def _check_start(start: PKState, ps: ParameterSet, n: int, times: np.ndarray) -> None:
    if start.parameter_set != ps.id:
        raise InputError(f"start state belongs to parameter set {start.parameter_set!r}, not {ps.id!r}; "
                         "resume with the set that produced it.")
    shapes = {v.shape[0] for v in start.x.values()}
    if shapes and shapes != {n}:
        raise InputError(f"start state holds {shapes.pop()} subjects; the population has {n}.")
    if times.size and times.min() < start.time:
        raise InputError(f"times must be >= the start state's time {start.time:g} h when resuming; "
                         f"got {times.min():g} h.")


def _same_chains(ps: ParameterSet, regimen: Regimen) -> bool:
    # A non-stereoselective set given only racemic drug: S and R are identical; solve once.
    return "racemic" in ps.enantiomers and set(regimen.drugs) <= {"racemic"}


def pk_state(regimen: Regimen | Sequence[Regimen], covariates: Mapping[str, np.ndarray], eta: np.ndarray | None, time: float,
             ps: ParameterSet, *, start: PKState | None = None) -> PKState:
    """The exact PK state at ``time`` under ``regimen``, optionally continued from ``start``.

    Parameters
    ----------
    regimen : Regimen or list of Regimen
        All doses, past and future (one regimen, or one per subject). With ``start``, events before ``start.time``
        are already in the state and only what enters after it is added (an
        infusion running across ``start.time`` contributes its remaining part).
    covariates, eta, ps
        As for :func:`run_pk`.
    time : float
        h, >= ``start.time``.
    start : PKState, optional
        State to continue from; default a drug-free subject at time 0.

    Returns
    -------
    PKState
        Feed it to :func:`run_pk` (``start=``) or to the next call to continue
        exactly where this one stops; by superposition the chained result equals
        one simulation of the whole regimen (tested to ~1e-12 relative).
    """
    n = len(np.asarray(covariates["weight"]))
    t = np.array([float(time)])
    regimen, regs = _per_subject(regimen, n)
    if start is not None:
        _check_start(start, ps, n, t)
    _check_routes(ps, regimen)
    states = _resume_states(ps, regimen, start)
    ns = len(states)
    x: dict[str, np.ndarray] = {}
    ix: dict[str, np.ndarray] = {}
    chains = _chains(ps, regimen) if regimen.events else []
    names = [c.enantiomer for c in chains]
    if start is not None:
        for ch in ("S", "R"):
            if ch in start.x and ch not in names and np.any(start.x[ch] != 0):
                chains.append(_Chain(ch, {}, 1.0 if "racemic" in ps.enantiomers else ps.stereo_ratio))
    same = _same_chains(ps, regimen) and (start is None or (
        np.array_equal(start.x.get("S", 0), start.x.get("R", 0))
        and np.array_equal(start.ix.get("S", 0), start.ix.get("R", 0))))
    p = ps.individual(covariates, eta) if chains else None
    weights = np.asarray(covariates["weight"], float)
    for chain in chains[:1] if same else chains:
        ch = chain.enantiomer
        A = _rate_matrix(ps, p, n, chain.scale_elimination, states)
        if chain.share:
            inp = _inputs_for(ps, regimen, regs, chain, p, weights, n, states)
        else:   # a chain no dose of the regimen feeds: only its start state
            inp = Inputs(np.zeros(0), np.zeros(0), np.zeros(0, int), np.zeros((n, 0)), np.zeros((n, 1, ns)))
        ix0 = np.zeros((n, ns))
        if start is not None:
            x0, ix0 = _embed(start, start.x, ch, states, n), _embed(start, start.ix, ch, states, n)
            if time == start.time:
                x[ch], ix[ch] = x0, ix0
                continue
            inp = inp.after(start.time).before(float(time)).with_initial_state(start.time, x0)
        else:
            inp = inp.before(float(time))
        C = np.concatenate([np.eye(ns), np.eye(ns)])
        y = solve_linear(A, C, inp, t, integral=np.r_[np.zeros(ns, bool), np.ones(ns, bool)])[:, :, 0]
        x[ch] = y[:, :ns]
        ix[ch] = ix0 + y[:, ns:]
    if same and "S" in x:
        x["R"], ix["R"] = x["S"], ix["S"]
    return PKState(float(time), ps.id, tuple(states), x, ix)


def run_pk(regimen: Regimen | Sequence[Regimen], covariates: Mapping[str, np.ndarray], eta: np.ndarray | None,
           times: np.ndarray, ps: ParameterSet, outputs: Sequence[str], *,
           start: PKState | None = None) -> dict[str, np.ndarray]:
    """Simulate the PK outputs ``outputs`` for N subjects; returns name -> array (N, T).

    Parameters
    ----------
    regimen : Regimen or list of Regimen
        One regimen for all subjects, or one per subject (e.g. doses each
        subject chose in a self-administration experiment).
    covariates : mapping name -> array (N,)
    eta : ndarray (N, len(ETA_ROLES)) or None for typical values
    times : ndarray (T,), h
    ps : ParameterSet
    outputs : names from :func:`pk_variables`
    start : PKState, optional
        Resume from this state (from :func:`pk_state`) instead of a drug-free
        subject at time 0. ``regimen`` is then the whole regimen, past doses
        included; ``times`` must be >= ``start.time``. Cumulative outputs
        (``AUC_*``, ``A_eliminated``) still count from time 0. The result equals
        simulating the whole regimen from time 0 (superposition; tested).
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
    n = len(np.asarray(covariates["weight"]))
    regimen, regs = _per_subject(regimen, n)
    _check_routes(ps, regimen)
    weights = np.asarray(covariates["weight"], float)
    T = len(times)
    result = {o: np.zeros((n, T)) for o in outputs}
    times = np.asarray(times, float)
    if start is not None:
        _check_start(start, ps, n, times)
    if not regimen.events and start is None:
        return result
    p = ps.individual(covariates, eta)
    names = list(outputs)
    if "A_eliminated" in names:
        names = [x for x in names if x != "A_eliminated"] + ["__ketamine_amount__"]
    chains = _chains(ps, regimen) if regimen.events else []
    if start is not None:
        have = {c.enantiomer for c in chains}
        for ch in ("S", "R"):
            if ch in start.x and ch not in have and (np.any(start.x[ch] != 0) or np.any(start.ix[ch] != 0)):
                chains.append(_Chain(ch, {}, 1.0 if "racemic" in ps.enantiomers else ps.stereo_ratio))
    same = _same_chains(ps, regimen) and (start is None or (
        np.array_equal(start.x.get("S", 0), start.x.get("R", 0))
        and np.array_equal(start.ix.get("S", 0), start.ix.get("R", 0))))
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
        states = _resume_states(ps, regimen, start)
        A = _rate_matrix(ps, p, n, chain.scale_elimination, states)
        if chain.share:
            full = _inputs_for(ps, regimen, regs, chain, p, weights, n, states)
        else:   # a chain no dose of the regimen feeds: only its start state
            full = Inputs(np.zeros(0), np.zeros(0), np.zeros(0, int), np.zeros((n, 0)), np.zeros((n, 1, len(states))))
        inp = full
        if start is not None:
            inp = full.after(start.time).with_initial_state(
                start.time, _embed(start, start.x, chain.enantiomer, states, n))
        C = _output_matrix(ps, p, [w[0] for w in wanted], n, states)
        integ = np.array([w[3] for w in wanted])
        y = solve_linear(A, C, inp, times, integral=integ)
        if start is not None and integ.any():
            # cumulative integrals from time 0: add the integral up to start.time
            ix0 = _embed(start, start.ix, chain.enantiomer, states, n)
            y[:, integ] += np.einsum("sij,sj->si", C[:, integ], ix0)[:, :, None]
        for j, (row, res_name, mult, _) in enumerate(wanted):
            result[res_name] += mult * y[:, j]
            if row == "__ketamine_amount__":
                result[res_name] += -mult * full.delivered(times)
    for arr in result.values():
        # Exact values are >= 0; floating-point cancellation leaves residues of order
        # 1e-16 of the curve's maximum (e.g. -1e-13 ng/mL). Zero them so printed results are clean.
        # Anything larger is left alone, so a real sign error still shows.
        scale = np.abs(arr).max(axis=1, keepdims=True)
        arr[np.abs(arr) <= 1e-12 * scale] = 0.0
    return result

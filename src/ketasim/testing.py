"""Known-answer problems and independent references, for ketasim's tests and yours.

* Closed forms of textbook PK (one- and two-compartment IV bolus, zero-order
  infusion during and after, first-order absorption (Bateman), accumulation).
* :func:`ode_reference`: an independent numerical integration
  (``scipy.integrate.solve_ivp``) of a parameter set's model, built flow by
  flow from the YAML structure (not from the rate matrix ketasim solves), with
  an explicit accumulator of eliminated ketamine for mass balance.
* :func:`assert_close_relative`: compare curves relative to their maximum.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from scipy.integrate import solve_ivp

from .dosing import Regimen
from .parameters import ParameterSet
from .units import MOLAR_MASS

__all__ = [
    "one_cpt_bolus",
    "one_cpt_infusion",
    "bateman",
    "two_cpt_bolus",
    "accumulation_ratio",
    "ode_reference",
    "assert_close_relative",
]


def one_cpt_bolus(t, dose, V, k):
    """C(t) = D/V exp(-k t) for t >= 0."""
    t = np.asarray(t, float)
    return np.where(t >= 0, dose / V * np.exp(-k * np.maximum(t, 0)), 0.0)


def one_cpt_infusion(t, rate, duration, V, k):
    """Zero-order infusion of ``rate`` (amount/h) for ``duration`` h into one compartment."""
    t = np.asarray(t, float)
    during = rate / (k * V) * (1 - np.exp(-k * np.clip(t, 0, None)))
    end = rate / (k * V) * (1 - np.exp(-k * duration))
    after = end * np.exp(-k * (t - duration))
    return np.where(t < 0, 0.0, np.where(t <= duration, during, after))


def bateman(t, dose, F, V, ka, k):
    """First-order absorption into one compartment: F D ka / (V (ka - k)) (e^-kt - e^-ka t)."""
    t = np.asarray(t, float)
    c = F * dose * ka / (V * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))
    return np.where(t >= 0, c, 0.0)


def two_cpt_bolus(t, dose, V1, CL, Q, V2):
    """Two-compartment IV bolus via the macro-constants alpha, beta."""
    k10, k12, k21 = CL / V1, Q / V1, Q / V2
    s = k10 + k12 + k21
    disc = np.sqrt(s * s - 4 * k10 * k21)
    alpha, beta = (s + disc) / 2, (s - disc) / 2
    A = dose / V1 * (alpha - k21) / (alpha - beta)
    B = dose / V1 * (k21 - beta) / (alpha - beta)
    t = np.asarray(t, float)
    return A * np.exp(-alpha * t) + B * np.exp(-beta * t)


def accumulation_ratio(k, tau):
    """Steady-state accumulation ratio of repeated boluses every ``tau`` for one compartment."""
    return 1.0 / (1.0 - np.exp(-k * tau))


def _value(p: Mapping[str, float], ref) -> float:
    if isinstance(ref, (int, float)) and not isinstance(ref, bool):
        return float(ref)
    return float(p[ref])


def ode_reference(ps: ParameterSet, regimen: Regimen, params: Mapping[str, float], times: np.ndarray,
                  *, weight: float, enantiomer_share: float = 1.0, scale_elimination: float = 1.0,
                  ke0: float | None = None, rtol: float = 1e-10, atol: float = 1e-12) -> dict[str, np.ndarray]:
    """Integrate one subject's model numerically with ``solve_ivp`` (an independent reference).

    The right-hand side is assembled flow by flow from ``ps.flows`` as a list
    of (source, target, rate, gain) terms and evaluated with plain Python
    loops; the integration restarts at every dose event and infusion switch.

    Parameters
    ----------
    params : individual parameter values (canonical units), e.g. ``ps.individual(...)`` for one subject.
    enantiomer_share : fraction of every dose entering this chain (0.5 for one enantiomer of a racemate).

    Returns
    -------
    dict with ``central`` (concentration, ng/mL), amounts per compartment ``A_<name>`` (mg),
    ``effect`` (ng/mL) and ``eliminated`` (mg of ketamine eliminated, an explicit accumulator).
    """
    from .layers.pk import KE0_DEFAULT_PER_H, _Chain, _inputs

    comps = list(ps.compartments)
    idx = {c: i for i, c in enumerate(comps)}
    n = len(comps)
    elim_names = {nm for nm, par in ps.params.items() if par.elimination}
    terms = []  # (src, dst or -1, rate, gain)
    for f in ps.flows:
        src = f["from"]
        if "rate" in f:
            k, key = _value(params, f["rate"]), f["rate"]
        elif "mean_time" in f:
            k, key = 1.0 / _value(params, f["mean_time"]), f["mean_time"]
        else:
            k, key = _value(params, f["clearance"]) / _value(params, ps.compartments[src]["volume"]), f["clearance"]
        if key in elim_names:
            k *= scale_elimination
        if "fraction" in f:
            k *= _value(params, f["fraction"])
        if "fraction_complement" in f:
            k *= 1.0 - _value(params, f["fraction_complement"])
        gain = 0.0  # mass of the target per mass leaving the source
        if f["to"] != "out":
            gain = 1.0
            if f.get("molar"):
                gain = MOLAR_MASS[ps.compartments[f["to"]]["analyte"]] / MOLAR_MASS[ps.compartments[src]["analyte"]]
        terms.append((idx[src], idx[f["to"]] if f["to"] != "out" else -1, k, gain))
    is_ket = np.array([ps.compartments[c]["analyte"] == "ketamine" for c in comps])
    central = idx[ps.central]
    v_central = _value(params, ps.compartments[ps.central]["volume"])
    ke0 = ke0 if ke0 is not None else float(params.get("ke0", KE0_DEFAULT_PER_H))

    chain = _Chain("S", {d: enantiomer_share for d in ("racemic", "esketamine", "arketamine")}, scale_elimination)
    one = {k: np.array([v]) for k, v in params.items()}
    inp = _inputs(ps, regimen, chain, one, np.array([weight]), 1)
    vec = inp.vectors[0][:, :n]  # effect state is last in ketasim; not used here
    starts, durs, kinds, amts = inp.start, inp.duration, inp.kind, inp.amount[0]
    # A dose split between several inputs (nasal + swallowed ...) carries the full amount on each of its
    # events; what never enters (1 - sum of the inputs' fractions) is lost once, when the dose is given.
    first = np.ones(starts.size, bool) if inp.dose_start is None else np.asarray(inp.dose_start, bool)
    group_end = np.append(np.flatnonzero(first)[1:], starts.size)
    lost_at_dose = np.zeros(starts.size)
    for g0, g1 in zip(np.flatnonzero(first), group_end):
        lost_at_dose[g0] = amts[g0] * (1.0 - sum(vec[kinds[e]].sum() for e in range(g0, g1)))

    def rhs(t, y, rate_in, lost_in):
        x = y[:n]
        dx = np.zeros(n + 2)
        for s, d, k, g in terms:
            flux = k * x[s]
            dx[s] -= flux
            if d >= 0:
                dx[d] += g * flux
            if is_ket[s] and (d < 0 or not is_ket[d]):
                dx[n + 1] += flux          # ketamine leaving the ketamine compartments
        dx[:n] += rate_in
        dx[n + 1] += lost_in
        dx[n] = ke0 * (x[central] / v_central - y[n])
        return dx

    bps = sorted(set(starts.tolist()) | {s + d for s, d in zip(starts, durs) if d > 0} | {float(times[-1])})
    y = np.zeros(n + 2)
    out = np.zeros((n + 2, times.size))
    seg_points = [0.0] + [b for b in bps if b > 0]
    for a, b in zip(seg_points, seg_points[1:] + [np.inf]):
        for e in np.flatnonzero(starts == a):
            if durs[e] == 0:
                y[:n] += amts[e] * vec[kinds[e]]
            y[n + 1] += lost_at_dose[e]
        active = np.flatnonzero((durs > 0) & (starts <= a) & (starts + durs > a))
        rate_in = np.zeros(n)
        lost_in = 0.0
        for e in active:
            rate_in += amts[e] / durs[e] * vec[kinds[e]]
        mask = (times >= a) & (times < b)
        if mask.any():
            t_end = float(times[mask][-1])
            if t_end > a:
                sol = solve_ivp(rhs, (a, t_end), y, t_eval=times[mask], rtol=rtol, atol=atol,
                                method="LSODA", args=(rate_in, lost_in))
                out[:, mask] = sol.y
            else:
                out[:, mask] = y[:, None]
        if np.isfinite(b) and b > a:
            sol = solve_ivp(rhs, (a, b), y, rtol=rtol, atol=atol, method="LSODA", args=(rate_in, lost_in))
            y = sol.y[:, -1]
    res = {f"A_{c}": out[i] for c, i in idx.items()}
    res["central"] = out[central] / v_central * 1000.0
    res["effect"] = out[n] * 1000.0
    res["eliminated"] = out[n + 1]
    return res


def assert_close_relative(actual: np.ndarray, expected: np.ndarray, rel: float, what: str = "") -> None:
    """Assert ``max|actual - expected| <= rel * max|expected|`` with a useful message."""
    actual = np.asarray(actual, float)
    expected = np.asarray(expected, float)
    scale = np.max(np.abs(expected))
    err = np.max(np.abs(actual - expected)) if expected.size else 0.0
    if scale == 0:
        assert err == 0, f"{what}: expected zeros, max |actual| = {err:g}"
        return
    assert err <= rel * scale, f"{what}: max error {err:.3g} = {err / scale:.3g} x max, allowed {rel:g}"

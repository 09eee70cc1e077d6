"""Chronic harms of repeated use: bladder injury, urinary symptoms, cognitive burden, dependence.

Outcome layer (interface of :mod:`ketasim.outcomes`: ``OUTPUTS``, ``INPUTS``, ``run``). Every
slow state is driven by *exact* exposure increments between consecutive times of the grid it is
given: differences of the PK layer's cumulative outputs (``A_eliminated``, mg) and of the exact
NMDA-blockade integral (:func:`ketasim.layers.exposure.blockade_integral`, occupancy-odds hours).
Each state is advanced with the closed-form solution of its linear ODE for an input that is
constant over the interval, so results converge on any grid fine enough for the state's time
scale (weeks to months) and do not depend on the user's output grid.

Equations (docs/model.md, "Harms"; parameters and sources in ``data/outcomes/harms.yaml``)::

    Bladder (urothelial injury from urinary ketamine + metabolites)
        dU/dt = f_urine * dA_eliminated/dt                     urinary load, mg
        dI/dt = dU/dt - k_repair * I                           reversible injury, mg
        dF/dt = k_fibrosis * I                                 irreversible (fibrotic) part, mg
        bladder_injury      = (I + F) / S50                    1 = median symptom threshold
        p_urinary_symptoms  = Phi( ln(bladder_injury) / sigma )

    Cognition (chronic; NMDA-dependent plasticity blocked repeatedly)
        dB/dt = (x(t) - B) / tau_cog        x = NMDA occupancy odds; B = running mean odds
        cognitive_burden = B^n / (B50^n + B^n)                 0..1

    Dependence (use disorder; cumulative, not reversed by stopping)
        dE/dt = (x(t) - E) / tau_dep
        hazard = h_max * E^n / (E50^n + E^n)
        p_dependence = 1 - exp(-int hazard dt)

``p_urinary_symptoms`` reads the symptom threshold of a subject as log-normal across people
(median S50, log-SD sigma): it is the probability that a person with this exposure history has
lower-urinary-tract symptoms. With the injury state repaired after stopping and the fibrotic
part not, symptoms partly reverse after stopping, less so after long heavy use.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Mapping

import numpy as np
import yaml
from scipy.special import ndtr

from ..errors import InputError
from ..layer_data import values
from ..outcome_parameters import overridable
from .exposure import BLOCKADE_INPUTS, blockade_integral

__all__ = ["OUTPUTS", "INPUTS", "run", "harms_parameters", "COGNITIVE_DOMAINS", "urinary_load",
           "bladder_states", "p_urinary", "cognitive_burden", "dependence_probability", "filter_mean"]

#: name -> (unit, long name)
OUTPUTS: dict[str, tuple[str, str]] = {
    "bladder_injury": ("1", "cumulative urothelial injury state (reversible + fibrotic), in units of the "
                            "median symptom threshold (1 = half of people have urinary symptoms)"),
    "p_urinary_symptoms": ("1", "probability of lower-urinary-tract symptoms (ketamine uropathy)"),
    "cognitive_burden": ("1", "chronic cognitive burden of frequent use, 0-1 (probability of a memory "
                              "deficit: working/spatial and episodic memory, see COGNITIVE_DOMAINS)"),
    "p_dependence": ("1", "cumulative probability of developing ketamine use disorder under this pattern"),
}

#: Upstream variables read: the PK layer's cumulative eliminated amount and the areas of the blockade integral.
INPUTS: tuple[str, ...] = ("A_eliminated",) + tuple(BLOCKADE_INPUTS)

#: Domains of the chronic cognitive burden and where they are reported (harms.csv).
COGNITIVE_DOMAINS: dict[str, str] = {
    "spatial working memory": "Morgan, Muetzelfeldt, Curran 2010 Addiction 105:121 (worse with more use over the "
                              "year; deficits mainly in frequent users); Morgan et al. 2014 Front Psychiatry 5:149",
    "pattern recognition memory": "Morgan, Muetzelfeldt, Curran 2010 Addiction 105:121",
    "episodic (source) memory": "Curran & Monaghan 2001 Addiction 96:749 (frequent vs infrequent users, 3 days "
                                "after use); Morgan et al. 2004 Drug Alcohol Depend 75:301",
    "semantic memory": "Curran & Monaghan 2001 Addiction 96:749",
    "verbal fluency, processing speed, verbal learning": "'Effects of chronic ketamine use on frontal and medial "
                                                          "temporal cognition' [S] (harms.csv)",
}


@overridable("harms")
@lru_cache(maxsize=1)
def harms_parameters() -> dict:
    """Parameter values (floats) from ``data/outcomes/harms.yaml``, checked (scaled ones inside
    :func:`ketasim.outcome_parameters.overridden`)."""
    raw = yaml.safe_load((resources.files("ketasim") / "data" / "outcomes" / "harms.yaml").read_text())
    p = values(raw)
    b, c, d = p["bladder"], p["cognition"], p["dependence"]
    checks = [("bladder.f_urine", b["f_urine"], 0 < b["f_urine"] <= 1),
              ("bladder.k_repair", b["k_repair"], b["k_repair"] > 0),
              ("bladder.k_fibrosis", b["k_fibrosis"], b["k_fibrosis"] >= 0),
              ("bladder.S50", b["S50"], b["S50"] > 0), ("bladder.sigma", b["sigma"], b["sigma"] > 0),
              ("cognition.tau", c["tau"], c["tau"] > 0), ("cognition.B50", c["B50"], c["B50"] > 0),
              ("cognition.hill", c["hill"], c["hill"] > 0),
              ("dependence.tau", d["tau"], d["tau"] > 0), ("dependence.E50", d["E50"], d["E50"] > 0),
              ("dependence.hill", d["hill"], d["hill"] > 0), ("dependence.h_max", d["h_max"], d["h_max"] > 0)]
    for name, v, ok in checks:
        if not ok:
            raise InputError(f"harms.yaml: {name} = {v!r} is not allowed (rates, scales and thresholds must be "
                             "positive; f_urine in (0, 1]; k_fibrosis >= 0).")
    return p


def _grid(times) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times, float)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
        raise InputError(f"times must be a non-empty 1-D array of finite hours; got shape {t.shape}.")
    dt = np.diff(t)
    if np.any(dt <= 0):
        raise InputError("times must be strictly increasing.")
    return t, dt


def _cumulative(name: str, a, shape_t: int) -> np.ndarray:
    x = np.atleast_2d(np.asarray(a, float))
    if x.shape[-1] != shape_t:
        raise InputError(f"input {name!r} has {x.shape[-1]} time points; expected {shape_t} (one per time).")
    if not np.all(np.isfinite(x)):
        raise InputError(f"input {name!r} contains NaN or infinity.")
    if np.any(np.diff(x, axis=-1) < -1e-9 * (1.0 + np.abs(x[..., 1:]))):
        raise InputError(f"input {name!r} must be a cumulative (non-decreasing) quantity.")
    return x


def _base_mask(base, n_t: int) -> np.ndarray:
    if base is None:
        return np.ones(n_t, bool)
    b = np.asarray(base, bool)
    if b.shape != (n_t,):
        raise InputError(f"base must be a boolean mask with one entry per time ({n_t}); got shape {b.shape}.")
    if not b[0]:
        raise InputError("base: the first time must be a base point (the states start there).")
    return b


def _linrec(a: np.ndarray, b: np.ndarray, block: int = 256) -> np.ndarray:
    """x_0 = 0, x_j = a_j x_{j-1} + b_j (j >= 1) for every row of b; a has one entry per step (0 < a <= 1).

    Blocked closed form: within a block x_j = P_j (x_start + sum_i b_i / P_i) with P the running
    product of a; blocks are short enough that P stays far from underflow (checked, else the
    block is stepped one by one).
    """
    n, m = b.shape
    x = np.zeros((n, m + 1))
    cur = np.zeros(n)
    for s0 in range(0, m, block):
        aa, bb = a[s0:s0 + block], b[:, s0:s0 + block]
        logP = np.cumsum(np.log(aa))
        if logP[-1] > -50.0:
            P = np.exp(logP)
            blk = P * (cur[:, None] + np.cumsum(bb / P, axis=1))
        else:
            blk = np.empty_like(bb)
            c = cur
            for j in range(aa.size):
                c = aa[j] * c + bb[:, j]
                blk[:, j] = c
        x[:, s0 + 1:s0 + 1 + aa.size] = blk
        cur = blk[:, -1]
    return x


def _on_base(t: np.ndarray, base) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices of the base points, indices of the other points, index of the base point before each other)."""
    b = _base_mask(base, t.size)
    ib = np.flatnonzero(b)
    io = np.flatnonzero(~b)
    return ib, io, ib[np.searchsorted(ib, io) - 1]


def _solve(t: np.ndarray, cums: tuple[np.ndarray, ...], along, step, base) -> list[np.ndarray]:
    """States along the base points (``along(dt, increments) -> states``, vectorised), every other point by
    one exact step (``step(states, dt, increments) -> states``) from the base point before it.

    Base points sit at fixed positions (:func:`ketasim.outcomes.internal_grid`), so the states
    there, and hence everywhere, do not depend on the user's output grid.
    """
    ib, io, prev = _on_base(t, base)
    on_base = along(np.diff(t[ib]), tuple(np.diff(c[:, ib], axis=1) for c in cums))
    out = []
    for sb in on_base:
        full = np.zeros((sb.shape[0], t.size))
        full[:, ib] = sb
        out.append(full)
    if io.size:
        res = step(tuple(o[:, prev] for o in out), t[io] - t[prev], tuple(c[:, io] - c[:, prev] for c in cums))
        for o, r in zip(out, res):
            o[:, io] = r
    return out


def _filter_step(tau: float):
    def step(st, dt, inc):
        e = np.exp(-dt / tau)
        return (st[0] * e + inc[0] / dt * (1.0 - e),)
    return step


def _filter_along(tau: float):
    def along(dt, inc):
        e = np.exp(-dt / tau)
        return (_linrec(e, inc[0] / dt * (1.0 - e)),)
    return along


def filter_mean(times, cumulative, tau: float, base=None) -> np.ndarray:
    """Running mean ``dB/dt = (x - B)/tau``, B(t0) = 0, of a rate x given by its exact cumulative integral.

    Exact for an input constant over each step (the step's mean rate, read from the cumulative
    integral), vectorised over subjects (rows).

    Parameters
    ----------
    times : array_like, shape (n_t,)
        Hours, strictly increasing.
    cumulative : array_like, shape (n_subjects, n_t)
        Cumulative integral of x at each time.
    tau : float
        Time constant (h).
    base : array_like of bool, optional
        Base points along which the state is carried (default every time); see :func:`_solve`.

    Returns
    -------
    numpy.ndarray, shape (n_subjects, n_t)
    """
    t, _ = _grid(times)
    X = _cumulative("cumulative", cumulative, t.size)
    return _solve(t, (X,), _filter_along(tau), _filter_step(tau), base)[0]


def urinary_load(a_eliminated: np.ndarray, params: dict | None = None) -> np.ndarray:
    """Cumulative urinary ketamine + unconjugated metabolites (mg) from the cumulative eliminated ketamine."""
    p = harms_parameters() if params is None else params
    return p["bladder"]["f_urine"] * np.asarray(a_eliminated, float)


def bladder_states(times, a_eliminated, params: dict | None = None, base=None) -> tuple[np.ndarray, np.ndarray]:
    """Reversible injury I and fibrotic part F (mg of urinary load) on ``times``; both 0 at the first time.

    Exact for a urinary excretion rate r constant over each step:
    ``I1 = I0 e^{-k dt} + r (1 - e^{-k dt}) / k`` and
    ``F1 = F0 + k_f [I0 (1 - e^{-k dt})/k + r (dt - (1 - e^{-k dt})/k)/k]``.
    """
    p = (harms_parameters() if params is None else params)["bladder"]
    t, _ = _grid(times)
    U = p["f_urine"] * _cumulative("A_eliminated", a_eliminated, t.size)
    k, kf = p["k_repair"], p["k_fibrosis"]

    def step(st, dt, inc):
        I0, F0 = st
        e = np.exp(-k * dt)
        om = -np.expm1(-k * dt) / k                      # int_0^dt e^{-k s} ds
        r = inc[0] / dt
        return I0 * e + r * om, F0 + kf * (I0 * om + r * (dt - om) / k)

    def along(dt, inc):
        e = np.exp(-k * dt)
        om = -np.expm1(-k * dt) / k
        r = inc[0] / dt
        I = _linrec(e, r * om)
        dF = kf * (I[:, :-1] * om + r * (dt - om) / k)
        return I, np.concatenate([np.zeros((I.shape[0], 1)), np.cumsum(dF, axis=1)], axis=1)

    I, F = _solve(t, (U,), along, step, base)
    return I, F


def p_urinary(injury: np.ndarray, params: dict | None = None) -> np.ndarray:
    """Probability of urinary symptoms from ``bladder_injury`` (log-normal symptom threshold)."""
    p = (harms_parameters() if params is None else params)["bladder"]
    s = np.asarray(injury, float)
    with np.errstate(divide="ignore"):
        z = np.log(s) / p["sigma"]
    return ndtr(z)


def _hill(x: np.ndarray, x50: float, n: float) -> np.ndarray:
    xn = np.power(np.maximum(x, 0.0) / x50, n)
    return xn / (1.0 + xn)


def cognitive_burden(times, blockade, params: dict | None = None, base=None) -> np.ndarray:
    """Chronic cognitive burden (0-1) from the cumulative NMDA-blockade integral (occupancy-odds h)."""
    p = (harms_parameters() if params is None else params)["cognition"]
    B = filter_mean(times, blockade, p["tau"], base)
    return _hill(B, p["B50"], p["hill"])


def dependence_probability(times, blockade, params: dict | None = None, base=None) -> np.ndarray:
    """Cumulative probability of use disorder from the cumulative NMDA-blockade integral.

    The hazard is integrated with the trapezoid rule on the running-mean state E, which varies on
    the time scale ``tau`` (weeks), so a grid of a day or finer converges.
    """
    p = (harms_parameters() if params is None else params)["dependence"]
    t, _ = _grid(times)
    X = _cumulative("blockade", blockade, t.size)
    fstep = _filter_step(p["tau"])

    def step(st, dt, inc):
        E0, H0 = st
        (E1,) = fstep((E0,), dt, inc)
        h0 = p["h_max"] * _hill(E0, p["E50"], p["hill"])
        h1 = p["h_max"] * _hill(E1, p["E50"], p["hill"])
        return E1, H0 + 0.5 * (h0 + h1) * dt

    def along(dt, inc):
        (E,) = _filter_along(p["tau"])(dt, inc)
        h = p["h_max"] * _hill(E, p["E50"], p["hill"])
        H = np.concatenate([np.zeros((E.shape[0], 1)), np.cumsum(0.5 * (h[:, 1:] + h[:, :-1]) * dt, axis=1)], axis=1)
        return E, H

    _, H = _solve(t, (X,), along, step, base)
    return -np.expm1(-H)


def run(times: np.ndarray, inputs: Mapping[str, np.ndarray], subjects=None,
        wanted: list[str] | None = None, base=None) -> dict[str, np.ndarray]:
    """Harms outputs on ``times`` (arrays n_subjects x n_times) from the PK inputs on the same grid.

    Parameters
    ----------
    times : numpy.ndarray
        Hours, strictly increasing; the states are zero at the first time (no prior use).
    inputs : mapping
        ``A_eliminated`` (mg, cumulative) and the blockade areas of :data:`INPUTS` (ng*h/mL).
    subjects : ketasim.population.Population, optional
        Not used: the harms have no subject-level parameters beyond the PK (kept for the interface).
    wanted : list of str, optional
        Outputs to compute (default all of :data:`OUTPUTS`).
    base : array_like of bool, optional
        Base points of the orchestrator's internal grid (:func:`ketasim.outcomes.internal_grid`): the
        states are carried along them only, and other times are reached by one exact step, so
        the values do not depend on the user's output grid. Default: every time is a base point.
    """
    wanted = list(OUTPUTS) if wanted is None else [w for w in wanted if w in OUTPUTS]
    out: dict[str, np.ndarray] = {}
    if {"bladder_injury", "p_urinary_symptoms"} & set(wanted):
        if "A_eliminated" not in inputs:
            raise InputError("the harms layer needs the PK output 'A_eliminated' for the bladder states.")
        I, F = bladder_states(times, inputs["A_eliminated"], base=base)
        inj = (I + F) / harms_parameters()["bladder"]["S50"]
        if "bladder_injury" in wanted:
            out["bladder_injury"] = inj
        if "p_urinary_symptoms" in wanted:
            out["p_urinary_symptoms"] = p_urinary(inj)
    if {"cognitive_burden", "p_dependence"} & set(wanted):
        if BLOCKADE_INPUTS[0] not in inputs:
            raise InputError(f"the harms layer needs the PK output {BLOCKADE_INPUTS[0]!r} for the NMDA-blockade "
                             "integral.")
        X = np.atleast_2d(blockade_integral(inputs, subjects))
        if "cognitive_burden" in wanted:
            out["cognitive_burden"] = cognitive_burden(times, X, base=base)
        if "p_dependence" in wanted:
            out["p_dependence"] = dependence_probability(times, X, base=base)
    return out

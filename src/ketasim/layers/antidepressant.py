"""Antidepressant layer: a delayed plasticity state driven by NMDA blockade -> MADRS-like score.

A transient of NMDA blockade (the occupancy odds ``x``, :mod:`ketasim.layers.exposure`)
starts a two-stage linear cascade, a trigger ``A`` (hours) feeding a plasticity state
``P`` (synaptogenesis / BDNF-like, days)::

    dA/dt = x(t) - k1 A                   A(0) = 0
    dP/dt = k1 A - k2 P                   P(0) = 0        (occupancy-odds hours)
    f     = Fmax P / (P50 e^{-eta_ad omega_ad} + P)        drug-attributable fraction of symptoms relieved
    depression_score = B (1 - f)                                        MADRS-like, 0..60

so the effect starts within hours, peaks after about one day (``ln(k1/k2)/(k1-k2)``
for an impulse, flattened by the saturation), decays over one to two weeks, and is
maintained by repeated doses. ``B`` is the subject's ``baseline_madrs`` (default
:data:`DEFAULT_BASELINE_MADRS`). ``depression_score`` is the drug-attributable
trajectory: with no drug it stays at ``B``.

Response and remission are probabilities in a treated (trial) setting. The
non-specific improvement that the comparator arms of the trials show (midazolam,
placebo), ``eps ~ N(mu_ns, sigma_ns^2)`` as a fraction of baseline, and the drug act
on the symptoms left by each other::

    MADRS = B (1 - eps) (1 - f)
    p_response  = P(MADRS <= B / 2) = Phi((mu_ns - (1 - 0.5 / (1 - f))) / sigma_ns)
    p_remission = P(MADRS <= 10)    = Phi((mu_ns - (1 - 10 / (B (1 - f)))) / sigma_ns)

With no drug they equal the comparator-arm rates.

Relapse (maintenance vs withdrawal, SUSTAIN-1). For a patient in stable remission or
response when the relapse clock starts (``Population.extra['relapse_from_h']``, h;
default 0), relapse is an event with hazard lowered by the same saturating plasticity
the score uses, ``s = P / (P50 e^{-eta_ad omega_ad} + P) = f / Fmax`` (0..1)::

    h(t) = h0 exp(-beta s(t))             (per hour, t >= relapse_from_h)
    p_relapse(t) = 1 - exp(-int h dt)

With no drug ``s = 0`` and ``h = h0`` (no protection); continued dosing keeps ``s`` high.
``h0`` and ``beta`` are calibrated to SUSTAIN-1 (median time to relapse after withdrawal,
remitters' hazard ratio; :mod:`ketasim.calibrate_outcomes_relapse`). Parameters and sources:
``data/outcomes/antidepressant.yaml`` (docs/model.md, "Outcomes").
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Mapping

import numpy as np
import yaml
from scipy.special import ndtr

from ..errors import InputError
from ..outcome_parameters import overridable
from .exposure import BLOCKADE_INPUTS, blockade_integral, first_order_recurrence, previous_base

__all__ = ["OUTPUTS", "INPUTS", "DEFAULT_BASELINE_MADRS", "MADRS_RANGE", "antidepressant_parameters",
           "cascade_step", "plasticity_path", "drug_fraction", "response_probability", "remission_probability",
           "baseline_madrs", "relapse_start", "relapse_hazard", "relapse_probability", "run"]

OUTPUTS: dict[str, tuple[str, str]] = {
    "depression_score": ("MADRS", "MADRS-like depression score: baseline less the drug-attributable improvement"),
    "p_response": ("1", "probability of response (MADRS fall >= 50% from baseline), treated setting"),
    "p_remission": ("1", "probability of remission (MADRS <= 10), treated setting"),
    "plasticity": ("h", "antidepressant plasticity state P (occupancy-odds hours, delayed NMDA-blockade exposure)"),
    "p_relapse": ("1", "cumulative probability of relapse since relapse_from_h (default 0) for a patient in stable "
                       "remission or response then (SUSTAIN-1 randomised-withdrawal setting)"),
}
INPUTS: tuple[str, ...] = BLOCKADE_INPUTS
MADRS_RANGE = (0.0, 60.0)
REMISSION_CUTOFF = 10.0


def _load() -> dict:
    return yaml.safe_load((resources.files("ketasim") / "data" / "outcomes" / "antidepressant.yaml").read_text())


@overridable("antidepressant")
@lru_cache(maxsize=1)
def antidepressant_parameters() -> dict:
    """Antidepressant parameters (values only) from ``antidepressant.yaml`` (scaled ones inside
    :func:`ketasim.outcome_parameters.overridden`)."""
    p = {k: float(v["value"]) for k, v in _load().items()}
    if not (p["k1"] > 0 and p["k2"] > 0 and p["k1"] != p["k2"] and 0 < p["Fmax"] <= 1 and p["P50"] > 0
            and p["sigma_ns"] > 0 and p["h0_relapse"] > 0 and p["beta_relapse"] >= 0):
        raise InputError(f"antidepressant.yaml: need k1 != k2 > 0, 0 < Fmax <= 1, P50 > 0, sigma_ns > 0, "
                         f"h0_relapse > 0, beta_relapse >= 0; got {p}.")
    return p


#: Documented treatment-resistant default baseline (antidepressant.yaml, baseline_madrs).
DEFAULT_BASELINE_MADRS = float(antidepressant_parameters()["baseline_madrs"])


def _coefficients(dt, k1: float, k2: float):
    """Exact-step coefficients (e1, e2, h12, g1, G) of the cascade for steps ``dt`` (h)."""
    dt = np.asarray(dt, float)
    e1, e2 = np.exp(-k1 * dt), np.exp(-k2 * dt)
    h12 = -e2 * np.expm1(-(k1 - k2) * dt) / (k1 - k2)          # (e2 - e1) / (k1 - k2)
    small = dt < 1e-4
    safe = np.where(small, 1.0, dt)
    g1 = np.where(small, 1.0 - 0.5 * k1 * dt, -np.expm1(-k1 * dt) / (k1 * safe))
    G = np.where(small, 0.5 * k1 * dt, (-np.expm1(-k2 * dt) / k2 - h12) / safe)
    return e1, e2, h12, g1, G


def cascade_step(A, P, I, dt, k1: float, k2: float):
    """Exact update of the cascade over ``dt`` h for a constant drive with integral ``I`` over the step.

    Examples
    --------
    >>> A, P = cascade_step(np.array(0.0), np.array(0.0), np.array(1.0), 0.0, 0.1, 0.01)   # impulse
    >>> float(A), float(P)
    (1.0, 0.0)
    """
    I = np.clip(np.asarray(I, float), 0.0, None)
    e1, e2, h12, g1, G = _coefficients(dt, k1, k2)
    return A * e1 + I * g1, P * e2 + k1 * A * h12 + I * G


def plasticity_path(times, X, params=None, base=None) -> np.ndarray:
    """Plasticity ``P`` on a grid from the cumulative blockade integral ``X`` (n, len(times)).

    Points not marked in ``base`` are reached by one exact step from the previous base
    point and do not carry the state (output times never change the states at base points).
    Vectorised over time (:func:`~ketasim.layers.exposure.first_order_recurrence`, once for
    ``A``, then for ``P`` driven by it).
    """
    p = params or antidepressant_parameters()
    k1, k2 = p["k1"], p["k2"]
    t = np.asarray(times, float)
    X = np.asarray(X, float)
    n, m = X.shape
    base = np.ones(m, bool) if base is None else np.asarray(base, bool)
    bi = np.flatnonzero(base)
    tb, Xb = t[bi], X[:, bi]
    I = np.clip(np.diff(Xb, axis=1), 0.0, None)
    e1, e2, h12, g1, G = _coefficients(np.diff(tb), k1, k2)
    bA = np.zeros_like(Xb)
    bA[:, 1:] = I * g1
    Ab = first_order_recurrence(tb, bA, k1)
    bP = np.zeros_like(Xb)
    bP[:, 1:] = k1 * Ab[:, :-1] * h12 + I * G
    Pb = first_order_recurrence(tb, bP, k2)
    out = np.empty((n, m))
    out[:, bi] = Pb
    nb = np.flatnonzero(~base)
    if nb.size:
        pb = previous_base(base)[nb]
        j = np.searchsorted(bi, pb)
        out[:, nb] = cascade_step(Ab[:, j], Pb[:, j], X[:, nb] - X[:, pb], t[nb] - t[pb], k1, k2)[1]
    return out


def drug_fraction(P, eta=None, params=None) -> np.ndarray:
    """Drug-attributable fraction of symptoms relieved, ``Fmax P / (P50 e^{-omega eta} + P)``."""
    p = params or antidepressant_parameters()
    P = np.clip(np.asarray(P, float), 0.0, None)
    p50 = p["P50"] if eta is None else p["P50"] * np.exp(-p["omega_ad"] * np.asarray(eta, float))[:, None]
    return p["Fmax"] * P / (p50 + P)


def response_probability(f, params=None) -> np.ndarray:
    """P(MADRS fall >= 50%) given the drug fraction ``f`` (comparator-arm non-specific change included)."""
    p = params or antidepressant_parameters()
    f = np.asarray(f, float)
    return ndtr((p["mu_ns"] - (1.0 - 0.5 / (1.0 - f))) / p["sigma_ns"])


def remission_probability(f, baseline, params=None) -> np.ndarray:
    """P(MADRS <= 10) given the drug fraction ``f`` and baseline ``B`` (broadcast)."""
    p = params or antidepressant_parameters()
    f = np.asarray(f, float)
    B = np.asarray(baseline, float)
    return ndtr((p["mu_ns"] - (1.0 - REMISSION_CUTOFF / (B * (1.0 - f)))) / p["sigma_ns"])


def baseline_madrs(subjects, n: int) -> np.ndarray:
    """Per-subject baseline MADRS: ``Population.extra['baseline_madrs']`` where given, else the default."""
    extra = getattr(subjects, "extra", None) or {}
    v = extra.get("baseline_madrs")
    if v is None:
        return np.full(n, DEFAULT_BASELINE_MADRS)
    v = np.asarray(v, float)
    v = np.where(np.isfinite(v), v, DEFAULT_BASELINE_MADRS)
    lo, hi = MADRS_RANGE
    bad = np.flatnonzero((v < lo) | (v > hi))
    if bad.size:
        raise InputError(f"baseline_madrs must be between {lo:g} and {hi:g} (MADRS total); got {v[bad[0]]:g} "
                         f"(subject {int(bad[0])}).")
    return v


def relapse_start(subjects, n: int) -> np.ndarray:
    """Per-subject start of the relapse clock (h): ``Population.extra['relapse_from_h']`` where given, else 0."""
    extra = getattr(subjects, "extra", None) or {}
    v = extra.get("relapse_from_h")
    if v is None:
        return np.zeros(n)
    v = np.broadcast_to(np.asarray(v, float), (n,)).copy()
    bad = np.flatnonzero(~np.isfinite(v) | (v < 0))
    if bad.size:
        raise InputError(f"relapse_from_h must be a finite time >= 0 h (when the patient is in stable remission or "
                         f"response); got {v[bad[0]]:g} (subject {int(bad[0])}).")
    return v


def relapse_hazard(s, params=None) -> np.ndarray:
    """Relapse hazard (1/h) at saturation ``s = f / Fmax`` (0..1): ``h0 exp(-beta s)``.

    Examples
    --------
    >>> p = antidepressant_parameters()
    >>> float(relapse_hazard(0.0)) == p["h0_relapse"]
    True
    """
    p = params or antidepressant_parameters()
    return p["h0_relapse"] * np.exp(-p["beta_relapse"] * np.clip(np.asarray(s, float), 0.0, 1.0))


def relapse_probability(times, s, start, params=None, base=None) -> np.ndarray:
    """Cumulative relapse probability ``1 - exp(-int_start^t h0 exp(-beta s) dt)`` (subjects x times).

    The hazard is integrated by the trapezoidal rule along the base points (those of the
    outcome grid; every point when ``base`` is None), clipped to ``t >= start`` per subject;
    a point off the base grid adds one trapezoid from the base point before it, so the
    values at the base points do not depend on the output times.
    """
    t = np.asarray(times, float)
    s = np.asarray(s, float)
    n, m = s.shape
    start = np.broadcast_to(np.asarray(start, float), (n,))[:, None]
    base = np.ones(m, bool) if base is None else np.asarray(base, bool)
    h = relapse_hazard(s, params)
    bi = np.flatnonzero(base)
    tc = np.maximum(t[None, :], start)                              # clock time, clipped at the start
    Hb = np.zeros((n, bi.size))
    if bi.size > 1:
        hb, tb = h[:, bi], tc[:, bi]
        Hb[:, 1:] = np.cumsum(0.5 * (hb[:, 1:] + hb[:, :-1]) * np.diff(tb, axis=1), axis=1)
    H = np.empty((n, m))
    H[:, bi] = Hb
    nb = np.flatnonzero(~base)
    if nb.size:
        pb = previous_base(base)[nb]
        j = np.searchsorted(bi, pb)
        H[:, nb] = Hb[:, j] + 0.5 * (h[:, nb] + h[:, pb]) * (tc[:, nb] - tc[:, pb])
    return -np.expm1(-H)


def _eta(subjects, n: int) -> np.ndarray | None:
    extra = getattr(subjects, "extra", None) or {}
    v = extra.get("eta_ad")
    if v is None:
        return None
    v = np.asarray(v, float)
    if v.shape != (n,) or not np.all(np.isfinite(v)):
        raise InputError(f"population extra 'eta_ad' must be {n} finite standard-normal deviates.")
    return v


def run(times: np.ndarray, inputs: Mapping[str, np.ndarray], subjects, wanted, *,
        base: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Layer interface: depression score, response and remission probabilities, plasticity."""
    X = blockade_integral(inputs, subjects)
    n = X.shape[0]
    P = plasticity_path(times, X, base=base)
    f = drug_fraction(P, _eta(subjects, n))
    B = baseline_madrs(subjects, n)[:, None]
    out = {}
    if "plasticity" in wanted:
        out["plasticity"] = P
    if "depression_score" in wanted:
        out["depression_score"] = B * (1.0 - f)
    if "p_response" in wanted:
        out["p_response"] = response_probability(f)
    if "p_remission" in wanted:
        out["p_remission"] = remission_probability(f, B)
    if "p_relapse" in wanted:
        p = antidepressant_parameters()
        out["p_relapse"] = relapse_probability(times, f / p["Fmax"], relapse_start(subjects, n), base=base)
    return out

"""Slow tolerance: loss of the acute dopamine / liking response with repeated exposure.

A single state ``S`` per subject, driven by the NMDA-blockade odds ``x(t)``
(:mod:`ketasim.layers.exposure`) and recovering first-order with abstinence::

    dS/dt = k_in x(t) - k_out S                    S(0) = 0
    response_factor = 1 / (1 + S)                   (0, 1]
    tolerance       = 1 - response_factor           [0, 1)

The response factor multiplies the acute dopamine rise that drives
``drug_liking`` (:mod:`ketasim.layers.liking`) and is what the
self-administration driver reads.

Exact update. Over an interval of length ``dt`` with exposure integral
``I = int x dt`` (a difference of the exact cumulative blockade integral), the
state advances as if ``x`` were constant at its exact mean ``I / dt``::

    S(t + dt) = S e^{-k_out dt} + k_in I (1 - e^{-k_out dt}) / (k_out dt)

which is exact for a piecewise-constant drive, conserves the total input
exactly (the drive enters only through ``I``), and differs from the exact
solution by O(k_out dt) of the interval's input; with k_out = 0.0041 /h that
is below 0.1% for dt up to 20 min. Calibration: the rat acute prefrontal
dopamine response almost abolished after 7 days of 25 mg/kg i.p. daily
(Lindefors et al. 1997); parameters and sources in
``data/outcomes/tolerance.yaml`` (docs/model.md, "Outcomes").
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Mapping

import numpy as np
import yaml

from ..errors import InputError, unknown
from ..outcome_parameters import overridable
from .exposure import BLOCKADE_INPUTS, blockade_integral, first_order_recurrence, previous_base

__all__ = ["OUTPUTS", "INPUTS", "tolerance_parameters", "tolerance_step", "response_factor", "tolerance_path",
           "run", "calibrate_k_in", "CALIBRATION"]

#: name -> (unit, long name)
OUTPUTS: dict[str, tuple[str, str]] = {
    "tolerance": ("1", "fraction of the acute dopamine / liking response lost to repeated exposure (slow tolerance)"),
}
#: Upstream variables the layer reads (exact cumulative PK areas).
INPUTS: tuple[str, ...] = BLOCKADE_INPUTS

#: The calibration experiment (Lindefors et al. 1997): rat, 25 mg/kg i.p. daily, challenge on day 7.
CALIBRATION = {"regimen": "25 mg/kg ip daily for 8 days", "weight_kg": 0.3, "t_challenge_h": 168.0,
               "target_tolerance": 0.9}


def _load() -> dict:
    return yaml.safe_load((resources.files("ketasim") / "data" / "outcomes" / "tolerance.yaml").read_text())


@lru_cache(maxsize=4)
def _params(species: str) -> tuple[tuple[str, float], ...]:
    raw = _load()
    if species not in raw:
        raise unknown("species", species, list(raw))
    p = {k: float(v["value"]) for k, v in raw[species].items()}
    if not (p["k_in"] >= 0 and p["k_out"] > 0):
        raise InputError(f"tolerance.yaml [{species}]: k_in must be >= 0 and k_out > 0; got {p}.")
    return tuple(p.items())


@overridable("tolerance")     # scaled values per subject (sensitivity analysis)
def tolerance_parameters(species: str = "human") -> dict:
    """Tolerance parameters ``{"k_in", "k_out"}`` (1/h per odds, 1/h) for ``"human"`` or ``"rat"``.

    Examples
    --------
    >>> p = tolerance_parameters("rat")
    >>> round(float(np.log(2) / p["k_out"] / 24), 1)     # recovery half-life, days
    7.0
    """
    return dict(_params(species))


def tolerance_step(state: np.ndarray, exposure_integral: np.ndarray, dt_h: float | np.ndarray, params) -> np.ndarray:
    """Advance the tolerance state over ``dt_h`` hours given the interval's exact blockade integral.

    Parameters
    ----------
    state : array (n,)
        ``S`` at the start of the interval (>= 0).
    exposure_integral : array (n,)
        ``int x dt`` over the interval (occupancy-odds hours, >= 0), e.g. a difference of
        :func:`ketasim.layers.exposure.blockade_integral`.
    dt_h : float or array
        Interval length, h (>= 0).
    params : dict
        From :func:`tolerance_parameters`.

    Examples
    --------
    >>> p = {"k_in": 1.0, "k_out": np.log(2)}
    >>> float(tolerance_step(np.array(1.0), np.array(0.0), 1.0, p))      # one half-life of recovery
    0.5
    >>> float(tolerance_step(np.array(0.0), np.array(2.0), 0.0, p))      # an impulse enters whole
    2.0
    """
    s = np.asarray(state, float)
    i = np.clip(np.asarray(exposure_integral, float), 0.0, None)   # round-off of AUC differences
    dt = np.asarray(dt_h, float)
    if np.any(dt < 0):
        raise InputError(f"dt_h must be >= 0 h; got {float(np.min(dt)):g}.")
    k = float(params["k_out"])
    return s * np.exp(-k * dt) + float(params["k_in"]) * i * _gain(k * dt)


def _gain(kdt):
    """``(1 - e^-kdt) / kdt``, with its limit 1 at kdt -> 0."""
    kdt = np.asarray(kdt, float)
    return np.where(kdt > 1e-8, -np.expm1(-kdt) / np.where(kdt > 1e-8, kdt, 1.0), 1.0 - 0.5 * kdt)


def response_factor(state: np.ndarray, params=None) -> np.ndarray:
    """Multiplier (0, 1] of the acute dopamine / liking response: ``1 / (1 + S)``.

    Examples
    --------
    >>> response_factor(np.array([0.0, 1.0, 9.0])).tolist()
    [1.0, 0.5, 0.1]
    """
    return 1.0 / (1.0 + np.clip(np.asarray(state, float), 0.0, None))


def tolerance_path(times: np.ndarray, X: np.ndarray, params, base: np.ndarray | None = None) -> np.ndarray:
    """States ``S`` on a grid from the cumulative blockade integral ``X`` (n, len(times)).

    ``base`` (bool, len(times)) marks the points the state is carried along; every other
    point is reached by one exact step from the last base point before it, so adding
    output times never changes the state at the base points (grid independence).
    Default: every point is a base point. Vectorised over time
    (:func:`~ketasim.layers.exposure.first_order_recurrence`).
    """
    t = np.asarray(times, float)
    X = np.asarray(X, float)
    n, m = X.shape
    base = np.ones(m, bool) if base is None else np.asarray(base, bool)
    bi = np.flatnonzero(base)
    tb, Xb = t[bi], X[:, bi]
    k = float(params["k_out"])
    b = np.zeros_like(Xb)
    b[:, 1:] = float(params["k_in"]) * np.clip(np.diff(Xb, axis=1), 0.0, None) * _gain(k * np.diff(tb))
    Sb = first_order_recurrence(tb, b, k)
    out = np.empty((n, m))
    out[:, bi] = Sb
    nb = np.flatnonzero(~base)
    if nb.size:
        pb = previous_base(base)[nb]
        out[:, nb] = tolerance_step(Sb[:, np.searchsorted(bi, pb)], X[:, nb] - X[:, pb], t[nb] - t[pb], params)
    return out


def run(times: np.ndarray, inputs: Mapping[str, np.ndarray], subjects, wanted, *,
        base: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Layer interface: ``tolerance`` (n, len(times)) from the PK areas :data:`INPUTS`."""
    species = getattr(subjects, "species", "human")
    S = tolerance_path(times, blockade_integral(inputs, subjects), tolerance_parameters(species), base)
    return {"tolerance": 1.0 - response_factor(S)} if "tolerance" in wanted else {}


def calibrate_k_in(target: float = CALIBRATION["target_tolerance"]) -> float:
    """Refit the rat ``k_in`` so that the day-7 tolerance of :data:`CALIBRATION` equals ``target``.

    The state is linear in ``k_in``, so the fit is closed-form: ``S = k_in S_1`` with
    ``S_1`` the state for ``k_in = 1``, and ``1 - 1/(1 + S) = target``.
    """
    import ketasim as ks

    c = CALIBRATION
    t = np.arange(0.0, c["t_challenge_h"] + 1e-9, 1.0 / 60.0)
    sub = ks.Subject(weight=c["weight_kg"], species="rat", age=0.25)
    res = ks.simulate(c["regimen"], sub, t, outputs=list(BLOCKADE_INPUTS))
    X = blockade_integral({k: res[k].values for k in BLOCKADE_INPUTS if k in res})
    p = dict(tolerance_parameters("rat"), k_in=1.0)
    s1 = tolerance_path(t, X, p)[0, -1]
    return float(target / (1.0 - target) / s1)

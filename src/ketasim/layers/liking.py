"""Drug liking: bipolar Drug Liking VAS above placebo, from dopamine, opioid occupancy and rate of rise.

Abuse-potential studies score "Drug Liking at the Moment" on a bipolar 0-100 VAS
(50 = neutral) and report the peak effect above placebo, so the scale runs from 0
to at most 50 here. The drive is the acute rise of nucleus-accumbens dopamine of the
chosen circuit variant, reduced by slow tolerance (:mod:`ketasim.layers.tolerance`),
plus mu-opioid occupancy when the variant includes ``opioid``, amplified while
NMDA blockade is still rising fast (rate-of-rise term)::

    u   = R_tol(t) [max(DA_NAc_pct - 100, 0) / 100 + w_mu occupancy_mu]    (w_mu term: opioid variant only)
    rho = max(0, 1 - x_lag / x)            x = NMDA occupancy odds; dx_lag/dt = k_r (x - x_lag)
    d   = u (1 + g_rate rho)
    drug_liking = L_max d^h / (d50^h + d^h)                                  VAS points above placebo

``rho`` is 0 at steady state and approaches 1 when the drive rises much faster than
``1/k_r`` (a bolus); ``x_lag`` is advanced with the exact mean of ``x`` over each
interval (differences of the exact blockade integral). Parameters and sources:
``data/outcomes/liking.yaml`` (docs/model.md, "Outcomes").
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Mapping

import numpy as np
import yaml

from ..outcome_parameters import overridable
from .exposure import (BLOCKADE_INPUTS, BLOCKADE_RATE_INPUTS, blockade_integral, blockade_odds,
                       first_order_recurrence, previous_base)

__all__ = ["OUTPUTS", "INPUTS", "liking_parameters", "lag_path", "rate_of_rise", "liking_from_drive", "run"]

OUTPUTS: dict[str, tuple[str, str]] = {
    "drug_liking": ("VAS", "Drug Liking VAS above placebo (bipolar scale, 0..50), acute"),
}
INPUTS: tuple[str, ...] = ("DA_NAc_pct", "occupancy_mu", "tolerance", *BLOCKADE_RATE_INPUTS, *BLOCKADE_INPUTS)


def _load() -> dict:
    return yaml.safe_load((resources.files("ketasim") / "data" / "outcomes" / "liking.yaml").read_text())


@overridable("liking")
@lru_cache(maxsize=1)
def liking_parameters() -> dict:
    """Liking parameters (values only) from ``liking.yaml`` (scaled ones inside
    :func:`ketasim.outcome_parameters.overridden`)."""
    return {k: float(v["value"]) for k, v in _load().items()}


def _lag_input(dt, dX, x0, x1, k):
    """``(1 - e^{-k dt}) * mean`` with the exact interval mean ``dX / dt`` (trapezoid below 1e-9 h)."""
    tiny = dt <= 1e-9
    mean = np.where(tiny, 0.5 * (x0 + x1), dX / np.where(tiny, 1.0, dt))
    return -np.expm1(-k * dt) * np.clip(mean, 0.0, None)


def lag_path(times, X, x, k: float, base=None) -> np.ndarray:
    """First-order lag ``dy/dt = k (x - y)``, y(0) = 0, advanced with the exact interval means of ``x``.

    ``X`` is the exact cumulative integral of ``x`` (n, m); where an interval is shorter
    than 1e-9 h the trapezoid of ``x`` is used. Points not in ``base`` are reached by one
    step from the last base point and do not carry the state.
    """
    t = np.asarray(times, float)
    X = np.asarray(X, float)
    x = np.asarray(x, float)
    n, m = X.shape
    base = np.ones(m, bool) if base is None else np.asarray(base, bool)
    bi = np.flatnonzero(base)
    tb, Xb, xb = t[bi], X[:, bi], x[:, bi]
    b = np.zeros_like(Xb)
    b[:, 1:] = _lag_input(np.diff(tb), np.diff(Xb, axis=1), xb[:, :-1], xb[:, 1:], k)
    yb = first_order_recurrence(tb, b, k)
    out = np.empty((n, m))
    out[:, bi] = yb
    nb = np.flatnonzero(~base)
    if nb.size:
        pb = previous_base(base)[nb]
        dt = t[nb] - t[pb]
        out[:, nb] = (yb[:, np.searchsorted(bi, pb)] * np.exp(-k * dt)
                      + _lag_input(dt, X[:, nb] - X[:, pb], x[:, pb], x[:, nb], k))
    return out


def rate_of_rise(x, x_lag) -> np.ndarray:
    """``max(0, 1 - x_lag / x)`` in [0, 1): how far the drive runs ahead of its lagged value."""
    x = np.asarray(x, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(x > 1e-12, 1.0 - np.asarray(x_lag, float) / np.where(x > 1e-12, x, 1.0), 0.0)
    return np.clip(r, 0.0, 1.0)


def liking_from_drive(d, params=None) -> np.ndarray:
    """``L_max d^h / (d50^h + d^h)`` (VAS points above placebo)."""
    p = params or liking_parameters()
    z = np.power(np.clip(np.asarray(d, float), 0.0, None) / p["d50"], p["hill"])
    return p["L_max"] * z / (1.0 + z)


def run(times: np.ndarray, inputs: Mapping[str, np.ndarray], subjects, wanted, *, base=None,
        circuit=None) -> dict[str, np.ndarray]:
    """Layer interface: ``drug_liking`` (n, len(times))."""
    if "drug_liking" not in wanted:
        return {}
    p = liking_parameters()
    da = np.asarray(inputs["DA_NAc_pct"], float)
    resp = 1.0 - np.asarray(inputs["tolerance"], float)
    u = np.clip(da - 100.0, 0.0, None) / 100.0
    if circuit is not None and "opioid" in circuit:
        u = u + p["w_mu"] * np.asarray(inputs["occupancy_mu"], float)
    u = resp * u
    x = blockade_odds(inputs, subjects)
    X = blockade_integral(inputs, subjects)
    rho = rate_of_rise(x, lag_path(times, X, x, p["k_r"], base))
    return {"drug_liking": liking_from_drive(u * (1.0 + p["g_rate"] * rho), p)}

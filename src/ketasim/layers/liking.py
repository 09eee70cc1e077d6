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

from .exposure import BLOCKADE_INPUTS, BLOCKADE_RATE_INPUTS, blockade_integral, blockade_odds

__all__ = ["OUTPUTS", "INPUTS", "liking_parameters", "lag_path", "rate_of_rise", "liking_from_drive", "run"]

OUTPUTS: dict[str, tuple[str, str]] = {
    "drug_liking": ("VAS", "Drug Liking VAS above placebo (bipolar scale, 0..50), acute"),
}
INPUTS: tuple[str, ...] = ("DA_NAc_pct", "occupancy_mu", "tolerance", *BLOCKADE_RATE_INPUTS, *BLOCKADE_INPUTS)


def _load() -> dict:
    return yaml.safe_load((resources.files("ketasim") / "data" / "outcomes" / "liking.yaml").read_text())


@lru_cache(maxsize=1)
def liking_parameters() -> dict:
    """Liking parameters (values only) from ``liking.yaml``."""
    return {k: float(v["value"]) for k, v in _load().items()}


def lag_path(times, X, x, k: float, base=None) -> np.ndarray:
    """First-order lag ``dy/dt = k (x - y)``, y(0) = 0, advanced with the exact interval means of ``x``.

    ``X`` is the exact cumulative integral of ``x`` (n, m); where an interval is shorter
    than 1e-9 h the trapezoid of ``x`` is used. Points not in ``base`` do not carry the state.
    """
    t = np.asarray(times, float)
    n, m = X.shape
    if base is None:
        base = np.ones(m, bool)
    out = np.zeros((n, m))
    y = np.zeros(n)
    tb, Xb, xb = t[0], X[:, 0], x[:, 0]
    for j in range(1, m):
        dt = t[j] - tb
        if dt > 1e-9:
            mean = (X[:, j] - Xb) / dt
        else:
            mean = 0.5 * (x[:, j] + xb)
        e = np.exp(-k * dt)
        out[:, j] = y * e + (1.0 - e) * np.clip(mean, 0.0, None)
        if base[j]:
            y, tb, Xb, xb = out[:, j], t[j], X[:, j], x[:, j]
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
    x = blockade_odds(inputs)
    X = blockade_integral(inputs)
    rho = rate_of_rise(x, lag_path(times, X, x, p["k_r"], base))
    return {"drug_liking": liking_from_drive(u * (1.0 + p["g_rate"] * rho), p)}

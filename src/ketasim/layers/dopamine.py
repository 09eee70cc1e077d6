"""Dopamine layer: extracellular dopamine in nucleus accumbens and prefrontal cortex.

Reads ``rate_VTA_DA`` (Hz) and ``burst_fraction_VTA_DA`` from the circuit layer
and adds ``DA_NAc``, ``DA_PFC`` (nM) and ``DA_NAc_pct``, ``DA_PFC_pct`` (% of the
pre-dose baseline). Per region::

    dDA/dt = R - Vmax DA / (Km + DA) - k DA
    R = q r_DA (1 + (kappa_burst - 1) b)

``q`` is fixed by the basal DA at the baseline rate and burst fraction. DA
clearance takes seconds, so on PK time scales DA is quasi-steady: the positive
root of ``k DA^2 + (k Km + Vmax - R) DA - R Km = 0``. :func:`integrate_da`
integrates the ODE itself for the dynamic mode. Parameters and sources:
``data/circuit/dopamine.yaml``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Mapping, Sequence

import numpy as np
import yaml

from ..errors import InputError

__all__ = ["DA_OUTPUTS", "REGIONS", "dopamine_parameters", "release_rate", "steady_da", "integrate_da",
           "run_dopamine", "uptake"]

REGIONS = ("NAc", "PFC")
DA_OUTPUTS: dict[str, tuple[str, str]] = {
    "DA_NAc": ("nM", "extracellular dopamine, nucleus accumbens"),
    "DA_PFC": ("nM", "extracellular dopamine, prefrontal cortex"),
    "DA_NAc_pct": ("%", "extracellular dopamine, nucleus accumbens, % of the pre-dose baseline"),
    "DA_PFC_pct": ("%", "extracellular dopamine, prefrontal cortex, % of the pre-dose baseline"),
}


@lru_cache(maxsize=1)
def dopamine_parameters() -> dict:
    """Dopamine kinetic parameters (values only) from ``dopamine.yaml``."""
    raw = yaml.safe_load((resources.files("ketasim") / "data" / "circuit" / "dopamine.yaml").read_text())
    regions = {r: {k: float(v["value"]) for k, v in raw["regions"][r].items()} for r in REGIONS}
    return {"regions": regions, "kappa_burst": float(raw["kappa_burst"]["value"]),
            "k_pet": float(raw["pet"]["k_pet"]["value"]), "raw": raw}


def uptake(da, region: str, parameters: Mapping | None = None):
    """Total clearance flux (nM/s) at concentration ``da`` (nM): DAT/NET Michaelis-Menten + first order."""
    p = (parameters or dopamine_parameters())["regions"][region]
    da = np.asarray(da, float)
    return p["Vmax_nM_per_s"] * da / (p["Km_nM"] + da) + p["k_nonDAT_per_s"] * da


def _drive(rate, burst, kappa):
    return np.asarray(rate, float) * (1.0 + (kappa - 1.0) * np.asarray(burst, float))


def release_rate(rate, burst, region: str, *, rate0: float = 4.0, burst0: float = 0.2, kappa: float | None = None,
                 parameters: Mapping | None = None):
    """Release flux (nM/s) for VTA DA ``rate`` (Hz) and ``burst`` fraction; baseline (rate0, burst0)."""
    p = parameters or dopamine_parameters()
    kappa = p["kappa_burst"] if kappa is None else kappa
    q = uptake(p["regions"][region]["basal_nM"], region, p) / _drive(rate0, burst0, kappa)
    return q * _drive(rate, burst, kappa)


def steady_da(R, region: str, parameters: Mapping | None = None):
    """Steady-state DA (nM) for release flux ``R`` (nM/s): release = uptake."""
    p = (parameters or dopamine_parameters())["regions"][region]
    k, Km, V = p["k_nonDAT_per_s"], p["Km_nM"], p["Vmax_nM_per_s"]
    R = np.asarray(R, float)
    bq = k * Km + V - R
    return (2.0 * R * Km) / (bq + np.sqrt(bq * bq + 4.0 * k * R * Km))   # stable form of the + root


def integrate_da(t_s, R, region: str, da0=None, dt_s: float = 1e-3):
    """Integrate dDA/dt = R(t) - uptake(DA) (RK4); ``R`` (S, T) sampled at ``t_s`` (T,) seconds."""
    t = np.asarray(t_s, float)
    R = np.atleast_2d(np.asarray(R, float))
    da = steady_da(R[:, 0], region) if da0 is None else np.asarray(da0, float)
    out = np.empty_like(R)
    out[:, 0] = da
    for n in range(1, t.size):
        tc = t[n - 1]
        while tc < t[n] - 1e-12:
            h = min(dt_s, t[n] - tc)
            w0 = (tc - t[n - 1]) / (t[n] - t[n - 1])
            w1 = (tc + h - t[n - 1]) / (t[n] - t[n - 1])
            r0 = R[:, n - 1] * (1 - w0) + R[:, n] * w0
            r1 = R[:, n - 1] * (1 - w1) + R[:, n] * w1
            rm = 0.5 * (r0 + r1)
            k1 = r0 - uptake(da, region)
            k2 = rm - uptake(da + h / 2 * k1, region)
            k3 = rm - uptake(da + h / 2 * k2, region)
            k4 = r1 - uptake(da + h * k3, region)
            da = np.maximum(da + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), 0.0)
            tc += h
        out[:, n] = da
    return out


def run_dopamine(inputs: Mapping[str, np.ndarray], outputs: Sequence[str] = tuple(DA_OUTPUTS), *,
                 rate0: float = 4.0, burst0: float = 0.2, kappa: float | None = None,
                 parameters: Mapping | None = None) -> dict[str, np.ndarray]:
    """Quasi-steady DA outputs from ``rate_VTA_DA`` and ``burst_fraction_VTA_DA``.

    ``parameters`` replaces :func:`dopamine_parameters` (same keys); its values, and
    ``burst0``, may be arrays of shape (subjects, 1), one per subject
    (:mod:`ketasim.pd_parameters`).
    """
    rate = np.asarray(inputs["rate_VTA_DA"], float)
    burst = np.asarray(inputs["burst_fraction_VTA_DA"], float)
    if np.any(rate < 0) or np.any(~np.isfinite(rate)):
        raise InputError("rate_VTA_DA must be finite and >= 0 Hz; check the circuit layer's output.")
    if np.any(burst < -1e-12) or np.any(burst > 1 + 1e-12):
        raise InputError("burst_fraction_VTA_DA must be in [0, 1]; check the circuit layer's output.")
    p = parameters or dopamine_parameters()
    out = {}
    for region in REGIONS:
        if f"DA_{region}" not in outputs and f"DA_{region}_pct" not in outputs:
            continue
        da = steady_da(release_rate(rate, burst, region, rate0=rate0, burst0=burst0, kappa=kappa, parameters=p),
                       region, p)
        if f"DA_{region}" in outputs:
            out[f"DA_{region}"] = da
        if f"DA_{region}_pct" in outputs:
            out[f"DA_{region}_pct"] = 100.0 * da / p["regions"][region]["basal_nM"]
    return out

"""Acute central effects for discharge decisions: dissociation and sedation.

Both are driven by the PK layer's effect-site concentrations (ng/mL), with an
*acute tolerance* state so that the effects fade faster than the
concentration, as observed after esketamine (dissociation peaks at ~40 min and
has generally resolved by 1.5 h; sedation peaks at 30-45 min and resolves by
1-1.5 h, while plasma esketamine at 1.5 h is still most of its peak).

Equations (docs/model.md, "Acute safety")::

    C    = Ce_S + w_R * Ce_R                         S-ketamine equivalents, ng/mL
    dT/dt = k_tol * (C - T)                           tolerance state, T(0) = 0
    D    = max(C - f_tol * T, 0)                      tolerance-corrected drive
    dissociation = Emax * D^h / ((EC50 e^-eta)^h + D^h)      % of scale maximum
    sedation     = 5 - 5 * D^h / ((EC50 e^-eta)^h + D^h)     MOAA/S-like, 5 alert .. 0

The EC50s are the published concentration-effect midpoints applied to the
drive (before tolerance develops the drive equals the concentration); at a
true steady state the drive is (1 - f_tol) C, i.e. the model's apparent
steady-state EC50 is EC50 / (1 - f_tol).

``T`` is a first-order filter of ``C``; it is advanced between output times
with the exact mean of ``C`` over each interval (from the PK layer's exact
``AUC_effect_*`` integrals), which is exact for a piecewise-constant input and
converges at second order on the fine grid the safety layer uses.
Parameter values and sources: ``data/safety/acute_effects.yaml``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import yaml

from ..errors import InputError
from ..layer_data import values

__all__ = ["ACUTE_OUTPUTS", "acute_parameters", "tolerance_filter", "tolerant_drive", "dissociation",
           "sedation", "MOAAS_ALERT"]

#: name -> (unit, long name)
ACUTE_OUTPUTS: dict[str, tuple[str, str]] = {
    "dissociation": ("% of max", "dissociative/psychedelic effect, % of scale maximum (acute tolerance model)"),
    "sedation": ("MOAA/S", "sedation on a MOAA/S-like scale (5 = alert, 0 = no response to painful stimulus)"),
}
MOAAS_ALERT = 5.0


def _load(name: str) -> dict:
    return yaml.safe_load((resources.files("ketasim") / "data" / "safety" / name).read_text())


@lru_cache(maxsize=1)
def acute_parameters() -> dict:
    """Dissociation, sedation and tolerance parameters (values only) from ``acute_effects.yaml``."""
    p = values(_load("acute_effects.yaml"))
    for block in ("dissociation", "sedation"):
        q = p[block]
        if not (q["EC50"] > 0 and q["hill"] > 0 and 0 <= q["w_R"] <= 1):
            raise InputError(f"acute_effects.yaml: {block} needs EC50 > 0, hill > 0, 0 <= w_R <= 1.")
    if not 0 <= p["tolerance"]["f_tol"] < 1:
        raise InputError("acute_effects.yaml: tolerance.f_tol must be in [0, 1).")
    return p


def tolerance_filter(times: np.ndarray, conc: np.ndarray, auc: np.ndarray, k: float) -> np.ndarray:
    """First-order filter ``dT/dt = k (C - T)`` with T = 0 at the first time, on a grid.

    ``conc`` and ``auc`` have shape (n, len(times)); ``auc`` is the exact
    cumulative integral of ``conc``. Between grid points the input is replaced
    by its exact mean (Δauc / Δt).

    Examples
    --------
    >>> t = np.array([0.0, 1.0, 2.0]); c = np.ones((1, 3)); a = t[None, :].copy()
    >>> np.round(tolerance_filter(t, c, a, np.log(2)), 3).tolist()   # from 0 toward 1
    [[0.0, 0.5, 0.75]]
    """
    t = np.asarray(times, float)
    c = np.asarray(conc, float)
    a = np.asarray(auc, float)
    out = np.zeros_like(c)
    if t.size < 2 or k <= 0:
        return out
    dt = np.diff(t)
    mean = np.diff(a, axis=1) / dt
    # where dt is tiny the AUC difference loses precision: use the trapezoid instead
    trap = 0.5 * (c[:, 1:] + c[:, :-1])
    mean = np.where(dt[None, :] < 1e-9, trap, mean)
    decay = np.exp(-k * dt)
    x = np.zeros(c.shape[0])
    for j in range(dt.size):
        x = x * decay[j] + (1.0 - decay[j]) * mean[:, j]
        out[:, j + 1] = x
    return out


def tolerant_drive(times, ce_s, ce_r, auc_s, auc_r, w_R: float, k_tol: float, f_tol: float) -> np.ndarray:
    """Tolerance-corrected drive ``D = max(C - f T, 0)`` with ``C = Ce_S + w_R Ce_R`` (ng/mL)."""
    c = np.clip(ce_s + w_R * ce_r, 0.0, None)
    a = auc_s + w_R * auc_r
    T = tolerance_filter(times, c, a, k_tol)
    return np.clip(c - f_tol * T, 0.0, None)


def _emax(drive: np.ndarray, ec50: float, hill: float, eta: np.ndarray | None) -> np.ndarray:
    ec = ec50 if eta is None else ec50 * np.exp(-np.asarray(eta, float))[:, None]
    x = np.power(np.clip(drive, 0.0, None) / ec, hill)
    return x / (1.0 + x)


def dissociation(drive: np.ndarray, eta: np.ndarray | None = None) -> np.ndarray:
    """Dissociation (% of scale maximum) from the tolerance-corrected drive (ng/mL)."""
    p = acute_parameters()
    q = p["dissociation"]
    return q["Emax"] * _emax(drive, q["EC50"], q["hill"], eta)


def sedation(drive: np.ndarray, eta: np.ndarray | None = None) -> np.ndarray:
    """MOAA/S-like score (5 alert .. 0) from the tolerance-corrected drive (ng/mL)."""
    p = acute_parameters()
    q = p["sedation"]
    return MOAAS_ALERT * (1.0 - _emax(drive, q["EC50"], q["hill"], eta))

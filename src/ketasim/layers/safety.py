"""Acute-safety layer: blood pressure and heart rate rises, plus the acute central effects.

Cardiovascular model (sympathomimetic, driven by the plasma concentration, no
acute tolerance: the label reports blood-pressure rises that peak ~40 min after
a dose, when plasma esketamine peaks, and last ~4 h, i.e. they follow the
concentration without a measurable delay; see ``t_half_ke0_cv`` in
``cardiovascular.yaml``)::

    C_cv     = Cp_S + w_R,cv * Cp_R                              ng/mL
    dSBP     = Emax_SBP * g_age * e^eta_cv * C_cv / (EC50_bp + C_cv)    mmHg
    dDBP     = Emax_DBP *         e^eta_cv * C_cv / (EC50_bp + C_cv)    mmHg
    dHR      = Emax_HR  *         e^eta_cv * C_cv / (EC50_hr + C_cv)    bpm
    g_age    = exp(beta_age * (age - 45))                        (systolic only)

Dissociation and sedation come from :mod:`ketasim.layers.acute_effects`.
Parameter values and their sources: ``data/safety/cardiovascular.yaml``.

Subject-level random effects (``eta_cv``, ``eta_cns``) are standard-normal
deviates read from ``Population.extra`` and scaled here by the published-or-
calibrated SDs; a population without them is simulated at typical values.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping

import numpy as np

from ..errors import InputError
from ..layer_data import values
from . import acute_effects as ae

__all__ = ["SAFETY_OUTPUTS", "CV_OUTPUTS", "PK_INPUTS", "cv_parameters", "run_safety", "check_baseline"]

CV_OUTPUTS: dict[str, tuple[str, str]] = {
    "delta_SBP": ("mmHg", "rise in systolic blood pressure above the subject's baseline"),
    "delta_DBP": ("mmHg", "rise in diastolic blood pressure above the subject's baseline"),
    "delta_HR": ("bpm", "rise in heart rate above the subject's baseline"),
}
#: name -> (unit, long name) of every variable this layer can add.
SAFETY_OUTPUTS: dict[str, tuple[str, str]] = {**CV_OUTPUTS, **ae.ACUTE_OUTPUTS}
#: PK variables (and their exact integrals) the layer reads: plasma S/R-ketamine drive blood pressure and heart
#: rate, effect-site S/R-ketamine (and their integrals) the central effects.
PK_INPUTS = ("C_plasma_S_ketamine", "C_plasma_R_ketamine", "C_effect_S_ketamine", "C_effect_R_ketamine",
             "AUC_effect_S_ketamine", "AUC_effect_R_ketamine")

#: Plausible resting vitals (they catch unit slips and typos, not patients).
BASELINE_LIMITS = {"baseline_sbp": (60.0, 250.0), "baseline_dbp": (30.0, 150.0), "baseline_hr": (25.0, 200.0)}


@lru_cache(maxsize=1)
def cv_parameters() -> dict:
    """Cardiovascular parameters (values only) from ``cardiovascular.yaml``."""
    p = values(ae._load("cardiovascular.yaml"))
    for k in ("EC50_bp", "EC50_hr"):
        if not p[k] > 0:
            raise InputError(f"cardiovascular.yaml: {k} must be > 0.")
    if p["t_half_ke0_cv"] != 0.0:
        raise InputError(f"cardiovascular.yaml: t_half_ke0_cv must be 0 min (the response follows plasma); got "
                         f"{p['t_half_ke0_cv']:g}. Another delay is not implemented (the PK layer's effect site has "
                         "its own ke0).")
    return p


def check_baseline(name: str, value) -> float:
    """Validate one resting vital sign (mmHg or bpm); returns it as float.

    Examples
    --------
    >>> check_baseline("baseline_sbp", 135)
    135.0
    """
    lo, hi = BASELINE_LIMITS[name]
    unit = "bpm" if name.endswith("hr") else "mmHg"
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number of {unit}; got {value!r}.") from None
    if not np.isfinite(x) or not lo <= x <= hi:
        raise InputError(f"{name} must be between {lo:g} and {hi:g} {unit} (a resting value); got {x:g}. "
                         "Check the unit and that systolic and diastolic are not swapped.")
    return x


def _eta(extra: Mapping[str, np.ndarray], key: str, n: int, sd: float) -> np.ndarray:
    v = extra.get(key) if extra is not None else None
    if v is None:
        return np.zeros(n)
    v = np.asarray(v, float)
    if v.shape != (n,) or not np.all(np.isfinite(v)):
        raise InputError(f"population extra {key!r} must be {n} finite standard-normal deviates.")
    return sd * v


def run_safety(times: np.ndarray, pk: Mapping[str, np.ndarray], age: np.ndarray,
               extra: Mapping[str, np.ndarray] | None, outputs) -> dict[str, np.ndarray]:
    """Safety outputs on the grid ``times`` from PK arrays (n, len(times)).

    ``pk`` needs :data:`PK_INPUTS` (R-ketamine entries may be missing: zero; the plasma entries are needed
    only for the cardiovascular outputs, the effect-site ones only for the central effects).
    ``age`` (years, n) sets the systolic age factor; ``extra`` may hold the
    standard-normal deviates ``eta_cv`` and ``eta_cns``.
    """
    outputs = tuple(outputs)
    bad = [o for o in outputs if o not in SAFETY_OUTPUTS]
    if bad:
        from ..errors import unknown

        raise unknown("outputs", bad[0], list(SAFETY_OUTPUTS))
    out: dict[str, np.ndarray] = {}
    if any(o in CV_OUTPUTS for o in outputs):
        cv = cv_parameters()
        cp_s = np.clip(np.asarray(pk["C_plasma_S_ketamine"], float), 0.0, None)
        n = cp_s.shape[0]
        cp_r = np.clip(np.asarray(pk.get("C_plasma_R_ketamine", np.zeros_like(cp_s)), float), 0.0, None)
        c = cp_s + cv["w_R"] * cp_r
        m = np.exp(_eta(extra, "eta_cv", n, cv["omega_cv"]))[:, None]
        bp = c / (cv["EC50_bp"] + c)
        if "delta_SBP" in outputs:
            g = np.exp(cv["beta_age_sbp"] * (np.asarray(age, float) - cv["age_ref"]))[:, None]
            out["delta_SBP"] = cv["Emax_SBP"] * g * m * bp
        if "delta_DBP" in outputs:
            out["delta_DBP"] = cv["Emax_DBP"] * m * bp
        if "delta_HR" in outputs:
            out["delta_HR"] = cv["Emax_HR"] * m * c / (cv["EC50_hr"] + c)
    if not any(o in ae.ACUTE_OUTPUTS for o in outputs):
        return out
    ce_s = np.asarray(pk["C_effect_S_ketamine"], float)
    n = ce_s.shape[0]
    zero = np.zeros_like(ce_s)
    ce_r = np.asarray(pk.get("C_effect_R_ketamine", zero), float)
    auc_s = np.asarray(pk["AUC_effect_S_ketamine"], float)
    auc_r = np.asarray(pk.get("AUC_effect_R_ketamine", zero), float)
    # exact PK leaves round-off residues of either sign near zero
    ce_s, ce_r = np.clip(ce_s, 0.0, None), np.clip(ce_r, 0.0, None)
    p = ae.acute_parameters()
    tol = p["tolerance"]
    eta_cns = _eta(extra, "eta_cns", n, p["omega_cns"])
    if "dissociation" in outputs:
        q = p["dissociation"]
        d = ae.tolerant_drive(times, ce_s, ce_r, auc_s, auc_r, q["w_R"], tol["k_tol"], tol["f_tol"])
        out["dissociation"] = ae.dissociation(d, eta_cns)
    if "sedation" in outputs:
        q = p["sedation"]
        d = ae.tolerant_drive(times, ce_s, ce_r, auc_s, auc_r, q["w_R"], tol["k_tol"], tol["f_tol"])
        out["sedation"] = ae.sedation(d, eta_cns)
    return out

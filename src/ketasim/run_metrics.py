"""Per-subject summary metrics of a scenario run, and the constants they use (thresholds, quantiles, anchors).

Split from :mod:`ketasim.runner` (which re-exports every name): the metrics are also used by
virtual trials (:mod:`ketasim.trials.summaries`) and the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["Threshold", "THRESHOLDS", "OUTPUTS", "QUANTILES", "METRICS", "ANCHORS", "OCCASION_GAP_H", "N_SERIES",
           "time_above", "first_occasion_end"]


@dataclass(frozen=True, slots=True)
class Threshold:
    """A plasma ketamine concentration of reference, with its source."""

    value: float  # ng/mL
    label: str
    source: str


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold(50.0, "DUID psychomotor-impairment threshold",
              "Andresen-Streichert et al. 2022, DUID literature as stated there (physchem.csv "
              "conc_effect_DUID_psychomotor_impairment_threshold [S])"),
    Threshold(1200.0, "lower end of general-anaesthesia concentrations (1200-2400 ng/mL)",
              "Zanos et al. 2018 Pharmacol Rev Table 1 (physchem.csv conc_effect_general_anaesthesia_range_low [S])"),
)

#: PK variables simulated for every subject (those a parameter set provides).
OUTPUTS: tuple[str, ...] = ("C_plasma_ketamine", "C_plasma_norketamine", "C_effect_ketamine")

#: Population quantiles kept over time (default; a scenario may add more).
QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)

#: Doses closer than this (h) belong to one occasion (session).
OCCASION_GAP_H = 6.0

#: Subjects per arm whose full time series are kept (default of ``outputs.series_subjects``).
N_SERIES = 50

#: Per-subject PK metrics: name -> (unit, long name).
METRICS: dict[str, tuple[str, str]] = {
    "Cmax_ketamine": ("ng/mL", "peak plasma ketamine (S + R) over the whole period"),
    "Cmax_norketamine": ("ng/mL", "peak plasma norketamine over the whole period"),
    "Tmax_first_ketamine": ("h", "time of the plasma ketamine peak in the first dosing occasion, after the first dose"),
    "AUC_ketamine": ("ng*h/mL", "area under the plasma ketamine curve over the whole period (trapezoid rule on the output grid)"),
    "Cavg_ketamine": ("ng/mL", "average plasma ketamine over the whole period (AUC / period)"),
    "h_per_week_above_50": ("h/week", "hours per week with plasma ketamine above 50 ng/mL (DUID psychomotor-impairment threshold)"),
    "h_per_week_above_1200": ("h/week", "hours per week with plasma ketamine above 1200 ng/mL (lower end of general anaesthesia)"),
}

#: Published values the numbers can be held against: (arm, metric, value, unit, what, source).
ANCHORS: tuple[tuple[str, str, float, str, str, str], ...] = (
    ("iv-depression", "Cmax_ketamine", 185.0, "ng/mL",
     "plasma Cmax after 0.5 mg/kg IV over 40 min",
     "Zanos et al. 2018 Pharmacol Rev Table 1 citing Zarate 2006 (pkpd_effects.csv; antidepressant.csv) [S]"),
    ("esketamine", "Cmax_ketamine", 101.0, "ng/mL",
     "typical-value Cmax of esketamine after 84 mg nasal spray (model-predicted, not observed)",
     "Perez-Ruixo et al. 2021 Clin Pharmacokinet Table 4 via nlmixr2lib (pk_observations_calibration.csv VP26e) [C]"),
)


# ---------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------
def time_above(c: np.ndarray, t: np.ndarray, thr: float) -> np.ndarray:
    """Hours above ``thr`` with linear interpolation between grid points (rows = subjects)."""
    a, b = c[:, :-1], c[:, 1:]
    dt = np.diff(t)
    ua, ub = a > thr, b > thr
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(ua & ub, 1.0,
                        np.where(ua & ~ub, (a - thr) / (a - b),
                                 np.where(~ua & ub, (b - thr) / (b - a), 0.0)))
    return (frac * dt).sum(axis=1)


def first_occasion_end(dose_times: Sequence[float], end: float) -> float:
    """End of the first dosing occasion: the first dose followed by a gap >= OCCASION_GAP_H (else ``end``)."""
    ts = sorted(dose_times)
    for prev, nxt in zip(ts, ts[1:]):
        if nxt - prev >= OCCASION_GAP_H:
            return nxt
    return end


def _subject_metrics(t: np.ndarray, ck: np.ndarray, cnk: np.ndarray | None, t0: float,
                     t_first_end: float) -> dict[str, np.ndarray]:
    period = t[-1] - t[0]
    weeks = period / 168.0
    win = (t >= t0) & (t <= t_first_end)
    if not win.any():
        win = t >= 0
    tw = t[win]
    auc = np.trapezoid(ck, t, axis=1)
    out = {
        "Cmax_ketamine": ck.max(axis=1),
        "Cmax_norketamine": cnk.max(axis=1) if cnk is not None else np.full(ck.shape[0], np.nan),
        "Tmax_first_ketamine": tw[np.argmax(ck[:, win], axis=1)] - t0,
        "AUC_ketamine": auc,
        "Cavg_ketamine": auc / period,
    }
    for thr in THRESHOLDS:
        out[f"h_per_week_above_{thr.value:g}"] = time_above(ck, t, thr.value) / weeks
    return out


def _quantile_bands(full: np.ndarray, quantiles: Sequence[float], block: int = 512) -> np.ndarray:
    q = np.asarray(quantiles)
    out = np.empty((q.size, full.shape[1]), np.float32)
    for j in range(0, full.shape[1], block):
        with np.errstate(invalid="ignore"):
            out[:, j:j + block] = np.quantile(full[:, j:j + block].astype(np.float64), q, axis=0)
    return out

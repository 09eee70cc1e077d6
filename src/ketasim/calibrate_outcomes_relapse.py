"""Maintenance and relapse (SUSTAIN-1): calibration targets of ``p_relapse``, registered in
:mod:`ketasim.outcome_targets`, and the fit of ``h0_relapse`` / ``beta_relapse`` in
``data/outcomes/antidepressant.yaml``.

SUSTAIN-1 (Daly et al. 2019 JAMA Psychiatry 76:893; antidepressant.csv): patients in stable
remission (or stable response) after 16 weeks of esketamine were randomised to continue it or
to switch to placebo. Relapse is the event of :mod:`ketasim.layers.antidepressant`
(``h0 exp(-beta s)``); the trial defined relapse (not in the reference tables; as we recall the
publication, unverified) as MADRS >= 22 at two consecutive assessments 5-15 days apart, or
hospitalisation for worsening depression, a suicide attempt, completed suicide or another
clinically relevant event. The model does not simulate MADRS assessments; it uses the published
relapse statistics only.

Simulated trial (typical 70-kg adult, ``perez_ruixo_2021_esketamine``; a calibrated assumption
about the schedule): label induction (56 mg, then 84 mg twice weekly for weeks 1-4), then 84 mg
weekly for weeks 5-16 (the label allows weekly or every 2 weeks from week 9; SUSTAIN-2: 61% used
84 mg, clinical_context.csv); randomisation at week 16 (the relapse clock starts); the continued
arm keeps 84 mg weekly, the withdrawal arm stops. The hazard ratio is read as the ratio of the
arms' cumulative hazards over the withdrawal arm's median time to relapse (273 d).

Fit (closed form given the arms' saturation paths ``s``): ``beta`` solves
``int exp(-beta s_c) / int exp(-beta s_w) = 0.49`` over the 273 days, then
``h0 = ln 2 / int exp(-beta s_w)``. Run ``python -m ketasim.calibrate_outcomes_relapse``.
"""

from __future__ import annotations

import sys
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq

from .layers import antidepressant as ad
from .outcome_targets import Target, register

__all__ = ["SUSTAIN1", "RANDOMISATION_H", "maintenance_regimen", "withdrawal_regimen", "saturation_paths",
           "arm_relapse", "hazard_ratio", "fit_relapse"]

SUSTAIN1 = {"relapse_continued": 26.7, "relapse_placebo": 45.3, "hr_remitters": 0.49, "hr_remitters_ci": (0.29, 0.84),
            "hr_responders": 0.30, "hr_responders_ci": (0.16, 0.55), "median_placebo_d": 273.0}
_CITE = "antidepressant.csv SUSTAIN-1 rows: SUSTAIN-1, Daly et al. 2019 JAMA Psychiatry 76:893, PMC6551577"
#: Randomisation after 16 weeks of esketamine (h).
RANDOMISATION_H = 16 * 168.0
_INDUCTION = "56 mg esketamine intranasal, then after 84 h (84 mg esketamine intranasal twice weekly x 7)"
FOLLOW_UP_D = 400.0


def maintenance_regimen(weeks_after: int = int(np.ceil(FOLLOW_UP_D / 7)) + 1, every: str = "weekly") -> str:
    """Induction, 84 mg ``every`` for weeks 5-16, continued for ``weeks_after`` weeks after randomisation."""
    return f"{_INDUCTION}, then 84 mg esketamine intranasal {every} for {12 + int(weeks_after)} weeks"


def withdrawal_regimen() -> str:
    """Induction and 84 mg weekly for weeks 5-16, then stopped (placebo) at randomisation."""
    return f"{_INDUCTION}, then 84 mg esketamine intranasal weekly for 12 weeks"


@lru_cache(maxsize=4)
def saturation_paths(every: str = "weekly") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t since randomisation (h), s continued, s withdrawn) of the typical adult, hourly from randomisation."""
    import ketasim as ks

    t = RANDOMISATION_H + np.arange(0.0, FOLLOW_UP_D * 24.0 + 1e-9, 1.0)
    p = ad.antidepressant_parameters()
    out = []
    for reg in (maintenance_regimen(every=every), withdrawal_regimen()):
        ds = ks.simulate(reg, ks.Subject(weight=70.0), np.r_[0.0, t], outputs=["depression_score"])
        f = 1.0 - ds["depression_score"].values[0, 1:] / ad.DEFAULT_BASELINE_MADRS
        out.append(f / p["Fmax"])
    return t - RANDOMISATION_H, out[0], out[1]


def _cum(t, s, beta):
    g = np.exp(-beta * s)
    return np.r_[0.0, np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(t))]


def fit_relapse() -> dict:
    """``beta_relapse`` and ``h0_relapse`` from the SUSTAIN-1 remitters' HR and the placebo median (closed form)."""
    t, sc, sw = saturation_paths()
    i = int(np.searchsorted(t, SUSTAIN1["median_placebo_d"] * 24.0))
    ratio = lambda b: _cum(t, sc, b)[i] / _cum(t, sw, b)[i] - SUSTAIN1["hr_remitters"]
    beta = brentq(ratio, 0.0, 50.0, xtol=1e-10)
    h0 = np.log(2.0) / _cum(t, sw, beta)[i]
    return {"beta_relapse": float(beta), "h0_relapse": float(h0), "mean_s_continued": float(sc[: i + 1].mean()),
            "mean_s_withdrawn": float(sw[: i + 1].mean())}


@lru_cache(maxsize=4)
def arm_relapse(every: str = "weekly") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(days since randomisation, p_relapse continued, p_relapse withdrawn) of the typical adult via ks.simulate."""
    import ketasim as ks
    from .outcomes import with_relapse_clock

    pop = with_relapse_clock(ks.Subject(weight=70.0), RANDOMISATION_H)
    t = RANDOMISATION_H + np.arange(0.0, FOLLOW_UP_D * 24.0 + 1e-9, 6.0)
    p = [ks.simulate(reg, pop, np.r_[0.0, t], outputs=["p_relapse"])["p_relapse"].values[0, 1:]
         for reg in (maintenance_regimen(every=every), withdrawal_regimen())]
    return (t - RANDOMISATION_H) / 24.0, p[0], p[1]


def hazard_ratio(every: str = "weekly") -> float:
    """Continued-vs-withdrawn ratio of cumulative hazards at the withdrawal arm's median (model)."""
    d, pc, pw = arm_relapse(every)
    k = int(np.searchsorted(pw, 0.5))
    return float(np.log1p(-pc[k]) / np.log1p(-pw[k]))


def median_withdrawn_days() -> float:
    """Median time to relapse after withdrawal (days, model)."""
    d, _pc, pw = arm_relapse()
    return float(np.interp(0.5, pw, d))


def continued_share_at_placebo_share() -> float:
    """Relapse (%) in the continued arm when the withdrawal arm reaches the trial's 45.3% (model)."""
    d, pc, pw = arm_relapse()
    at = np.interp(SUSTAIN1["relapse_placebo"] / 100.0, pw, d)
    return 100.0 * float(np.interp(at, d, pc))


def _share_band() -> tuple[float, float]:
    q = 1.0 - SUSTAIN1["relapse_placebo"] / 100.0
    lo, hi = SUSTAIN1["hr_remitters_ci"]
    return round(100 * (1 - q ** lo), 1), round(100 * (1 - q ** hi), 1)


register(Target(
    id="relapse.sustain1_median_withdrawn", layer="relapse",
    description="SUSTAIN-1 stable remitters switched to placebo after 16 weeks of esketamine: median time to relapse",
    source=f"{_CITE}: median 273 days on placebo", observed=SUSTAIN1["median_placebo_d"], low=218.4, high=327.6,
    unit="days", compute=median_withdrawn_days,
    note="calibrated (h0_relapse); band +-20% (no interval in the reference tables)"))

register(Target(
    id="relapse.sustain1_hr_remitters", layer="relapse",
    description="SUSTAIN-1 stable remitters: hazard ratio for relapse, esketamine continued (84 mg weekly) vs placebo",
    source=f"{_CITE}: HR 0.49 (95% CI 0.29-0.84)", observed=SUSTAIN1["hr_remitters"],
    low=SUSTAIN1["hr_remitters_ci"][0], high=SUSTAIN1["hr_remitters_ci"][1], unit="HR", compute=hazard_ratio,
    note="calibrated (beta_relapse); ratio of cumulative hazards at the withdrawal arm's median; band = the 95% CI"))

register(Target(
    id="relapse.sustain1_share_continued", layer="relapse",
    description="SUSTAIN-1 stable remitters: relapse in the continued arm when the placebo arm has reached 45.3%",
    source=f"{_CITE}: relapse 26.7% continued vs 45.3% placebo", observed=SUSTAIN1["relapse_continued"],
    low=_share_band()[0], high=_share_band()[1], unit="%", compute=continued_share_at_placebo_share,
    note="validation; the trial's crude shares over unequal follow-up are read at the time the model's placebo arm "
         "reaches 45.3%; band = 1 - (1 - 0.453)^HR over the HR's 95% CI (proportional hazards)"))

register(Target(
    id="relapse.sustain1_hr_responders", layer="relapse",
    description="SUSTAIN-1 stable responders (not in remission): hazard ratio for relapse, continued vs placebo",
    source=f"{_CITE}: HR 0.30 (95% CI 0.16-0.55)", observed=SUSTAIN1["hr_responders"],
    low=SUSTAIN1["hr_responders_ci"][0], high=SUSTAIN1["hr_responders_ci"][1], unit="HR", compute=hazard_ratio,
    note="validation; the model has one relapse hazard for remitters and responders, so it gives the remitters' HR"))


if __name__ == "__main__":  # pragma: no cover
    print(fit_relapse())
    sys.exit(0)

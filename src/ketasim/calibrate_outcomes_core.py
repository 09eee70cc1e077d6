"""Calibration targets of the core outcome layers (tolerance, liking, antidepressant), registered in
:mod:`ketasim.outcome_targets`, and the small fits that produced the calibrated values in
``data/outcomes/{tolerance,liking,antidepressant}.yaml``.

Every target is simulated with the typical subject (no inter-individual variability) of the
default parameter set — 70-kg adult (``kamp_2020_racemic_meta`` for racemic ketamine,
``perez_ruixo_2021_esketamine`` for esketamine) or 0.3-kg rat (``rat_ketamine_pk``) — and the
default circuit, except the population response and remission rates, which use a seeded population
with the antidepressant sensitivity drawn (:func:`ketasim.outcomes.with_outcome_variability`).

Trial arithmetic (antidepressant). A comparator arm improves by the non-specific fraction
``mu`` of baseline; the drug relieves the fraction ``f`` of what is left, so the drug-minus-comparator
MADRS difference is ``B (1 - mu) f``. For Murrough et al. 2013 ``mu`` is the midazolam arm's
8.8 / 32; for TRANSFORM-2 (day 28) ``mu`` is the value whose response rate in the model is the
pooled TRANSFORM comparator arm's 45.2% (Turkoz et al. 2021), ``0.5 + sigma Phi^-1(0.452)``.

Run ``python -m ketasim.calibrate_outcomes_core`` to refit and print ``k_in`` (tolerance),
``d50`` (liking) and ``Fmax`` / ``P50`` (antidepressant).
"""

from __future__ import annotations

import sys
from functools import lru_cache

import numpy as np
from scipy.stats import norm

from .layers import antidepressant as ad
from .layers import tolerance as tol
from .layers.exposure import BLOCKADE_INPUTS, blockade_integral
from .outcome_targets import Target, register

__all__ = ["KETAMINE_IV", "ESKETAMINE_INDUCTION", "peak_liking", "drug_fraction_typical", "murrough_difference",
           "transform2_difference", "population_rates", "fit_liking_d50", "fit_antidepressant"]

#: The standard antidepressant / HAP positive-control regimen.
KETAMINE_IV = "0.5 mg/kg iv over 40 min"
#: TRANSFORM-2 induction: esketamine 56 or 84 mg intranasal twice weekly for 4 weeks; day 28 = 27 d after the first dose.
ESKETAMINE_INDUCTION = "{dose} mg esketamine intranasal twice weekly for 4 weeks"
DAY28_H = 27 * 24.0
B_DEFAULT = ad.DEFAULT_BASELINE_MADRS
MURROUGH = {"ketamine_fall": 16.5, "midazolam_fall": 8.8, "at_h": 24.0}
COCHRANE = {"ketamine_response": 46.5, "midazolam_response": 25.9, "or_low": 1.00, "or_high": 6.18,
            "ketamine_remission": 32.7, "midazolam_remission": 18.0}
TRANSFORM2 = {"difference": -4.0, "ci": (-7.31, -0.64), "comparator_response_day28": 45.2}

_AD_CSV = "antidepressant.csv"
_MURROUGH = "Murrough et al. 2013 Am J Psychiatry 170:1134, doi:10.1176/appi.ajp.2013.13030392"
_COCHRANE = "Cochrane review CD011612.pub3 (2021)"
_TRANSFORM2 = "TRANSFORM-2, Popova et al. 2019 Am J Psychiatry"
_TURKOZ = "pooled TRANSFORM analysis, Turkoz et al. 2021 J Clin Psychiatry"
_HAP = "Esmethadone HAP study, Transl Psychiatry 2023;13:192, doi:10.1038/s41398-023-02473-8, Table 6 (PMC10247777)"
_LINDEFORS = "Lindefors et al. 1997 Brain Res (PMID 9221938)"


def _typical_human():
    import ketasim as ks

    return ks.Subject(weight=70.0)


@lru_cache(maxsize=8)
def peak_liking(regimen: str = KETAMINE_IV, hours: float = 6.0) -> float:
    """Peak ``drug_liking`` (VAS above placebo) of the typical adult, on a 1-min grid."""
    import ketasim as ks

    t = np.arange(0.0, hours + 1e-9, 1.0 / 60.0)
    return float(ks.simulate(regimen, _typical_human(), t, outputs=["drug_liking"])["drug_liking"].max())


def rat_tolerance_day7() -> float:
    """Tolerance of the rat at the Lindefors day-7 challenge (before the 8th daily 25 mg/kg i.p. dose)."""
    import ketasim as ks

    c = tol.CALIBRATION
    sub = ks.Subject(weight=c["weight_kg"], species="rat", age=0.25)
    t = np.array([0.0, c["t_challenge_h"]])
    return float(ks.simulate(c["regimen"], sub, t, outputs=["tolerance"])["tolerance"].values[0, -1])


@lru_cache(maxsize=8)
def drug_fraction_typical(regimen: str, at_h: float) -> float:
    """Drug-attributable fraction ``f`` of the typical adult at ``at_h`` h (from the depression score)."""
    import ketasim as ks

    ds = ks.simulate(regimen, _typical_human(), np.array([0.0, at_h]), outputs=["depression_score"])
    return float(1.0 - ds["depression_score"].values[0, -1] / B_DEFAULT)


def _mu_murrough() -> float:
    return MURROUGH["midazolam_fall"] / B_DEFAULT


def _mu_transform() -> float:
    p = ad.antidepressant_parameters()
    return 0.5 + p["sigma_ns"] * float(norm.ppf(TRANSFORM2["comparator_response_day28"] / 100.0))


def murrough_difference() -> float:
    """Model ketamine-minus-midazolam MADRS fall at 24 h (points), typical adult, default baseline."""
    return B_DEFAULT * (1.0 - _mu_murrough()) * drug_fraction_typical(KETAMINE_IV, MURROUGH["at_h"])


def transform2_difference() -> float:
    """Model comparator-minus-esketamine MADRS at day 28 (points, positive = esketamine better), mean of 56/84 mg."""
    f = np.mean([drug_fraction_typical(ESKETAMINE_INDUCTION.format(dose=d), DAY28_H) for d in (56, 84)])
    return B_DEFAULT * (1.0 - _mu_transform()) * float(f)


@lru_cache(maxsize=2)
def population_rates(n: int = 400, seed: int = 20240) -> tuple[float, float]:
    """(response %, remission %) at 24 h after 0.5 mg/kg IV over 40 min in a seeded population."""
    import ketasim as ks
    from .outcomes import with_outcome_variability

    rng = np.random.default_rng(seed)
    pop = with_outcome_variability(ks.sample_population(n, rng), rng)
    ds = ks.simulate(KETAMINE_IV, pop, np.array([0.0, 24.0]), outputs=["p_response", "p_remission"])
    return (100.0 * float(ds["p_response"].values[:, -1].mean()), 100.0 * float(ds["p_remission"].values[:, -1].mean()))


def _or_to_p(p0: float, odds_ratio: float) -> float:
    o = p0 / (1.0 - p0) * odds_ratio
    return o / (1.0 + o)


# ------------------------------------------------------------------------------------------------ fits

def fit_liking_d50(target: float = 49.0) -> float:
    """``d50`` that gives the HAP Emax ``target`` for :data:`KETAMINE_IV` (closed form given the peak drive)."""
    from .layers.liking import liking_parameters

    p = liking_parameters()
    peak = peak_liking.__wrapped__(KETAMINE_IV)
    z = peak / (p["L_max"] - peak)
    d_peak = p["d50"] * z ** (1.0 / p["hill"])
    return float(d_peak / (target / (p["L_max"] - target)) ** (1.0 / p["hill"]))


def fit_antidepressant(saturation: float = 4.0) -> dict:
    """``P50`` (plasticity at 24 h / ``saturation``) and ``Fmax`` (Murrough 24-h difference), typical adult."""
    import ketasim as ks

    t = np.unique(np.concatenate([np.arange(0.0, 24.0, 1.0 / 30.0), [24.0]]))
    ds = ks.simulate(KETAMINE_IV, _typical_human(), t, outputs=list(BLOCKADE_INPUTS))
    X = blockade_integral({k: ds[k].values for k in BLOCKADE_INPUTS if k in ds})
    P24 = float(ad.plasticity_path(t, X)[0, -1])
    f24 = (MURROUGH["ketamine_fall"] - MURROUGH["midazolam_fall"]) / (B_DEFAULT * (1.0 - _mu_murrough()))
    return {"P50": P24 / saturation, "Fmax": f24 * (1.0 + saturation) / saturation, "P24": P24}


# ------------------------------------------------------------------------------------------- targets

register(Target(
    id="tolerance.rat_pfc_da_day7", layer="tolerance",
    description="rat 25 mg/kg i.p. daily: fraction of the acute PFC dopamine response lost at the day-7 challenge",
    source=f"dopamine.csv / behaviour.csv tolerance rows: {_LINDEFORS} ('almost abolished')",
    observed=0.9, low=0.8, high=1.0, unit="fraction", compute=rat_tolerance_day7,
    note="calibrated (k_in); 'almost abolished' read as 90% lost, band 80-100%"))

register(Target(
    id="liking.ketamine_iv_emax", layer="liking",
    description="peak Drug Liking VAS above placebo, 0.5 mg/kg IV over 40 min (HAP positive control), typical adult",
    source=f"behaviour.csv human_abuse_potential: {_HAP}; median, 95% CI 27-50",
    observed=49.0, low=27.0, high=50.0, unit="VAS", compute=lambda: peak_liking(KETAMINE_IV),
    note="calibrated (d50)"))

register(Target(
    id="antidepressant.murrough_24h_difference", layer="antidepressant",
    description="ketamine minus midazolam MADRS fall at 24 h after 0.5 mg/kg IV over 40 min (baseline 32)",
    source=f"{_AD_CSV} madrs_change rows: {_MURROUGH}: 16.5 vs 8.8 points",
    observed=MURROUGH["ketamine_fall"] - MURROUGH["midazolam_fall"], low=5.4, high=10.0, unit="MADRS points",
    compute=murrough_difference,
    note="calibrated (Fmax); band +-30% (no interval for the difference in the reference tables)"))

register(Target(
    id="antidepressant.cochrane_response_24h", layer="antidepressant",
    description="response rate at 24 h after 0.5 mg/kg IV over 40 min (population of 400, seeded, eta_ad drawn)",
    source=f"{_AD_CSV} response_rate / odds_ratio rows: {_COCHRANE}: ketamine 46.5% vs midazolam 25.9%, OR 2.48 "
           "(95% CI 1.00-6.18)",
    observed=COCHRANE["ketamine_response"], unit="%",
    low=round(100 * _or_to_p(COCHRANE["midazolam_response"] / 100, COCHRANE["or_low"]), 1),
    high=round(100 * _or_to_p(COCHRANE["midazolam_response"] / 100, COCHRANE["or_high"]), 1),
    compute=lambda: population_rates()[0],
    note="validation (sigma_ns is fitted to the midazolam arm); band = the OR's CI applied to the midazolam 25.9%"))

register(Target(
    id="antidepressant.cochrane_remission", layer="antidepressant",
    description="remission rate (MADRS <= 10) at 24 h after 0.5 mg/kg IV over 40 min (same population)",
    source=f"{_AD_CSV} remission rows: {_COCHRANE}: ketamine 32.7% vs midazolam 18.0%, OR 2.21 (time not stated)",
    observed=COCHRANE["ketamine_remission"], low=21.8, high=49.0, unit="%", compute=lambda: population_rates()[1],
    note="validation; band fold 1.5 (no interval given); the model's no-drug remission is 11.8% vs midazolam 18.0%"))

register(Target(
    id="antidepressant.transform2_day28_difference", layer="antidepressant",
    description="esketamine 56/84 mg intranasal twice weekly for 4 weeks: MADRS advantage over the comparator at day 28",
    source=f"{_AD_CSV} madrs_change row: {_TRANSFORM2}: -4.0 (95% CI -7.31 to -0.64); comparator response 45.2% at "
           f"day 28 ({_TURKOZ})",
    observed=-TRANSFORM2["difference"], low=-TRANSFORM2["ci"][1], high=-TRANSFORM2["ci"][0], unit="MADRS points",
    compute=transform2_difference,
    note="validation (not fitted); sign flipped (published as esketamine minus comparator); band = the 95% CI"))


if __name__ == "__main__":  # pragma: no cover
    print("tolerance k_in (rat):", tol.calibrate_k_in())
    print("liking d50:", fit_liking_d50())
    print("antidepressant:", fit_antidepressant())
    sys.exit(0)

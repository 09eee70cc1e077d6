"""Population rates from the individual-level harms layer (:mod:`ketasim.layers.harms`).

The harms layer gives, for a pattern of use simulated through the PK chain, the cumulative
probability of use disorder (``p_dependence``) and of lower-urinary-tract symptoms
(``p_urinary_symptoms``) of the typical subject. A constant population hazard with the same
probability over the same time is ``h = -ln(1 - p) / years``
(:func:`ketasim.epi.model.hazard_from_probability`); that hazard replaces the corresponding
transition rate of the population model:

* ``regular_to_dependent`` (R -> D) from ``p_dependence`` after ``years`` of the pattern;
* ``uropathy_regular`` (new uropathy cases among regular users) from ``p_urinary_symptoms``.

Patterns are those of :data:`ketasim.calibrate_outcomes_harms.PATTERNS` (the ones the harms
layer was calibrated on): ``recreational_weekend`` (400 mg insufflated one night a week) and
``dependent_daily`` (3 g/day insufflated). The exposure of ``years`` of the pattern is built by
exact superposition of one simulated week (linear PK), as in the calibration.

A constant hazard is an approximation: the layer's dependence hazard rises over the first weeks
of use (30-day running mean of NMDA blockade) and its symptom probability is not a first-event
process, so the equivalent rate depends on ``years`` (returned with it for the record).
"""

from __future__ import annotations

from ..errors import InputError, unknown
from .model import hazard_from_probability

__all__ = ["HARMS_RATES", "harms_probability", "rate_from_harms"]

#: population rate -> harms-layer output it is derived from
HARMS_RATES = {"regular_to_dependent": "p_dependence", "uropathy_regular": "p_urinary_symptoms"}


def harms_probability(output: str, pattern: str, years: float) -> float:
    """Probability (0-1) of a harms-layer output after ``years`` of ``pattern`` for the typical subject."""
    from .. import calibrate_outcomes_harms as cal
    from ..layers import harms

    if pattern not in cal.PATTERNS:
        raise unknown("pattern", pattern, cal.PATTERNS)
    if not isinstance(years, (int, float)) or not 0.1 <= years <= 20:
        raise InputError(f"years must be a number between 0.1 and 20 (years of the use pattern); got {years!r}.")
    weeks = int(round(years * cal.YEAR / cal.WEEK))
    T, A, X = cal.exposure(pattern, weeks)
    if output == "p_dependence":
        p = harms.dependence_probability(T, X)
    elif output == "p_urinary_symptoms":
        injury, fibrosis = harms.bladder_states(T, A)
        p = harms.p_urinary((injury + fibrosis) / harms.harms_parameters()["bladder"]["S50"])
    else:
        raise unknown("output", output, tuple(HARMS_RATES.values()))
    return float(p[0, -1])


def rate_from_harms(rate: str, pattern: str = "recreational_weekend", years: float = 3.0) -> dict:
    """Constant hazard (1/yr) of a population transition from the harms layer, with its provenance.

    Examples
    --------
    >>> r = rate_from_harms("regular_to_dependent", "recreational_weekend", 3.0)
    >>> round(r["probability"], 4), round(r["value"], 4)
    (0.0855, 0.0298)
    """
    if rate not in HARMS_RATES:
        raise unknown("rate", rate, HARMS_RATES)
    output = HARMS_RATES[rate]
    p = harms_probability(output, pattern, years)
    if p >= 1:
        raise InputError(f"{output} reaches 1 after {years:g} years of '{pattern}'; use fewer years.")
    return {"rate": rate, "value": hazard_from_probability(p, years), "probability": p, "output": output,
            "pattern": pattern, "years": float(years),
            "source": f"-ln(1 - {output})/{years:g} y, {output} = {p:.4g} after {years:g} y of '{pattern}' "
                      "(ketasim.layers.harms, typical adult; calibrated to harms.csv / use_patterns.csv targets)"}

"""A CADSS-like reading of the one dissociation model (:mod:`ketasim.layers.acute_effects`).

ketasim has one dissociation model, with acute tolerance, used by the acute-safety layer
and its discharge criteria; it scores dissociation as % of the scale maximum. This layer
only converts that score to a CADSS-like total, proportionally, anchored at the label's
definition of clinically relevant dissociation (CADSS total > 4) and the model's
calibrated 'present' threshold (``present_threshold`` = 30.8% of maximum,
``data/safety/acute_effects.yaml``)::

    dissociation_cadss = 4 · dissociation / present_threshold           CADSS points

so the share of a population above CADSS 4 is, by construction, the share above the
calibrated threshold (61-75% of esketamine-treated patients at the first session, SPRAVATO
label 5.1/5.2). The conversion is linear through zero (assumption A: no concentration-CADSS
curve in the reference tables); at the model's maximum (100%) it reads 13 of the
instrument's 92 points (23 items x 0-4), i.e. it is meant for the clinical range only.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from . import acute_effects

__all__ = ["OUTPUTS", "INPUTS", "CADSS_PRESENT", "cadss_from_percent", "run"]

OUTPUTS: dict[str, tuple[str, str]] = {
    "dissociation_cadss": ("CADSS", "CADSS-like total score, a proportional reading of 'dissociation' anchored at "
                                    "CADSS > 4 = the label's dissociation threshold"),
}
INPUTS: tuple[str, ...] = ("dissociation",)
#: CADSS total above which the label counts dissociation as present.
CADSS_PRESENT = 4.0


def cadss_from_percent(dissociation) -> np.ndarray:
    """CADSS-like total from the dissociation score (% of maximum).

    Examples
    --------
    >>> thr = acute_effects.acute_parameters()["dissociation"]["present_threshold"]
    >>> float(cadss_from_percent(thr))
    4.0
    """
    thr = acute_effects.acute_parameters()["dissociation"]["present_threshold"]
    return CADSS_PRESENT * np.asarray(dissociation, float) / thr


def run(times: np.ndarray, inputs: Mapping[str, np.ndarray], subjects, wanted, **_) -> dict[str, np.ndarray]:
    """Layer interface: ``dissociation_cadss`` from the safety layer's ``dissociation``."""
    if "dissociation_cadss" not in wanted:
        return {}
    return {"dissociation_cadss": cadss_from_percent(inputs["dissociation"])}

"""Validation predictors of the outcome layers and of the population (epidemiology) model.

``predict_outcomes`` wraps :func:`ketasim.outcome_targets.evaluate`: every registered outcome
target (behaviour, antidepressant, harms ...; each layer registers its own module there) becomes
a published interval (``low``/``high``) judged inside or out; a target outside its band whose note
documents it as a ``known miss`` (with the reason) is listed but not gated, like a PK row with a
written ``miss_reason``. A target whose note starts with
``validation`` is held out; every other target counts as calibration (the registry's convention
is to start the note with ``calibrated``; an unmarked target is treated as calibration so that it
cannot inflate the held-out share).

``predict_epidemiology`` is an out-of-sample test of :mod:`ketasim.epi`: each series is fitted up
to a cut-off year (:data:`EPI_SPLITS`) and the fitted trajectory is compared with every observed
year: years up to the cut-off were fitted (``calibration``), later years are held out
(``validation``). Fold error = model / observed; the 95% band of the fit (posterior draws) is the
prediction interval.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from .errors import DataFileError
from .validation import ROW_COLUMNS, LayerOutcome, _within
from .validation_layers import BOUND_COLUMNS, _inside

__all__ = ["predict_outcomes", "predict_epidemiology", "EPI_SPLITS", "target_use"]

#: Series fitted for the out-of-sample check, the last year each fit sees, and the series' unit.
EPI_SPLITS: tuple[tuple[str, int, str], ...] = (
    ("england_wales_16_24_past_year", 2016, "% past-year use, 16-24 y"),
    ("hong_kong_registered", 2008, "registered ketamine abusers (CRDA)"),
)


def target_use(note: str) -> str:
    """``validation`` for a target whose note starts with 'validation', else ``calibration``.

    Examples
    --------
    >>> target_use("calibrated; band from the CI"), target_use("validation only: not fitted")
    ('calibration', 'validation')
    """
    return "validation" if str(note).strip().lower().startswith("validation") else "calibration"


def predict_outcomes(observations_path=None, *, n_subjects: int = 200, seed: int = 0,
                     interval: float = 0.90) -> LayerOutcome:
    """Outcome layers: every target registered in :mod:`ketasim.outcome_targets`, judged on its band."""
    from .outcome_targets import TARGETS, evaluate

    if observations_path is not None:
        raise DataFileError("the outcomes layer is judged on ketasim.outcome_targets; it takes no observations file.")
    # sorted by id: the registry's order depends on which layer module a process imported first
    df = evaluate().sort_values("id", kind="stable")
    out = []
    for _, r in df.iterrows():
        t = TARGETS[r["id"]]
        p = float(r["model"])
        inside = _inside(p, float(r["low"]), float(r["high"]))
        # a target its layer documents as a known miss (note says so, with the reason) is listed, not gated
        known_miss = (not inside) and "known miss" in t.note.lower()
        out.append({"obs_id": r["id"], "kind": r["layer"], "used_for": target_use(t.note), "regimen": "",
                    "parameters": "", "metric": r["description"], "observed": float(r["observed"]),
                    "bound_low": float(r["low"]), "bound_high": float(r["high"]), "predicted": p, "unit": r["unit"],
                    "inside": inside, "in_scope": not known_miss, "reason": t.note if known_miss else "",
                    "status": "ok" if math.isfinite(p) else "not computable: no value",
                    "statement": r["description"], "citation": r["source"], "tag": "", "note": t.note})
    return LayerOutcome(rows=pd.DataFrame(columns=list(ROW_COLUMNS)),
                        bounds=pd.DataFrame(out, columns=[*BOUND_COLUMNS, "in_scope", "reason"]))


def predict_epidemiology(observations_path=None, *, n_subjects: int = 200, seed: int = 0,
                         interval: float = 0.90) -> LayerOutcome:
    """Epidemiology: fit each series of :data:`EPI_SPLITS` up to its cut-off; score every observed year."""
    from .epi.fitting import fit

    if observations_path is not None:
        raise DataFileError("the epidemiology layer is judged on the shipped series (ketasim.epi); "
                            "it takes no observations file.")
    rows = []
    for series, until, unit in EPI_SPLITS:
        f = fit(series, until=until, intervals="laplace", n_starts=2, n_draws=200, n_proposals=400, seed=int(seed))
        cites = "; ".join(json.loads(f.attrs["citations"])) if f.attrs.get("citations") else ""
        for i, y in enumerate(f["year"].values):
            obs = float(f["observed"].values[i])
            train, held = bool(f["in_training"].values[i]), bool(f["held_out"].values[i])
            if not np.isfinite(obs) or not (train or held):
                continue
            pred = float(f["fitted"].values[i])
            fold = pred / obs if obs > 0 else math.nan
            lo, hi = float(f["fitted_lo"].values[i]), float(f["fitted_hi"].values[i])
            rows.append({"layer": "epidemiology", "obs_id": f"{series}:{int(y)}", "study": series, "kind": "series",
                         "used_for": "calibration" if train else "validation", "route": "n/a",
                         "population": series.split("_")[0] if not series.startswith("england") else "england_wales",
                         "analyte": "", "metric": "fitted series value", "output": series,
                         "regimen": f"fit until {until}", "parameters": f"epi fit until {until}", "observed": obs,
                         "predicted": pred, "unit": unit, "fold_error": fold, "within_1_25": _within(fold, 1.25),
                         "within_1_5": _within(fold, 1.5), "within_2": _within(fold, 2.0), "pi_low": lo, "pi_high": hi,
                         "in_pi90": bool(np.isfinite(lo) and lo <= obs <= hi), "status": "ok", "in_scope": True,
                         "reason": "", "citation": cites, "tag": str(f["observed_tag"].values[i]),
                         "provenance": f"{'fitted' if train else 'held out'}; band = {f.attrs.get('band_meaning', '')}"})
    return LayerOutcome(rows=pd.DataFrame(rows, columns=list(ROW_COLUMNS)))

"""Per-subject summary metrics of one chunk: one row per subject and arm.

:func:`chunk_summaries` is the unit of work every executor runs. It simulates
each arm of a design for one chunk of subjects and reduces the time series to
per-subject metrics at once, so a chunk's result is small (a few hundred bytes
per subject) whatever the output grid.

Metrics are computed from the outputs present in the simulation:

- for every simulated variable ``X`` (dims subject x time): ``peak_X`` (the
  maximum on the output grid) and ``auc_X`` (trapezoid rule over the period);
- when plasma ketamine and norketamine are present, the flagship's metrics
  (:data:`ketasim.flagship.METRICS`: ``Cmax_ketamine``, ``Tmax_first_ketamine``,
  ``AUC_ketamine``, ``Cavg_ketamine``, hours per week above thresholds ...).

Rows carry the arm, the subject id and the subject's covariates; never a
time stamp, host or worker name, so serial and distributed outputs are
identical once sorted by arm and subject.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..flagship import METRICS, _first_occasion_end, _subject_metrics
from ..population import Population
from ..simulate import simulate
from .design import Chunk, TrialDesign

__all__ = ["chunk_summaries", "metric_units", "KEY_COLUMNS"]

#: Columns that identify a row (and the covariates carried along).
KEY_COLUMNS = ("arm", "subject", "weight", "age", "sex", "parameter_set")


def _regimens(design: TrialDesign):
    from ..errors import InputError
    from ..regimen_text import parse_regimen

    out = []
    for i, arm in enumerate(design.scenario.arms):
        try:
            out.append(parse_regimen(arm.regimen))
        except InputError as exc:
            raise InputError(f"arms[{i}] ({arm.name!r}) regimen: {exc}") from None
    return out


def chunk_summaries(design: TrialDesign, chunk: Chunk, population: Population) -> pd.DataFrame:
    """Simulate every arm for one chunk of subjects and reduce to per-subject metrics.

    Parameters
    ----------
    design : TrialDesign
    chunk : Chunk
        Which subjects; ``population`` must be ``design.population().take(slice(chunk.start, chunk.stop))``.
    population : Population
        The chunk's subjects (drawn up front by the design).

    Returns
    -------
    pandas.DataFrame
        One row per (arm, subject), arm-major, subjects in id order; columns
        :data:`KEY_COLUMNS` then the metrics. ``df.attrs["units"]`` maps each
        metric to its unit.
    """
    if population.n != chunk.size:
        raise ValueError(f"chunk {chunk.index} has {chunk.size} subjects but {population.n} were given.")
    t = design.scenario.times()
    frames = []
    units: dict[str, str] = {}
    for arm, reg in zip(design.scenario.arms, _regimens(design)):
        res = simulate(reg, population, t, parameters=design.parameters, outputs=list(design.outputs),
                       scenario=design.scenario.name)
        cols: dict[str, Any] = {
            "arm": np.full(population.n, arm.name, dtype=object),
            "subject": np.asarray(population.ids, np.int64),
            "weight": np.asarray(population.covariates["weight"], float),
            "age": np.asarray(population.covariates["age"], float),
            "sex": np.asarray(population.covariates["sex"]).astype(str).astype(object),
        }
        if "parameter_set" in res.coords:
            cols["parameter_set"] = res["parameter_set"].values.astype(str).astype(object)
        else:
            cols["parameter_set"] = np.full(population.n, res.attrs["parameter_sets"], dtype=object)
        series = {}
        for v in res.data_vars:
            if res[v].dims == ("subject", "time"):
                series[v] = np.maximum(res[v].values, 0.0)  # round-off negatives (~1e-13) -> 0
        if "C_plasma_ketamine" in series and "C_plasma_norketamine" in series:
            dose_times = [e.time for e in reg.events]
            t0 = min(dose_times) if dose_times else 0.0
            t_end = _first_occasion_end(dose_times, float(t[-1]))
            for m, vals in _subject_metrics(t, series["C_plasma_ketamine"], series["C_plasma_norketamine"],
                                            t0, t_end).items():
                cols[m] = np.asarray(vals, float)
                units[m] = METRICS[m][0]
        for v, c in series.items():
            u = res[v].attrs.get("units", "")
            cols[f"peak_{v}"] = c.max(axis=1)
            units[f"peak_{v}"] = u
            cols[f"auc_{v}"] = np.trapezoid(c, t, axis=1)
            units[f"auc_{v}"] = f"{u}*h" if u else "h"
        frames.append(pd.DataFrame(cols))
        del res, series
    df = pd.concat(frames, ignore_index=True)
    df.attrs["units"] = units
    return df


def metric_units(df: pd.DataFrame) -> dict[str, str]:
    """The metric columns of a summaries frame with their units."""
    return dict(df.attrs.get("units", {}))


def pack_population(pop: Population) -> dict[str, Any]:
    """A plain, picklable form of a (chunk's) population for shipping to workers."""
    return {"covariates": {k: np.asarray(v) for k, v in pop.covariates.items()},
            "eta": pop.eta, "ids": np.asarray(pop.ids), "species": pop.species, "seed": pop.seed,
            "extra": {k: np.asarray(v) for k, v in pop.extra.items()}}


def unpack_population(d: dict[str, Any]) -> Population:
    return Population(d["covariates"], d["eta"], d["ids"], species=d["species"], seed=d["seed"], extra=d["extra"])


def run_chunk(design: TrialDesign, chunk: Chunk, packed: dict[str, Any]) -> pd.DataFrame:
    """The task an executor runs: :func:`chunk_summaries` on a packed population chunk."""
    return chunk_summaries(design, chunk, unpack_population(packed))

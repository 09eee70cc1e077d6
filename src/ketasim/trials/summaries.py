"""Per-subject summary metrics of one chunk: one row per subject and arm.

:func:`chunk_summaries` is the unit of work every executor runs. It simulates
each arm of a design for one chunk of subjects and reduces the time series to
per-subject metrics at once, so a chunk's result is small (a few hundred bytes
per subject) whatever the output grid.

Metrics are computed from the outputs present in the simulation (whatever
layers :func:`ketasim.simulate` offers):

- for every simulated variable ``X`` (dims subject x time): ``peak_X`` (the
  maximum on the output grid), ``auc_X`` (trapezoid rule over the period) and
  ``final_X`` (the value at the end of the period);
- when plasma ketamine is present, the flagship's metrics
  (:data:`ketasim.flagship.METRICS`: ``Cmax_ketamine``, ``Tmax_first_ketamine``,
  ``AUC_ketamine``, ``Cavg_ketamine``, hours per week above thresholds ...).

Rows carry the arm, the subject id and the subject's covariates; never a
time stamp, host or worker name, so serial and distributed outputs are
identical once sorted by arm and subject.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..flagship import METRICS, THRESHOLDS
from ..run_metrics import first_occasion_end as _first_occasion_end
from ..run_metrics import time_above as _time_above
from ..population import Population
from ..simulate import simulate
from . import _scenario as S
from .design import Chunk, TrialDesign

__all__ = ["chunk_summaries", "metric_units", "run_chunk", "pack_population", "unpack_population",
           "subject_metrics", "KEY_COLUMNS"]

#: Columns that identify a row (and the covariates carried along).
KEY_COLUMNS = ("arm", "subject", "weight", "age", "sex", "parameter_set")


def subject_metrics(t: np.ndarray, series: dict[str, np.ndarray], units: dict[str, str],
                    dose_times: Sequence[float]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Per-subject metrics from the simulated series (rows = subjects); returns (values, units)."""
    out: dict[str, np.ndarray] = {}
    mu: dict[str, str] = {}
    ck = series.get("C_plasma_ketamine")
    if ck is not None:
        period = t[-1] - t[0]
        t0 = min(dose_times) if dose_times else 0.0
        win = (t >= t0) & (t <= _first_occasion_end(dose_times, float(t[-1])))
        if not win.any():
            win = t >= 0
        auc = np.trapezoid(ck, t, axis=1)
        vals = {"Cmax_ketamine": ck.max(axis=1), "Tmax_first_ketamine": t[win][np.argmax(ck[:, win], axis=1)] - t0,
                "AUC_ketamine": auc, "Cavg_ketamine": auc / period}
        if "C_plasma_norketamine" in series:
            vals["Cmax_norketamine"] = series["C_plasma_norketamine"].max(axis=1)
        for thr in THRESHOLDS:
            vals[f"h_per_week_above_{thr.value:g}"] = _time_above(ck, t, thr.value) / (period / 168.0)
        for m in METRICS:
            if m in vals:
                out[m] = np.asarray(vals[m], float)
                mu[m] = METRICS[m][0]
    for v, c in series.items():
        u = units.get(v, "")
        out[f"peak_{v}"] = c.max(axis=1)
        mu[f"peak_{v}"] = u
        out[f"auc_{v}"] = np.trapezoid(c, t, axis=1)
        mu[f"auc_{v}"] = f"{u}*h" if u else "h"
        out[f"final_{v}"] = c[:, -1].copy()
        mu[f"final_{v}"] = u
    return out, mu


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
    sc = design.scenario
    t = sc.times()
    population = design.factored(population)
    frames = []
    units: dict[str, str] = {}
    outputs = design.arm_outputs
    for i, arm in enumerate(sc.arms):
        reg = S.regimen(arm)
        res = simulate(reg, population, t, parameters=S.arm_parameters(sc, arm, design.parameters),
                       outputs=list(outputs[i]), scenario=sc.name, **S.circuit_kw(sc))
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
            cols["parameter_set"] = np.full(population.n, res.attrs.get("parameter_sets", ""), dtype=object)
        series = {str(v): np.maximum(res[v].values, 0.0) if str(v).startswith(("C_", "A_")) else res[v].values
                  for v in res.data_vars if res[v].dims == ("subject", "time")}  # PK round-off negatives -> 0
        vals, mu = subject_metrics(t, series, {v: res[v].attrs.get("units", "") for v in series},
                                   [e.time for e in reg.events])
        cols.update(vals)
        units.update(mu)
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

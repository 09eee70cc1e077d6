"""The PK layer's validation predictor: calibration rows with 90% population prediction intervals,
plausibility bounds and digitised curves (see :mod:`ketasim.validation` for the framework and
:mod:`ketasim.validation_pk` for the observation tables).

Split out of :mod:`ketasim.validation` (module size); ``ketasim.validation.predict_pk`` and
``ketasim.validation.population_interval`` still resolve here.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .errors import DataFileError, KetasimError
from .validation import ROW_COLUMNS, USES, LayerOutcome, _within, fold_metrics

__all__ = ["predict_pk", "population_interval"]


# ---------------------------------------------------------------------------
# the PK layer's predictor
# ---------------------------------------------------------------------------
_CURVE_SCOPE = {
    "ketamine": (True, ""),
    "norketamine": (False, "Metabolite curve: the set does not resolve norketamine enantiomers (each taken as half "
                           "the total after racemic dosing, assumption A) and its norketamine disposition is "
                           "borrowed; reported, not gated."),
    "dhnk": (False, "Dehydronorketamine is not modelled by the shipped sets (no DHNK parameters in the reference "
                    "tables); reported as not computable."),
    "hnk": (False, "Total 2,6-HNK against the set's HNK compartment; the digitiser marks this panel as least "
                   "reliable (Kamp 2020 Fig 1j); reported, not gated."),
}


def _population_group(set_id: str) -> str:
    from .parameters import get_parameter_set

    try:
        ps = get_parameter_set(set_id)
    except KetasimError:
        return "unknown"
    if ps.species == "rat":
        return "rat"
    return "children" if ps.age_range[1] <= 18 else "adults"


def _per_subject_metric(metric: str, t: np.ndarray, c: np.ndarray, row: Mapping[str, Any]) -> np.ndarray:
    from .validation_pk import _auc_inf, _window

    if metric in ("cmax", "peak"):
        return c.max(axis=1)
    if metric == "tmax":
        return t[np.argmax(c, axis=1)]
    if metric == "auc_0_inf":
        return np.array([_auc_inf(t, ci) for ci in c])
    if metric == "auc_0_24":
        m = t <= 24.0
        return np.trapezoid(c[:, m], t[m], axis=1)
    if metric in ("css", "conc_at"):
        te = float(row["time_h_eval"])
        return np.array([np.interp(te, t, ci) for ci in c])
    if metric == "t_half":
        a, b = _window(row["window_h"])
        m = (t >= a) & (t <= b)
        out = []
        for ci in c:
            mm = m & (ci > 0)
            slope = np.polyfit(t[mm], np.log(ci[mm]), 1)[0]
            out.append(math.log(2) / -slope if slope < 0 else math.inf)
        return np.array(out)
    raise DataFileError(f"observation {row['obs_id']}: metric_def {metric!r} has no population form.")


#: Output grid of the population runs: 2 min to 1 h, 10 min to 12 h, 1 h to 3 d, 4 h to 14 d.
#: Coarser than the typical-value grid (6 s / 1 min) because every subject is simulated; Tmax
#: intervals are resolved to the grid step.
#: Peak metrics (Cmax, Tmax) use the grid up to 24 h after the last dose only.
def _population_grid(extra: Iterable[float] = (), horizon: float = 336.0) -> np.ndarray:
    parts = [np.linspace(0.0, 1.0, 31), np.linspace(1.0, 12.0, 67), np.linspace(12.0, 72.0, 61),
             np.linspace(72.0, 336.0, 67)]
    t = np.concatenate(parts)
    t = np.unique(np.concatenate([t[t <= horizon + 1e-9], np.asarray(list(extra), float)]))
    return t


_POP_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _population_run(regimen: str, set_id: str, weight: float, output: str, extra: tuple, n: int, seed: int,
                    arm: str | None = None, horizon: float = 336.0) -> tuple[np.ndarray, np.ndarray]:
    """One virtual arm: ``n`` subjects under a set, median weight ``weight``, seeded by the arm.

    The generator is seeded with ``seed + crc32(arm | set | weight)`` (arm = the regimen, or the
    test regimen for a reference arm), so the rows of one study arm (Cmax, Tmax, AUC ...) share
    the same virtual subjects, and a row's interval does not depend on the other rows.
    """
    from .parameters import get_parameter_set
    from .population import sample_population
    from .regimen_text import parse_regimen
    from .simulate import simulate

    key = (regimen, set_id, weight, output, extra, n, seed, arm, horizon)
    if key not in _POP_CACHE:
        ps = get_parameter_set(set_id)
        tag = f"{arm or regimen}|{set_id}|{weight:g}"
        rng = np.random.default_rng(seed + zlib.crc32(tag.encode()))
        if ps.species == "rat":
            pop = sample_population(n, rng, species="rat", weight=(weight, 0.10))
        else:
            pop = sample_population(n, rng, set_id, weight=(weight, 0.20))
        t = _population_grid(extra, horizon)
        c = simulate(parse_regimen(regimen), pop, t, parameters=set_id, outputs=[output])[output].values
        if len(_POP_CACHE) > 256:
            _POP_CACHE.clear()
        _POP_CACHE[key] = (t, c)
    return _POP_CACHE[key]


def population_interval(row: Mapping[str, Any], *, n_subjects: int = 200, seed: int = 0,
                        interval: float = 0.90) -> tuple[float, float]:
    """The ``interval`` prediction interval of one PK observation row over a virtual population.

    The population (``n_subjects``, covariates and random effects) is sampled under the row's
    parameter set with median body weight ``subject_weight_kg``, one population per study arm
    (see :func:`_population_run`); each subject is simulated and the row's metric computed per
    subject (for ``f``, against the reference regimen in the same subjects).
    """
    from .regimen_text import parse_regimen
    from .simulate import default_parameter_set
    from .validation_pk import _auc_inf

    reg = parse_regimen(row["regimen"])
    sid = row["parameters"] or default_parameter_set(reg, "human", 40.0)
    weight = float(row.get("subject_weight_kg") or 70.0)
    extra = (float(row["time_h_eval"]),) if row.get("time_h_eval", "") not in ("", None) else ()
    metric = row["metric_def"]
    horizon = 336.0
    if metric in ("cmax", "tmax", "peak"):
        end = max((e.time + e.duration for e in reg.events), default=0.0)
        horizon = min(336.0, 24.0 * math.ceil((end + 24.0) / 24.0))
    t, c = _population_run(row["regimen"], sid, weight, row["output"], extra, n_subjects, int(seed), horizon=horizon)
    if metric == "f":
        tr, ref = _population_run(row["reference_regimen"], sid, weight, row["output"], extra, n_subjects, int(seed),
                                  arm=row["regimen"])
        vals = np.array([_auc_inf(t, a) / _auc_inf(tr, b) for a, b in zip(c, ref)])
    else:
        vals = _per_subject_metric(metric, t, c, row)
    q = (1.0 - interval) / 2.0
    lo, hi = np.quantile(vals[np.isfinite(vals)], [q, 1.0 - q])
    return float(lo), float(hi)


def _curve_outcome() -> tuple[pd.DataFrame, pd.DataFrame]:
    from .validation_pk import CURVES, curve_points

    pts = curve_points()
    rows = []
    for spec in CURVES:
        g = pts[pts["curve"] == spec["curve"]]
        analyte = spec["analyte"] or "ketamine"
        in_scope, reason = _CURVE_SCOPE.get(analyte, (False, "not classified"))
        status = g["status"].iloc[0] if len(g) else "no data"
        sc = g[g["scored"]] if len(g) else g
        s = fold_metrics(sc["fold_error"]) if len(sc) else fold_metrics([])
        auc_le = cmax_fold = tmax_err = cmax_o = cmax_p = tmax_o = tmax_p = math.nan
        if status == "ok" and len(sc) >= 2:
            t = sc["time_h"].to_numpy(float)
            le = np.abs(np.log10(sc["fold_error"].to_numpy(float)))
            auc_le = float(10 ** (np.trapezoid(le, t) / (t[-1] - t[0])))
            io, ip = int(np.argmax(g["observed"].to_numpy())), int(np.nanargmax(g["predicted"].to_numpy()))
            cmax_o, cmax_p = float(g["observed"].iloc[io]), float(g["predicted"].iloc[ip])
            tmax_o, tmax_p = float(g["time_h"].iloc[io]), float(g["time_h"].iloc[ip])
            cmax_fold, tmax_err = cmax_p / cmax_o, tmax_p - tmax_o
        rows.append({"curve": spec["curve"], "analyte": analyte,
                     "parameters": g["parameters"].iloc[0] if len(g) else spec["parameters"],
                     "regimen": spec["regimen"], "output": spec["output"],
                     "unit": g["unit"].iloc[0] if len(g) else "", "n_points": s["n"], "gmfe": s["gmfe"],
                     "auc_log_error_fold": auc_le, "bias": s["bias"], "within_2": s["within_2"],
                     "cmax_obs": cmax_o, "cmax_pred": cmax_p, "cmax_fold": cmax_fold, "tmax_obs_h": tmax_o,
                     "tmax_pred_h": tmax_p, "tmax_error_h": tmax_err, "status": status,
                     "in_scope": bool(in_scope and status == "ok"),
                     "reason": reason if not in_scope else ("" if status == "ok" else status),
                     "note": spec["note"]})
    return pd.DataFrame(rows), pts[["curve", "time_h", "observed", "predicted", "unit", "scored"]].copy()


def predict_pk(observations_path: str | Path | None = None, *, n_subjects: int = 200, seed: int = 0,
               interval: float = 0.90, curves: bool | None = None) -> LayerOutcome:
    """The PK layer's predictor: calibration rows, bounds and (for the shipped data) digitised curves.

    ``observations_path`` is a CSV in the column format of
    ``ketasim/data/observations/pk_calibration.csv`` (default: that file). Curves are
    compared only for the shipped observations unless ``curves=True``.
    """
    from .validation_pk import bound_table, load_observations, pk_calibration_table

    obs = load_observations(observations_path).set_index("obs_id", drop=False)
    table = pk_calibration_table(observations_path)
    rows = []
    for _, r in table.iterrows():
        src = obs.loc[r["obs_id"]]
        fold = float(r["fold_error"])
        lo = hi = math.nan
        if r["status"] == "ok" and n_subjects > 0:
            try:
                lo, hi = population_interval(src, n_subjects=n_subjects, seed=seed, interval=interval)
            except KetasimError:
                pass
        out_of_scope = (not r["within_1_5"]) and bool(src["miss_reason"])
        reason = src["miss_reason"] if out_of_scope else ("" if r["status"] == "ok" else r["status"])
        rows.append({
            "layer": "pk", "obs_id": r["obs_id"], "study": _study(src), "kind": r["kind"],
            "used_for": _used_for(src), "route": r["route"],
            "population": _population_group(r["parameters"]), "analyte": r["analyte"], "metric": r["metric"],
            "output": r["output"], "regimen": r["regimen"], "parameters": r["parameters"],
            "observed": float(r["observed"]), "predicted": float(r["predicted"]), "unit": r["unit"],
            "fold_error": fold, "within_1_25": _within(fold, 1.25), "within_1_5": _within(fold, 1.5),
            "within_2": _within(fold, 2.0), "pi_low": lo, "pi_high": hi,
            "in_pi90": bool(np.isfinite(lo) and lo <= float(r["observed"]) <= hi),
            "status": r["status"], "in_scope": bool(r["status"] == "ok" and not out_of_scope), "reason": reason,
            "citation": src["citation"], "tag": src["tag"],
            "provenance": "; ".join(x for x in (f"{src['statistic']}" if src.get("statistic") else "",
                                                f"n={src['n']}" if src.get("n") else "",
                                                src.get("mapping_note", "")) if x),
        })
    rows_df = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    b = bound_table(observations_path)
    if not b.empty:
        b = b[["obs_id", "kind", "used_for", "regimen", "parameters", "metric", "observed", "bound_low", "bound_high",
               "predicted", "unit", "inside", "status", "citation"]]
    if curves is None:
        curves = observations_path is None
    if curves:
        cur, pts = _curve_outcome()
    else:
        cur, pts = pd.DataFrame(), pd.DataFrame()
    return LayerOutcome(rows=rows_df, curves=cur, curve_points=pts, bounds=b)


def _used_for(src: Mapping[str, Any]) -> str:
    """``calibration`` when the row's value was used to fit a parameter, else ``validation`` (the default for
    a user's own file without the column)."""
    v = str(src.get("used_for", "") or "validation").strip()
    if v not in USES:
        raise DataFileError(f"observation {src.get('obs_id', '?')}: used_for must be one of {USES}; got {v!r}.")
    return v


def _study(src: Mapping[str, Any]) -> str:
    """A short study label: the citation up to its first semicolon or parenthesis."""
    c = str(src.get("citation", ""))
    for sep in (";", " ("):
        if sep in c:
            c = c.split(sep)[0]
    return c.strip()

"""Reproduction of published ketamine PK: the calibration table and the digitised curves.

Two kinds of reference data ship with the package (``ketasim/data/observations/``):

- ``pk_calibration.csv``: every row of the project's PK observation table (Cmax, Tmax, AUC,
  Css, bioavailability, forensic concentrations ...) with its citation and provenance tag,
  plus the columns that say what predicts it: the regimen (ketasim regimen text), the
  parameter set (blank = the default set of :func:`ketasim.default_parameter_set`), the body
  weight, the output variable, the metric, the value in canonical units, and whether the
  row is scored (``use = score``), a plausibility bound (``bound``) or skipped (``skip``,
  with the reason). Rows that still miss after honest work carry a written, cited
  ``miss_reason``.
- ``digitized/``: mean concentration-time curves read off published figures (Kamp 2020,
  Hasan 2021), with their licence.

:func:`pk_calibration_table` runs every scored row through :func:`ketasim.simulate`
(typical values) and returns observed, predicted and fold error (predicted/observed);
:func:`bound_table` checks the bound rows; :func:`curve_points` and :func:`curve_table`
compare the digitised curves point by point. :func:`calibration_summary` gives the counts
the acceptance gate uses.

Metric definitions (``metric_def``)
----------------------------------
``cmax`` / ``tmax``
    Maximum of the output and its time (h), on a 6-s grid over the first hour, 1-min grid to
    12 h, coarser to 14 d.
``auc_0_inf``
    Trapezoidal AUC to 336 h plus the log-linear tail ``C_last / lambda_z`` (ng*h/mL).
``auc_0_24``
    Trapezoidal AUC from 0 to 24 h.
``css`` / ``conc_at``
    Concentration at ``time_h_eval`` (for ``css`` the end of the mapped infusion).
``t_half``
    ln 2 / slope of ln C over the window ``window_h`` ("a-b", hours).
``f``
    ``auc_0_inf`` of the regimen / ``auc_0_inf`` of ``reference_regimen`` (IV), same set.
``peak``
    Maximum over the grid (bound rows).

Fold error is predicted / observed; the absolute average fold error of a group is
``10 ** mean(|log10 fold|)`` (``gmfe``), its signed geometric mean ``10 ** mean(log10 fold)``
(``bias``).

Examples
--------
>>> from ketasim.validation_pk import load_observations
>>> obs = load_observations()
>>> sorted(obs["use"].unique())
['bound', 'score', 'skip']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .errors import DataFileError, KetasimError
from .population import Subject
from .regimen_text import parse_regimen
from .simulate import default_parameter_set, simulate
from .units import MOLAR_MASS

__all__ = [
    "load_observations",
    "pk_calibration_table",
    "bound_table",
    "calibration_summary",
    "curve_points",
    "curve_table",
    "CURVES",
    "fold_stats",
]

_REQUIRED = ("obs_id", "regimen", "parameters", "subject_weight_kg", "output", "metric_def",
             "value_canonical", "unit_canonical", "use", "kind", "skip_reason", "miss_reason")


def _data_dir() -> Path:
    return Path(str(resources.files("ketasim") / "data" / "observations"))


def load_observations(observations_path: str | Path | None = None) -> pd.DataFrame:
    """The calibration observations with their mapping columns (all rows, all uses)."""
    path = Path(observations_path) if observations_path is not None else _data_dir() / "pk_calibration.csv"
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise DataFileError(f"observations file {str(path)!r} does not exist.") from None
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise DataFileError(f"observations file {str(path)!r} lacks columns {missing}; "
                            f"expected at least {list(_REQUIRED)}.")
    bad = sorted(set(df["use"]) - {"score", "bound", "skip"})
    if bad:
        raise DataFileError(f"observations file {str(path)!r}: column 'use' has {bad}; expected score, bound or skip.")
    return df


# ---------------------------------------------------------------------------
# simulation helpers
# ---------------------------------------------------------------------------
_HORIZON_H = 336.0


def _grid(extra: Iterable[float] = ()) -> np.ndarray:
    parts = [np.linspace(0.0, 1.0, 601), np.linspace(1.0, 12.0, 661), np.linspace(12.0, 72.0, 241),
             np.linspace(72.0, _HORIZON_H, 133), np.asarray(list(extra), float)]
    return np.unique(np.concatenate(parts))


@dataclass(frozen=True)
class _Run:
    times: np.ndarray
    conc: np.ndarray
    set_id: str


class _Simulator:
    """Caches simulations within one table build."""

    def __init__(self) -> None:
        self._cache: dict[tuple, _Run] = {}

    def run(self, regimen: str, set_id: str, weight: float, output: str, extra=()) -> _Run:
        key = (regimen, set_id, weight, output, tuple(extra))
        if key not in self._cache:
            reg = parse_regimen(regimen)
            sid = set_id or default_parameter_set(reg, "human", 40.0)
            t = _grid(extra)
            res = simulate(reg, Subject(weight=weight), t, parameters=sid, outputs=[output])
            self._cache[key] = _Run(t, np.asarray(res[output].values[0], float), sid)
        return self._cache[key]


def _auc_inf(t: np.ndarray, c: np.ndarray) -> float:
    auc = float(np.trapezoid(c, t))
    tail = (t >= t[-1] - 48.0) & (c > 0)
    if tail.sum() >= 3 and c[-1] > 0:
        slope = np.polyfit(t[tail], np.log(c[tail]), 1)[0]
        if slope < 0:
            auc += float(c[-1] / -slope)
    return auc


def _window(text: str) -> tuple[float, float]:
    a, b = (float(x) for x in str(text).split("-"))
    return a, b


def _metric(sim: _Simulator, row: pd.Series) -> tuple[float, str]:
    """Predicted value of one row in its canonical unit, and the resolved set id."""
    metric = row["metric_def"]
    weight = float(row["subject_weight_kg"] or 70.0)
    extra = [float(row["time_h_eval"])] if row.get("time_h_eval", "") not in ("", None) else []
    r = sim.run(row["regimen"], row["parameters"], weight, row["output"], extra)
    t, c = r.times, r.conc
    if metric in ("cmax", "peak"):
        return float(c.max()), r.set_id
    if metric == "tmax":
        return float(t[int(np.argmax(c))]), r.set_id
    if metric == "auc_0_inf":
        return _auc_inf(t, c), r.set_id
    if metric == "auc_0_24":
        m = t <= 24.0
        return float(np.trapezoid(c[m], t[m])), r.set_id
    if metric in ("css", "conc_at"):
        te = float(row["time_h_eval"])
        return float(np.interp(te, t, c)), r.set_id
    if metric == "t_half":
        a, b = _window(row["window_h"])
        m = (t >= a) & (t <= b) & (c > 0)
        slope = np.polyfit(t[m], np.log(c[m]), 1)[0]
        return float(math.log(2) / -slope), r.set_id
    if metric == "f":
        ref = sim.run(row["reference_regimen"], r.set_id, weight, row["output"])
        return _auc_inf(t, c) / _auc_inf(ref.times, ref.conc), r.set_id
    raise DataFileError(f"observation {row['obs_id']}: metric_def {metric!r} is not one of "
                        "cmax, tmax, auc_0_inf, auc_0_24, css, conc_at, t_half, f, peak.")


def fold_stats(folds: Iterable[float]) -> dict[str, float]:
    """n, share within 1.5-fold and 2-fold, absolute average fold error (gmfe) and bias."""
    f = np.asarray([x for x in folds if np.isfinite(x) and x > 0], float)
    if f.size == 0:
        return {"n": 0, "within_1_5": math.nan, "within_2": math.nan, "gmfe": math.nan, "bias": math.nan}
    lf = np.abs(np.log10(f))
    return {"n": int(f.size), "within_1_5": float(np.mean(lf <= math.log10(1.5) + 1e-12)),
            "within_2": float(np.mean(lf <= math.log10(2.0) + 1e-12)),
            "gmfe": float(10 ** lf.mean()), "bias": float(10 ** np.log10(f).mean())}


# ---------------------------------------------------------------------------
# the calibration table
# ---------------------------------------------------------------------------
def pk_calibration_table(observations_path: str | Path | None = None) -> pd.DataFrame:
    """Observed vs predicted for every ``score`` row of the calibration observations.

    Each row is simulated with typical values (``Subject(weight=subject_weight_kg)``, 40 y,
    male) under the mapped regimen and parameter set. Rows whose set, route or output is not
    available in this installation get ``status = 'not computable: ...'`` and NaN predictions.

    Returns
    -------
    pandas.DataFrame
        One row per scored observation: ``obs_id, kind, route, analyte, metric, parameters,
        regimen, output, observed, predicted, unit, fold_error, within_1_5, within_2, status,
        reason`` (the written ``miss_reason`` of a row outside 1.5-fold), ``citation``, ``tag``.
    """
    obs = load_observations(observations_path)
    sim = _Simulator()
    out = []
    for _, row in obs[obs["use"] == "score"].iterrows():
        observed = float(row["value_canonical"])
        try:
            pred, sid = _metric(sim, row)
            status = "ok"
        except KetasimError as exc:
            pred, sid, status = math.nan, row["parameters"], f"not computable: {exc}"
        fold = pred / observed if observed > 0 and np.isfinite(pred) else math.nan
        lf = abs(math.log10(fold)) if np.isfinite(fold) and fold > 0 else math.inf
        within15 = lf <= math.log10(1.5) + 1e-12
        out.append({
            "obs_id": row["obs_id"], "kind": row["kind"], "route": row["route"], "drug": row["drug"],
            "analyte": row["analyte"], "metric": row["metric_def"], "parameters": sid,
            "regimen": row["regimen"], "output": row["output"], "observed": observed,
            "predicted": pred, "unit": row["unit_canonical"], "fold_error": fold,
            "within_1_5": bool(within15), "within_2": bool(lf <= math.log10(2.0) + 1e-12),
            "status": status,
            "reason": "" if within15 and status == "ok" else (row["miss_reason"] or
                                                             ("" if status == "ok" else status)),
            "miss_reason": row["miss_reason"], "citation": row["citation"], "tag": row["tag"],
        })
    return pd.DataFrame(out)


def bound_table(observations_path: str | Path | None = None) -> pd.DataFrame:
    """Plausibility checks of the ``bound`` rows (forensic ranges, label Tmax range).

    ``inside`` is true when the predicted ``peak`` (or ``tmax``) of the row's regimen lies in
    ``[bound_low, bound_high]`` (a blank bound is open).
    """
    obs = load_observations(observations_path)
    sim = _Simulator()
    out = []
    for _, row in obs[obs["use"] == "bound"].iterrows():
        lo = float(row["bound_low"]) if row["bound_low"] else -math.inf
        hi = float(row["bound_high"]) if row["bound_high"] else math.inf
        try:
            pred, sid = _metric(sim, row)
            status = "ok"
        except KetasimError as exc:
            pred, sid, status = math.nan, row["parameters"], f"not computable: {exc}"
        out.append({"obs_id": row["obs_id"], "kind": row["kind"],
                    "used_for": str(row.get("used_for", "") or "validation"), "regimen": row["regimen"],
                    "parameters": sid, "metric": row["metric_def"], "observed": float(row["value_canonical"]),
                    "bound_low": lo, "bound_high": hi, "predicted": pred, "unit": row["unit_canonical"],
                    "inside": bool(lo <= pred <= hi) if np.isfinite(pred) else False, "status": status,
                    "citation": row["citation"]})
    return pd.DataFrame(out)


def calibration_summary(table: pd.DataFrame, by: str | None = "route") -> pd.DataFrame:
    """Counts and fold-error statistics of a calibration table, overall and by ``by``.

    ``n`` counts computable rows; ``gated`` rows are those without a written miss reason.
    """
    ok = table[table["status"] == "ok"]
    groups: list[tuple[str, pd.DataFrame]] = [("all", ok)]
    if by:
        groups += [(f"{by}={k}", g) for k, g in ok.groupby(by)]
    rows = []
    for name, g in groups:
        s = fold_stats(g["fold_error"])
        gated = g[~((g["miss_reason"] != "") & ~g["within_1_5"])]
        sg = fold_stats(gated["fold_error"])
        rows.append({"group": name, **s, "n_gated": sg["n"], "gated_within_1_5": sg["within_1_5"],
                     "gated_within_2": sg["within_2"]})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# digitised curves
# ---------------------------------------------------------------------------
_KAMP_RAC = ("0.28 mg/kg/h iv for 60 min, then 0.57 mg/kg/h iv for 60 min, "
             "then 1.14 mg/kg/h iv for 60 min")
_KAMP_ESK = ("0.14 mg/kg/h esketamine iv for 60 min, then 0.28 mg/kg/h esketamine iv for 60 min, "
             "then 0.57 mg/kg/h esketamine iv for 60 min")
_KAMP_NOTE = ("Kamp 2020 Fig 1 (arterial sampling, Leiden); escalating 3-h infusion per Olofsen 2021; "
              "70 kg assumed (A).")
_HALF_NK = ("The set does not resolve norketamine enantiomers: after racemic dosing each is taken as half "
            "the total (A).")

#: The digitised curves, what predicts each and how (file, set, regimen, output, scale, analyte, unit, note).
CURVES: tuple[dict[str, Any], ...] = (
    dict(curve="kamp_a_S-ketamine_esketamine", parameters="simons_2022_s_ketamine", regimen=_KAMP_ESK,
         output="C_plasma_S_ketamine", scale=1.0, analyte="ketamine", note=_KAMP_NOTE + " Arterial S-ketamine set."),
    dict(curve="kamp_b_S-ketamine_racemic", parameters="kamp_2020_racemic_meta", regimen=_KAMP_RAC,
         output="C_plasma_S_ketamine", scale=1.0, analyte="ketamine", note=_KAMP_NOTE),
    dict(curve="kamp_c_R-ketamine_racemic", parameters="kamp_2020_racemic_meta", regimen=_KAMP_RAC,
         output="C_plasma_R_ketamine", scale=1.0, analyte="ketamine", note=_KAMP_NOTE),
    dict(curve="kamp_d_S-norketamine_esketamine", parameters="simons_2022_s_ketamine", regimen=_KAMP_ESK,
         output="C_plasma_norketamine", scale=1.0, analyte="norketamine",
         note=_KAMP_NOTE + " Only S-ketamine given: all norketamine is S."),
    dict(curve="kamp_e_S-norketamine_racemic", parameters="kamp_2020_racemic_meta", regimen=_KAMP_RAC,
         output="C_plasma_norketamine", scale=0.5, analyte="norketamine", note=_KAMP_NOTE + " " + _HALF_NK),
    dict(curve="kamp_f_R-norketamine_racemic", parameters="kamp_2020_racemic_meta", regimen=_KAMP_RAC,
         output="C_plasma_norketamine", scale=0.5, analyte="norketamine",
         note=_KAMP_NOTE + " " + _HALF_NK + " Digitiser: least reliable panel."),
    dict(curve="kamp_g_S-DHNK_esketamine", parameters="simons_2022_s_ketamine", regimen=_KAMP_ESK,
         output="C_plasma_dhnk", scale=1.0, analyte="dhnk", note=_KAMP_NOTE),
    dict(curve="kamp_h_S-DHNK_racemic", parameters="kamp_2020_racemic_meta", regimen=_KAMP_RAC,
         output="C_plasma_dhnk", scale=0.5, analyte="dhnk", note=_KAMP_NOTE),
    dict(curve="kamp_i_R-DHNK_racemic", parameters="kamp_2020_racemic_meta", regimen=_KAMP_RAC,
         output="C_plasma_dhnk", scale=0.5, analyte="dhnk", note=_KAMP_NOTE),
    dict(curve="kamp_j_HNK-total_racemic", parameters="kamp_2020_racemic_meta", regimen=_KAMP_RAC,
         output="C_plasma_hnk", scale=1.0, analyte="hnk",
         note=_KAMP_NOTE + " Total 2,6-HNK vs the set's HNK. Digitiser: least reliable panel."),
    dict(curve="hasan_S_ketamine_iv5mg", parameters="", regimen="5 mg iv over 30 min",
         output="C_plasma_S_ketamine", scale=1.0, analyte=None,
         note="Hasan 2021 Fig 1, venous serum, chiral assay; infusion duration not in the abstract: 30 min "
              "assumed (A; the digitised apex is at 0.5 h); 70 kg assumed; default adult racemic set. "
              "Digitiser: apex underestimated 10-20%."),
    dict(curve="hasan_R_ketamine_iv5mg", parameters="", regimen="5 mg iv over 30 min",
         output="C_plasma_R_ketamine", scale=1.0, analyte=None,
         note="As the S curve."),
)


def _read_curve(name: str) -> pd.DataFrame:
    path = _data_dir() / "digitized" / f"{name}.csv"
    df = pd.read_csv(path, comment="#")
    return df


def curve_points(curves: Iterable[dict[str, Any]] | None = None) -> pd.DataFrame:
    """Per-point comparison of the digitised curves (observed and predicted in the file's unit)."""
    sim = _Simulator()
    out = []
    for spec in curves if curves is not None else CURVES:
        df = _read_curve(spec["curve"])
        tcol, ccol = df.columns[0], df.columns[1]
        t_obs = df[tcol].to_numpy(float)
        c_obs = df[ccol].to_numpy(float)
        unit = "nmol/mL" if "nmol" in ccol else "ng/mL"
        try:
            r = sim.run(spec["regimen"], spec["parameters"], 70.0, spec["output"], tuple(t_obs))
            pred = np.interp(t_obs, r.times, r.conc) * spec["scale"]
            if unit == "nmol/mL":
                pred = pred / MOLAR_MASS[spec["analyte"]]
            sid, status = r.set_id, "ok"
        except KetasimError as exc:
            pred, sid, status = np.full(t_obs.shape, math.nan), spec["parameters"], f"not computable: {exc}"
        for t, o, p in zip(t_obs, c_obs, pred):
            usable = status == "ok" and t > 0 and o > 0
            out.append({"curve": spec["curve"], "parameters": sid, "regimen": spec["regimen"],
                        "time_h": t, "observed": o, "predicted": p, "unit": unit,
                        "fold_error": p / o if usable else math.nan, "scored": usable, "status": status})
    return pd.DataFrame(out)


def curve_table(curves: Iterable[dict[str, Any]] | None = None) -> pd.DataFrame:
    """Per-curve summary: GMFE and bias over the scored points, Cmax and Tmax errors.

    Cmax and Tmax are compared at the digitised time points (observed maximum vs the
    prediction's maximum over the same times); ``cmax_fold`` = predicted / observed,
    ``tmax_error_h`` = predicted - observed.
    """
    specs = list(curves if curves is not None else CURVES)
    pts = curve_points(specs)
    rows = []
    for spec in specs:
        g = pts[pts["curve"] == spec["curve"]]
        s = fold_stats(g.loc[g["scored"], "fold_error"])
        status = g["status"].iloc[0] if len(g) else "no data"
        if status == "ok":
            io, ip = int(np.argmax(g["observed"].to_numpy())), int(np.nanargmax(g["predicted"].to_numpy()))
            cmax_o, cmax_p = float(g["observed"].iloc[io]), float(g["predicted"].iloc[ip])
            tmax_o, tmax_p = float(g["time_h"].iloc[io]), float(g["time_h"].iloc[ip])
        else:
            cmax_o = float(g["observed"].max()) if len(g) else math.nan
            cmax_p = tmax_p = math.nan
            tmax_o = float(g["time_h"].iloc[int(np.argmax(g["observed"].to_numpy()))]) if len(g) else math.nan
        rows.append({"curve": spec["curve"], "parameters": g["parameters"].iloc[0] if len(g) else spec["parameters"],
                     "unit": g["unit"].iloc[0] if len(g) else "", "n_points": s["n"], "gmfe": s["gmfe"],
                     "bias": s["bias"], "within_2": s["within_2"], "cmax_obs": cmax_o, "cmax_pred": cmax_p,
                     "cmax_fold": cmax_p / cmax_o if cmax_o > 0 else math.nan, "tmax_obs_h": tmax_o,
                     "tmax_pred_h": tmax_p, "tmax_error_h": tmax_p - tmax_o, "status": status,
                     "note": spec["note"]})
    return pd.DataFrame(rows)

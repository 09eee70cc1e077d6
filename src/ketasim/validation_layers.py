"""Validation predictors of the layers beyond PK: receptors, PK-PD effects, acute safety, circuit, dopamine.

Each predictor has the signature ``predict(observations_path, *, n_subjects, seed, interval)`` and
returns a :class:`ketasim.validation.LayerOutcome` (see ``data/validation_gates.toml``).

Observation files (``data/observations/{receptors,pkpd,safety}.csv``) hold one published fact per
row: ``obs_id, used_for, kind, metric, regimen, parameters, observed, bound_low, bound_high, unit,
statement, citation, tag, note``. A row with an interval (``bound_low``/``bound_high``) is judged
on whether the model's value lies inside it (a *bound*); a row with only a point value is scored
by its fold error (a *row*). ``metric`` names how the model's value is computed (the functions
below); ``not_modelled:<what>`` lists a published fact that ketasim has no output for, so the
report shows it as not computable instead of leaving it out. ``used_for`` says whether the fact
was used to fit a parameter (``calibration``: a reproduction check, not independent evidence) or
is held out (``validation``).

The circuit and dopamine layers judge the literature facts of :data:`ketasim.hypotheses.FACTS`
(copied there from ``dopamine.csv`` / ``circuit.csv`` with citations; their ``kind`` is already
calibration or validation) under the default circuit.

Population facts (shares, means of peaks, median times) are computed in a virtual population of
``_SAFETY_N`` subjects per arm (PK and safety variability), seeded from the config's seed and the
arm, so they do not depend on the other rows.
"""

from __future__ import annotations

import math
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .errors import DataFileError, KetasimError
from .validation import ROW_COLUMNS, USES, LayerOutcome, _within

__all__ = ["load_facts", "predict_receptors", "predict_pkpd", "predict_safety", "predict_circuit",
           "predict_dopamine", "BOUND_COLUMNS"]

#: Columns of a fact file.
FACT_COLUMNS = ("obs_id", "used_for", "kind", "metric", "regimen", "parameters", "observed", "bound_low",
                "bound_high", "unit", "statement", "citation", "tag", "note")
#: Columns of the bounds table these predictors return.
BOUND_COLUMNS = ("obs_id", "kind", "used_for", "regimen", "parameters", "metric", "observed", "bound_low",
                 "bound_high", "predicted", "unit", "inside", "status", "statement", "citation", "tag", "note")
#: Relative slack on an interval's ends for round-off (a fitted value can sit on the end it was fitted to).
_EDGE = 1e-3
#: Virtual subjects per population arm of the safety facts (shares of a few % need more than 200).
_SAFETY_N = 800
#: Output grid of the safety facts: 2-min steps to 6 h.
_T_SAFETY = np.round(np.arange(0, 6 * 30 + 1) / 30.0, 12)


def _data_path(name: str) -> Path:
    from importlib import resources

    return Path(str(resources.files("ketasim") / "data" / "observations" / name))


def load_facts(name_or_path: str | Path) -> pd.DataFrame:
    """A fact file (a name in ``data/observations/`` or a path), checked for its columns and values."""
    p = Path(name_or_path)
    if not p.exists():
        p = _data_path(str(name_or_path))
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise DataFileError(f"observations file {str(p)!r} does not exist.") from None
    missing = [c for c in FACT_COLUMNS if c not in df.columns]
    if missing:
        raise DataFileError(f"observations file {str(p)!r} lacks columns {missing}; expected {list(FACT_COLUMNS)}.")
    bad = sorted(set(df["used_for"]) - set(USES))
    if bad:
        raise DataFileError(f"observations file {str(p)!r}: used_for must be one of {USES}; got {bad}.")
    if df["obs_id"].duplicated().any():
        raise DataFileError(f"observations file {str(p)!r}: duplicate obs_id {df.loc[df['obs_id'].duplicated(), 'obs_id'].tolist()}.")
    for _, r in df.iterrows():
        if not r["citation"]:
            raise DataFileError(f"observations file {str(p)!r}: {r['obs_id']} has no citation.")
        if not (r["observed"] or r["bound_low"] or r["bound_high"]):
            raise DataFileError(f"observations file {str(p)!r}: {r['obs_id']} has neither an observed value nor bounds.")
    return df


def _num(x: str) -> float:
    return float(x) if str(x).strip() != "" else math.nan


def _inside(v: float, lo: float, hi: float) -> bool:
    lo = -math.inf if not math.isfinite(lo) else lo - _EDGE * abs(lo)
    hi = math.inf if not math.isfinite(hi) else hi + _EDGE * abs(hi)
    return bool(math.isfinite(v) and lo <= v <= hi)


def _outcome(layer: str, facts: pd.DataFrame, compute: Callable[[pd.Series], tuple[float, str]]) -> LayerOutcome:
    """Evaluate every fact with ``compute(row) -> (model value, parameter set)``; split rows and bounds."""
    rows, bounds = [], []
    for _, f in facts.iterrows():
        lo, hi, obs = _num(f["bound_low"]), _num(f["bound_high"]), _num(f["observed"])
        if f["metric"].startswith("not_modelled:"):
            pred, sid, status = math.nan, "", f"not computable: ketasim has no {f['metric'].split(':', 1)[1]} output"
        else:
            try:
                pred, sid = compute(f)
                status = "ok" if math.isfinite(pred) else "not computable: no value"
            except KetasimError as exc:
                pred, sid, status = math.nan, f["parameters"], f"not computable: {exc}"
        if math.isfinite(lo) or math.isfinite(hi):
            bounds.append({"obs_id": f["obs_id"], "kind": f["kind"], "used_for": f["used_for"], "regimen": f["regimen"],
                           "parameters": sid, "metric": f["metric"], "observed": obs,
                           "bound_low": lo if math.isfinite(lo) else -math.inf,
                           "bound_high": hi if math.isfinite(hi) else math.inf, "predicted": pred, "unit": f["unit"],
                           "inside": _inside(pred, lo, hi) if status == "ok" else False, "status": status,
                           "statement": f["statement"], "citation": f["citation"], "tag": f["tag"], "note": f["note"]})
        else:
            fold = pred / obs if status == "ok" and obs != 0 else math.nan
            rows.append({"layer": layer, "obs_id": f["obs_id"], "study": _study(f["citation"]), "kind": f["kind"],
                         "used_for": f["used_for"], "route": _route(f["regimen"]), "population": "adults",
                         "analyte": "", "metric": f["metric"], "output": f["metric"], "regimen": f["regimen"],
                         "parameters": sid, "observed": obs, "predicted": pred, "unit": f["unit"], "fold_error": fold,
                         "within_1_25": _within(fold, 1.25), "within_1_5": _within(fold, 1.5),
                         "within_2": _within(fold, 2.0), "pi_low": math.nan, "pi_high": math.nan, "in_pi90": False,
                         "status": status, "in_scope": status == "ok", "reason": "" if status == "ok" else status,
                         "citation": f["citation"], "tag": f["tag"],
                         "provenance": "; ".join(x for x in (f["statement"], f["note"]) if x)})
    return LayerOutcome(rows=pd.DataFrame(rows, columns=list(ROW_COLUMNS)),
                        bounds=pd.DataFrame(bounds, columns=list(BOUND_COLUMNS)))


def _study(citation: str) -> str:
    c = str(citation)
    for sep in (";", " ("):
        if sep in c:
            c = c.split(sep)[0]
    return c.strip()


def _route(regimen: str) -> str:
    for r in ("intranasal", "insufflated", "iv", "im", "oral", "sublingual", "rectal", "ip", "sc"):
        if f" {r}" in f" {regimen} ".replace(",", " "):
            return r
    return "n/a"


def _facts(path: str | Path | None, default: str) -> pd.DataFrame:
    return load_facts(path if path is not None else default)


# ---------------------------------------------------------------------------
# receptors
# ---------------------------------------------------------------------------
def _ec50_unbound(target: str, ligands: dict[str, float]) -> float:
    """Unbound concentration (nM) of a mixture (fractions ``ligands`` of S, R ketamine or NK) that occupies
    half of ``target`` in the receptor layer (root of the layer's own occupancy function)."""
    from scipy.optimize import brentq

    from .layers.receptors import receptor_parameters, run_receptors

    p = receptor_parameters()
    name = {"nmda": "occupancy_NMDA", "mu": "occupancy_mu", "kappa": "occupancy_kappa"}[target]
    uk = p["fu_ketamine"] * p["kpuu_ketamine"] * 1000.0 / p["M_ketamine"]
    un = p["fu_norketamine"] * p["kpuu_norketamine"] * 1000.0 / p["M_norketamine"]

    def occ(u_nM: float) -> float:
        inputs = {"C_effect_S_ketamine": np.array([ligands.get("S", 0.0) * u_nM / uk]),
                  "C_effect_R_ketamine": np.array([ligands.get("R", 0.0) * u_nM / uk]),
                  "C_plasma_norketamine": np.array([ligands.get("NK", 0.0) * u_nM / un])}
        return float(run_receptors(inputs, (name,))[name][0]) - 0.5

    return float(brentq(occ, 1e-3, 1e8, rtol=1e-10))


def _typical_peak(regimen: str, output: str, parameters: str = "") -> tuple[float, str]:
    from .population import Subject
    from .simulate import simulate

    t = np.round(np.arange(0, 12 * 60 + 1) / 60.0, 12)
    ds = simulate(regimen, Subject(weight=70.0, age=40.0), t, outputs=[output], parameters=parameters or None)
    sid = str(ds.attrs.get("parameter_sets", parameters))
    return float(ds[output].values.max()), sid


def _receptor_value(f: pd.Series) -> tuple[float, str]:
    m = f["metric"]
    rac = {"S": 0.5, "R": 0.5}
    if m == "nmda_ec50_racemic":
        return _ec50_unbound("nmda", rac), ""
    if m == "nmda_ec50_norketamine":
        return _ec50_unbound("nmda", {"NK": 1.0}), ""
    if m == "nmda_r_over_s":
        return _ec50_unbound("nmda", {"R": 1.0}) / _ec50_unbound("nmda", {"S": 1.0}), ""
    if m == "nmda_nk_over_k":
        return _ec50_unbound("nmda", {"NK": 1.0}) / _ec50_unbound("nmda", rac), ""
    if m == "mu_k_racemic":
        return _ec50_unbound("mu", rac), ""
    if m == "kappa_k_racemic":
        return _ec50_unbound("kappa", rac), ""
    if m == "nmda_peak_occupancy_0_5mgkg":
        return _typical_peak(f["regimen"], "occupancy_NMDA", f["parameters"])
    raise DataFileError(f"receptors observation {f['obs_id']}: unknown metric {m!r}.")


def predict_receptors(observations_path=None, *, n_subjects: int = 200, seed: int = 0,
                      interval: float = 0.90) -> LayerOutcome:
    """Receptor layer: NMDA / opioid potencies and occupancy against ``receptors.csv`` facts."""
    return _outcome("receptors", _facts(observations_path, "receptors.csv"), _receptor_value)


# ---------------------------------------------------------------------------
# PK-PD effects
# ---------------------------------------------------------------------------
def _dissociation_ec50() -> float:
    from scipy.optimize import brentq

    from .layers import acute_effects as ae

    return float(brentq(lambda c: float(ae.dissociation(np.array([[c]]))[0, 0]) - 50.0, 1e-3, 1e6, rtol=1e-10))


def _bowdle() -> float:
    """Dissociation at the end of the 4th 30-min step (S-ketamine effect site 25/50/75/100 ng/mL)."""
    from .layers import acute_effects as ae

    t = np.arange(0, 2.0001, 1 / 120)
    c = np.select([t < 0.5, t < 1, t < 1.5], [25.0, 50.0, 75.0], 100.0)[None, :]
    auc = np.concatenate([[0], np.cumsum(np.diff(t) * c[0, :-1])])[None, :]
    p = ae.acute_parameters()
    d = ae.tolerant_drive(t, c, 0 * c, auc, 0 * auc, 0.0, p["tolerance"]["k_tol"], p["tolerance"]["f_tol"])
    return float(ae.dissociation(d)[0, np.searchsorted(t, 2.0) - 1])


@lru_cache(maxsize=4)
def _anaesthesia_run(regimen: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    from .population import Subject
    from .regimen_text import parse_regimen
    from .simulate import simulate

    reg = parse_regimen(regimen)
    end = max(e.time + e.duration for e in reg.events)
    t = np.round(np.arange(0, (end + 4.0) * 120 + 1) / 120.0, 12)
    ds = simulate(reg, Subject(weight=70.0, age=45.0), t, outputs=["C_plasma_ketamine", "sedation"])
    return t, ds["C_plasma_ketamine"].values[0], ds["sedation"].values[0], end


def _pkpd_value(f: pd.Series) -> tuple[float, str]:
    m = f["metric"]
    if m == "dissociation_ec50_s":
        return _dissociation_ec50(), ""
    if m == "bowdle_vas_200":
        return _bowdle(), ""
    if m == "anaesthesia_maintained":
        t, _c, s, end = _anaesthesia_run(f["regimen"])
        w = (t >= 0.5) & (t <= end)
        return float(s[w].max()), ""
    if m == "awakening_concentration":
        t, c, s, end = _anaesthesia_run(f["regimen"])
        i = np.nonzero((t >= end - 1e-9) & (s >= 2.5))[0]
        return (float(c[i[0]]) if len(i) else math.nan), ""
    if m == "peak_plasma":
        return _typical_peak(f["regimen"], "C_plasma_ketamine", f["parameters"])
    raise DataFileError(f"pkpd observation {f['obs_id']}: unknown metric {m!r}.")


def predict_pkpd(observations_path=None, *, n_subjects: int = 200, seed: int = 0,
                 interval: float = 0.90) -> LayerOutcome:
    """PK-PD effects: dissociation and sedation concentration-effect facts, concentration anchors."""
    return _outcome("pkpd", _facts(observations_path, "pkpd.csv"), _pkpd_value)


# ---------------------------------------------------------------------------
# acute safety
# ---------------------------------------------------------------------------
_SAFETY_OUTPUTS = ["delta_SBP", "delta_DBP", "delta_HR", "sedation", "dissociation"]


@lru_cache(maxsize=16)
def _safety_population(regimen: str, ages: str, seed: int):
    from .acute_safety import with_safety_variability
    from .population import sample_population
    from .simulate import simulate

    a, b = (float(x) for x in ages.split("-"))
    base = seed + zlib.crc32(f"{regimen}|{ages}".encode())
    pop = with_safety_variability(sample_population(_SAFETY_N, np.random.default_rng(base), age=(a, b)),
                                  np.random.default_rng(base + 1))
    return simulate(regimen, pop, _T_SAFETY, outputs=_SAFETY_OUTPUTS)


def _cv_at(c_effect_s: float, var: str) -> float:
    from .layers.safety import run_safety

    c = np.full((1, 2), float(c_effect_s))
    out = run_safety(np.array([0.0, 1.0]), {"C_plasma_S_ketamine": c},
                     np.array([45.0]), None, ["delta_SBP", "delta_DBP", "delta_HR"])
    if var == "map":
        d, s = out["delta_DBP"][0, 0], out["delta_SBP"][0, 0]
        return float(100.0 * (d + (s - d) / 3.0) / 90.0)   # resting MAP 90 mmHg (A)
    return float(100.0 * out["delta_HR"][0, 0] / 70.0)       # resting HR 70 bpm (A)


def _safety_value(f: pd.Series, seed: int) -> tuple[float, str]:
    from .acute_safety import LABEL_CRITERIA, monitoring_window, share_exceeding
    from .layers import acute_effects as ae

    parts = f["metric"].split(":")
    kind = parts[0]
    if kind in ("map_pct_at", "hr_pct_at"):
        return _cv_at(float(parts[1]), "map" if kind == "map_pct_at" else "hr"), ""
    ages = parts[-1] if kind not in ("peak_time_min", "median_window") else "18-64"
    res = _safety_population(f["regimen"], ages, seed)
    sid = str(res.attrs.get("parameter_sets", ""))
    t = res["time"].values
    if kind == "mean_peak":
        return float(res[parts[1]].max("time").mean()), sid
    if kind == "share_over":
        thr = ae.acute_parameters()["dissociation"]["present_threshold"] if parts[2] == "present" else float(parts[2])
        return float(share_exceeding(res, parts[1], thr)["share"]), sid
    if kind == "share_below":
        return float(share_exceeding(res, parts[1], float(parts[2]), below=True)["share"]), sid
    if kind == "peak_time_min":
        x = res[parts[1]].values
        return float(60.0 * np.median(t[x.argmax(axis=1)])), sid
    if kind == "median_window":
        if parts[1] == "dissociation":
            crit = {"dissociation_max": LABEL_CRITERIA["dissociation_max"]}
        else:
            crit = {k: v for k, v in LABEL_CRITERIA.items() if k != "min_hours"}
        return float(monitoring_window(res, crit)["window_h"].median()), sid
    raise DataFileError(f"safety observation {f['obs_id']}: unknown metric {f['metric']!r}.")


def predict_safety(observations_path=None, *, n_subjects: int = 200, seed: int = 0,
                   interval: float = 0.90) -> LayerOutcome:
    """Acute safety: BP/HR rises (meta-analysis, label shares, time course), sedation and dissociation
    incidence and time course, the label monitoring window, haemodynamics at anaesthetic levels."""
    return _outcome("safety", _facts(observations_path, "safety.csv"), lambda f: _safety_value(f, int(seed)))


# ---------------------------------------------------------------------------
# circuit and dopamine (facts of ketasim.hypotheses under the default circuit)
# ---------------------------------------------------------------------------
#: Facts of :data:`ketasim.hypotheses.FACTS` about dopamine; the others are about neuronal firing.
DOPAMINE_FACTS = ("pfc_da_25ip", "nac_da_up", "pfc_vs_nac", "dose_dependence", "anaesthetic_no_effect", "s_not_r",
                  "human_pet")


@lru_cache(maxsize=2)
def _hypothesis_scores() -> dict[str, Any]:
    from .hypotheses import FACTS, score
    from .layers.circuit import DEFAULT_CIRCUIT

    s = score(DEFAULT_CIRCUIT)
    return {"circuit": s["circuit"], "pred": {r["fact"]: r["prediction"] for r in s["rows"]},
            "facts": {f.id: f for f in FACTS}}


def _fact_bounds(dopamine: bool) -> LayerOutcome:
    h = _hypothesis_scores()
    out = []
    for fid, f in h["facts"].items():
        if (fid in DOPAMINE_FACTS) != dopamine:
            continue
        p = float(h["pred"][fid])
        lo, hi = f.lo, f.hi
        out.append({"obs_id": fid, "kind": f.subject, "used_for": f.kind, "regimen": " | ".join(f.regimens),
                    "parameters": f"circuit {h['circuit']}", "metric": f.quantity, "observed": math.nan,
                    "bound_low": lo if lo > -1e5 else -math.inf, "bound_high": hi if hi < 1e5 else math.inf,
                    "predicted": p, "unit": f.unit, "inside": _inside(p, lo, hi), "status": "ok",
                    "statement": f.statement, "citation": f.citation, "tag": f.tag, "note": f.note})
    return LayerOutcome(rows=pd.DataFrame(columns=list(ROW_COLUMNS)), bounds=pd.DataFrame(out, columns=list(BOUND_COLUMNS)))


def predict_circuit(observations_path=None, *, n_subjects: int = 200, seed: int = 0,
                    interval: float = 0.90) -> LayerOutcome:
    """Circuit (firing of TRN, thalamic relay, PFC and VTA neurons) under the default circuit."""
    if observations_path is not None:
        raise DataFileError("the circuit layer is judged on ketasim.hypotheses.FACTS; it takes no observations file.")
    return _fact_bounds(dopamine=False)


def predict_dopamine(observations_path=None, *, n_subjects: int = 200, seed: int = 0,
                     interval: float = 0.90) -> LayerOutcome:
    """Dopamine (microdialysis, PET) under the default circuit."""
    if observations_path is not None:
        raise DataFileError("the dopamine layer is judged on ketasim.hypotheses.FACTS; it takes no observations file.")
    return _fact_bounds(dopamine=True)

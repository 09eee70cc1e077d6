"""Validation: every shipped reference observation against ketasim's prediction, with gates.

The framework is layer-agnostic. ``ketasim/data/validation_gates.toml`` registers each
layer with the observation file it is judged on, the function that predicts those
observations (``"module:function"``) and its gates. A predictor returns a
:class:`LayerOutcome`: one row per observation in the columns of :data:`ROW_COLUMNS`
(observed, predicted, fold error, 90% population prediction interval, scope and reason,
citation and provenance), plus optional digitised-curve comparisons and plausibility
bounds. :func:`validate` runs the layers, computes the metrics and checks the gates.

Metrics
-------
fold error
    predicted / observed.
GMFE
    geometric mean fold error ``10 ** mean(|log10 fold|)``; ``bias`` is the signed
    ``10 ** mean(log10 fold)``.
within 1.25 / 1.5 / 2-fold
    share of rows with ``1/x <= fold <= x``.
90% prediction interval
    5th-95th percentile of the prediction over a virtual population (``n_subjects``
    subjects per study arm, sampled with :func:`ketasim.sample_population` under the row's
    parameter set and body weight, seeded per arm); ``in_pi90`` says whether the observed
    value lies inside. Sets without inter-individual variability give a point interval.
curves
    per digitised mean curve: GMFE over its points, the AUC of the log error
    (time-averaged ``|log10 fold|``, as a fold ``10 ** x``), the peak fold error and the
    time-to-peak error (h).

Gates (per layer, from the TOML): ``min_within_1_5``, ``min_within_2``, ``max_gmfe`` on the
in-scope rows; ``min_within_2_all_rows`` over every scored row; ``min_bounds_inside``;
``min_bounds_inside_calibration`` / ``min_bounds_inside_validation`` on the published intervals
by their ``used_for``; ``max_curve_gmfe`` over the in-scope curves. A row is out of scope only
with a written reason in its observation file. A layer with ``enforce = false`` (and a written
``enforce_reason``) has its gates computed and reported, failures included, without failing
the run.

Calibration vs validation
-------------------------
Every observation says what it was ``used_for``: ``calibration`` (its value was used to fit a
parameter, so reproducing it is a check, not independent evidence) or ``validation`` (held
out). Summaries, groups, the headline and the report give the two apart
(``summary["by_use"]``). The layers beyond PK are in :mod:`ketasim.validation_layers`.

Examples
--------
>>> from ketasim.validation import load_config
>>> sorted(load_config()["layers"])
['circuit', 'dopamine', 'epidemiology', 'outcomes', 'pk', 'pkpd', 'receptors', 'safety']
"""

from __future__ import annotations

import importlib
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from . import __version__
from .errors import DataFileError, InputError, unknown

__all__ = [
    "ROW_COLUMNS",
    "LayerOutcome",
    "GateResult",
    "LayerReport",
    "ValidationResult",
    "load_config",
    "fold_metrics",
    "validate",
    "predict_pk",
    "population_interval",
    "headline",
]

#: What an observation was used for: fitting a parameter (not independent evidence) or held out.
USES = ("calibration", "validation")

#: Columns of a layer's observation table (one row per scored observation).
ROW_COLUMNS = (
    "layer", "obs_id", "study", "kind", "used_for", "route", "population", "analyte", "metric", "output", "regimen",
    "parameters", "observed", "predicted", "unit", "fold_error", "within_1_25", "within_1_5", "within_2",
    "pi_low", "pi_high", "in_pi90", "status", "in_scope", "reason", "citation", "tag", "provenance",
)


def _data_dir() -> Path:
    return Path(str(resources.files("ketasim") / "data"))


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """The validation configuration (layers, observation files, predictors, gates)."""
    p = Path(path) if path is not None else _data_dir() / "validation_gates.toml"
    try:
        with open(p, "rb") as fh:
            cfg = tomllib.load(fh)
    except FileNotFoundError:
        raise DataFileError(f"validation config {str(p)!r} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(f"validation config {str(p)!r} is not valid TOML: {exc}.") from None
    if not isinstance(cfg.get("layers"), dict) or not cfg["layers"]:
        raise DataFileError(f"validation config {str(p)!r} registers no layer ([layers.<name>] tables).")
    for name, spec in cfg["layers"].items():
        for key in ("observations", "predictor"):
            if key not in spec:
                raise DataFileError(f"validation config: layers.{name} lacks {key!r}.")
    return cfg


# ---------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------
def _within(fold: float, x: float) -> bool:
    return bool(np.isfinite(fold) and fold > 0 and abs(math.log10(fold)) <= math.log10(x) + 1e-12)


def fold_metrics(folds: Iterable[float]) -> dict[str, float]:
    """n, GMFE, bias and the shares within 1.25, 1.5 and 2-fold of a set of fold errors.

    Examples
    --------
    >>> m = fold_metrics([1.0, 2.0, 0.5, 1.2])
    >>> m["n"], round(m["within_1_5"], 2), round(m["gmfe"], 3)
    (4, 0.5, 1.48)
    """
    f = np.asarray([x for x in folds if np.isfinite(x) and x > 0], float)
    if f.size == 0:
        return {"n": 0, "gmfe": math.nan, "bias": math.nan, "within_1_25": math.nan,
                "within_1_5": math.nan, "within_2": math.nan}
    lf = np.abs(np.log10(f))
    out = {"n": int(f.size), "gmfe": float(10 ** lf.mean()), "bias": float(10 ** np.log10(f).mean())}
    for key, x in (("within_1_25", 1.25), ("within_1_5", 1.5), ("within_2", 2.0)):
        out[key] = float(np.mean(lf <= math.log10(x) + 1e-12))
    return out


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerOutcome:
    """What a layer's predictor returns.

    ``rows``: scored observations (columns :data:`ROW_COLUMNS`). ``curves``: one row per
    digitised curve (``curve, parameters, unit, n_points, gmfe, auc_log_error_fold, bias,
    cmax_fold, tmax_error_h, in_scope, reason, status, note``); ``curve_points``: per-point
    comparison (``curve, time_h, observed, predicted``); ``bounds``: plausibility checks
    (``obs_id, metric, predicted, bound_low, bound_high, inside, citation``).
    """

    rows: pd.DataFrame
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    curve_points: pd.DataFrame = field(default_factory=pd.DataFrame)
    bounds: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True)
class GateResult:
    gate: str
    value: float
    threshold: float
    passed: bool
    description: str


@dataclass(frozen=True)
class LayerReport:
    name: str
    title: str
    observations: str
    outcome: LayerOutcome
    summary: dict[str, Any]
    groups: pd.DataFrame
    gates: tuple[GateResult, ...]
    #: False: the layer's gates are computed and reported (a failure shows as FAIL) but do not fail the run;
    #: the config must then say why (``enforce_reason``).
    enforced: bool = True
    enforce_reason: str = ""

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)


@dataclass(frozen=True)
class ValidationResult:
    layers: tuple[LayerReport, ...]
    population: dict[str, Any]

    @property
    def passed(self) -> bool:
        """Every enforced layer passes its gates (failures of non-enforced layers are reported, not fatal)."""
        return all(lr.passed for lr in self.layers if lr.enforced)

    @property
    def failed_gates(self) -> list[str]:
        """``"layer: gate (got value)"`` for every failing gate, enforced or not."""
        return [f"{lr.name}: {g.description} (got {g.value:.3g})" + ("" if lr.enforced else " [not enforced]")
                for lr in self.layers for g in lr.gates if not g.passed]

    def layer(self, name: str) -> LayerReport:
        for lr in self.layers:
            if lr.name == name:
                return lr
        raise unknown("layer", name, [lr.name for lr in self.layers])

    def to_json(self, rows: bool = True) -> dict[str, Any]:
        """A JSON-ready summary (numbers rounded to 6 significant digits)."""
        out: dict[str, Any] = {"ketasim_version": __version__, "passed": self.passed,
                               "population": self.population, "headline": headline(self), "layers": {}}
        for lr in self.layers:
            d: dict[str, Any] = {
                "title": lr.title, "observations": lr.observations, "passed": lr.passed,
                "enforced": lr.enforced, "enforce_reason": lr.enforce_reason,
                "summary": _clean(lr.summary),
                "gates": [_clean(g.__dict__) for g in lr.gates],
                "groups": _records(lr.groups),
            }
            if rows:
                d["rows"] = _records(lr.outcome.rows)
                d["curves"] = _records(lr.outcome.curves)
                d["bounds"] = _records(lr.outcome.bounds)
            out["layers"][lr.name] = d
        return out


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        if not math.isfinite(v):
            return None
        return float(f"{v:.6g}")
    return x


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    if df is None or df.empty:
        return []
    return [_clean(r) for r in df.to_dict(orient="records")]


# ---------------------------------------------------------------------------
# summaries and gates
# ---------------------------------------------------------------------------
def _summary(out: LayerOutcome) -> dict[str, Any]:
    rows = out.rows if not out.rows.empty else pd.DataFrame(columns=list(ROW_COLUMNS))
    ok = rows[(rows["status"] == "ok").astype(bool)]
    scope = ok[ok["in_scope"].astype(bool)]
    s_in = fold_metrics(scope["fold_error"])
    s_all = fold_metrics(ok["fold_error"])
    pi = ok[np.isfinite(ok["pi_low"].astype(float))]
    summary = {
        "n_observations": int(len(rows)), "n_computable": int(len(ok)), "n_in_scope": int(len(scope)),
        "n_out_of_scope": int(len(ok) - len(scope)), "n_studies": int(ok["study"].nunique()),
        "n_studies_in_scope": int(scope["study"].nunique()),
        **{k: s_in[k] for k in ("gmfe", "bias", "within_1_25", "within_1_5", "within_2")},
        "all_rows": {k: s_all[k] for k in ("gmfe", "bias", "within_1_25", "within_1_5", "within_2")},
        "n_with_pi": int(len(pi)), "in_pi90": float(pi["in_pi90"].mean()) if len(pi) else math.nan,
        "in_pi90_in_scope": (float(pi.loc[pi["in_scope"].astype(bool), "in_pi90"].mean())
                             if len(pi) and pi["in_scope"].astype(bool).any() else math.nan),
    }
    # calibration data (used to fit a parameter) is reported apart from held-out validation data
    use = ok["used_for"] if "used_for" in ok else pd.Series(["validation"] * len(ok), index=ok.index)
    summary["by_use"] = {}
    for u in USES:
        m = scope[use.loc[scope.index] == u] if len(scope) else scope
        f = fold_metrics(m["fold_error"])
        summary["by_use"][u] = {"n_rows": f["n"], "n_studies": int(m["study"].nunique()) if len(m) else 0,
                                **{k: f[k] for k in ("gmfe", "within_1_5", "within_2")}}
    if not out.bounds.empty:
        b = out.bounds
        if "status" in b:
            b = b[b["status"].astype(str) == "ok"]
        n_ok = len(b)
        if "in_scope" in b:
            # a documented known miss (written reason) is listed but not gated, as a PK row's miss_reason
            b = b[b["in_scope"].astype(bool)]
        summary["n_bounds"] = int(len(b))
        summary["n_bounds_out_of_scope"] = int(n_ok - len(b))
        summary["n_bounds_not_computable"] = int(len(out.bounds) - n_ok)
        summary["n_bounds_inside"] = int(b["inside"].astype(bool).sum())
        summary["bounds_inside"] = float(b["inside"].astype(bool).mean()) if len(b) else math.nan
        if "used_for" in b:
            for u in USES:
                bu = b[b["used_for"].astype(str) == u]
                summary["by_use"].setdefault(u, {})
                summary["by_use"][u].update({"n_bounds": int(len(bu)), "n_bounds_inside": int(bu["inside"].astype(bool).sum()),
                                             "bounds_inside": float(bu["inside"].astype(bool).mean()) if len(bu) else math.nan})
    if not out.curves.empty:
        cs = out.curves[out.curves["in_scope"]]
        summary["n_curves"] = int(len(out.curves))
        summary["n_curves_in_scope"] = int(len(cs))
        summary["curve_max_gmfe_in_scope"] = float(cs["gmfe"].max()) if len(cs) else math.nan
    return summary


def _groups(rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        return pd.DataFrame(columns=["group", "n", "studies", "gmfe", "bias", "within_1_25", "within_1_5",
                                     "within_2", "in_pi90"])
    ok = rows[(rows["status"] == "ok") & rows["in_scope"].astype(bool)]
    out = []
    for by in (None, "used_for", "route", "population", "kind"):
        if by is not None and by not in ok:
            continue
        parts = [("all", ok)] if by is None else [(f"{by}={k}", g) for k, g in ok.groupby(by, sort=True)]
        for name, g in parts:
            s = fold_metrics(g["fold_error"])
            pi = g[np.isfinite(g["pi_low"].astype(float))]
            out.append({"group": name, "n": s["n"], "studies": int(g["study"].nunique()), "gmfe": s["gmfe"],
                        "bias": s["bias"], "within_1_25": s["within_1_25"], "within_1_5": s["within_1_5"],
                        "within_2": s["within_2"],
                        "in_pi90": float(pi["in_pi90"].mean()) if len(pi) else math.nan})
    return pd.DataFrame(out)


_GATES: dict[str, tuple[str, str, Callable[[dict[str, Any]], float]]] = {
    "min_within_1_5": (">=", "share of in-scope rows within 1.5-fold", lambda s: s["within_1_5"]),
    "min_within_2": (">=", "share of in-scope rows within 2-fold", lambda s: s["within_2"]),
    "max_gmfe": ("<=", "GMFE of the in-scope rows", lambda s: s["gmfe"]),
    "min_within_2_all_rows": (">=", "share of all scored rows (in scope or not) within 2-fold",
                              lambda s: s["all_rows"]["within_2"]),
    "min_bounds_inside": (">=", "share of plausibility bounds met", lambda s: s.get("bounds_inside", math.nan)),
    "max_curve_gmfe": ("<=", "largest GMFE of an in-scope digitised curve",
                       lambda s: s.get("curve_max_gmfe_in_scope", math.nan)),
    "min_in_pi90": (">=", "share of in-scope rows inside the 90% prediction interval",
                    lambda s: s["in_pi90_in_scope"]),
    "min_within_2_calibration": (">=", "share of calibration rows (used to fit a parameter) within 2-fold",
                                 lambda s: _by_use(s, "calibration", "within_2")),
    "min_within_2_validation": (">=", "share of held-out validation rows within 2-fold",
                                lambda s: _by_use(s, "validation", "within_2")),
    "min_bounds_inside_calibration": (">=", "share of calibration facts (used to fit a parameter) reproduced within "
                                      "their interval", lambda s: _by_use(s, "calibration", "bounds_inside")),
    "min_bounds_inside_validation": (">=", "share of held-out validation facts reproduced within their interval",
                                     lambda s: _by_use(s, "validation", "bounds_inside")),
}


def _by_use(summary: dict[str, Any], use: str, key: str) -> float:
    return float(summary.get("by_use", {}).get(use, {}).get(key, math.nan))


#: Keys of a layer table that are not gates.
_LAYER_KEYS = ("title", "observations", "predictor", "enforce", "enforce_reason")


def _check_gates(spec: Mapping[str, Any], summary: dict[str, Any], where: str,
                 strict: bool = True) -> tuple[GateResult, ...]:
    out = []
    for key, thr in spec.items():
        if key in _LAYER_KEYS:
            continue
        if key not in _GATES:
            raise unknown(f"{where}: gate", key, sorted(_GATES))
        op, desc, get = _GATES[key]
        val = get(summary)
        text = f"{desc} {op} {thr:g}"
        if not np.isfinite(val):
            # With the shipped observations a gate with nothing to measure fails rather than passing
            # silently; a user's own file may lack curves or bounds, so there it does not apply.
            passed = not strict
            if not strict:
                text += " (not applicable: nothing to measure in this file or registry)"
        else:
            passed = val >= float(thr) - 1e-12 if op == ">=" else val <= float(thr) + 1e-12
        out.append(GateResult(key, float(val), float(thr), bool(passed), text))
    return tuple(out)


def __getattr__(name: str):
    # the PK predictor lives in validation_pk_predict (module size); keep the old names resolving here
    if name in ("predict_pk", "population_interval"):
        from . import validation_pk_predict

        return getattr(validation_pk_predict, name)
    raise AttributeError(f"module 'ketasim.validation' has no attribute {name!r}")


def _predictor(path: str) -> Callable[..., LayerOutcome]:
    mod, _, fn = path.partition(":")
    try:
        return getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError):
        raise DataFileError(f"validation predictor {path!r} cannot be imported; give 'module:function'.") from None


def validate(layers: Iterable[str] | None = None, *, observations: str | Path | None = None,
             n_subjects: int | None = None, seed: int | None = None,
             config: str | Path | None = None) -> ValidationResult:
    """Run the validation of the given layers (default: every registered layer).

    Parameters
    ----------
    layers : iterable of str, optional
        Layer names registered in ``validation_gates.toml`` (e.g. ``["pk"]``).
    observations : path, optional
        A user's own observation file in the layer's column format; needs exactly one layer
        (default ``pk``).
    n_subjects, seed : int, optional
        Virtual subjects per row for the prediction intervals (0 = none) and the base seed;
        default from the config.
    """
    cfg = load_config(config)
    registered = cfg["layers"]
    names = list(layers) if layers else list(registered)
    if observations is not None and not layers:
        names = ["pk"]
    for n in names:
        if n not in registered:
            raise unknown("layer", n, sorted(registered))
    if observations is not None and len(names) != 1:
        raise InputError(f"--observations needs exactly one layer; got {names}. Give --layer.")
    popcfg = cfg.get("population", {})
    n_sub = int(popcfg.get("n_subjects", 200) if n_subjects is None else n_subjects)
    sd = int(popcfg.get("seed", 0) if seed is None else seed)
    interval = float(popcfg.get("interval", 0.90))
    if n_sub < 0 or n_sub > 100_000:
        raise InputError(f"n_subjects must be between 0 and 100000; got {n_sub}.")
    reports = []
    for n in names:
        spec = registered[n]
        predict = _predictor(spec["predictor"])
        outcome = predict(observations, n_subjects=n_sub, seed=sd, interval=interval)
        summary = _summary(outcome)
        # a registry-backed layer with nothing registered yet has nothing to measure: its gates do not apply
        empty = outcome.rows.empty and outcome.bounds.empty and outcome.curves.empty
        gates = _check_gates(spec, summary, f"layers.{n}", strict=observations is None and not empty)
        enforced = bool(spec.get("enforce", True))
        reason = str(spec.get("enforce_reason", "")).strip()
        if not enforced and len(reason) < 20:
            raise DataFileError(f"validation config: layers.{n} sets enforce = false without an enforce_reason "
                                "(say why its gates are reported but not enforced).")
        reports.append(LayerReport(n, spec.get("title", n),
                                   str(observations) if observations is not None else spec["observations"],
                                   outcome, summary, _groups(outcome.rows), gates, enforced, reason))
    return ValidationResult(tuple(reports), {"n_subjects": n_sub, "seed": sd, "interval": interval})


def headline(result: ValidationResult) -> str:
    """The one-line summary the README quotes, e.g. ``PK: 38 observations from 8 studies, ...``.

    Where observations are marked ``used_for``, the held-out (validation) share is quoted apart from
    the calibration data; a layer whose gate fails says so (``gate not met``), enforced or not.
    """
    parts = []
    for lr in result.layers:
        s = lr.summary
        bu = s.get("by_use", {})
        v = bu.get("validation", {})
        flag = "" if lr.passed else " [gate not met" + ("" if lr.enforced else ", not enforced") + "]"
        n_b = s.get("n_bounds", 0)
        if not n_b and not s["n_in_scope"] and not s["n_observations"]:
            parts.append(f"{lr.name.upper()}: no observations registered yet")
            continue
        if n_b and n_b >= s["n_in_scope"]:
            # a layer judged mainly on published intervals (no fold errors)
            extra = []
            if v.get("n_bounds") and v["n_bounds"] < n_b:
                extra.append(f"held-out validation facts: {v['n_bounds_inside']} of {v['n_bounds']}")
            if s["n_in_scope"]:
                extra.append(f"{s['n_in_scope']} point values: GMFE {s['gmfe']:.2f}")
            if s.get("n_bounds_out_of_scope"):
                extra.append(f"{s['n_bounds_out_of_scope']} more documented known "
                             f"miss{'es' if s['n_bounds_out_of_scope'] > 1 else ''}")
            parts.append(f"{lr.name.upper()}: {s['n_bounds_inside']} of {n_b} published facts "
                         f"reproduced within their interval" + (f" ({'; '.join(extra)})" if extra else "") + flag)
            continue
        extra = ""
        if v.get("n_rows") and v["n_rows"] < s["n_in_scope"]:
            extra = (f"; held-out validation rows alone: {v['n_rows']}, {v['within_1_5']:.0%} within 1.5-fold, "
                     f"GMFE {v['gmfe']:.2f}")
        parts.append(
            f"{lr.name.upper()}: {s['n_in_scope']} observations from {s['n_studies_in_scope']} studies, "
            f"{s['within_1_5']:.0%} within 1.5-fold, GMFE {s['gmfe']:.2f} "
            f"({s['n_out_of_scope']} more documented out of scope{extra}){flag}"
        )
    return "; ".join(parts)

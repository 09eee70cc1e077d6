"""Acute safety: blood pressure, heart rate, sedation, dissociation, and when a person may go home.

- :func:`simulate_with_safety` is what :func:`ketasim.simulate` calls when
  ``outputs=`` names ``delta_SBP``, ``delta_DBP``, ``delta_HR``, ``sedation``
  or ``dissociation``: it runs the PK layer on a fine internal grid around each
  dose (so the tolerance state does not depend on the user's output grid), then
  the safety layer (:mod:`ketasim.layers.safety`), and returns the variables on
  the user's times.
- :func:`monitoring_window` — per subject, the time after the (last) dose when
  every discharge criterion is met and stays met; the label's criteria or a
  user dict; with the population distribution in ``.attrs["distribution"]``.
- :func:`share_exceeding` — the share of a simulated population whose peak
  exceeds a threshold, with a Wilson interval.
- :func:`with_safety_variability` — add the safety layer's subject-level
  random effects (and baseline blood pressure) to a population, from an
  explicit generator.
- :func:`exposure_extremes` — simulated peak concentration against published
  recreational, anaesthetic and post-mortem concentrations, with the caveat that
  the model does not predict death.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import xarray as xr
import yaml

from .errors import InputError, unknown
from .layers.safety import BASELINE_LIMITS, PK_INPUTS, SAFETY_OUTPUTS, check_baseline, run_safety
from .population import Population, as_population

__all__ = ["SAFETY_OUTPUTS", "LABEL_CRITERIA", "CRITERIA_KEYS", "wants_safety", "simulate_with_safety",
           "monitoring_window", "window_distribution", "share_exceeding", "with_safety_variability",
           "exposure_extremes", "forensic_reference", "safety_summary", "arm_safety_table", "FINE_STEP_H", "FINE_WINDOW_H"]

#: Internal grid step (h) and how long after each dose it is used (h).
FINE_STEP_H = 1.0 / 60.0
FINE_WINDOW_H = 12.0
#: Largest number of fine-grid PK values held at once (subjects are processed in chunks).
_CHUNK_VALUES = 5e7

#: Discharge-criterion keys: key -> (variable, kind, unit).
CRITERIA_KEYS: dict[str, tuple[str, str, str]] = {
    "min_hours": ("", "floor", "h"),
    "moaas_min": ("sedation", "min", "MOAA/S"),
    "dissociation_max": ("dissociation", "max", "% of max"),
    "delta_sbp_max": ("delta_SBP", "max", "mmHg"),
    "delta_dbp_max": ("delta_DBP", "max", "mmHg"),
    "delta_hr_max": ("delta_HR", "max", "bpm"),
    "sbp_max": ("SBP", "max", "mmHg"),
    "dbp_max": ("DBP", "max", "mmHg"),
}
_CRITERION_LABEL = {"moaas_min": "sedation", "dissociation_max": "dissociation", "delta_sbp_max": "blood pressure",
                    "delta_dbp_max": "blood pressure", "sbp_max": "blood pressure", "dbp_max": "blood pressure",
                    "delta_hr_max": "heart rate", "min_hours": "minimum observation"}


def _data(name: str) -> Any:
    from importlib import resources

    return yaml.safe_load((resources.files("ketasim") / "data" / "safety" / name).read_text())


@lru_cache(maxsize=1)
def _label_criteria() -> Mapping[str, float]:
    return MappingProxyType({k: float(v["value"]) for k, v in _data("criteria.yaml")["label"].items()})


LABEL_CRITERIA: Mapping[str, float] = _label_criteria()


def wants_safety(outputs) -> bool:
    """Whether an ``outputs=`` argument names any safety variable."""
    if outputs is None:
        return False
    if isinstance(outputs, str):
        outputs = [outputs]
    try:
        return any(o in SAFETY_OUTPUTS for o in outputs)
    except TypeError:
        return False


def _fine_grid(regimen, t: np.ndarray) -> np.ndarray:
    """User times plus a 1-min grid from each dose to FINE_WINDOW_H h after it ends (within [0, t_max])."""
    tmax = float(t[-1])
    pieces = [t, np.array([0.0])]
    for e in regimen.events:
        lo = float(e.time)
        hi = min(lo + float(e.duration) + FINE_WINDOW_H, tmax)
        if lo < tmax:
            pieces.append(np.arange(lo, hi + 1e-12, FINE_STEP_H))
    g = np.unique(np.concatenate(pieces))
    g = g[g <= tmax + 1e-12]
    # merge points closer than 1 s (round-off twins of user times)
    keep = np.concatenate([[True], np.diff(g) > 1e-6])
    g = g[keep]
    for x in t:  # user times must be on the grid exactly
        g[np.argmin(np.abs(g - x))] = x
    return np.unique(g)


def _baselines(pop: Population) -> dict[str, np.ndarray]:
    out = {}
    for k in ("baseline_sbp", "baseline_dbp", "baseline_hr"):
        v = pop.extra.get(k) if pop.extra else None
        if v is None:
            continue
        v = np.asarray(v, float)
        for x in v[np.isfinite(v)]:
            check_baseline(k, x)
        out[k] = v
    if "baseline_sbp" in out and "baseline_dbp" in out:
        bad = np.flatnonzero(out["baseline_dbp"] >= out["baseline_sbp"])
        if bad.size:
            i = int(bad[0])
            raise InputError(f"baseline_dbp must be below baseline_sbp; got {out['baseline_dbp'][i]:g} / "
                             f"{out['baseline_sbp'][i]:g} mmHg (subject {i}). Are systolic and diastolic swapped?")
    return out


def simulate_with_safety(simulate: Callable[..., xr.Dataset], regimen, population, times, *,
                         outputs, parameters=None, circuit=None, scenario: str = "") -> xr.Dataset:
    """:func:`ketasim.simulate` with safety outputs (called by it; ``simulate`` is passed in).

    The non-safety outputs are simulated as usual on ``times``; the safety
    variables are computed on a fine grid (``times`` plus 1-min steps for
    12 h after each dose) and sampled at ``times``.
    """
    from .regimen_text import parse_regimen

    outs = [outputs] if isinstance(outputs, str) else list(dict.fromkeys(outputs))
    saf = [o for o in outs if o in SAFETY_OUTPUTS]
    rest = [o for o in outs if o not in SAFETY_OUTPUTS]
    reg = parse_regimen(regimen) if isinstance(regimen, str) else regimen
    pop = as_population(population)
    base = _baselines(pop)
    kw = {"parameters": parameters, "scenario": scenario}
    if circuit is not None:
        kw["circuit"] = circuit
    ds = simulate(reg, pop, times, outputs=rest or ["C_effect_S_ketamine"], **kw)
    t = ds["time"].values
    fine = _fine_grid(reg, t)
    idx = np.searchsorted(fine, t)
    if not np.allclose(fine[idx], t, rtol=0, atol=1e-9):  # pragma: no cover (guarded by _fine_grid)
        raise RuntimeError("internal: user times missing from the safety grid")
    res = {o: np.empty((pop.n, t.size)) for o in saf}
    # subjects in chunks, so the fine-grid PK arrays stay within ~50 million values
    chunk = max(1, int(_CHUNK_VALUES // (len(PK_INPUTS) * fine.size)))
    for lo in range(0, pop.n, chunk):
        sub = pop.take(slice(lo, lo + chunk))
        pk = simulate(reg, sub, fine, outputs=list(PK_INPUTS), parameters=parameters)
        part = run_safety(fine, {k: pk[k].values for k in PK_INPUTS}, np.asarray(sub.covariates["age"], float),
                          sub.extra, saf)
        for o in saf:
            res[o][lo:lo + chunk] = part[o][:, idx]
    if not rest:
        ds = ds.drop_vars("C_effect_S_ketamine")
    for o in saf:
        unit, long = SAFETY_OUTPUTS[o]
        ds[o] = xr.Variable(("subject", "time"), res[o], attrs={"units": unit, "long_name": long,
                                                                                 "layer": "safety"})
    for k, v in base.items():
        ds = ds.assign_coords({k: ("subject", v, {"units": "bpm" if k.endswith("hr") else "mmHg"})})
    ds = ds[[*(o for o in outs if o in ds.data_vars)]]
    ds.attrs["safety_model"] = ("ketasim acute-safety layer (docs/model.md, 'Acute safety'); parameters with sources "
                                "in ketasim/data/safety/*.yaml")
    ds.attrs["safety_variability"] = ("subject-level" if pop.extra and "eta_cv" in pop.extra
                                      else "typical values (no eta_cv/eta_cns in the population)")
    return ds


def with_safety_variability(pop: Population, rng: np.random.Generator, *,
                            baseline_sbp: tuple[float, float] | None = None,
                            baseline_dbp: tuple[float, float] | None = None) -> Population:
    """A copy of ``pop`` with the safety layer's random effects (and, optionally, baseline BP) drawn from ``rng``.

    Adds standard-normal ``eta_cv`` and ``eta_cns`` (one per subject, in that
    order); ``baseline_sbp=(mean, sd)`` / ``baseline_dbp=(mean, sd)`` draw
    normal resting pressures (clipped to plausible limits) when given.

    Examples
    --------
    >>> import numpy as np, ketasim as ks
    >>> pop = with_safety_variability(ks.sample_population(3, np.random.default_rng(1)), np.random.default_rng(2))
    >>> sorted(pop.extra)
    ['eta_cns', 'eta_cv']
    """
    if not isinstance(rng, np.random.Generator):
        raise InputError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}.")
    n = pop.n
    extra = dict(pop.extra)
    extra["eta_cv"] = rng.standard_normal(n)
    extra["eta_cns"] = rng.standard_normal(n)
    for key, spec in (("baseline_sbp", baseline_sbp), ("baseline_dbp", baseline_dbp)):
        if spec is not None:
            m, s = (float(x) for x in spec)
            check_baseline(key, m)
            lo, hi = BASELINE_LIMITS[key]
            extra[key] = np.clip(m + s * rng.standard_normal(n), lo, hi)
    return dataclasses.replace(pop, extra=MappingProxyType(extra))


# ---------------------------------------------------------------------------------------------- criteria

def _criteria(criteria) -> dict[str, float]:
    if isinstance(criteria, str):
        if criteria != "label":
            raise unknown("criteria", criteria, ["label"])
        return dict(LABEL_CRITERIA)
    if not isinstance(criteria, Mapping):
        raise InputError(f"criteria must be 'label' or a dict of thresholds; got {type(criteria).__name__}.")
    out = {}
    for k, v in criteria.items():
        if k not in CRITERIA_KEYS:
            raise unknown("criteria key", k, list(CRITERIA_KEYS))
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise InputError(f"criteria[{k!r}] must be a number ({CRITERIA_KEYS[k][2]}); got {v!r}.") from None
        if not math.isfinite(x):
            raise InputError(f"criteria[{k!r}] must be finite; got {v!r}.")
        if k == "min_hours" and x < 0:
            raise InputError(f"criteria['min_hours'] must be >= 0 h; got {x:g}.")
        if k == "moaas_min" and not 0 < x <= 5:
            raise InputError(f"criteria['moaas_min'] must be in (0, 5] (MOAA/S); got {x:g}.")
        out[k] = x
    if not out:
        raise InputError("criteria must name at least one threshold; got an empty dict. Valid keys: "
                         + ", ".join(CRITERIA_KEYS) + ".")
    return out


def _last_dose_time(ds: xr.Dataset) -> float:
    from .regimen_text import parse_regimen

    text = ds.attrs.get("regimen", "")
    try:
        reg = parse_regimen(text)
    except Exception:  # a regimen without a text form: measure from time 0
        return 0.0
    t_end = float(ds["time"].values[-1])
    starts = [float(e.time) for e in reg.events if float(e.time) <= t_end]
    return max(starts) if starts else 0.0


def _resolution_time(t: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """Per row, the time after which ``margin`` (> 0 = criterion violated) stays <= 0.

    Linear interpolation of the crossing; ``-inf`` if never violated, ``+inf``
    if still violated at the last time.
    """
    viol = margin > 0
    n, m = margin.shape
    out = np.full(n, -np.inf)
    any_v = viol.any(axis=1)
    last = m - 1 - np.argmax(viol[:, ::-1], axis=1)
    for i in np.flatnonzero(any_v):
        k = last[i]
        if k == m - 1:
            out[i] = np.inf
            continue
        a, b = margin[i, k], margin[i, k + 1]
        out[i] = t[k] + (t[k + 1] - t[k]) * (a / (a - b) if a != b else 1.0)
    return out


def monitoring_window(res: xr.Dataset, criteria: str | Mapping[str, float] = "label", *,
                      baseline_sbp: float | None = None, baseline_dbp: float | None = None) -> pd.DataFrame:
    """Time after the (last) dose when every discharge criterion is met and stays met, per subject.

    Parameters
    ----------
    res : xarray.Dataset
        A :func:`ketasim.simulate` result holding the variables the criteria
        need (``sedation``, ``dissociation``, ``delta_SBP``, ``delta_DBP``,
        ``delta_HR``); simulate on a fine grid (e.g. 1-2 min) for to-the-minute
        windows — crossings are interpolated linearly between output times.
    criteria : "label" or dict
        ``"label"``: :data:`LABEL_CRITERIA` (at least 2 h; MOAA/S back to 5;
        dissociation below the 'present' threshold; SBP rise < 40 and DBP rise
        < 25 mmHg; SBP < 180 and DBP < 110 mmHg where the baseline is known).
        A dict uses only the keys it gives (see :data:`CRITERIA_KEYS`), e.g.
        ``dict(ks.LABEL_CRITERIA, delta_sbp_max=20)``.
    baseline_sbp, baseline_dbp : float, optional
        Resting pressures (mmHg) for the absolute criteria; default the
        result's ``baseline_sbp`` / ``baseline_dbp`` coordinates.

    Returns
    -------
    pandas.DataFrame
        One row per subject: ``window_h`` (h after the last dose; ``inf`` if a
        criterion is still unmet at the end of the simulation), ``set_by`` (the
        criterion that decides it), and ``<criterion>_h`` for each criterion
        (when it is met for good, h after the dose; 0 if never violated).
        ``.attrs["distribution"]`` summarises ``window_h`` over subjects,
        ``.attrs["notes"]`` lists criteria that could not be applied.

    Examples
    --------
    >>> import numpy as np, ketasim as ks
    >>> res = ks.simulate("84 mg esketamine intranasal", ks.Subject(age=68, baseline_sbp=135),
    ...                   np.arange(0, 6, 1 / 60), outputs=["delta_SBP", "delta_DBP", "sedation", "dissociation"])
    >>> w = ks.monitoring_window(res)
    >>> bool(w["window_h"].iloc[0] >= 2.0), w["set_by"].iloc[0]
    (True, 'minimum observation')
    """
    if not isinstance(res, xr.Dataset):
        raise InputError(f"res must be a ketasim.simulate result (xarray.Dataset); got {type(res).__name__}.")
    crit = _criteria(criteria)
    t = np.asarray(res["time"].values, float)
    t0 = _last_dose_time(res)
    n = res.sizes["subject"]
    notes: list[str] = []
    base = {}
    for key, given in (("SBP", baseline_sbp), ("DBP", baseline_dbp)):
        name = f"baseline_{key.lower()}"
        if given is not None:
            base[key] = np.full(n, check_baseline(name, given))
        elif name in res.coords:
            base[key] = np.asarray(res[name].values, float)
    cols: dict[str, np.ndarray] = {}
    for key, limit in crit.items():
        var, kind, _ = CRITERIA_KEYS[key]
        if kind == "floor":
            continue
        if var in ("SBP", "DBP"):
            dvar = f"delta_{var}"
            if var not in base or dvar not in res:
                notes.append(f"{key} not applied: needs baseline_{var.lower()} and {dvar} in the result.")
                continue
            values = res[dvar].values + base[var][:, None]
            ok = np.isfinite(base[var])
            if not ok.all():
                notes.append(f"{key} not applied to {int((~ok).sum())} subject(s) without baseline_{var.lower()}.")
            values = np.where(ok[:, None], values, -np.inf)
        else:
            if var not in res:
                raise InputError(f"monitoring_window needs {var!r} in the result for criterion {key!r}; simulate with "
                                 f"outputs=[..., {var!r}] (safety outputs: {', '.join(SAFETY_OUTPUTS)}).")
            values = res[var].values
        margin = (limit - values) if kind == "min" else (values - limit)
        sel = t >= t0
        r = _resolution_time(t[sel], margin[:, sel])
        cols[f"{key}_h"] = np.where(np.isneginf(r), 0.0, r - t0)
    floor = crit.get("min_hours", 0.0)
    names = list(cols)
    mat = np.column_stack([cols[c] for c in names]) if names else np.zeros((n, 0))
    latest = mat.max(axis=1) if names else np.zeros(n)
    window = np.maximum(latest, floor)
    set_by = []
    for i in range(n):
        if names and latest[i] >= floor and latest[i] > 0:
            key = names[int(np.argmax(mat[i]))][:-2]
            set_by.append(_CRITERION_LABEL[key])
        else:
            set_by.append("minimum observation" if floor > 0 else "none (no criterion violated)")
    df = pd.DataFrame({"window_h": window, "set_by": set_by, **cols},
                      index=pd.Index(res["subject"].values, name="subject"))
    df.attrs["criteria"] = crit
    df.attrs["dose_time_h"] = t0
    df.attrs["notes"] = notes
    df.attrs["distribution"] = window_distribution(df)
    return df


def window_distribution(df: pd.DataFrame, *, over: float | None = None) -> dict[str, float]:
    """Population summary of monitoring windows: median, 5th/95th percentiles, mean, share over ``over`` h.

    ``over`` defaults to the criteria's ``min_hours`` (the share that must stay longer than the minimum).
    """
    w = np.asarray(df["window_h"], float)
    crit = df.attrs.get("criteria", {})
    over = float(crit.get("min_hours", 2.0)) if over is None else float(over)
    fin = w[np.isfinite(w)]
    q = np.percentile(fin, [5, 50, 95]) if fin.size else [np.nan] * 3
    return {"n": int(w.size), "median_h": float(q[1]), "p05_h": float(q[0]), "p95_h": float(q[2]),
            "mean_h": float(fin.mean()) if fin.size else float("nan"),
            "share_over_h": over, "share_over": float(np.mean(w > over + 1e-9)),
            "share_unresolved": float(np.mean(~np.isfinite(w)))}


# ------------------------------------------------------------------------------------------- populations

def _wilson(k: int, n: int, conf: float) -> tuple[float, float]:
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + conf / 2))
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, c - h), min(1.0, c + h)


def share_exceeding(res: xr.Dataset, variable: str, threshold: float, *, below: bool = False,
                    confidence: float = 0.95) -> dict[str, float]:
    """Share of subjects whose peak of ``variable`` reaches ``threshold`` (or whose minimum falls to it).

    ``variable`` is any result variable, or ``"SBP"`` / ``"DBP"`` (baseline +
    rise; needs the baseline coordinates). ``below=True`` counts minima <=
    threshold (e.g. ``sedation``, MOAA/S <= 3). The interval is Wilson's for
    the simulated sample size: it covers Monte-Carlo error only, not
    uncertainty in the model's parameters.

    Examples
    --------
    >>> import numpy as np, ketasim as ks
    >>> pop = ks.with_safety_variability(ks.sample_population(200, np.random.default_rng(1)), np.random.default_rng(2))
    >>> res = ks.simulate("84 mg esketamine intranasal", pop, np.arange(0, 4, 1 / 30), outputs=["delta_SBP"])
    >>> s = ks.share_exceeding(res, "delta_SBP", 40)
    >>> 0 <= s["low"] <= s["share"] <= s["high"] <= 1
    True
    """
    if not 0 < confidence < 1:
        raise InputError(f"confidence must be between 0 and 1; got {confidence!r}.")
    if variable in ("SBP", "DBP"):
        dv, bn = f"delta_{variable}", f"baseline_{variable.lower()}"
        if dv not in res or bn not in res.coords:
            raise InputError(f"{variable} needs {dv} in the result and a {bn} for every subject "
                             "(Subject(baseline_sbp=...) or with_safety_variability(..., baseline_sbp=(mean, sd))).")
        values = res[dv].values + res[bn].values[:, None]
    else:
        if variable not in res:
            raise unknown("variable", variable, [*res.data_vars, "SBP", "DBP"])
        values = res[variable].values
    thr = float(threshold)
    hit = (values.min(axis=1) <= thr) if below else (values.max(axis=1) >= thr)
    n, k = int(hit.size), int(hit.sum())
    lo, hi = _wilson(k, n, confidence)
    lo, hi = (0.0 if k == 0 else lo), (1.0 if k == n else hi)
    return {"variable": variable, "threshold": thr, "below": bool(below), "n": n, "count": k,
            "share": k / n, "low": lo, "high": hi, "confidence": confidence}


# ---------------------------------------------------------------------------------------------- extremes

@lru_cache(maxsize=1)
def forensic_reference() -> dict:
    """Published recreational, anaesthetic and post-mortem concentration bands with the caveat text."""
    return _data("forensic.yaml")


def exposure_extremes(res: xr.Dataset) -> dict[str, Any]:
    """Peak plasma ketamine of a result against the published concentration bands.

    ``res`` must hold ``C_plasma_ketamine`` (S + R, ng/mL). Returns the peak
    (median and range over subjects), each band with the share of subjects
    whose peak reaches its low and high ends, the emergency note and the
    caveat that the model does not predict death.
    """
    if "C_plasma_ketamine" not in res:
        raise InputError("exposure_extremes needs C_plasma_ketamine in the result; simulate with "
                         "outputs=[..., 'C_plasma_ketamine'].")
    c = res["C_plasma_ketamine"].values
    t = res["time"].values
    peak = c.max(axis=1)
    ref = forensic_reference()
    bands = []
    for b in ref["bands"]:
        bands.append({**{k: b[k] for k in ("id", "label", "low", "high", "matrix", "tag", "source")},
                      "share_reaching_low": float(np.mean(peak >= b["low"])),
                      "share_reaching_high": float(np.mean(peak >= b["high"]))})
    return {"Cmax_ng_per_mL": {"median": float(np.median(peak)), "min": float(peak.min()), "max": float(peak.max())},
            "tmax_h": float(np.median(t[c.argmax(axis=1)])),
            "hours_above_1200": float(np.median(((c >= 1200) * np.gradient(t)[None, :]).sum(axis=1))),
            "bands": bands, "emergency_note": " ".join(ref["emergency_note"].split()),
            "caveat": " ".join(ref["caveat"].split())}


# ----------------------------------------------------------------------------------------------- summary

_SUMMARY_OUTPUTS = ("delta_SBP", "delta_DBP", "delta_HR", "sedation", "dissociation", "C_plasma_ketamine")


def safety_summary(regimen, subject, *, criteria: str | Mapping[str, float] = "label", end_h: float | None = None,
                   step_h: float = 1.0 / 60.0, baseline_dbp: float | None = None,
                   parameters=None) -> dict[str, Any]:
    """Peaks (value and time), the monitoring window and the exposure comparison for one subject.

    ``end_h`` defaults to 8 h after the end of the last dose. Used by
    ``ketasim safety`` and the report; every number is JSON-serialisable.

    Examples
    --------
    >>> import ketasim as ks
    >>> s = safety_summary("84 mg esketamine intranasal", ks.Subject(age=68, baseline_sbp=135))
    >>> s["monitoring_window"]["window_h"] >= 2.0
    True
    """
    from .population import Subject
    from .regimen_text import parse_regimen

    reg = parse_regimen(regimen) if isinstance(regimen, str) else regimen
    if not isinstance(subject, Subject):
        raise InputError(f"subject must be a ketasim.Subject; got {type(subject).__name__}.")
    if subject.baseline_sbp is not None:
        check_baseline("baseline_sbp", subject.baseline_sbp)
    if baseline_dbp is not None:
        check_baseline("baseline_dbp", baseline_dbp)
        if subject.baseline_sbp is not None and baseline_dbp >= subject.baseline_sbp:
            raise InputError(f"baseline_dbp must be below baseline_sbp; got {baseline_dbp:g} / {subject.baseline_sbp:g} "
                             "mmHg. Are systolic and diastolic swapped?")
    crit = _criteria(criteria)
    last_end = max(float(e.time + e.duration) for e in reg.events)
    end = last_end + 8.0 if end_h is None else float(end_h)
    if not step_h > 0 or not end > 0:
        raise InputError(f"end and step must be > 0 h; got end {end:g} h, step {step_h:g} h.")
    npts = int(math.floor(end / step_h + 1e-9)) + 1
    if npts > 200_000:
        raise InputError(f"end/step gives {npts} time points; at most 200000 are allowed. Use a larger step.")
    t = np.arange(npts) * step_h
    from .simulate import simulate

    res = simulate(reg, subject, t, outputs=list(_SUMMARY_OUTPUTS), parameters=parameters)
    peaks = {}
    for v in _SUMMARY_OUTPUTS:
        x = res[v].values[0]
        i = int(np.argmin(x)) if v == "sedation" else int(np.argmax(x))
        peaks[v] = {"value": float(x[i]), "time_h": float(t[i]), "units": res[v].attrs.get("units", ""),
                    "kind": "minimum" if v == "sedation" else "maximum"}
    if subject.baseline_sbp is not None:
        peaks["SBP"] = {"value": subject.baseline_sbp + peaks["delta_SBP"]["value"],
                        "time_h": peaks["delta_SBP"]["time_h"], "units": "mmHg", "kind": "maximum"}
    if baseline_dbp is not None:
        peaks["DBP"] = {"value": baseline_dbp + peaks["delta_DBP"]["value"],
                        "time_h": peaks["delta_DBP"]["time_h"], "units": "mmHg", "kind": "maximum"}
    w = monitoring_window(res, crit, baseline_dbp=baseline_dbp)
    row = w.iloc[0]
    window = {"window_h": float(row["window_h"]), "set_by": str(row["set_by"]),
              "after_dose_at_h": float(w.attrs["dose_time_h"]),
              "criteria": {k: float(v) for k, v in crit.items()},
              "met_at_h": {c[:-2]: float(row[c]) for c in w.columns if c.endswith("_h") and c != "window_h"},
              "notes": list(w.attrs["notes"])}
    return {"regimen": reg.to_text(), "parameter_sets": res.attrs.get("parameter_sets", ""),
            "subject": {"age": subject.age, "weight": subject.weight, "sex": subject.sex,
                        "baseline_sbp": subject.baseline_sbp, "baseline_dbp": baseline_dbp},
            "end_h": float(t[-1]), "step_h": float(step_h), "peaks": peaks, "monitoring_window": window,
            "exposure": exposure_extremes(res)}


def arm_safety_table(arms: Mapping[str, Any], population, *, criteria: str | Mapping[str, float] = "label",
                     first_hours: float = 24.0, step_h: float = 2.0 / 60.0, parameters=None) -> pd.DataFrame:
    """Per-arm acute-safety summary of the first day of each regimen (for reports).

    For each arm (name -> regimen), the doses within ``first_hours`` of the
    first dose are simulated (plus 8 h) and summarised over the population:
    peak SBP rise (median, 5th-95th percentile), share with an SBP rise >= 40
    mmHg (Wilson 95% interval), lowest MOAA/S (median), share sedated (MOAA/S
    < 4.5), peak dissociation (median) and the monitoring window after the
    last dose of that day (median, 5th-95th percentile, share longer than the
    criteria's minimum). Give the population safety variability with
    :func:`with_safety_variability` for realistic spreads.
    """
    from .dosing import Regimen
    from .regimen_text import parse_regimen
    from .simulate import simulate

    pop = as_population(population)
    rows = []
    for name, regimen in arms.items():
        reg = parse_regimen(regimen) if isinstance(regimen, str) else regimen
        t0 = min(float(e.time) for e in reg.events)
        day = Regimen(tuple(e for e in reg.events if float(e.time) < t0 + first_hours))
        end = max(float(e.time + e.duration) for e in day.events) + 8.0
        t = np.arange(0.0, end + 1e-9, step_h)
        res = simulate(day, pop, t, outputs=list(SAFETY_OUTPUTS), parameters=parameters)
        sbp = res["delta_SBP"].max("time").values
        sed = res["sedation"].min("time").values
        w = monitoring_window(res, criteria)
        dist = w.attrs["distribution"]
        s40 = share_exceeding(res, "delta_SBP", 40)
        rows.append({"arm": name, "doses_first_day": len(day.events),
                     "peak_dSBP_median": float(np.median(sbp)), "peak_dSBP_p05": float(np.percentile(sbp, 5)),
                     "peak_dSBP_p95": float(np.percentile(sbp, 95)),
                     "share_dSBP_ge_40": s40["share"], "share_dSBP_ge_40_low": s40["low"],
                     "share_dSBP_ge_40_high": s40["high"],
                     "min_MOAAS_median": float(np.median(sed)), "share_sedated": float(np.mean(sed < 4.5)),
                     "peak_dissociation_median": float(np.median(res["dissociation"].max("time").values)),
                     "window_h_median": dist["median_h"], "window_h_p05": dist["p05_h"],
                     "window_h_p95": dist["p95_h"], "share_window_over_min": dist["share_over"]})
    return pd.DataFrame(rows).set_index("arm")

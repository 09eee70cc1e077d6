"""The flagship job: therapeutic ketamine versus recreational and dependent use.

``ketasim run`` (and ``make run``) simulates the four arms of :data:`FLAGSHIP`
in one sampled adult population and writes, into one folder:

``flagship.nc``
    One compressed NetCDF file (xarray, h5netcdf engine): full time series for
    the first 50 subjects of every arm (float32; dims ``arm x subject_sample x
    time``), population quantile bands over time (``arm x quantile x time``) and
    per-subject summary metrics for every subject (``arm x subject``), with
    units and provenance (ketasim version, scenario text and its sha256,
    parameter sets with their citations and every parameter's source, seed).
``summary.csv``
    Tidy per-arm summary: ``arm, metric, unit, median, p05, p95``.
``report.html``
    A self-contained report (see :mod:`ketasim.report`).
``figures/*.png``
    The report's figures.

At this stage only the PK layer exists, so the flagship stops at plasma and
effect-site concentrations; later layers (receptor occupancy, circuit and
dopamine, outcomes) will extend it.

Summary metrics (all from plasma ketamine = S + R unless named otherwise),
computed on the output grid (default every 10 min):

- ``Cmax`` of ketamine and of norketamine over the whole period (ng/mL);
- ``Tmax_first``: time of the ketamine peak within the first dosing occasion,
  from the first dose to the start of the second occasion (an occasion is a run
  of doses less than :data:`OCCASION_GAP_H` apart, e.g. one evening's four
  insufflations);
- ``AUC``: area under the plasma ketamine curve over the whole period by the
  trapezoid rule on the output grid (ng*h/mL), and ``Cavg`` = AUC / period;
- hours per week above 50 ng/mL and above 1200 ng/mL (see :data:`THRESHOLDS`),
  with linear interpolation between grid points.

Examples
--------
>>> [a.name for a in FLAGSHIP.arms]
['iv-depression', 'esketamine', 'recreational-weekend', 'dependent-daily']
"""

from __future__ import annotations

import hashlib
import json
import os
import time as _time
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from . import __version__
from .errors import InputError
from .parameters import ParameterSet, get_parameter_set
from .population import Population, sample_population
from .simulate import simulate
from .units import to_hours

__all__ = [
    "Arm",
    "Scenario",
    "Threshold",
    "FLAGSHIP",
    "THRESHOLDS",
    "OUTPUTS",
    "QUANTILES",
    "METRICS",
    "ANCHORS",
    "OCCASION_GAP_H",
    "FlagshipResult",
    "load_scenario",
    "run_flagship",
    "print_summary",
]


# ---------------------------------------------------------------------------
# the scenario, as data
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Arm:
    """One arm: a regimen in the text form, what it stands for, and where it comes from."""

    name: str
    regimen: str
    description: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        for f in ("name", "regimen"):
            v = getattr(self, f)
            if not isinstance(v, str) or not v.strip():
                raise InputError(f"arm {f} must be a non-empty string; got {v!r}.")
        for f in ("description", "source"):
            if not isinstance(getattr(self, f), str):
                raise InputError(f"arm {f} must be a string; got {getattr(self, f)!r}.")


@dataclass(frozen=True, slots=True)
class Scenario:
    """A benefit-risk scenario: arms simulated in one sampled population.

    ``end`` and ``step`` are durations (``"28 d"``, ``"10 min"``, or hours as a
    number); ``n`` subjects are drawn with ``numpy.random.default_rng(seed)``
    by :func:`ketasim.population.sample_population`, and every arm uses the
    same subjects.
    """

    name: str
    arms: tuple[Arm, ...]
    end: str = "28 d"
    step: str = "10 min"
    n: int = 1000
    seed: int = 1
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError(f"name must be a non-empty string; got {self.name!r}.")
        if not self.arms:
            raise InputError("arms must list at least one arm; got none. Add an [[arms]] table with name and regimen.")
        names = [a.name for a in self.arms]
        dup = sorted({x for x in names if names.count(x) > 1})
        if dup:
            raise InputError(f"arm names must be unique; got {dup[0]!r} more than once.")
        for f in ("n", "seed"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise InputError(f"population.{f} must be a whole number; got {v!r}.")
        if self.n < 1:
            raise InputError(f"population.n must be >= 1; got {self.n}.")
        if self.seed < 0:
            raise InputError(f"population.seed must be >= 0; got {self.seed}.")
        if self.end_h <= 0:
            raise InputError(f"end must be > 0 h; got {self.end!r}.")
        if not 0 < self.step_h <= self.end_h:
            raise InputError(f"step must be > 0 and <= end ({self.end!r}); got {self.step!r}.")

    @property
    def end_h(self) -> float:
        return to_hours(self.end, "end")

    @property
    def step_h(self) -> float:
        return to_hours(self.step, "step")

    def times(self) -> np.ndarray:
        """The output grid in hours, 0 to ``end`` inclusive."""
        k = int(round(self.end_h / self.step_h))
        if not np.isclose(k * self.step_h, self.end_h, rtol=0, atol=1e-9):
            raise InputError(f"end ({self.end!r}) must be a whole number of steps ({self.step!r}).")
        return np.arange(k + 1) * self.step_h

    def to_dict(self) -> dict[str, Any]:
        """The scenario as the TOML document's data (``tomllib.loads(s.to_toml()) == s.to_dict()``)."""
        doc: dict[str, Any] = {"name": self.name}
        if self.description:
            doc["description"] = self.description
        doc["end"] = self.end
        doc["step"] = self.step
        doc["population"] = {"n": int(self.n), "seed": int(self.seed)}
        doc["arms"] = []
        for a in self.arms:
            d = {"name": a.name, "regimen": a.regimen}
            if a.description:
                d["description"] = a.description
            if a.source:
                d["source"] = a.source
            doc["arms"].append(d)
        return doc

    def to_toml(self) -> str:
        """The scenario in the scenario-file format (TOML)."""
        doc = self.to_dict()
        q = lambda s: json.dumps(s, ensure_ascii=False)  # noqa: E731 - JSON strings are TOML basic strings
        lines = [f"name = {q(doc['name'])}"]
        if "description" in doc:
            lines.append(f"description = {q(doc['description'])}")
        lines += [f"end = {q(doc['end'])}", f"step = {q(doc['step'])}", "", "[population]",
                  f"n = {doc['population']['n']}", f"seed = {doc['population']['seed']}"]
        for a in doc["arms"]:
            lines += ["", "[[arms]]"] + [f"{k} = {q(v)}" for k, v in a.items()]
        return "\n".join(lines) + "\n"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_toml().encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], where: str = "scenario") -> "Scenario":
        """Build from the data of a scenario file; errors name the file and field."""
        if not isinstance(doc, Mapping):
            raise InputError(f"{where}: the top level must be a table; got {type(doc).__name__}.")
        allowed = {"name", "description", "end", "step", "population", "arms"}
        _no_extra(doc, allowed, where, "")
        pop = doc.get("population", {})
        if not isinstance(pop, Mapping):
            raise InputError(f"{where}: population must be a table with n and seed; got {pop!r}.")
        _no_extra(pop, {"n", "seed"}, where, "population.")
        arms_doc = doc.get("arms")
        if not isinstance(arms_doc, list) or not arms_doc:
            raise InputError(f"{where}: arms must be a non-empty array of tables ([[arms]] with name and regimen).")
        arms = []
        for i, a in enumerate(arms_doc):
            w = f"arms[{i}]"
            if not isinstance(a, Mapping):
                raise InputError(f"{where}: {w} must be a table with name and regimen; got {a!r}.")
            _no_extra(a, {"name", "regimen", "description", "source"}, where, f"{w}.")
            if "regimen" not in a:
                raise InputError(f"{where}: {w}.regimen is missing; give regimen text such as "
                                 "\"0.5 mg/kg iv over 40 min twice weekly for 4 weeks\".")
            try:
                arms.append(Arm(name=a.get("name", a["regimen"]), regimen=a["regimen"],
                                description=a.get("description", ""), source=a.get("source", "")))
            except InputError as exc:
                raise InputError(f"{where}: {w}: {exc}") from None
        kw = {k: doc[k] for k in ("end", "step", "description") if k in doc}
        kw.update({k: pop[k] for k in ("n", "seed") if k in pop})
        if "name" not in doc:
            raise InputError(f"{where}: name is missing; give the scenario a name, e.g. name = \"benefit-risk\".")
        try:
            return cls(name=doc["name"], arms=tuple(arms), **kw)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None


def _no_extra(doc: Mapping[str, Any], allowed: set[str], where: str, prefix: str) -> None:
    from .errors import suggest

    for k in doc:
        if k not in allowed:
            raise InputError(
                f"{where}: {prefix}{k} is not a field the flagship runner understands yet; allowed: "
                f"{', '.join(sorted(allowed))}.{suggest(k, allowed)}"
            )


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Load a scenario file (TOML) such as ``examples/benefit-risk.toml``.

    Only the fields of :data:`FLAGSHIP` are understood at this stage (name,
    description, end, step, population n and seed, arms with name, regimen,
    description, source); anything else is an error rather than silently
    ignored.
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"scenario file {str(p)!r} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"scenario file {str(p)!r} is not valid TOML: {exc}.") from None
    return Scenario.from_dict(doc, where=str(p))


#: The embedded default scenario; ``examples/benefit-risk.toml`` holds the same data.
FLAGSHIP = Scenario(
    name="benefit-risk",
    description=(
        "Flagship benefit-risk comparison: therapeutic ketamine (IV racemic for depression; "
        "esketamine nasal spray per the SPRAVATO label) versus recreational weekend insufflation "
        "and dependent daily insufflation, in the same 1,000 sampled adults over 4 weeks."
    ),
    end="28 d",
    step="10 min",
    n=1000,
    seed=1,
    arms=(
        Arm(
            name="iv-depression",
            regimen="0.5 mg/kg iv over 40 min twice weekly for 4 weeks",
            description=(
                "Off-label racemic ketamine for depression: the standard antidepressant infusion, "
                "0.5 mg/kg IV over 40 min, given twice weekly (every 3.5 d) for 4 weeks, 8 infusions."
            ),
            source=(
                "Dose and infusion time: reference/clinical_context.csv iv_depression_regimen [V] (Fava M et al. "
                "2018/2020 Mol Psychiatry 25:1592-1603; Murrough et al. 2013 Am J Psychiatry). The twice-weekly "
                "frequency is a modelling choice mirroring the esketamine induction schedule; no twice-weekly "
                "IV trial is in the reference tables."
            ),
        ),
        Arm(
            name="esketamine",
            regimen=(
                "56 mg esketamine intranasal twice weekly for 1 week, "
                "then 84 mg esketamine intranasal twice weekly for 3 weeks"
            ),
            description=(
                "Esketamine nasal spray (SPRAVATO) induction for treatment-resistant depression: "
                "56 mg twice in week 1, then 84 mg twice weekly in weeks 2-4, 8 sessions."
            ),
            source=(
                "SPRAVATO label, adults under 65, weeks 1-4: 56 mg on day 1, then 56 or 84 mg twice a week "
                "(reference/clinical_context.csv spravato_dosing_trd_induction_under65 [V]; spravatohcp.com, "
                "MIMS HK, RxList). The 84 mg step from week 2 is one label-permitted choice (61% used 84 mg in "
                "SUSTAIN-2, clinical_context.csv sustain2_dose_distribution [V])."
            ),
        ),
        Arm(
            name="recreational-weekend",
            regimen="(100 mg insufflated every 30 min x 4) weekly for 4 weeks",
            description=(
                "Recreational weekend use: one evening a week, four insufflated 'lines' of 100 mg racemic "
                "ketamine 30 min apart (400 mg per occasion), for 4 weeks."
            ),
            source=(
                "Per-line dose within the 'strong' nasal band of 60-125 mg (reference/use_patterns.csv "
                "per_occasion_dose_nasal_strong; Erowid and Drugs-Forum 2007) - grey literature [U], not checked "
                "against a peer-reviewed source. The redosing interval, number of lines and weekly frequency are "
                "modelling assumptions."
            ),
        ),
        Arm(
            name="dependent-daily",
            regimen="(250 mg insufflated every 90 min x 12) daily for 4 weeks",
            description=(
                "Dependent daily use: twelve insufflations of 250 mg every 90 min over the waking day, every "
                "day for 4 weeks (3 g/day)."
            ),
            source=(
                "Mean daily dose before admission 3.4 g/day (SD 2.7) and 75.4% using daily in dependent "
                "inpatients, Guangzhou, n = 187: Fan N et al. 2015 Shanghai Arch Psychiatry 27(3):186-194 [V] "
                "(reference/use_patterns.csv). The split into 12 doses every 90 min is a modelling assumption."
            ),
        ),
    ),
)


# ---------------------------------------------------------------------------
# what is computed
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Threshold:
    """A plasma ketamine concentration of reference, with its source."""

    value: float  # ng/mL
    label: str
    source: str


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold(50.0, "DUID psychomotor-impairment threshold",
              "Andresen-Streichert et al. 2022, DUID literature as stated there (physchem.csv "
              "conc_effect_DUID_psychomotor_impairment_threshold [S])"),
    Threshold(1200.0, "lower end of general-anaesthesia concentrations (1200-2400 ng/mL)",
              "Zanos et al. 2018 Pharmacol Rev Table 1 (physchem.csv conc_effect_general_anaesthesia_range_low [S])"),
)

#: Variables simulated for every subject.
OUTPUTS: tuple[str, ...] = ("C_plasma_ketamine", "C_plasma_norketamine", "C_effect_ketamine")

#: Population quantiles kept over time.
QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)

#: Doses closer than this (h) belong to one occasion (session).
OCCASION_GAP_H = 6.0

#: Subjects per arm whose full time series are kept.
N_SERIES = 50

#: Per-subject metrics: name -> (unit, long name).
METRICS: dict[str, tuple[str, str]] = {
    "Cmax_ketamine": ("ng/mL", "peak plasma ketamine (S + R) over the whole period"),
    "Cmax_norketamine": ("ng/mL", "peak plasma norketamine over the whole period"),
    "Tmax_first_ketamine": ("h", "time of the plasma ketamine peak in the first dosing occasion, after the first dose"),
    "AUC_ketamine": ("ng*h/mL", "area under the plasma ketamine curve over the whole period (trapezoid rule on the output grid)"),
    "Cavg_ketamine": ("ng/mL", "average plasma ketamine over the whole period (AUC / period)"),
    "h_per_week_above_50": ("h/week", "hours per week with plasma ketamine above 50 ng/mL (DUID psychomotor-impairment threshold)"),
    "h_per_week_above_1200": ("h/week", "hours per week with plasma ketamine above 1200 ng/mL (lower end of general anaesthesia)"),
}

#: Published values the flagship's numbers can be held against: (arm, metric, value, unit, what, source).
ANCHORS: tuple[tuple[str, str, float, str, str, str], ...] = (
    ("iv-depression", "Cmax_ketamine", 185.0, "ng/mL",
     "plasma Cmax after 0.5 mg/kg IV over 40 min",
     "Zanos et al. 2018 Pharmacol Rev Table 1 citing Zarate 2006 (pkpd_effects.csv; antidepressant.csv) [S]"),
    ("esketamine", "Cmax_ketamine", 101.0, "ng/mL",
     "typical-value Cmax of esketamine after 84 mg nasal spray (model-predicted, not observed)",
     "Perez-Ruixo et al. 2021 Clin Pharmacokinet Table 4 via nlmixr2lib (pk_observations_calibration.csv VP26e) [C]"),
)


# ---------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FlagshipResult:
    """What :func:`run_flagship` computed (or what :meth:`load` read back).

    ``dataset`` is the content of ``flagship.nc``; ``summary`` that of
    ``summary.csv`` (columns ``arm, metric, unit, median, p05, p95``).
    """

    dataset: xr.Dataset
    summary: pd.DataFrame
    out_dir: Path | None = None
    elapsed_s: float | None = field(default=None, compare=False)

    @classmethod
    def load(cls, out_dir: str | os.PathLike) -> "FlagshipResult":
        """Read saved results (``flagship.nc`` and ``summary.csv``) without recomputing."""
        from .report.html import read_results

        ds, summary = read_results(out_dir)
        return cls(ds, summary, Path(out_dir))

    @property
    def scenario(self) -> Scenario:
        return Scenario.from_dict(tomllib.loads(self.dataset.attrs["scenario"]))

    @property
    def arms(self) -> list[str]:
        return [str(a) for a in self.dataset["arm"].values]

    def table(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{arm: {metric: {"unit", "median", "p05", "p95"}}}``."""
        out: dict[str, dict[str, dict[str, Any]]] = {a: {} for a in self.arms}
        for row in self.summary.itertuples(index=False):
            out[str(row.arm)][str(row.metric)] = {"unit": str(row.unit), "median": float(row.median),
                                                  "p05": float(row.p05), "p95": float(row.p95)}
        return out

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: the scenario's identity, the files and the per-arm summary."""
        a = self.dataset.attrs
        files = {}
        if self.out_dir is not None:
            files = {k: str(Path(self.out_dir) / v) for k, v in
                     (("netcdf", "flagship.nc"), ("summary", "summary.csv"), ("report", "report.html"))}
        return {
            "scenario": self.scenario.name,
            "scenario_sha256": a["scenario_sha256"],
            "ketasim_version": a["ketasim_version"],
            "n_subjects": int(a["n_subjects"]),
            "seed": int(a["seed"]),
            "parameter_sets": a["parameter_sets"].split(", "),
            "files": files,
            "summary": self.table(),
        }


# ---------------------------------------------------------------------------
# computation
# ---------------------------------------------------------------------------
def _time_above(c: np.ndarray, t: np.ndarray, thr: float) -> np.ndarray:
    """Hours above ``thr`` with linear interpolation between grid points (rows = subjects)."""
    a, b = c[:, :-1], c[:, 1:]
    dt = np.diff(t)
    ua, ub = a > thr, b > thr
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(ua & ub, 1.0,
                        np.where(ua & ~ub, (a - thr) / (a - b),
                                 np.where(~ua & ub, (b - thr) / (b - a), 0.0)))
    return (frac * dt).sum(axis=1)


def _first_occasion_end(dose_times: Sequence[float], end: float) -> float:
    ts = sorted(dose_times)
    for prev, nxt in zip(ts, ts[1:]):
        if nxt - prev >= OCCASION_GAP_H:
            return nxt
    return end


def _subject_metrics(t: np.ndarray, ck: np.ndarray, cnk: np.ndarray, t0: float, t_first_end: float) -> dict[str, np.ndarray]:
    period = t[-1] - t[0]
    weeks = period / 168.0
    win = (t >= t0) & (t <= t_first_end)
    tw = t[win]
    auc = np.trapezoid(ck, t, axis=1)
    out = {
        "Cmax_ketamine": ck.max(axis=1),
        "Cmax_norketamine": cnk.max(axis=1),
        "Tmax_first_ketamine": tw[np.argmax(ck[:, win], axis=1)] - t0,
        "AUC_ketamine": auc,
        "Cavg_ketamine": auc / period,
    }
    for thr in THRESHOLDS:
        out[f"h_per_week_above_{thr.value:g}"] = _time_above(ck, t, thr.value) / weeks
    return out


def _quantile_bands(full: np.ndarray, block: int = 512) -> np.ndarray:
    q = np.asarray(QUANTILES)
    out = np.empty((q.size, full.shape[1]), np.float32)
    for j in range(0, full.shape[1], block):
        out[:, j:j + block] = np.quantile(full[:, j:j + block].astype(np.float64), q, axis=0)
    return out


def _unit(p) -> str:
    base = {"volume": "L", "flow": "L/h", "rate": "1/h", "time": "h", "amount": "mg",
            "concentration": "ng/mL", "dimensionless": "fraction"}.get(p.kind, p.unit)
    return base + ("/kg" if p.per_kg else "")


def _provenance(sets: Mapping[str, ParameterSet], routes_by_set: Mapping[str, set[str]]) -> list[dict[str, Any]]:
    out = []
    for sid, ps in sets.items():
        params = [{
            "name": p.name, "value": float(p.value), "unit": _unit(p), "as_published": p.original,
            "iiv": float(p.iiv), "tag": p.tag, "source": p.source, "note": p.note,
        } for p in ps.params.values()]
        routes = []
        for r in sorted(routes_by_set.get(sid, ())):
            spec = ps.routes.get(r, {})
            routes.append({"route": r, "borrowed": bool(spec.get("borrowed", False)),
                           "source": str(spec.get("source", "") or ("the set's own model" if not spec.get("borrowed") else "")),
                           "note": str(spec.get("note", "") or "")})
        out.append({"id": sid, "title": ps.title, "citation": ps.citation, "doi": ps.doi,
                    "population": ps.population, "notes": list(ps.notes), "parameters": params, "routes": routes})
    return out


def _resolve_sets(ids: Sequence[str], override: str | ParameterSet | None) -> dict[str, ParameterSet]:
    if isinstance(override, ParameterSet):
        return {override.id: override}
    return {sid: get_parameter_set(sid) for sid in ids}


def _simulate_scenario(sc: Scenario, *, parameters, chunk_size: int, progress) -> xr.Dataset:
    from .regimen_text import parse_regimen

    t = sc.times()
    nt = t.size
    pop: Population = sample_population(sc.n, np.random.default_rng(sc.seed))
    ns = min(N_SERIES, sc.n)
    chunks = [slice(i, min(i + chunk_size, sc.n)) for i in range(0, sc.n, chunk_size)]
    n_arms = len(sc.arms)

    series = {o: np.zeros((n_arms, ns, nt), np.float32) for o in OUTPUTS}
    bands = {o: np.zeros((n_arms, len(QUANTILES), nt), np.float32) for o in OUTPUTS}
    metrics = {m: np.zeros((n_arms, sc.n)) for m in METRICS}
    arm_sets: list[list[str]] = []
    routes_by_set: dict[str, set[str]] = {}
    units: dict[str, tuple[str, str]] = {}
    task = progress.add_task("simulating", total=n_arms * len(chunks)) if progress is not None else None

    for i, arm in enumerate(sc.arms):
        try:
            reg = parse_regimen(arm.regimen)
        except InputError as exc:
            raise InputError(f"arms[{i}] ({arm.name!r}) regimen: {exc}") from None
        dose_times = [e.time for e in reg.events]
        t0 = min(dose_times) if dose_times else 0.0
        t_first_end = _first_occasion_end(dose_times, float(t[-1]))
        full = {o: np.empty((sc.n, nt), np.float32) for o in OUTPUTS}
        sets_here: list[str] = []
        for sl in chunks:
            if progress is not None:
                progress.update(task, description=f"{arm.name} (subjects {sl.start + 1}-{sl.stop})")
            res = simulate(reg, pop.take(sl), t, parameters=parameters, outputs=list(OUTPUTS), scenario=sc.name)
            for sid in res.attrs["parameter_sets"].split(", "):
                if sid not in sets_here:
                    sets_here.append(sid)
            c = {o: np.maximum(res[o].values, 0.0) for o in OUTPUTS}  # round-off negatives (~1e-13) -> 0
            for o in OUTPUTS:
                units[o] = (res[o].attrs["units"], res[o].attrs["long_name"])
                full[o][sl] = c[o]
            lo, hi = sl.start, min(sl.stop, ns)
            if lo < hi:
                for o in OUTPUTS:
                    series[o][i, lo:hi] = c[o][: hi - lo]
            for m, v in _subject_metrics(t, c["C_plasma_ketamine"], c["C_plasma_norketamine"], t0, t_first_end).items():
                metrics[m][i, sl] = v
            del res, c
            if progress is not None:
                progress.advance(task)
        for o in OUTPUTS:
            bands[o][i] = _quantile_bands(full[o])
        del full
        arm_sets.append(sets_here)
        for sid in sets_here:
            routes_by_set.setdefault(sid, set()).update(reg.routes)

    all_ids = list(dict.fromkeys(s for ss in arm_sets for s in ss))
    sets = _resolve_sets(all_ids, parameters)
    prov = _provenance(sets, routes_by_set)

    coords = {
        "arm": ("arm", [a.name for a in sc.arms]),
        "time": ("time", t, {"units": "h", "long_name": "time after the start of the regimen"}),
        "quantile": ("quantile", np.asarray(QUANTILES), {"long_name": "population quantile"}),
        "subject": ("subject", np.asarray(pop.ids), {"long_name": "subject id (the same subjects in every arm)"}),
        "subject_sample": ("subject_sample", np.asarray(pop.ids[:ns]),
                           {"long_name": f"the first {ns} subjects, whose full time series are kept"}),
        "weight": ("subject", np.asarray(pop.covariates["weight"], float), {"units": "kg"}),
        "age": ("subject", np.asarray(pop.covariates["age"], float), {"units": "years"}),
        "sex": ("subject", np.asarray(pop.covariates["sex"]).astype(str), {"units": ""}),
    }
    data_vars: dict[str, Any] = {}
    for o in OUTPUTS:
        u, ln = units[o]
        data_vars[o] = (("arm", "subject_sample", "time"), series[o], {"units": u, "long_name": ln})
        data_vars[f"{o}_quantiles"] = (("arm", "quantile", "time"), bands[o],
                                       {"units": u, "long_name": f"{ln}: population quantiles over all subjects"})
    for m, (u, ln) in METRICS.items():
        data_vars[m] = (("arm", "subject"), metrics[m], {"units": u, "long_name": ln})
    data_vars["regimen"] = (("arm",), [a.regimen for a in sc.arms], {"long_name": "regimen text"})
    data_vars["arm_parameter_sets"] = (("arm",), [", ".join(s) for s in arm_sets],
                                       {"long_name": "parameter sets used by the arm's subjects"})
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs.update({
        "title": f"ketasim flagship: {sc.name}",
        "ketasim_version": __version__,
        "layers": "pk",
        "circuit": "",
        "scenario": sc.to_toml(),
        "scenario_format": "toml",
        "scenario_sha256": sc.sha256,
        "seed": int(sc.seed),
        "n_subjects": int(sc.n),
        "n_series_subjects": int(ns),
        "population": ("sample_population(n, numpy.random.default_rng(seed)): adult weight log-normal, median 70 kg, "
                       "geometric SD 20%; age uniform 18-65 y; 50% female (modelling assumptions, "
                       "ketasim.population); the same subjects in every arm"),
        "parameter_sets": ", ".join(all_ids),
        "citations": " | ".join(f"{sid}: {sets[sid].citation}" for sid in sets),
        "provenance": json.dumps(prov, ensure_ascii=False),
        "thresholds": json.dumps([{"value": th.value, "units": "ng/mL", "label": th.label, "source": th.source}
                                  for th in THRESHOLDS], ensure_ascii=False),
        "anchors": json.dumps([dict(zip(("arm", "metric", "value", "units", "what", "source"), a)) for a in ANCHORS],
                              ensure_ascii=False),
        "metric_notes": (f"Computed on the output grid (step {sc.step}). Cmax over the whole period; Tmax_first within "
                         f"the first dosing occasion (doses < {OCCASION_GAP_H:g} h apart form one occasion); AUC by the "
                         "trapezoid rule; time above a threshold with linear interpolation between grid points. "
                         "Round-off negatives (|C| ~ 1e-13 ng/mL) are set to 0."),
    })
    return ds


def _summary_frame(ds: xr.Dataset) -> pd.DataFrame:
    rows = []
    for i, arm in enumerate(ds["arm"].values):
        for m, (u, _) in METRICS.items():
            v = ds[m].values[i]
            p05, med, p95 = np.quantile(v, [0.05, 0.5, 0.95])
            rows.append({"arm": str(arm), "metric": m, "unit": u, "median": float(med),
                         "p05": float(p05), "p95": float(p95)})
    return pd.DataFrame(rows, columns=["arm", "metric", "unit", "median", "p05", "p95"])


def _netcdf_encoding(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    enc = {}
    for name, v in ds.data_vars.items():
        if v.dtype.kind == "f":
            enc[name] = {"zlib": True, "complevel": 4, "shuffle": True}
            if v.ndim == 3:
                enc[name]["chunksizes"] = tuple(min(s, c) for s, c in zip(v.shape, (1, 50, 4096)))
    return enc


def _require_h5py() -> None:
    from .errors import KetasimError

    try:
        import h5py  # noqa: F401 - the HDF5 backend of h5netcdf
    except ImportError:
        raise KetasimError("writing flagship.nc needs the h5py package (the HDF5 backend of h5netcdf); "
                           "install it with `pip install h5py`.") from None


def save_results(result_ds: xr.Dataset, summary: pd.DataFrame, out_dir: Path) -> None:
    """Write ``flagship.nc`` and ``summary.csv`` atomically."""
    from .report.html import write_atomic as _write_atomic

    _require_h5py()
    _write_atomic(out_dir / "flagship.nc",
                  lambda p: result_ds.to_netcdf(p, engine="h5netcdf", encoding=_netcdf_encoding(result_ds)))
    _write_atomic(out_dir / "summary.csv", lambda p: summary.to_csv(p, index=False, lineterminator="\n"))


def run_flagship(out_dir: str | os.PathLike, *, scenario_path: str | os.PathLike | None = None,
                 n: int | None = None, seed: int | None = None, end: str | float | None = None,
                 step: str | float | None = None, parameters: str | ParameterSet | None = None,
                 chunk_size: int = 250, quiet: bool = False, progress: bool = True,
                 report: bool = True) -> FlagshipResult:
    """Run the flagship scenario (or a scenario file) and write results, report and figures.

    Parameters
    ----------
    out_dir : path
        Folder for ``flagship.nc``, ``summary.csv``, ``report.html`` and
        ``figures/`` (created if needed; files are replaced atomically).
    scenario_path : path, optional
        A scenario file (TOML, see ``examples/benefit-risk.toml``); default
        the embedded :data:`FLAGSHIP`.
    n, seed : int, optional
        Override the scenario's population size and seed (default 1000 and 1).
    end, step : str or float, optional
        Override the simulated period and output grid (``"3 d"``, ``"10 min"``).
    parameters : str or ParameterSet, optional
        One parameter set for every arm; default: the documented default set
        per arm and subject (:func:`ketasim.simulate.default_parameter_set`).
    chunk_size : int
        Subjects simulated at once (bounds memory; results do not depend on it).
    quiet : bool
        No progress bar. ``progress=False`` does the same.
    report : bool
        Also write ``report.html`` and ``figures/*.png``.

    Returns
    -------
    FlagshipResult
    """
    t_start = _time.perf_counter()
    sc = load_scenario(scenario_path) if scenario_path is not None else FLAGSHIP
    changes: dict[str, Any] = {}
    if n is not None:
        changes["n"] = n
    if seed is not None:
        changes["seed"] = seed
    if end is not None:
        changes["end"] = end if isinstance(end, str) else f"{float(end):g} h"
    if step is not None:
        changes["step"] = step if isinstance(step, str) else f"{float(step):g} h"
    if changes:
        sc = replace(sc, **changes)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise InputError(f"chunk_size must be a whole number >= 1; got {chunk_size!r}.")
    out = Path(out_dir)
    _require_h5py()  # fail before computing, not after

    show = progress and not quiet
    if show:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        with bar:
            ds = _simulate_scenario(sc, parameters=parameters, chunk_size=int(chunk_size), progress=bar)
    else:
        ds = _simulate_scenario(sc, parameters=parameters, chunk_size=int(chunk_size), progress=None)
    summary = _summary_frame(ds)
    save_results(ds, summary, out)
    result = FlagshipResult(ds, summary, out)
    if report:
        from .report import write_figures
        from .report.html import render_report

        figs = write_figures(result, out / "figures")
        render_report(result, out / "report.html", figures=figs)
    return replace(result, elapsed_s=_time.perf_counter() - t_start)


# ---------------------------------------------------------------------------
# terminal
# ---------------------------------------------------------------------------
def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    ax = abs(x)
    if ax >= 10_000:
        return f"{x / 1000:.0f}k"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.2g}"


def _cell(d: Mapping[str, float]) -> str:
    return f"{_fmt(d['median'])}\n[{_fmt(d['p05'])}-{_fmt(d['p95'])}]"


def print_summary(result: FlagshipResult, console=None) -> None:
    """Print a concise table of the per-arm summary (median [5-95%]) with rich."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    tab = result.table()
    attrs = result.dataset.attrs
    t = Table(title=f"{attrs['title'].split(': ', 1)[-1]}: plasma ketamine, n = {attrs['n_subjects']} per arm, "
                    f"seed {attrs['seed']}", caption="median [5-95% of subjects]; PK layer only", box=box.SIMPLE_HEAD)
    t.add_column("arm", style="bold", no_wrap=True)
    for head in ("Cmax\nng/mL", "> 50 ng/mL\nh/week", "> 1200 ng/mL\nh/week", "AUC\nng*h/mL"):
        t.add_column(head, justify="right", no_wrap=True)
    for arm, m in tab.items():
        t.add_row(arm, *(_cell(m[k]) for k in ("Cmax_ketamine", "h_per_week_above_50", "h_per_week_above_1200",
                                               "AUC_ketamine")))
    console.print(t)

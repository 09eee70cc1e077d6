"""Run a scenario: arms in one sampled population, chunked, written atomically.

:func:`run_scenario` simulates every arm of a :class:`~ketasim.scenario.Scenario`
for the same sampled subjects and writes, into one folder:

``flagship.nc``
    One compressed NetCDF file (xarray, h5netcdf engine): full time series for
    the first ``outputs.series_subjects`` (default 50) subjects of every arm
    (float32; dims ``arm x subject_sample x time``), population quantile bands
    over time (``arm x quantile x time``, float32) and per-subject summary
    metrics for every subject (``arm x subject``), with units and provenance
    (ketasim version, scenario text as run and its sha256, parameter sets with
    their citations and every parameter's source, circuit variant, seed).
``summary.csv``
    Tidy per-arm summary: ``arm, metric, unit, median, p05, p95``.
``report.html`` (and ``report.pdf`` if the scenario asks), ``figures/*.png``
    See :mod:`ketasim.report`.

Which variables are simulated: the scenario's ``outputs.variables`` if given,
else the plasma/effect-site PK variables the report needs plus every
variable :func:`ketasim.simulate` offers by default beyond the PK layer
(receptor occupancy, circuit, dopamine, outcomes, as those layers land).

Summary metrics (plasma ketamine = S + R unless named otherwise), on the
output grid: ``Cmax`` of ketamine and norketamine; ``Tmax_first`` (time of the
ketamine peak in the first dosing occasion: doses less than
:data:`OCCASION_GAP_H` apart); ``AUC`` (trapezoid rule) and ``Cavg`` =
AUC / period; hours per week above each of :data:`THRESHOLDS` (linear
interpolation between grid points); and for every variable beyond the PK
layer ``peak_<var>`` (maximum over the period) and, for outcome variables,
``final_<var>`` (value at the end).

Same scenario and seed, same numbers, whatever the chunk size: every random
number is drawn up front by :func:`ketasim.population.sample_population`.
"""

from __future__ import annotations

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
from .provenance import layer_provenance, parameter_set_provenance
from .scenario import Scenario
from .run_metrics import (ANCHORS, METRICS, N_SERIES, OCCASION_GAP_H, OUTPUTS, QUANTILES, THRESHOLDS, Threshold,
                          _quantile_bands, _subject_metrics, first_occasion_end)
from .simulate import simulate

__all__ = ["Threshold", "THRESHOLDS", "OUTPUTS", "QUANTILES", "METRICS", "ANCHORS", "OCCASION_GAP_H", "N_SERIES",
           "RunResult", "run_scenario", "simulate_scenario", "sample_scenario_population", "save_results", "print_summary",
           "RESULTS_FILE", "SUMMARY_FILE"]

RESULTS_FILE = "flagship.nc"
SUMMARY_FILE = "summary.csv"


_PK_PREFIXES = ("C_", "A_")


# ---------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RunResult:
    """What :func:`run_scenario` computed (or what :meth:`load` read back).

    ``dataset`` is the content of ``flagship.nc``; ``summary`` that of
    ``summary.csv`` (columns ``arm, metric, unit, median, p05, p95``).
    """

    dataset: xr.Dataset
    summary: pd.DataFrame
    out_dir: Path | None = None
    elapsed_s: float | None = field(default=None, compare=False)

    @classmethod
    def load(cls, out_dir: str | os.PathLike) -> "RunResult":
        """Read saved results (``flagship.nc`` and ``summary.csv``) without recomputing."""
        from .report.html import read_results

        ds, summary = read_results(out_dir)
        return cls(ds, summary, Path(out_dir))

    @property
    def scenario(self) -> Scenario:
        return Scenario.from_dict(tomllib.loads(self.dataset.attrs["scenario"]), where="scenario attribute")

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
        """A JSON-ready dict: the scenario's identity, the files and the per-arm summary (NaN as null)."""
        a = self.dataset.attrs
        files = {}
        if self.out_dir is not None:
            files = {k: str(Path(self.out_dir) / v) for k, v in
                     (("netcdf", RESULTS_FILE), ("summary", SUMMARY_FILE), ("report", "report.html"))}
            if (Path(self.out_dir) / "report.pdf").is_file():
                files["pdf"] = str(Path(self.out_dir) / "report.pdf")
        summ = {arm: {m: {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in d.items()}
                      for m, d in ms.items()} for arm, ms in self.table().items()}
        return {
            "scenario": tomllib.loads(a["scenario"])["name"],
            "scenario_sha256": a["scenario_sha256"],
            "ketasim_version": a["ketasim_version"],
            "n_subjects": int(a["n_subjects"]),
            "seed": int(a["seed"]),
            "circuit": a.get("circuit", ""),
            "parameter_sets": a["parameter_sets"].split(", "),
            "files": files,
            "summary": summ,
        }


# ---------------------------------------------------------------------------
# population
# ---------------------------------------------------------------------------
def sample_scenario_population(sc: Scenario) -> Population:
    """The scenario's subjects, drawn up front from ``numpy.random.default_rng(seed)``.

    Default covariates draw exactly as :func:`ketasim.population.sample_population`;
    log-normal ``{median, gsd}`` weights, fixed values and uniform ``{low, high}``
    ages are passed to it. With ``population.variability = false`` the subjects
    are typical (no random effects: ``eta`` is None). Normal ``{mean, sd}`` covariates are drawn afterwards
    from ``default_rng([seed, 1])`` and clipped to the plausible range.
    """
    from types import MappingProxyType

    p = sc.population
    weight = age = None
    normal: dict[str, dict[str, float]] = {}
    if p.weight is not None:
        if isinstance(p.weight, (str, int, float)):
            weight = (float(_kg(p.weight)), 0.0)
        elif p.weight.kind == "lognormal":
            c = p.weight.canonical("mass", "population.weight")
            weight = (c["median"], c["gsd"])
        else:
            normal["weight"] = p.weight.canonical("mass", "population.weight")
    if p.age is not None:
        if isinstance(p.age, (str, int, float)):
            a = float(p.age) if not isinstance(p.age, str) else float(p.age.split()[0])
            age = (a, a)
        elif p.age.kind == "uniform":
            c = p.age.canonical("years", "population.age")
            age = (c["low"], c["high"])
        else:
            normal["age"] = p.age.canonical("years", "population.age")
    pop = sample_population(p.n, np.random.default_rng(p.seed), p.parameters, weight=weight, age=age,
                            female_fraction=p.female_fraction, species=p.species)
    if not p.variability:
        pop = replace(pop, eta=None)  # typical subjects
    if not normal:
        return pop
    rng2 = np.random.default_rng([p.seed, 1])
    cov = dict(pop.covariates)
    limits = {"weight": (0.02, 400.0), "age": (0.0, 120.0)}
    for k in ("weight", "age"):
        if k in normal:
            c = normal[k]
            if "mean" in c:
                cov[k] = np.clip(c["mean"] + c["sd"] * rng2.standard_normal(p.n), *limits[k])
            else:
                cov[k] = np.clip(c["median"] * np.exp(c["gsd"] * rng2.standard_normal(p.n)), *limits[k])
    return replace(pop, covariates=MappingProxyType(cov))


def _kg(v) -> float:
    from .units import to_kg

    return to_kg(v, "population.weight")


# ---------------------------------------------------------------------------
# the computation
# ---------------------------------------------------------------------------
def _circuit(sc: Scenario) -> str | list[str] | None:
    c = sc.model.circuit
    return None if c == "best" else [x.strip() for x in c.split("+")]


def _sim(reg, pop, t, *, parameters, outputs=None, circuit=None, scenario: str = ""):
    """simulate(), passing ``circuit`` only when a variant is chosen (so a PK-only simulate() still works)."""
    kw = {"circuit": circuit} if circuit is not None else {}
    if outputs is not None:
        kw["outputs"] = outputs
    return simulate(reg, pop, t, parameters=parameters, scenario=scenario, **kw)


def _offered(reg, pop1: Population, t: np.ndarray, parameters, requested: Sequence[str] | None,
             circuit=None) -> dict[str, tuple]:
    """Variables to simulate for an arm: name -> (units, long_name, layer)."""
    probe_t = t[: min(t.size, 3)]
    out: dict[str, tuple] = {}
    if requested is not None:
        res = _sim(reg, pop1, probe_t, parameters=parameters, outputs=list(requested), circuit=circuit)
    else:
        res = _sim(reg, pop1, probe_t, parameters=parameters, circuit=circuit)
        pk = [o for o in OUTPUTS if o in res.data_vars]
        missing = [o for o in OUTPUTS if o not in res.data_vars]
        if missing:  # effect-site ketamine is not a default output of every set
            try:
                extra = _sim(reg, pop1, probe_t, parameters=parameters, outputs=missing, circuit=circuit)
                pk += [o for o in missing if o in extra.data_vars]
            except InputError:
                pass
        keep = pk + [v for v in res.data_vars if not str(v).startswith(_PK_PREFIXES)]
        res = _sim(reg, pop1, probe_t, parameters=parameters, outputs=keep, circuit=circuit)
    for v in res.data_vars:
        if res[v].dims == ("subject", "time"):
            layer = res[v].attrs.get("layer", "pk" if str(v).startswith(_PK_PREFIXES) else _guess_layer(str(v)))
            out[str(v)] = (res[v].attrs.get("units", ""), res[v].attrs.get("long_name", str(v)), layer)
    return out


def _guess_layer(name: str) -> str:
    n = name.lower()
    if n.startswith("occupancy") or n.startswith("ro_"):
        return "receptors"
    if "dopamine" in n or n.startswith("da_") or "_da" in n:
        return "dopamine"
    if n.startswith("rate_") or "circuit" in n:
        return "circuit"
    return "outcomes"


def _metric_defs(variables: Mapping[str, tuple]) -> dict[str, tuple[str, str]]:
    defs = dict(METRICS)
    for v, (u, ln, layer) in variables.items():
        if layer == "pk":
            continue
        defs[f"peak_{v}"] = (u, f"peak of {ln} over the whole period")
        if layer not in ("receptors", "circuit", "dopamine"):  # outcomes: the state at the end matters too
            defs[f"final_{v}"] = (u, f"{ln} at the end of the period")
    return defs


def _simulate_scenario(sc: Scenario, *, parameters, chunk_size: int, progress) -> xr.Dataset:
    t = sc.times()
    nt = t.size
    pop = sample_scenario_population(sc)
    n = pop.n
    ns = min(sc.outputs.series_subjects, n)
    quantiles = tuple(sc.outputs.quantiles)
    chunks = [slice(i, min(i + chunk_size, n)) for i in range(0, n, chunk_size)]
    n_arms = len(sc.arms)
    regs = []
    for i, arm in enumerate(sc.arms):
        try:
            regs.append(arm.to_regimen())
        except InputError as exc:
            raise InputError(f"arms[{i}] ({arm.name!r}) regimen: {exc}") from None
    circuit = _circuit(sc)
    circuit_used = ""
    arm_params = [parameters if parameters is not None else (arm.parameters or sc.population.parameters)
                  for arm in sc.arms]

    # which variables: the union over arms (an arm whose set lacks one gets NaN)
    variables: dict[str, tuple] = {}
    per_arm_vars = []
    for i, (arm, reg) in enumerate(zip(sc.arms, regs)):
        try:
            offered = _offered(reg, pop.take(slice(0, 1)), t, arm_params[i], sc.outputs.variables, circuit)
        except InputError as exc:
            raise InputError(f"arms[{i}] ({arm.name!r}): {exc}") from None
        per_arm_vars.append(offered)
        for k, v in offered.items():
            variables.setdefault(k, v)
    if "C_plasma_ketamine" not in variables:
        raise InputError("outputs.variables must include C_plasma_ketamine (the summary metrics and report use it).")
    metric_defs = _metric_defs(variables)
    if sc.outputs.summaries is not None:
        bad = [m for m in sc.outputs.summaries if m not in metric_defs]
        if bad:
            from .errors import unknown

            raise unknown("outputs.summaries", bad[0], list(metric_defs))
        metric_defs = {m: metric_defs[m] for m in metric_defs if m in sc.outputs.summaries}

    names = list(variables)
    series = {o: np.full((n_arms, ns, nt), np.nan, np.float32) for o in names}
    bands = {o: np.full((n_arms, len(quantiles), nt), np.nan, np.float32) for o in names}
    metrics = {m: np.full((n_arms, n), np.nan) for m in metric_defs}
    arm_sets: list[list[str]] = []
    routes_by_set: dict[str, set[str]] = {}
    task = progress.add_task("simulating", total=n_arms * len(chunks)) if progress is not None else None

    for i, (arm, reg) in enumerate(zip(sc.arms, regs)):
        here = list(per_arm_vars[i])
        dose_times = [e.time for e in reg.events]
        t0 = min(dose_times) if dose_times else 0.0
        t_first_end = first_occasion_end(dose_times, float(t[-1]))
        full = {o: np.empty((n, nt), np.float32) for o in here}
        sets_here: list[str] = []
        for sl in chunks:
            if progress is not None:
                progress.update(task, description=f"{arm.name[:40]} (subjects {sl.start + 1}-{sl.stop})")
            try:
                res = _sim(reg, pop.take(sl), t, parameters=arm_params[i], outputs=here, circuit=circuit,
                           scenario=sc.name)
            except InputError as exc:
                raise InputError(f"arms[{i}] ({arm.name!r}): {exc}") from None
            circuit_used = circuit_used or str(res.attrs.get("circuit", ""))
            for sid in res.attrs["parameter_sets"].split(", "):
                if sid not in sets_here:
                    sets_here.append(sid)
            c = {}
            for o in here:
                v = res[o].values
                c[o] = np.maximum(v, 0.0) if o.startswith("C_") else v  # round-off negatives (~1e-13) -> 0
                full[o][sl] = c[o]
            lo, hi = sl.start, min(sl.stop, ns)
            if lo < hi:
                for o in here:
                    series[o][i, lo:hi] = c[o][: hi - lo]
            pk = _subject_metrics(t, c["C_plasma_ketamine"], c.get("C_plasma_norketamine"), t0, t_first_end)
            for m, v in pk.items():
                if m in metrics:
                    metrics[m][i, sl] = v
            for o in here:
                if f"peak_{o}" in metrics:
                    metrics[f"peak_{o}"][i, sl] = np.nanmax(c[o], axis=1)
                if f"final_{o}" in metrics:
                    metrics[f"final_{o}"][i, sl] = c[o][:, -1]
            del res, c
            if progress is not None:
                progress.advance(task)
        for o in here:
            bands[o][i] = _quantile_bands(full[o], quantiles)
        del full
        arm_sets.append(sets_here)
        for sid in sets_here:
            routes_by_set.setdefault(sid, set()).update(reg.routes)

    all_ids = list(dict.fromkeys(s for ss in arm_sets for s in ss))
    sets = {parameters.id: parameters} if isinstance(parameters, ParameterSet) else \
        {sid: get_parameter_set(sid) for sid in all_ids}
    prov = parameter_set_provenance(sets, routes_by_set)

    coords = {
        "arm": ("arm", [a.name for a in sc.arms]),
        "time": ("time", t, {"units": "h", "long_name": "time after the start of the regimen"}),
        "quantile": ("quantile", np.asarray(quantiles), {"long_name": "population quantile"}),
        "subject": ("subject", np.asarray(pop.ids), {"long_name": "subject id (the same subjects in every arm)"}),
        "subject_sample": ("subject_sample", np.asarray(pop.ids[:ns]),
                           {"long_name": f"the first {ns} subjects, whose full time series are kept"}),
        "weight": ("subject", np.asarray(pop.covariates["weight"], float), {"units": "kg"}),
        "age": ("subject", np.asarray(pop.covariates["age"], float), {"units": "years"}),
        "sex": ("subject", np.asarray(pop.covariates["sex"]).astype(str), {"units": ""}),
    }
    data_vars: dict[str, Any] = {}
    for o in names:
        u, ln, layer = variables[o]
        data_vars[o] = (("arm", "subject_sample", "time"), series[o], {"units": u, "long_name": ln, "layer": layer})
        data_vars[f"{o}_quantiles"] = (("arm", "quantile", "time"), bands[o],
                                       {"units": u, "long_name": f"{ln}: population quantiles over all subjects",
                                        "layer": layer})
    for m, (u, ln) in metric_defs.items():
        data_vars[m] = (("arm", "subject"), metrics[m], {"units": u, "long_name": ln})
    data_vars["regimen"] = (("arm",), [a.regimen_text for a in sc.arms], {"long_name": "regimen text"})
    data_vars["arm_parameter_sets"] = (("arm",), [", ".join(s) for s in arm_sets],
                                       {"long_name": "parameter sets used by the arm's subjects"})
    ds = xr.Dataset(data_vars, coords=coords)
    layers = list(dict.fromkeys(["pk"] + [variables[o][2] for o in names]))
    p = sc.population
    ds.attrs.update({
        "title": f"ketasim scenario: {sc.name}",
        "ketasim_version": __version__,
        "layers": ", ".join(layers),
        "circuit": circuit_used,
        "circuit_requested": sc.model.circuit,
        "outcomes": sc.model.outcomes if isinstance(sc.model.outcomes, str) else ", ".join(sc.model.outcomes),
        "scenario": sc.to_toml(),
        "scenario_format": "toml",
        "scenario_sha256": sc.sha256,
        "seed": int(p.seed),
        "species": p.species,
        "n_subjects": int(n),
        "n_series_subjects": int(ns),
        "population": _population_text(sc),
        "parameter_sets": ", ".join(all_ids),
        "citations": " | ".join(f"{sid}: {sets[sid].citation}" for sid in sets),
        "provenance": json.dumps(prov, ensure_ascii=False),
        "provenance_layers": json.dumps(layer_provenance(layers), ensure_ascii=False),
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


def _population_text(sc: Scenario) -> str:
    p = sc.population
    if p.species == "rat":
        w = "weight log-normal, median 0.3 kg, geometric SD 10%; age 0.25 y"
    else:
        w = "weight log-normal, median 70 kg, geometric SD 20%; age uniform over the parameter set's study range " \
            "(default 18-65 y)"
    given = []
    if p.weight is not None:
        given.append(f"weight {p.weight if isinstance(p.weight, (str, int, float)) else p.weight.model_dump(exclude_none=True)}")
    if p.age is not None:
        given.append(f"age {p.age if isinstance(p.age, (str, int, float)) else p.age.model_dump(exclude_none=True)}")
    return (f"{p.species}s drawn with numpy.random.default_rng({p.seed}) by ketasim.population.sample_population: "
            f"{w}; {100 * p.female_fraction:g}% female (modelling assumptions)"
            + ("" if p.variability else "; typical parameter values (no between-subject variability)")
            + (f"; as given in the scenario: {', '.join(given)}" if given else "")
            + "; the same subjects in every arm")


#: Acute-safety columns kept per arm: column of acute_safety.arm_safety_table -> (unit, meaning)
SAFETY_COLUMNS = {
    "doses_first_day": ("doses", "doses in the first 24 h of the regimen (what the safety table covers)"),
    "peak_dSBP_median": ("mmHg", "peak systolic blood-pressure rise, median over subjects"),
    "peak_dSBP_p05": ("mmHg", "peak systolic blood-pressure rise, 5th percentile"),
    "peak_dSBP_p95": ("mmHg", "peak systolic blood-pressure rise, 95th percentile"),
    "share_dSBP_ge_40": ("fraction", "share of subjects with a systolic rise >= 40 mmHg"),
    "share_dSBP_ge_40_low": ("fraction", "95% interval (Wilson), low end, of that share"),
    "share_dSBP_ge_40_high": ("fraction", "95% interval (Wilson), high end, of that share"),
    "min_MOAAS_median": ("MOAA/S", "deepest sedation (lowest MOAA/S-like score, 5 = alert), median"),
    "share_sedated": ("fraction", "share of subjects sedated (MOAA/S-like score < 4.5)"),
    "peak_dissociation_median": ("% of max", "peak dissociation, median"),
    "window_h_median": ("h", "label monitoring window after the last dose of the first day, median"),
    "window_h_p05": ("h", "label monitoring window, 5th percentile"),
    "window_h_p95": ("h", "label monitoring window, 95th percentile"),
    "share_window_over_min": ("fraction", "share of subjects needing longer than the label's 2-h minimum"),
}


def _with_safety(ds: xr.Dataset, sc: Scenario) -> xr.Dataset:
    """Add the acute-safety table of the first day of each arm (``safety_*`` variables over ``arm``).

    Human populations only (the safety layer is calibrated on human data). The same subjects as
    the run, with the safety layer's own between-subject variability drawn from a separate,
    seeded stream, so the run's other numbers do not change.
    """
    from .acute_safety import arm_safety_table, with_safety_variability

    pop = sample_scenario_population(sc)
    if pop.species != "human":
        return ds
    if sc.population.variability:
        pop = with_safety_variability(pop, np.random.default_rng([int(sc.population.seed), 9]))
    regs = {arm.name: arm.to_regimen() for arm in sc.arms}
    table = arm_safety_table(regs, pop, parameters=sc.population.parameters)
    rows = table.loc[[str(a) for a in ds["arm"].values]]
    return ds.assign({f"safety_{col}": xr.DataArray(rows[col].to_numpy(float), dims=("arm",),
                                                    attrs={"units": unit, "long_name": meaning})
                      for col, (unit, meaning) in SAFETY_COLUMNS.items()})


#: How many of the run's subjects (the first ones) the benefit-and-harm table uses (keeps ``make run`` fast).
OUTCOME_SUBJECTS = 100


def _with_outcomes(ds: xr.Dataset, sc: Scenario) -> xr.Dataset:
    """Add per-arm benefit and harm outcomes (``outcome_*`` variables over ``arm``).

    Human populations only. The first :data:`OUTCOME_SUBJECTS` subjects of the run take each
    arm's regimen; the columns and their statistics are :data:`ketasim.compare_patterns.METRICS`
    (population means; "end of use" = the end of the last week with a dose).
    """
    from .compare_patterns import METRICS, pattern_outcomes

    pop = sample_scenario_population(sc)
    if pop.species != "human":
        return ds
    sub = pop.take(np.arange(min(OUTCOME_SUBJECTS, pop.n)))
    vals = {arm.name: pattern_outcomes(arm.to_regimen(), sub, scenario=f"{sc.name} {arm.name}",
                                       parameters=sc.population.parameters, circuit=_circuit(sc))
            for arm in sc.arms}
    out = ds.copy()
    for key, _head, unit, _var, _how, meaning in METRICS:
        out[f"outcome_{key}"] = xr.DataArray([vals[str(a)][key] for a in ds["arm"].values], dims=("arm",),
                                             attrs={"units": unit, "long_name": meaning})
    out.attrs["outcome_subjects"] = int(sub.n)
    return out


def _summary_frame(ds: xr.Dataset) -> pd.DataFrame:
    rows = []
    metric_names = [v for v in ds.data_vars if ds[v].dims == ("arm", "subject")]
    for i, arm in enumerate(ds["arm"].values):
        for m in metric_names:
            v = ds[m].values[i]
            if np.all(np.isnan(v)):
                p05 = med = p95 = np.nan
            else:
                p05, med, p95 = np.nanquantile(v, [0.05, 0.5, 0.95])
            rows.append({"arm": str(arm), "metric": m, "unit": ds[m].attrs["units"], "median": float(med),
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
    _write_atomic(Path(out_dir) / RESULTS_FILE,
                  lambda p: result_ds.to_netcdf(p, engine="h5netcdf", encoding=_netcdf_encoding(result_ds)))
    _write_atomic(Path(out_dir) / SUMMARY_FILE, lambda p: summary.to_csv(p, index=False, lineterminator="\n"))


def run_scenario(scenario: Scenario, out_dir: str | os.PathLike, *, parameters: str | ParameterSet | None = None,
                 chunk_size: int = 250, progress: bool = True, report: bool = True,
                 formats: Sequence[str] | None = None) -> RunResult:
    """Run a scenario and write results, figures and report(s) into ``out_dir``.

    Parameters
    ----------
    scenario : Scenario
        See :mod:`ketasim.scenario` (``ketasim.scenario.load(path)``).
    out_dir : path
        Folder for ``flagship.nc``, ``summary.csv``, ``report.html`` and
        ``figures/`` (created if needed; files are replaced atomically).
    parameters : str or ParameterSet, optional
        One parameter set for every arm, over the scenario's own choice.
    chunk_size : int
        Subjects simulated at once (bounds memory; results do not depend on it).
    progress : bool or progress object
        Show a progress bar (rich, on stderr); or an object with the ``add_task``,
        ``update`` and ``advance`` methods of :class:`rich.progress.Progress` that is
        told of every chunk (the web server's run records use this; an exception it
        raises stops the run).
    report : bool
        Also write figures and the report(s).
    formats : sequence of {"html", "pdf"}, optional
        Report formats; default the scenario's ``report.formats``.
    """
    t_start = _time.perf_counter()
    if not isinstance(scenario, Scenario):
        raise InputError(f"scenario must be a ketasim.scenario.Scenario; got {type(scenario).__name__}.")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise InputError(f"chunk_size must be a whole number >= 1; got {chunk_size!r}.")
    out = Path(out_dir)
    _require_h5py()  # fail before computing, not after
    if progress is not True and progress:
        ds = _simulate_scenario(scenario, parameters=parameters, chunk_size=int(chunk_size), progress=progress)
    elif progress:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        with bar:
            ds = _simulate_scenario(scenario, parameters=parameters, chunk_size=int(chunk_size), progress=bar)
    else:
        ds = _simulate_scenario(scenario, parameters=parameters, chunk_size=int(chunk_size), progress=None)
    ds = _with_outcomes(_with_safety(ds, scenario), scenario)
    summary = _summary_frame(ds)
    save_results(ds, summary, out)
    result = RunResult(ds, summary, out)
    if report:
        from .report import write_reports

        write_reports(result, out, formats=tuple(formats) if formats is not None else scenario.report.formats,
                      figures=scenario.report.figures)
    return replace(result, elapsed_s=_time.perf_counter() - t_start)


def simulate_scenario(scenario: Scenario, *, parameters: str | ParameterSet | None = None,
                      chunk_size: int = 250, tables: bool = True) -> tuple[xr.Dataset, pd.DataFrame]:
    """Simulate a scenario in memory, writing nothing: the results Dataset and its summary table.

    The same numbers as :func:`run_scenario` (same Dataset, acute-safety and benefit-and-harm
    tables included, same ``summary.csv`` rows); used where files are not wanted, e.g. the
    web API. ``tables=False`` leaves out the per-arm acute-safety and benefit-and-harm tables
    (``safety_*``, ``outcome_*``), which cost more than the curves of a few subjects.
    """
    if not isinstance(scenario, Scenario):
        raise InputError(f"scenario must be a ketasim.scenario.Scenario; got {type(scenario).__name__}.")
    ds = _simulate_scenario(scenario, parameters=parameters, chunk_size=int(chunk_size), progress=None)
    if tables:
        ds = _with_outcomes(_with_safety(ds, scenario), scenario)
    return ds, _summary_frame(ds)


from .terminal import print_summary  # noqa: E402  (re-exported: the public name lives here)

"""Scenarios (interventions as TOML) and projections with uncertainty bands.

A scenario file::

    name = "treatment-expansion"
    description = "Treatment entry doubles from 2025."

    [[intervention]]
    target = "treatment_entry"   # initiation | contagion | escalation | quit | treatment_entry |
                                 # treatment_capacity | treatment_success | relapse | uropathy
    factor = 2.0                 # multiplies the target's rates (>= 0)
    start = 2025                 # year the change begins
    ramp = 0                     # optional: years over which it phases in linearly
    end = 2040                   # optional: year it stops
    label = "..."                # optional: what it stands for
    source = "..."               # optional: where the effect size comes from

Projections run the fitted model for every posterior draw stored in the fit, once without and
once with the scenario, so that differences are paired draw by draw; bands are quantiles over
draws (parameter uncertainty of the fitted rates; with ``vary_fixed`` also the plausible ranges
of named fixed rates, sampled log-uniformly - the fit is not redone for those draws).
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import InputError, suggest, unknown
from .data import load_parameter_table
from .fitting import _year_offsets, problem_from_fit
from .model import FLOWS, STATES, TARGETS, Intervention

__all__ = ["Scenario", "load_scenario", "project"]

#: the example scenarios shipped with the package (byte-identical to the repository's examples/epi-*.toml)
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "data" / "epi" / "examples"
_TOP_KEYS = ("name", "description", "intervention")
_IV_KEYS = ("target", "factor", "start", "end", "ramp", "label", "source")
OUTPUTS = ("past_year_users", "dependent", "new_dependence", "new_uropathy", "treatment_entries",
           "excess_deaths", "cognitive_burden")


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named set of interventions."""

    name: str
    description: str
    interventions: tuple[Intervention, ...]
    text: str = ""


def _bad(where: str, msg: str) -> InputError:
    return InputError(f"scenario {where}: {msg}")


def load_scenario(source: str | Path | dict) -> Scenario:
    """Read a scenario from a TOML file, TOML text or a dict; every error names the field.

    Examples
    --------
    >>> sc = load_scenario('name = "x"\\n[[intervention]]\\ntarget = "relapse"\\nfactor = 0.47\\nstart = 2025\\n')
    >>> sc.interventions[0].factor
    0.47
    """
    where = "<dict>"
    text = ""
    if isinstance(source, dict):
        data = source
    else:
        if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source
                                         and source.endswith(".toml")):
            path = Path(source)
            where = str(path)
            if not path.exists():
                shipped = EXAMPLES_DIR / path.name
                where_ex = (f"the example '{path.name}' ships with ketasim at {shipped}" if shipped.exists() else
                            f"the shipped examples are in {EXAMPLES_DIR}: "
                            + ", ".join(sorted(f.name for f in EXAMPLES_DIR.glob('*.toml'))))
                raise FileNotFoundError(f"scenario file {path} does not exist; give a .toml file ({where_ex}).")
            text = path.read_text(encoding="utf-8")
        else:
            where, text = "<text>", str(source)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise _bad(where, f"is not valid TOML ({exc}).") from None
    for k in data:
        if k not in _TOP_KEYS:
            raise _bad(where, f"unknown key {k!r}; expected one of {', '.join(_TOP_KEYS)}."
                       + suggest(k, _TOP_KEYS))
    ivs = data.get("intervention")
    if not ivs or not isinstance(ivs, list):
        raise _bad(where, "needs at least one [[intervention]] table with target, factor and start.")
    out = []
    for i, iv in enumerate(ivs, 1):
        loc = f"{where}, intervention {i}"
        if not isinstance(iv, dict):
            raise _bad(loc, "must be a table ([[intervention]]).")
        for k in iv:
            if k not in _IV_KEYS:
                raise _bad(loc, f"unknown key {k!r}; expected one of {', '.join(_IV_KEYS)}." + suggest(k, _IV_KEYS))
        for k in ("target", "factor", "start"):
            if k not in iv:
                raise _bad(loc, f"missing {k!r} (each intervention needs target, factor and start).")
        if iv["target"] not in TARGETS:
            raise _bad(loc, str(unknown("target", iv["target"], TARGETS)))
        for k in ("factor", "start", "end", "ramp"):
            if k in iv and (isinstance(iv[k], bool) or not isinstance(iv[k], (int, float))):
                raise _bad(loc, f"{k} must be a number; got {iv[k]!r}.")
        if not 1900 <= iv["start"] <= 2100:
            raise _bad(loc, f"start must be a year between 1900 and 2100; got {iv['start']!r}.")
        try:
            out.append(Intervention(target=iv["target"], factor=float(iv["factor"]), start=float(iv["start"]),
                                    end=float(iv["end"]) if "end" in iv else None,
                                    ramp=float(iv.get("ramp", 0.0)), label=str(iv.get("label", "")),
                                    source=str(iv.get("source", ""))))
        except InputError as exc:
            raise _bad(loc, str(exc)) from None
    name = str(data.get("name", Path(where).stem if where.endswith(".toml") else "scenario"))
    return Scenario(name, str(data.get("description", "")), tuple(out), text)


def _parse_years(years) -> np.ndarray:
    if isinstance(years, str):
        parts = years.replace("..", ":").split(":")
        try:
            lo, hi = (int(parts[0]), int(parts[1])) if len(parts) == 2 else (int(parts[0]),) * 2
        except ValueError:
            raise InputError(f"years must look like 2017..2030; got {years!r}.") from None
        return np.arange(lo, hi + 1)
    if isinstance(years, tuple) and len(years) == 2:
        return np.arange(int(years[0]), int(years[1]) + 1)
    return np.asarray(list(years), dtype=int)


def project(fit: xr.Dataset, years="2017..2030", *, scenario: Scenario | str | Path | dict | None = None,
            level: float = 0.95, n_draws: int | None = None, vary_fixed: tuple[str, ...] = (),
            seed: int = 0) -> xr.Dataset:
    """Project a fit over ``years``, optionally with a scenario; bands and paired differences.

    Returns a Dataset over ``arm`` (baseline [, scenario]), ``quantile`` (lower, median, upper),
    ``year`` and ``state``; ``difference_*`` variables hold scenario - baseline per draw,
    summarised by the same quantiles.

    Examples
    --------
    >>> from ketasim.epi.fitting import fit as _fit
    >>> f = _fit("england_wales_16_24_past_year", intervals="laplace", n_starts=1, n_draws=20, n_proposals=60)
    >>> p = project(f, "2024..2026", scenario={"intervention": [
    ...     {"target": "treatment_entry", "factor": 2.0, "start": 2025}]}, n_draws=10)
    >>> p.sizes["arm"], p.sizes["year"]
    (2, 3)
    """
    prob, z_hat, _cov, st = problem_from_fit(fit)
    yrs = _parse_years(years)
    start = prob.start
    if yrs.size == 0 or yrs.min() < start or yrs.max() > 2100:
        raise InputError(
            f"years must lie within {start}..2100 for '{prob.series.name}' (the model starts in {start}); "
            f"got {yrs.min() if yrs.size else '?'}..{yrs.max() if yrs.size else '?'}."
        )
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1); got {level!r}.")
    sc = scenario if isinstance(scenario, Scenario) or scenario is None else load_scenario(scenario)
    table = load_parameter_table()
    for name in vary_fixed:
        if name not in table or name in prob.fitted or name == "treatment_capacity":
            valid = [k for k in table if k not in prob.fitted and k != "treatment_capacity"]
            raise unknown("vary_fixed", name, valid)
    draws = np.log(fit["draws"].values) if "draws" in fit else z_hat[None, :]
    if n_draws is not None:
        draws = draws[:n_draws]
    rng = np.random.default_rng(seed)
    end = int(max(yrs.max(), prob.end_year))
    arms = [("baseline", ())] + ([(sc.name, sc.interventions)] if sc else [])
    nd = draws.shape[0]
    breaks = tuple(t for iv in (sc.interventions if sc else ()) for t in (iv.start, iv.end) if t is not None)
    res = {a: {k: np.empty((nd, yrs.size) + ((len(STATES),) if k == "count" else ()))
               for k in ("count", "series", "prevalence") + FLOWS + ("cognitive_burden",)} for a, _ in arms}
    base_params = prob.base
    offsets = {int(k): v for k, v in st["offsets"].items()}
    for i, z in enumerate(draws):
        if vary_fixed:
            lo = np.array([max(float(table[n]["low"]), 1e-9) for n in vary_fixed])
            hi = np.array([float(table[n]["high"]) for n in vary_fixed])
            vals = np.exp(rng.uniform(np.log(lo), np.log(hi)))
            prob.base = base_params.with_rates(**dict(zip(vary_fixed, vals)))
        for a, ivs in arms:
            tr = prob.trajectory(z, end_year=end, interventions=ivs, breaks=breaks)
            sel = yrs - start
            m = prob.model_scale(tr)
            seg = np.array([sum(y >= f for f, _ in prob.series.spec.segments) for y in tr.years])
            off = np.array([offsets.get(int(k), 0.0) for k in seg])
            r = res[a]
            r["count"][i] = tr.states[sel]
            r["series"][i] = (m * np.exp(off))[sel]
            r["prevalence"][i] = tr.prevalence_percent[sel]
            for f in FLOWS:
                r[f][i] = tr.flow(f)[sel]
            r["cognitive_burden"][i] = (tr.cognitive_fraction * (tr.state("dependent") + tr.state("treatment")))[sel]
    prob.base = base_params
    q = np.array([0.5 - level / 2, 0.5, 0.5 + level / 2])

    def qs(x):
        return np.moveaxis(np.quantile(x, q, axis=0), 0, 0)

    unit = "percent" if prob.series.spec.kind == "prevalence_percent" else "persons"
    data = {
        "count": (("arm", "quantile", "year", "state"), np.stack([qs(res[a]["count"]) for a, _ in arms]),
                  {"units": "persons", "long_name": "persons in each state at mid-year"}),
        "series_value": (("arm", "quantile", "year"), np.stack([qs(res[a]["series"]) for a, _ in arms]),
                         {"units": unit, "long_name": f"model on the scale of {prob.series.name}"}),
        "prevalence_percent": (("arm", "quantile", "year"), np.stack([qs(res[a]["prevalence"]) for a, _ in arms]),
                               {"units": "percent", "long_name": "past-year use prevalence"}),
        "cognitive_burden": (("arm", "quantile", "year"), np.stack([qs(res[a]["cognitive_burden"]) for a, _ in arms]),
                             {"units": "persons", "long_name": "prevalent cognitive impairment (dependent + treated)"}),
    }
    for f in FLOWS:
        data[f] = (("arm", "quantile", "year"), np.stack([qs(res[a][f]) for a, _ in arms]),
                   {"units": "persons/yr", "long_name": f.replace("_", " ") + " per year"})
    if sc:
        b, s = res["baseline"], res[sc.name]
        diffs = {
            "past_year_users": s["count"][..., 1:5].sum(-1) - b["count"][..., 1:5].sum(-1),
            "dependent": s["count"][..., 3] - b["count"][..., 3],
            "new_dependence": s["new_dependence"] - b["new_dependence"],
            "new_uropathy": s["new_uropathy"] - b["new_uropathy"],
            "treatment_entries": s["treatment_entries"] - b["treatment_entries"],
            "excess_deaths": s["excess_deaths"] - b["excess_deaths"],
            "cognitive_burden": s["cognitive_burden"] - b["cognitive_burden"],
        }
        for k, v in diffs.items():
            data[f"difference_{k}"] = (("quantile", "year"), qs(v),
                                       {"units": "persons" if k in ("past_year_users", "dependent",
                                                                      "cognitive_burden") else "persons/yr",
                                        "long_name": f"{sc.name} - baseline: {k.replace('_', ' ')} (paired draws)"})
            data[f"cumulative_difference_{k}"] = (
                ("quantile",), np.quantile(v.sum(axis=1), q),
                {"units": "person-years" if k in ("past_year_users", "dependent", "cognitive_burden") else "persons",
                 "long_name": f"{sc.name} - baseline summed over the projected years"})
    obs = np.full(yrs.size, np.nan)
    fy = fit["observed"].year.values
    for j, y in enumerate(yrs):
        if y in fy:
            obs[j] = float(fit["observed"].sel(year=y))
    data["observed"] = ("year", obs, {"units": unit, "long_name": "observation (if any)"})
    ds = xr.Dataset(data, coords={"arm": [a for a, _ in arms], "quantile": q, "year": yrs, "state": list(STATES)})
    ds.attrs.update({
        "title": f"ketasim epidemiology projection: {prob.series.name}",
        "series": prob.series.name,
        "n_draws": int(nd),
        "band_meaning": (
            f"quantiles {q[0]:.3f}/{q[2]:.3f} over {nd} posterior draws of the fitted rates "
            + (f"and log-uniform draws of {', '.join(vary_fixed)} within their plausible ranges (not refitted)"
               if vary_fixed else "(fixed rates at their table values)")
            + "; no observation noise; structural uncertainty not included."),
        "scenario": sc.name if sc else "",
        "scenario_description": sc.description if sc else "",
        "interventions": json.dumps([{k: getattr(iv, k) for k in _IV_KEYS} for iv in sc.interventions]) if sc else "[]",
        "scenario_toml": sc.text if sc else "",
        "vary_fixed": ",".join(vary_fixed),
        "fit_until": fit.attrs.get("until", ""),
        "linked_rates": fit.attrs.get("linked_rates", "{}"),
    })
    return ds

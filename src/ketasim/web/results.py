"""Results as the API sends them: JSON curves and tables, CSV, NetCDF and the HTML report.

Everything here reads the Dataset that :func:`ketasim.runner.simulate_scenario` returns;
nothing is computed that the runner did not compute.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from ..scenario import Scenario
from .catalog import ui_group

__all__ = ["scenario_cost", "check_cost", "results_json", "curves_csv", "provenance_summary", "provenance_header",
           "CURVE_QUANTILES"]

#: Quantiles of the population sent as curves (a single person has all three equal).
CURVE_QUANTILES = (0.05, 0.5, 0.95)


def scenario_cost(sc: Scenario) -> int:
    """Simulation cost: subjects x time points x arms."""
    return int(sc.population.n) * int(sc.times().size) * len(sc.arms)


def check_cost(sc: Scenario, limit: int, where: str) -> int:
    """The scenario's cost, or :class:`InputError` (answered 422) naming the limit and how to get under it."""
    cost = scenario_cost(sc)
    if cost > limit:
        nt = int(sc.times().size)
        raise CostError(
            f"simulation cost {cost:,} (subjects {sc.population.n:,} x time points {nt:,} x arms {len(sc.arms)}) "
            f"exceeds the limit of {limit:,} for {where}. Use fewer subjects (population.n), a larger step, "
            "a shorter end or fewer arms" + ("; or submit it as a background run (POST /api/runs)"
                                             if where == "POST /api/simulate" else ""), cost=cost, limit=limit)
    return cost


class CostError(InputError):
    """A scenario is too expensive for the endpoint it was sent to."""

    def __init__(self, msg: str, *, cost: int, limit: int) -> None:
        super().__init__(msg)
        self.cost, self.limit = cost, limit


def _num(a: np.ndarray) -> list:
    """A float32 array as a JSON list: 7 significant digits (what float32 holds), NaN/inf as null."""
    flat = np.asarray(a, dtype=np.float64)
    out = []
    for v in flat.tolist():
        out.append(float(f"{v:.7g}") if math.isfinite(v) else None)
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def provenance_summary(ds: xr.Dataset) -> dict[str, Any]:
    """Where the numbers come from: parameter sets with citations, layer parameter files, circuit, seed."""
    a = ds.attrs
    sets = json.loads(a.get("provenance", "[]"))
    layers = json.loads(a.get("provenance_layers", "[]"))
    return {
        "ketasim_version": a.get("ketasim_version"),
        "scenario_sha256": a.get("scenario_sha256"),
        "seed": _jsonable(a.get("seed")),
        "population": a.get("population"),
        "circuit": a.get("circuit", ""),
        "layers": a.get("layers", ""),
        "parameter_sets": [{"id": s["id"], "title": s.get("title", ""), "citation": s.get("citation", ""),
                            "doi": s.get("doi", ""), "routes": s.get("routes", []),
                            "details": f"/api/parameters/{s['id']}"} for s in sets],
        "layer_parameter_files": [{"layer": x["layer"], "file": x["file"], "entries": len(x.get("parameters", []))}
                                  for x in layers],
        "thresholds": json.loads(a.get("thresholds", "[]")),
        "metric_notes": a.get("metric_notes", ""),
    }


def provenance_header(ds: xr.Dataset) -> str:
    """A one-line provenance for the ``X-Ketasim-Provenance`` header (ASCII)."""
    text = (f"scenario sha256 {ds.attrs.get('scenario_sha256', '')}; parameter sets {ds.attrs.get('parameter_sets', '')}; "
            f"circuit {ds.attrs.get('circuit', '') or 'none'}; layers {ds.attrs.get('layers', '')}")
    return text.encode("ascii", "replace").decode("ascii")


def results_json(sc: Scenario, ds: xr.Dataset, summary: pd.DataFrame) -> dict[str, Any]:
    """The body of ``POST /api/simulate``: curves (population quantiles per arm), summary and safety tables."""
    qs = [float(q) for q in ds["quantile"].values]
    idx = [qs.index(q) for q in CURVE_QUANTILES]
    arms = [str(a) for a in ds["arm"].values]
    variables: dict[str, Any] = {}
    for v in ds.data_vars:
        name = str(v)
        if not name.endswith("_quantiles") or ds[v].dims != ("arm", "quantile", "time"):
            continue
        base = name[: -len("_quantiles")]
        da = ds[v].values
        variables[base] = {
            "units": ds[v].attrs.get("units", ""),
            "long_name": ds[base].attrs.get("long_name", base) if base in ds else base,
            "layer": ds[v].attrs.get("layer", ""),
            "group": ui_group(str(ds[v].attrs.get("layer", "")), base),
            "curves": {f"p{round(q * 100):02d}": [_num(da[i, j]) for i in range(len(arms))]
                       for q, j in zip(CURVE_QUANTILES, idx)},
        }
    rows = [{k: _jsonable(r[k]) for k in ("arm", "metric", "unit", "median", "p05", "p95")}
            for r in summary.to_dict("records")]
    metric_names = {str(v): ds[v].attrs.get("long_name", "") for v in ds.data_vars if ds[v].dims == ("arm", "subject")}
    per_arm: dict[str, dict[str, Any]] = {"safety": {}, "outcomes": {}}
    for v in ds.data_vars:
        name = str(v)
        for prefix, key in (("safety_", "safety"), ("outcome_", "outcomes")):
            if name.startswith(prefix) and ds[v].dims == ("arm",) and ds[v].dtype.kind in "fiu":
                per_arm[key][name[len(prefix):]] = {"units": ds[v].attrs.get("units", ""),
                                                    "long_name": ds[v].attrs.get("long_name", ""),
                                                    "values": _num(ds[v].values)}
    return {
        "ketasim_version": ds.attrs.get("ketasim_version"),
        "scenario_sha256": ds.attrs.get("scenario_sha256"),
        "scenario": sc.to_dict(),
        "n_subjects": int(ds.attrs.get("n_subjects", sc.population.n)),
        "arms": arms,
        "regimens": [str(x) for x in ds["regimen"].values],
        "time": {"units": "h", "values": [float(x) for x in ds["time"].values]},
        "quantiles": list(CURVE_QUANTILES),
        "variables": variables,
        "summary": rows,
        "metrics": metric_names,
        "tables": bool(per_arm["safety"] or per_arm["outcomes"]),
        "safety": per_arm["safety"],
        "outcomes": per_arm["outcomes"],
        "outcome_subjects": _jsonable(ds.attrs.get("outcome_subjects")),
        "provenance": provenance_summary(ds),
    }


def curves_csv(ds: xr.Dataset) -> str:
    """Curves as CSV: one row per arm and time; per variable its median and 5th / 95th percentiles."""
    qs = [float(q) for q in ds["quantile"].values]
    t = ds["time"].values
    frames = []
    for i, arm in enumerate(ds["arm"].values):
        cols: dict[str, Any] = {"arm": [str(arm)] * t.size, "time_h": t}
        for v in ds.data_vars:
            name = str(v)
            if not name.endswith("_quantiles") or ds[v].dims != ("arm", "quantile", "time"):
                continue
            base, unit = name[: -len("_quantiles")], ds[v].attrs.get("units", "")
            for q, tag in zip(CURVE_QUANTILES, ("p05", "median", "p95")):
                cols[f"{base}_{tag} [{unit}]"] = ds[v].values[i, qs.index(q)]
        frames.append(pd.DataFrame(cols))
    buf = io.StringIO()
    pd.concat(frames, ignore_index=True).to_csv(buf, index=False, float_format="%.6g", lineterminator="\n")
    return buf.getvalue()


def write_downloads(sc: Scenario, ds: xr.Dataset, summary: pd.DataFrame, out_dir: Path, *, report: bool) -> None:
    """Write ``flagship.nc``, ``summary.csv``, ``curves.csv`` and (optionally) ``report.html``, atomically."""
    from ..output import atomic_write_bytes
    from ..runner import RunResult, save_results

    save_results(ds, summary, out_dir)
    atomic_write_bytes(out_dir / "curves.csv", curves_csv(ds).encode("utf-8"))
    if report:
        from ..report import write_reports

        write_reports(RunResult(ds, summary, out_dir), out_dir, formats=("html",), figures=sc.report.figures)

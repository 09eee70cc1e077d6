"""A single self-contained HTML report of a flagship run.

The page embeds its figures as base64 PNG, carries its own CSS and needs no
JavaScript or network access. It is rendered with Jinja2 (autoescaped) from
the flagship Dataset and summary table only, so rendering from saved results
(``flagship.nc`` + ``summary.csv``) gives the same bytes as rendering directly
after a run.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["read_results", "render_html", "render_report", "write_atomic"]

_NOT_YET = (
    "This run stops at the pharmacokinetic (PK) layer: plasma and effect-site concentrations of ketamine and "
    "norketamine. Receptor occupancy (NMDA and others), the circuit and dopamine layers, and the outcome layers "
    "(antidepressant response, dissociation, drug liking and reinforcement, memory impairment, tolerance, "
    "bladder toxicity, dependence) are not yet built, so this report compares exposure, not benefit or harm. "
    "The thresholds below are concentration landmarks from the literature, not modelled effects."
)


def _not_yet(layers: str) -> str:
    have = {x.strip() for x in layers.split(",")}
    if have <= {"pk"}:
        return _NOT_YET
    missing = [x for x in ("receptors", "circuit", "dopamine", "outcomes") if x not in have]
    if not missing:
        return ""
    return (f"This run includes the layers {', '.join(sorted(have))}; the {', '.join(missing)} layer(s) are not yet "
            "built, so their quantities are not in this report.")


def write_atomic(path: str | os.PathLike, write: Callable[[Path], Any]) -> None:
    """Write via ``write(tmp_path)`` to a temporary file next to ``path``, then ``os.replace`` it."""
    from ..output import atomic_path

    with atomic_path(path) as tmp:
        write(tmp)


def read_results(out_dir: str | os.PathLike) -> tuple[xr.Dataset, pd.DataFrame]:
    """Read ``flagship.nc`` and ``summary.csv`` from a results folder (nothing is recomputed)."""
    from ..errors import InputError

    d = Path(out_dir)
    nc, csv = d / "flagship.nc", d / "summary.csv"
    for p in (nc, csv):
        if not p.is_file():
            raise InputError(f"results folder {str(d)!r} has no {p.name}; run `ketasim run --out {d}` first.")
    ds = xr.load_dataset(nc, engine="h5netcdf")
    summary = pd.read_csv(csv, dtype={"arm": str, "metric": str, "unit": str})
    return ds, summary


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "–"
    if x == 0:
        return "0"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.2g}"


def _value(x: float) -> str:
    return f"{x:.6g}"


def _context(ds: xr.Dataset, summary: pd.DataFrame, figures: Sequence[Any]) -> dict[str, Any]:
    import tomllib

    a = ds.attrs
    scenario = tomllib.loads(a["scenario"])
    arms = [str(x) for x in ds["arm"].values]
    metric_units: dict[str, str] = {}
    cells: dict[str, dict[str, str]] = {arm: {} for arm in arms}
    for r in summary.itertuples(index=False):
        metric_units.setdefault(str(r.metric), str(r.unit))
        cells[str(r.arm)][str(r.metric)] = f"{_fmt(r.median)} [{_fmt(r.p05)}–{_fmt(r.p95)}]"
    metrics = [{"name": m, "unit": u, "long_name": ds[m].attrs.get("long_name", m) if m in ds else m}
               for m, u in metric_units.items()]
    arm_rows = []
    scen_arms = scenario.get("arms", [])
    for i, arm in enumerate(arms):
        sa = scen_arms[i] if i < len(scen_arms) else {}
        arm_rows.append({"name": arm, "regimen": str(ds["regimen"].values[i]), "description": sa.get("description", ""),
                         "source": sa.get("source", ""), "sets": str(ds["arm_parameter_sets"].values[i])})
    w, age = ds["weight"].values, ds["age"].values
    sex = np.asarray(ds["sex"].values).astype(str)
    population = {
        "n": int(a["n_subjects"]), "seed": int(a["seed"]), "text": a["population"],
        "weight": f"{np.median(w):.1f} kg (5–95%: {np.quantile(w, 0.05):.1f}–{np.quantile(w, 0.95):.1f})",
        "age": f"{age.min():.0f}–{age.max():.0f} y (median {np.median(age):.0f})",
        "female": f"{100.0 * np.mean(sex == 'F'):.0f}%",
    }
    t = ds["time"].values
    anchors = []
    summ = {(str(r.arm), str(r.metric)): r for r in summary.itertuples(index=False)}
    for an in json.loads(a.get("anchors", "[]")):
        r = summ.get((an["arm"], an["metric"]))
        if r is None:
            continue
        anchors.append({**an, "value_text": f"{an['value']:g} {an['units']}",
                        "simulated": f"{_fmt(r.median)} [{_fmt(r.p05)}–{_fmt(r.p95)}] {r.unit}",
                        "ratio": f"{r.median / an['value']:.2f}"})
    prov = json.loads(a["provenance"])
    for ps in prov:
        for p in ps["parameters"]:
            p["value_text"] = _value(p["value"])
            p["iiv_text"] = "" if not p["iiv"] else f"{p['iiv']:.3g}"
    safety = [{"name": v[len("safety_"):], "unit": ds[v].attrs.get("units", ""),
               "long_name": ds[v].attrs.get("long_name", v),
               "values": {arm: _fmt(float(x)) for arm, x in zip(arms, ds[v].values)}}
              for v in ds.data_vars if v.startswith("safety_") and ds[v].dims == ("arm",)]
    outcomes = [{"name": v[len("outcome_"):], "unit": ds[v].attrs.get("units", ""),
                 "long_name": ds[v].attrs.get("long_name", v),
                 "values": {arm: _fmt(float(x)) for arm, x in zip(arms, ds[v].values)}}
                for v in ds.data_vars if v.startswith("outcome_") and ds[v].dims == ("arm",)]
    figs = [{"name": f.name, "title": f.title, "caption": f.caption,
             "src": "data:image/png;base64," + base64.b64encode(f.png).decode("ascii")} for f in figures]
    return {
        "safety": safety,
        "outcomes": outcomes,
        "outcome_subjects": int(a.get("outcome_subjects", 0)),
        "title": scenario.get("report", {}).get("title") or f"ketasim — {scenario['name']}",
        "scenario": {"name": scenario["name"], "description": scenario.get("description", "")},
        "scenario_text": a["scenario"],
        "sha256": a["scenario_sha256"],
        "version": a["ketasim_version"],
        "layers": a.get("layers", "pk"),
        "arms": arm_rows,
        "arm_names": arms,
        "population": population,
        "grid": {"end": scenario.get("end", ""), "step": scenario.get("step", ""), "points": int(t.size),
                 "series": int(a["n_series_subjects"])},
        "metrics": metrics,
        "cells": cells,
        "metric_notes": a.get("metric_notes", ""),
        "thresholds": json.loads(a.get("thresholds", "[]")),
        "anchors": anchors,
        "figures": figs,
        "not_yet": _not_yet(a.get("layers", "pk")),
        "circuit": a.get("circuit", ""),
        "provenance": prov,
        "provenance_layers": json.loads(a.get("provenance_layers", "[]")),
        "citations": a.get("citations", ""),
    }


def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("ketasim.report", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render_html(ds: xr.Dataset, summary: pd.DataFrame, figures: Sequence[Any] | None = None) -> str:
    """The report as an HTML string (figures made from ``ds`` unless given)."""
    if figures is None:
        import tomllib

        from .plots import make_figures

        wanted = tomllib.loads(ds.attrs["scenario"]).get("report", {}).get("figures", True)
        figures = make_figures(ds) if wanted else []
    return _environment().get_template("report.html.j2").render(**_context(ds, summary, figures))


def render_report(result_or_dir: Any, path: str | os.PathLike, *, figures: Sequence[Any] | None = None) -> Path:
    """Write the self-contained HTML report of a flagship run to ``path``.

    Parameters
    ----------
    result_or_dir : FlagshipResult or path
        A result of :func:`ketasim.flagship.run_flagship`, or the folder it
        wrote (``flagship.nc`` and ``summary.csv`` are read; nothing is recomputed).
    path : path
        The HTML file to write (atomically).
    figures : list of FigureSpec, optional
        Figures already made from the same results (saves making them twice).
    """
    if isinstance(result_or_dir, (str, os.PathLike)):
        ds, summary = read_results(result_or_dir)
    else:
        ds, summary = result_or_dir.dataset, result_or_dir.summary
    html = render_html(ds, summary, figures)
    out = Path(path)
    write_atomic(out, lambda p: p.write_text(html, encoding="utf-8"))
    return out

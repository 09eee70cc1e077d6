"""Self-contained HTML reports of a parameter sweep and of a global sensitivity analysis.

Like the flagship report (:mod:`ketasim.report.html`): figures embedded as base64
PNG, its own CSS, no JavaScript or network access, rendered with Jinja2
(autoescaped) from the result Dataset alone — so a report rendered from the saved
``sweep.nc`` / ``sensitivity.nc`` is the same as one rendered right after the run —
and written atomically.

* Sweep: a dose-response style figure per metric (median and 5-95% of subjects
  against the first swept field, one line per arm and value of any other field) and
  the table of those numbers.
* Sensitivity: Sobol first-order and total indices as bars with their 95% bootstrap
  intervals, or Morris mu* (with its interval) and sigma as bars plus the mu*-sigma
  plane; the table of indices; the distribution of the output over the samples.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .html import _fmt, write_atomic
from .plots import _DPI, _RC, OKABE_ITO, FigureSpec

__all__ = ["sweep_table", "sweep_figures", "sensitivity_table", "sensitivity_figures", "render_sweep_report",
           "render_sensitivity_report"]

#: Metrics drawn in a sweep report besides the one asked for, when the sweep has them.
SWEEP_HEADLINE = ("Cmax_ketamine", "AUC_ketamine", "peak_occupancy_NMDA", "peak_DA_NAc_pct")


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _new_figure(w: float, h: float) -> Figure:
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(w, h))
    return fig


# ---------------------------------------------------------------------------
# sweep
# ---------------------------------------------------------------------------
def _fields(ds: xr.Dataset) -> list[dict]:
    return json.loads(ds.attrs["sweep"])


def sweep_table(ds: xr.Dataset, metric: str) -> pd.DataFrame:
    """5%, median and 95% of subjects of ``metric`` at every sweep point and arm (one row each)."""
    from ..errors import InputError

    if metric not in ds or ds[metric].dtype.kind != "f":
        raise InputError(f"metric {metric!r} is not a metric of this sweep; choose one of "
                         f"{', '.join(v for v in ds.data_vars if ds[v].dtype.kind == 'f')}.")
    q = ds[metric].quantile([0.05, 0.5, 0.95], dim="subject")
    df = q.to_dataframe().reset_index().pivot_table(index=[d for d in q.dims if d != "quantile"],
                                                    columns="quantile", values=metric, sort=False).reset_index()
    df.columns = [c if not isinstance(c, float) else {0.05: "p05", 0.5: "median", 0.95: "p95"}[c] for c in df.columns]
    for f in _fields(ds):          # paired sweeps: the fields as columns next to the sweep index
        if f["field"] not in df.columns and f["field"] in ds.coords:
            df.insert(1, f["field"], ds[f["field"]].values[df["sweep"].to_numpy(int)])
    return df


def _sweep_figure(ds: xr.Dataset, metric: str) -> FigureSpec:
    fields = [f["field"] for f in _fields(ds)]
    da = ds[metric]
    xdim = "sweep" if "sweep" in da.dims else fields[0]
    xvals = np.asarray(ds[fields[0]].values, float)
    others = [d for d in da.dims if d not in (xdim, "arm", "subject")]
    q = da.quantile([0.05, 0.5, 0.95], dim="subject")
    fig = _new_figure(8.4, 4.0)
    ax = fig.add_subplot()
    combos = list(itertools.product(*(range(da.sizes[o]) for o in others))) or [()]
    k = 0
    for arm in da["arm"].values:
        for combo in combos:
            qq = q.sel(arm=arm).isel({o: i for o, i in zip(others, combo)})
            colour = OKABE_ITO[k % len(OKABE_ITO)]
            k += 1
            label = str(arm) + "".join(f", {o} = {ds[o].values[i]:g}" for o, i in zip(others, combo))
            ax.plot(xvals, qq.sel(quantile=0.5).values, marker="o", color=colour, label=label)
            ax.fill_between(xvals, qq.sel(quantile=0.05).values, qq.sel(quantile=0.95).values, alpha=0.18,
                            color=colour, linewidth=0)
    unit = ds[fields[0]].attrs.get("units", "")
    munit = da.attrs.get("units", "")
    ax.set_xlabel(fields[0] + (f" ({unit})" if unit else ""))
    ax.set_ylabel(metric + (f" ({munit})" if munit else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return FigureSpec(name=f"sweep_{metric}", png=_png(fig), title=f"{metric} against {fields[0]}",
                      caption=f"Median (line) and 5-95% of subjects (band) of {metric} "
                              f"({da.attrs.get('long_name', metric)}) at each value of {fields[0]}, "
                              f"{ds.attrs.get('n_subjects', '?')} subjects per point, the same subjects at every point.")


def sweep_figures(ds: xr.Dataset, metric: str) -> list[FigureSpec]:
    """The dose-response figure of ``metric`` and of the headline metrics the sweep has."""
    names = [metric] + [m for m in SWEEP_HEADLINE if m != metric and m in ds]
    return [_sweep_figure(ds, m) for m in names]


def _sweep_context(ds: xr.Dataset, metric: str, figures: Sequence[FigureSpec]) -> dict[str, Any]:
    import tomllib

    df = sweep_table(ds, metric)
    cols = list(df.columns)
    quant = {"p05", "median", "p95"}
    rows = [[(_fmt(float(v)) if c in quant else f"{v:g}") if isinstance(v, (float, np.floating)) else str(v)
             for c, v in zip(cols, r)] for r in df.itertuples(index=False)]
    scenario = tomllib.loads(ds.attrs["scenario"]) if "scenario" in ds.attrs else {}
    fields = [{"field": f["field"], "vals": ", ".join(f"{v:g}" for v in f["values"]), "unit": f.get("unit", "")}
              for f in _fields(ds)]
    return {
        "kind": "sweep",
        "title": f"ketasim sweep — {scenario.get('name', '')}",
        "version": ds.attrs.get("ketasim_version", ""),
        "facts": [("scenario", scenario.get("name", "")), ("mode", ds.attrs.get("sweep_mode", "")),
                  ("subjects per arm and point", ds.attrs.get("n_subjects", "")), ("population seed", ds.attrs.get("seed", "")),
                  ("arms", ", ".join(map(str, ds["arm"].values))),
                  ("scenario sha256", ds.attrs.get("scenario_sha256", "")[:16] + "…")],
        "fields": fields,
        "metric": metric,
        "metric_unit": ds[metric].attrs.get("units", ""),
        "columns": cols,
        "rows": rows,
        "figures": _figure_dicts(figures),
        "scenario_text": ds.attrs.get("scenario", ""),
    }


# ---------------------------------------------------------------------------
# sensitivity
# ---------------------------------------------------------------------------
def sensitivity_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per parameter: layer, typical value, unit, range of scale factors and the indices."""
    cols = ["S1", "S1_conf", "ST", "ST_conf"] if ds.attrs["method"] == "sobol" else ["mu", "mu_star", "sigma",
                                                                                      "mu_star_conf"]
    extra = [c for c in ("layer", "typical", "unit") if c in ds]
    df = ds[[*extra, "lower", "upper", *cols]].to_dataframe().reset_index()
    return df[["parameter", *extra, "lower", "upper", *cols]]


def sensitivity_figures(ds: xr.Dataset) -> list[FigureSpec]:
    """Index bars with 95% intervals (Sobol S1/ST, Morris mu*/sigma), the Morris plane, the output's spread."""
    names = [str(p) for p in ds["parameter"].values]
    out = ds.attrs.get("output", "y")
    xs = np.arange(len(names))
    figs = []
    fig = _new_figure(max(4.8, 0.62 * len(names) + 2.2), 3.8)
    ax = fig.add_subplot()
    if ds.attrs["method"] == "sobol":
        ax.bar(xs - 0.2, ds["S1"].values, 0.4, yerr=ds["S1_conf"].values, capsize=3, color=OKABE_ITO[0],
               label="first order S1")
        ax.bar(xs + 0.2, ds["ST"].values, 0.4, yerr=ds["ST_conf"].values, capsize=3, color=OKABE_ITO[2],
               label="total ST")
        ax.set_ylabel("Sobol index (bars: 95% bootstrap CI)")
        ax.axhline(0, color="k", linewidth=0.6)
        title = "Sobol indices"
        caption = (f"First-order (S1) and total (ST) Sobol indices of {out}, with the half-widths of their 95% "
                   f"bootstrap intervals (SALib, 200 resamples); {ds.attrs.get('simulations', '?')} simulations "
                   f"from N = {ds.attrs.get('n', '?')} base samples. ST - S1 is the share through interactions.")
    else:
        ax.bar(xs - 0.2, ds["mu_star"].values, 0.4, yerr=ds["mu_star_conf"].values, capsize=3, color=OKABE_ITO[0],
               label="mu* (mean |elementary effect|)")
        ax.bar(xs + 0.2, ds["sigma"].values, 0.4, color=OKABE_ITO[2], label="sigma (spread of effects)")
        ax.set_ylabel(f"elementary effect ({ds[out].attrs.get('units', '')} per unit log factor)"
                      if out in ds else "elementary effect")
        title = "Morris elementary effects"
        caption = (f"Morris screening of {out}: mu* ranks influence (bars: 95% bootstrap CI), sigma measures "
                   f"non-linearity and interactions; {ds.attrs.get('n', '?')} trajectories, "
                   f"{ds.attrs.get('simulations', '?')} simulations. Factors are sampled as log scale factors.")
    ax.set_xticks(xs, names, rotation=40 if len(names) > 5 else 0, ha="right" if len(names) > 5 else "center")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    figs.append(FigureSpec("sensitivity_indices", _png(fig), title, caption))
    if ds.attrs["method"] == "morris":
        fig = _new_figure(5.2, 4.0)
        ax = fig.add_subplot()
        ax.scatter(ds["mu_star"].values, ds["sigma"].values, color=OKABE_ITO[3])
        for nm, x, y in zip(names, ds["mu_star"].values, ds["sigma"].values):
            ax.annotate(nm, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=8)
        lim = max(float(np.max(ds["mu_star"].values)), float(np.max(ds["sigma"].values)), 1e-12) * 1.1
        ax.plot([0, lim], [0, lim], color="0.6", linewidth=0.8, linestyle="--")
        ax.set_xlim(0, lim)
        ax.set_ylim(0, lim)
        ax.set_xlabel("mu*")
        ax.set_ylabel("sigma")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        figs.append(FigureSpec("morris_plane", _png(fig), "Morris mu*-sigma plane",
                               "Each parameter at (mu*, sigma). Far right: influential; above the dashed line "
                               "(sigma > mu*): effect depends strongly on the other parameters or is non-linear."))
    if out in ds:
        fig = _new_figure(5.2, 3.4)
        ax = fig.add_subplot()
        y = ds[out].values
        ax.hist(y[np.isfinite(y)], bins=40, color=OKABE_ITO[5])
        unit = ds[out].attrs.get("units", "")
        ax.set_xlabel(out + (f" ({unit})" if unit else ""))
        ax.set_ylabel("samples")
        fig.tight_layout()
        figs.append(FigureSpec("sensitivity_output", _png(fig), f"Spread of {out} over the samples",
                               f"{out} of the typical subject at every sampled parameter combination "
                               f"(median {_fmt(float(np.median(y)))}, 5-95%: {_fmt(float(np.quantile(y, 0.05)))}"
                               f"-{_fmt(float(np.quantile(y, 0.95)))} {unit})."))
    return figs


def _sensitivity_context(ds: xr.Dataset, figures: Sequence[FigureSpec]) -> dict[str, Any]:
    df = sensitivity_table(ds)
    cols = list(df.columns)
    rows = []
    for r in df.itertuples(index=False):
        rows.append([(f"{v:.3f}" if c in ("S1", "S1_conf", "ST", "ST_conf") else _fmt(float(v)))
                     if isinstance(v, (float, np.floating)) else str(v) for c, v in zip(cols, r)])
    a = ds.attrs
    out = a.get("output", "y")
    return {
        "kind": "sensitivity",
        "title": f"ketasim {a['method']} sensitivity — {out}",
        "version": a.get("ketasim_version", ""),
        "facts": [(k, str(a[k])) for k in ("scenario", "arm", "regimen", "parameter_set", "circuit", "method", "n",
                                           "simulations", "seed", "sampling") if k in a]
                 + [("output", out + (f" ({ds[out].attrs.get('units', '')})" if out in ds else ""))],
        "columns": cols,
        "rows": rows,
        "figures": _figure_dicts(figures),
        "fields": [],
        "scenario_text": "",
    }


# ---------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------
def _figure_dicts(figures: Sequence[FigureSpec]) -> list[dict]:
    return [{"name": f.name, "title": f.title, "caption": f.caption,
             "src": "data:image/png;base64," + base64.b64encode(f.png).decode("ascii")} for f in figures]


def _render(context: dict[str, Any]) -> str:
    from .html import _environment

    return _environment().get_template("trials.html.j2").render(**context)


def _dataset(x, name: str) -> xr.Dataset:
    if isinstance(x, xr.Dataset):
        return x
    p = Path(x)
    p = p / name if p.is_dir() else p
    if not p.is_file():
        from ..errors import InputError

        raise InputError(f"no {name} at {str(p)!r}; run the command with --out first.")
    return xr.load_dataset(p, engine="h5netcdf")


def render_sweep_report(result: xr.Dataset | str | os.PathLike, path: str | os.PathLike, *,
                        metric: str = "Cmax_ketamine") -> Path:
    """Write the HTML report of a sweep (a Dataset, ``sweep.nc`` or its folder) to ``path``, atomically."""
    ds = _dataset(result, "sweep.nc")
    sweep_table(ds, metric)                      # checks the metric before any figure is drawn
    html = _render(_sweep_context(ds, metric, sweep_figures(ds, metric)))
    out = Path(path)
    write_atomic(out, lambda p: p.write_text(html, encoding="utf-8"))
    return out


def render_sensitivity_report(result: xr.Dataset | str | os.PathLike, path: str | os.PathLike) -> Path:
    """Write the HTML report of a sensitivity analysis (a Dataset, ``sensitivity.nc`` or its folder), atomically."""
    ds = _dataset(result, "sensitivity.nc")
    html = _render(_sensitivity_context(ds, sensitivity_figures(ds)))
    out = Path(path)
    write_atomic(out, lambda p: p.write_text(html, encoding="utf-8"))
    return out

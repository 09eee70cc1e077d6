"""Figures beyond the PK layer, and the benefit-vs-harm scatter.

``layer_figures`` draws one figure per layer present in the results
(receptor occupancy, circuit, dopamine, outcomes): one panel per variable,
every arm's median and 5-95% band over time. A layer whose variables are not
in the results gets no figure. ``benefit_harm_figure`` draws each subject's
benefit against harm per arm, with the arm's median and 5-95% whiskers; until
the outcome layers land, both axes are exposure measures and the figure says
so. Colours are Okabe-Ito and every arm also has its own marker shape.
"""

from __future__ import annotations

import re

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .plots import FigureSpec, arm_colours

__all__ = ["layer_figures", "benefit_harm_figure", "LAYER_TITLES", "pick_benefit_harm"]

LAYER_TITLES = {"receptors": "Receptor occupancy", "circuit": "Circuit activity", "dopamine": "Dopamine",
                "outcomes": "Outcome trajectories"}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_BENEFIT = re.compile(r"response|remission|antidepress|madrs|benefit|mood", re.I)
_HARM = re.compile(r"bladder|urop|dependen|harm|addict|craving|tolerance|liking|dissoc|memory|cognit", re.I)
_MAX_PANELS = 9


def _layer_vars(ds: xr.Dataset) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in ds.data_vars:
        name = str(v)
        if not name.endswith("_quantiles"):
            continue
        layer = ds[v].attrs.get("layer", "pk")
        if layer == "pk":
            continue
        out.setdefault(layer, []).append(name.removesuffix("_quantiles"))
    order = list(LAYER_TITLES) + sorted(set(out) - set(LAYER_TITLES))
    return {k: out[k] for k in order if k in out}


def _layer_figure(ds: xr.Dataset, names: list[str]) -> Figure:
    arms = [str(a) for a in ds["arm"].values]
    col = arm_colours(arms)
    days = ds["time"].values / 24.0
    qs = list(np.round(ds["quantile"].values, 6))
    i05, i50, i95 = qs.index(0.05), qs.index(0.5), qs.index(0.95)
    names = names[:_MAX_PANELS]
    ncol = 1 if len(names) == 1 else 2
    nrow = int(np.ceil(len(names) / ncol))
    fig = Figure(figsize=(9.0, 2.6 * nrow + 0.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False).ravel())
    for ax, v in zip(axes, names):
        q = ds[f"{v}_quantiles"]
        for i, arm in enumerate(arms):
            y = q.values[i].astype(float)
            if not np.isfinite(y).any():
                continue
            ax.fill_between(days, y[i05], y[i95], color=col[arm], alpha=0.18, lw=0)
            ax.plot(days, y[i50], color=col[arm], lw=1.1, label=arm)
        unit = q.attrs.get("units", "")
        ax.set_ylabel(f"{v} ({unit})" if unit and unit != "1" else (f"{v} (fraction)" if unit == "1" else v),
                      fontsize=8.5)
        ax.set_title(q.attrs.get("long_name", v).split(":")[0][:80], loc="left", fontsize=8.5)
        ax.set_xlabel("time since the first dose (days)")
        ax.grid(True, color="0.92", lw=0.6)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(arms), 4), frameon=False,
               title="median (line) and 5-95% of subjects (band)")
    return fig


def layer_figures(ds: xr.Dataset, png) -> list[FigureSpec]:
    """One figure per layer beyond PK present in ``ds`` (occupancy, circuit, dopamine, outcomes)."""
    out = []
    for layer, names in _layer_vars(ds).items():
        title = LAYER_TITLES.get(layer, layer.capitalize())
        more = f" (the first {_MAX_PANELS} of {len(names)} variables)" if len(names) > _MAX_PANELS else ""
        out.append(FigureSpec(
            f"layer_{layer}", png(_layer_figure(ds, names)), f"{title} over time",
            f"{title}{more}: for each arm the median over all {ds.attrs.get('n_subjects', '')} subjects (line) and "
            "the 5-95% band, per variable; units on each axis. Values from the "
            f"{layer} layer of ketasim; see the provenance appendix for parameter sources."))
    return out


def pick_benefit_harm(ds: xr.Dataset) -> tuple[str, str, bool]:
    """(benefit metric, harm metric, from outcome layers?) for the scatter."""
    metrics = [str(v) for v in ds.data_vars if ds[v].dims == ("arm", "subject")]
    benefit = next((m for m in metrics if m.startswith(("final_", "peak_")) and _BENEFIT.search(m)), None)
    harm = next((m for m in metrics if m.startswith(("final_", "peak_")) and _HARM.search(m)), None)
    if benefit and harm:
        return benefit, harm, True
    return "Cmax_ketamine", "AUC_ketamine", False


def benefit_harm_figure(ds: xr.Dataset, png) -> FigureSpec:
    """Each subject's benefit against harm, per arm (colour and marker), with medians and 5-95% whiskers."""
    arms = [str(a) for a in ds["arm"].values]
    col = arm_colours(arms)
    b, h, real = pick_benefit_harm(ds)
    fig = Figure(figsize=(8.0, 5.6), layout="constrained")
    ax = fig.subplots()
    log = not real
    for i, arm in enumerate(arms):
        x = ds[h].values[i].astype(float)
        y = ds[b].values[i].astype(float)
        ok = np.isfinite(x) & np.isfinite(y)
        if log:
            ok &= (x > 0) & (y > 0)
        if not ok.any():
            continue
        x, y = x[ok], y[ok]
        m = _MARKERS[i % len(_MARKERS)]
        ax.scatter(x, y, s=9, color=col[arm], alpha=0.35, marker=m, lw=0, zorder=2)
        mx, my = np.median(x), np.median(y)
        xe = np.abs(np.quantile(x, [0.05, 0.95]) - mx)[:, None]
        ye = np.abs(np.quantile(y, [0.05, 0.95]) - my)[:, None]
        ax.errorbar([mx], [my], xerr=xe, yerr=ye, fmt=m, ms=9, color=col[arm], mec="black", mew=0.8,
                    ecolor=col[arm], elinewidth=1.6, capsize=3, zorder=3, label=arm)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    xu, yu = ds[h].attrs.get("units", ""), ds[b].attrs.get("units", "")
    if real:
        ax.set_xlabel(f"harm: {h} ({xu})")
        ax.set_ylabel(f"benefit: {b} ({yu})")
    else:
        ax.set_xlabel(f"cumulative exposure: plasma ketamine AUC over the period ({xu}) - harm proxy")
        ax.set_ylabel(f"peak exposure: plasma ketamine Cmax ({yu}) - effect proxy")
    ax.grid(True, which="major", color="0.9", lw=0.6)
    ax.legend(loc="best", frameon=True, fontsize=8, title="arm: median, whiskers 5-95%", title_fontsize=8)
    if real:
        cap = (f"Each dot is one subject: benefit ({b}, {ds[b].attrs.get('long_name', b)}) against harm ({h}, "
               f"{ds[h].attrs.get('long_name', h)}); large markers: the arm's median with 5-95% whiskers. "
               "Colour and marker shape both identify the arm.")
        title = "Benefit versus harm per arm"
    else:
        cap = ("Until the outcome layers are built this is not yet a benefit-harm comparison: both axes are exposure. "
               "Each dot is one subject: peak plasma ketamine (Cmax, which drives acute effects) against cumulative "
               "exposure (AUC over the period, the exposure measure behind chronic harms such as uropathy); large "
               "markers: the arm's median with 5-95% whiskers; log-log scale. Colour and marker shape both identify "
               "the arm. When response/remission and harm outcomes exist, this figure plots them instead.")
        title = "Benefit versus harm per arm (exposure proxies)"
    return FigureSpec("benefit_harm", png(fig), title, cap)

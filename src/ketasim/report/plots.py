"""Figures of the flagship report (matplotlib, Agg canvas, no pyplot state).

Every function takes the flagship Dataset (``flagship.nc``) and returns PNG
bytes, so a figure made from saved results is byte-identical to one made
during the run. Colours are the Okabe-Ito colour-blind-safe palette
(Okabe & Ito 2008, "Color Universal Design").
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["OKABE_ITO", "FigureSpec", "make_figures", "arm_colours"]

#: Okabe-Ito palette, ordered so that therapeutic arms get cool and non-medical arms warm colours.
OKABE_ITO = ("#0072B2", "#009E73", "#E69F00", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

_DPI = 110
_FLOOR = 0.1  # ng/mL: lower edge of log axes (concentrations below are drawn at the floor)
_RC = {"font.size": 9.5, "axes.titlesize": 10, "axes.labelsize": 9.5, "legend.fontsize": 8.5,
       "xtick.labelsize": 8.5, "ytick.labelsize": 8.5}


@dataclass(frozen=True)
class FigureSpec:
    """One figure: file stem, PNG bytes, title and caption."""

    name: str
    png: bytes
    title: str
    caption: str


def arm_colours(arms) -> dict[str, str]:
    return {str(a): OKABE_ITO[i % len(OKABE_ITO)] for i, a in enumerate(arms)}


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _thresholds(ds: xr.Dataset) -> list[dict]:
    return json.loads(ds.attrs.get("thresholds", "[]"))


def _short_source(src: str) -> str:
    return src.split(",")[0].split(" (")[0]


def _ref_lines(ax, ds: xr.Dataset, *, labels: bool, horizontal: bool = True) -> None:
    for th in _thresholds(ds):
        ax.axhline(th["value"], color="0.35", lw=0.8, ls=(0, (4, 3)), zorder=1)
        if labels:
            ax.annotate(f"{th['value']:g} ng/mL", xy=(1.0, th["value"]), xycoords=("axes fraction", "data"),
                        xytext=(3, 0), textcoords="offset points", va="center", ha="left", fontsize=7.5,
                        color="0.3", annotation_clip=False)


def _legend(fig: Figure, *, effect: bool = False, refs: bool = True, where: str = "outside upper center") -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    g = "0.35"
    handles = [Patch(color=g, alpha=0.22, lw=0, label="5-95% of subjects"),
               Patch(color=g, alpha=0.45, lw=0, label="25-75%"),
               Line2D([], [], color=g, lw=1.2, label="median (plasma)" if effect else "median")]
    if effect:
        handles.append(Line2D([], [], color="0.15", lw=1.0, ls=(0, (2, 1.5)), label="median (effect site)"))
    if refs:
        handles.append(Line2D([], [], color="0.35", lw=0.8, ls=(0, (4, 3)), label="reference concentration"))
    fig.legend(handles=handles, loc=where, ncols=len(handles), frameon=False)


def _bands_figure(ds: xr.Dataset, var: str, ylabel: str, *, thresholds: bool) -> Figure:
    arms = [str(a) for a in ds["arm"].values]
    col = arm_colours(arms)
    q = ds[f"{var}_quantiles"]
    days = ds["time"].values / 24.0
    qs = list(np.round(ds["quantile"].values, 6))
    iq = {p: qs.index(p) for p in (0.05, 0.25, 0.5, 0.75, 0.95)}
    fig = Figure(figsize=(9.0, 1.9 * len(arms) + 0.9), layout="constrained")
    axes = fig.subplots(len(arms), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    top = max(float(np.nanmax(q.values)) if np.isfinite(q.values).any() else 1.0, 1.0)
    if thresholds:
        top = max([top] + [t["value"] for t in _thresholds(ds)])
    for ax, (i, arm) in zip(axes, enumerate(arms)):
        v = np.maximum(q.values[i].astype(float), _FLOOR)
        c = col[arm]
        ax.fill_between(days, v[iq[0.05]], v[iq[0.95]], color=c, alpha=0.22, lw=0)
        ax.fill_between(days, v[iq[0.25]], v[iq[0.75]], color=c, alpha=0.45, lw=0)
        ax.plot(days, v[iq[0.5]], color=c, lw=1.0)
        if thresholds:
            _ref_lines(ax, ds, labels=True)
        ax.set_yscale("log")
        ax.set_ylim(_FLOOR * 0.9, top * 2.5)
        ax.set_title(f"{arm}: {ds['regimen'].values[i]}", loc="left", fontsize=9, color="0.1")
        ax.grid(True, which="major", axis="y", color="0.9", lw=0.6)
    axes[-1].set_xlabel("time since the first dose (days)")
    axes[-1].set_xlim(days[0], days[-1])
    step = 7 if days[-1] > 10 else 1
    axes[-1].set_xticks(np.arange(0, days[-1] + 1e-9, step))
    fig.supylabel(ylabel)
    _legend(fig, refs=thresholds)
    return fig


def _zoom_figure(ds: xr.Dataset, hours: float = 24.0) -> Figure:
    arms = [str(a) for a in ds["arm"].values]
    col = arm_colours(arms)
    t = ds["time"].values
    keep = t <= hours + 1e-9
    th = t[keep]
    qs = list(np.round(ds["quantile"].values, 6))
    iq = {p: qs.index(p) for p in (0.05, 0.25, 0.5, 0.75, 0.95)}
    ncol = 2 if len(arms) > 1 else 1
    nrow = int(np.ceil(len(arms) / ncol))
    fig = Figure(figsize=(9.0, 2.9 * nrow + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False).ravel())
    for ax, (i, arm) in zip(axes, enumerate(arms)):
        c = col[arm]
        v = ds["C_plasma_ketamine_quantiles"].values[i][:, keep].astype(float)
        ce = (ds["C_effect_ketamine_quantiles"].values[i][iq[0.5], keep].astype(float)
              if "C_effect_ketamine_quantiles" in ds else None)
        ax.fill_between(th, v[iq[0.05]], v[iq[0.95]], color=c, alpha=0.22, lw=0)
        ax.fill_between(th, v[iq[0.25]], v[iq[0.75]], color=c, alpha=0.45, lw=0)
        ax.plot(th, v[iq[0.5]], color=c, lw=1.2)
        if ce is not None:
            ax.plot(th, ce, color="0.15", lw=1.0, ls=(0, (2, 1.5)))
        ymax = max(float(np.nanmax(v[iq[0.95]])) if np.isfinite(v[iq[0.95]]).any() else 1.0, 1.0) * 1.12
        ax.set_ylim(0, ymax)
        for thr in _thresholds(ds):
            if thr["value"] < ymax:
                ax.axhline(thr["value"], color="0.35", lw=0.8, ls=(0, (4, 3)))
                ax.annotate(f"{thr['value']:g} ng/mL", xy=(0.99, thr["value"]), xycoords=("axes fraction", "data"),
                            xytext=(0, 2), textcoords="offset points", ha="right", va="bottom", fontsize=7.5,
                            color="0.3")
        ax.set_xlim(0, hours)
        ax.set_xticks(np.arange(0, hours + 1e-9, 4 if hours >= 12 else 1))
        ax.set_title(arm, loc="left", color=c, fontweight="bold")
        ax.set_xlabel("time since the first dose (h)")
        ax.set_ylabel("ketamine (ng/mL)")
        ax.grid(True, color="0.92", lw=0.6)
    for ax in axes[len(arms):]:
        ax.set_visible(False)
    _legend(fig, effect="C_effect_ketamine_quantiles" in ds)
    return fig


def _cmax_figure(ds: xr.Dataset) -> Figure:
    arms = [str(a) for a in ds["arm"].values]
    col = arm_colours(arms)
    data = [np.maximum(np.nan_to_num(ds["Cmax_ketamine"].values[i].astype(float), nan=_FLOOR), _FLOOR)
            for i in range(len(arms))]
    fig = Figure(figsize=(9.0, 4.8), layout="constrained")
    ax = fig.subplots()
    pos = np.arange(1, len(arms) + 1)
    bp = ax.boxplot(data, positions=pos, widths=0.5, whis=(5, 95), showfliers=False, patch_artist=True,
                    medianprops={"color": "black", "lw": 1.6}, zorder=3)
    for patch, arm in zip(bp["boxes"], arms):
        patch.set_facecolor(col[arm])
        patch.set_alpha(0.5)
    rng = np.random.default_rng(0)  # fixed jitter: the figure is reproducible
    for p, d, arm in zip(pos, data, arms):
        ax.scatter(p + rng.uniform(-0.2, 0.2, d.size), d, s=4, color=col[arm], alpha=0.3, lw=0, zorder=1)
    ax.set_yscale("log")
    lo = min(float(np.min(d)) for d in data)
    hi = max(float(np.max(d)) for d in data)
    ths = _thresholds(ds)
    ax.set_ylim(min(lo, min((t["value"] for t in ths), default=lo)) / 1.6,
                max(hi, max((t["value"] for t in ths), default=hi)) * 1.8)
    for th in ths:
        ax.axhline(th["value"], color="0.3", lw=0.9, ls=(0, (4, 3)), zorder=1)
        ax.annotate(f"{th['value']:g} ng/mL: {th['label'].split(' (')[0]} ({_short_source(th['source'])})",
                    xy=(0.005, th["value"]), xycoords=("axes fraction", "data"), xytext=(0, 3),
                    textcoords="offset points", fontsize=7.5, color="0.2", va="bottom",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0})
    ax.set_xticks(pos, arms)
    ax.set_xlim(0.4, len(arms) + 0.6)
    ax.set_ylabel("peak plasma ketamine, Cmax (ng/mL)")
    ax.set_xlabel("arm (box: 25-75%, whiskers: 5-95%, line: median; dots: subjects)")
    ax.grid(True, axis="y", which="major", color="0.9", lw=0.6)
    return fig


def make_figures(ds: xr.Dataset) -> list[FigureSpec]:
    """The report's figures from a flagship Dataset, as PNG bytes with captions."""
    import matplotlib as mpl

    n = int(ds.attrs.get("n_subjects", ds.sizes.get("subject", 0)))
    days = float(ds["time"].values[-1]) / 24.0
    band_note = (f"Shaded: 5-95% and 25-75% of the {n} subjects per arm at each time, line: median; "
                 "log scale, values below 0.1 ng/mL drawn at 0.1.")
    ths = _thresholds(ds)
    th_note = " ".join(f"Dashed line at {t['value']:g} ng/mL: {t['label']} ({t['source']})." for t in ths)
    out = []
    with mpl.rc_context(_RC):
        out.append(FigureSpec(
            "ketamine_bands", _png(_bands_figure(ds, "C_plasma_ketamine", "plasma ketamine, S + R (ng/mL)",
                                                 thresholds=True)),
            f"Plasma ketamine over {days:g} days",
            f"Plasma ketamine (S + R) concentration-time profiles by arm over the whole period. {band_note} {th_note}"))
        out.append(FigureSpec(
            "ketamine_first24h", _png(_zoom_figure(ds, min(24.0, float(ds["time"].values[-1])))),
            "The first 24 hours",
            "Plasma ketamine in the first 24 h of each arm (linear scale, each panel its own y axis). Shaded: 5-95% "
            "and 25-75% of subjects; solid line: plasma median; dotted line: effect-site median (ke0 model), which "
            "lags plasma. " + th_note))
        if "C_plasma_norketamine_quantiles" in ds:
            out.append(FigureSpec(
                "norketamine_bands", _png(_bands_figure(ds, "C_plasma_norketamine", "plasma norketamine (ng/mL)",
                                                        thresholds=False)),
                f"Plasma norketamine over {days:g} days",
                f"Plasma norketamine, the main active metabolite, by arm. {band_note}"))
        out.append(FigureSpec(
            "cmax_distribution", _png(_cmax_figure(ds)),
            "Peak plasma ketamine per subject",
            "Distribution of each subject's highest plasma ketamine concentration over the whole period (Cmax), "
            "by arm; log scale. " + th_note))
        from .plots_layers import benefit_harm_figure, layer_figures

        out += layer_figures(ds, _png)
        out.append(benefit_harm_figure(ds, _png))
    return out

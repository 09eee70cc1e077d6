"""Self-contained HTML report of epidemiology fits: fit vs data, projections with bands,
harms burden and intervention comparison (matplotlib figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import io
import json

import numpy as np
import xarray as xr

from .scenario import Scenario, project

__all__ = ["report_html"]


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _fig_fit(fit: xr.Dataset, proj: xr.Dataset) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4))
    y = fit.year.values
    ax.fill_between(y, fit.fitted_lo, fit.fitted_hi, color="C0", alpha=0.2, label="95% predictive band (fit)")
    ax.plot(y, fit.fitted, color="C0", label="best fit")
    b = proj.series_value.sel(arm="baseline")
    ax.fill_between(proj.year, b.isel(quantile=0), b.isel(quantile=2), color="C1", alpha=0.2,
                    label="projection, 95% parameter band")
    ax.plot(proj.year, b.isel(quantile=1), color="C1", ls="--", label="projection (median)")
    obs, tr, ho = fit.observed.values, fit.in_training.values, fit.held_out.values
    ax.plot(y[tr], obs[tr], "ko", label="observed, used in fit")
    if ho.any():
        ax.plot(y[ho], obs[ho], "o", mfc="white", mec="k", label="observed, held out")
    for yy, o, t in zip(y, obs, fit.observed_tag.values):
        if np.isfinite(o):
            ax.annotate(str(t), (yy, o), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.axvline(float(fit.attrs["until"]) + 0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("year")
    ax.set_ylabel(fit.observed.attrs.get("units", ""))
    ax.set_title(fit.attrs["series"])
    ax.legend(fontsize=7)
    return _png(fig)


def _fig_burden(proj: xr.Dataset) -> str:
    import matplotlib.pyplot as plt

    names = [("new_dependence", "new dependence / yr"), ("new_uropathy", "new uropathy / yr"),
             ("excess_deaths", "excess deaths / yr"), ("cognitive_burden", "cognitive impairment (prevalent)")]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3))
    fig.subplots_adjust(wspace=0.4)
    for ax, (v, lab) in zip(axes, names):
        for k, arm in enumerate(proj.arm.values):
            d = proj[v].sel(arm=arm)
            ax.fill_between(proj.year, d.isel(quantile=0), d.isel(quantile=2), color=f"C{k}", alpha=0.2)
            ax.plot(proj.year, d.isel(quantile=1), color=f"C{k}", label=str(arm))
        ax.set_title(lab, fontsize=9)
        ax.set_xlabel("year")
    axes[0].legend(fontsize=7)
    return _png(fig)


def _fig_diff(proj: xr.Dataset) -> str:
    import matplotlib.pyplot as plt

    names = ["dependent", "new_dependence", "new_uropathy", "excess_deaths"]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3))
    fig.subplots_adjust(wspace=0.4)
    for ax, v in zip(axes, names):
        d = proj[f"difference_{v}"]
        ax.fill_between(proj.year, d.isel(quantile=0), d.isel(quantile=2), color="C2", alpha=0.25)
        ax.plot(proj.year, d.isel(quantile=1), color="C2")
        ax.axhline(0, color="k", lw=0.6)
        ax.set_title(f"Δ {v.replace('_', ' ')}", fontsize=9)
        ax.set_xlabel("year")
    return _png(fig)


def _table(rows, header) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def report_html(fits: list[xr.Dataset], *, years: str = "2017..2030", scenarios: list[Scenario] = (),
                n_draws: int = 100) -> str:
    """Build the report for one or more fits (e.g. England & Wales and Hong Kong)."""
    from .. import __version__

    parts = [f"<h1>ketasim — population model of ketamine use</h1><p>ketasim {html.escape(__version__)}. "
             "Model, equations and sources: docs/epidemiology.md. All numbers below are model outputs "
             "conditional on the stated assumptions.</p>"]
    for fit in fits:
        lo, hi = years.split("..") if ".." in years else (years, years)
        start = max(int(lo), int(fit.year.values[0]))
        yr = f"{start}..{max(int(hi), start)}"
        base = project(fit, yr, n_draws=n_draws)
        parts.append(f"<h2>{html.escape(fit.attrs['series'])}</h2><p>{html.escape(fit.attrs['series_description'])}</p>")
        parts.append(_fig_fit(fit, base))
        tm, te = json.loads(fit.attrs["train_metrics"]), json.loads(fit.attrs["test_metrics"])
        rows = [[p, f"{float(fit.estimate.sel(parameter=p)):.4g}", f"{float(fit.lower.sel(parameter=p)):.4g}",
                 f"{float(fit.upper.sel(parameter=p)):.4g}", str(fit.parameter_unit.sel(parameter=p).values),
                 "yes" if bool(fit.at_bound.sel(parameter=p)) else "no"] for p in fit.parameter.values]
        parts.append("<h3>Fitted rates</h3>" + _table(rows, ["rate", "estimate", "lower", "upper", "unit",
                                                              "interval hits bound (not identified)"]))
        parts.append(f"<p><b>Intervals:</b> {html.escape(fit.attrs['interval_meaning'])}</p>")
        parts.append(f"<p><b>Bands:</b> {html.escape(fit.attrs['band_meaning'])} "
                     f"Effective sample size of the (AMIS) importance weights: {fit.attrs['posterior_ess']:.0f}.</p>")
        mrows = [["in sample (fitted years)", *(f"{tm.get(k, float('nan')):.3g}" for k in
                                                ("rmse", "mae", "mape_percent", "rmse_log", "coverage"))]]
        if te:
            mrows.append([f"out of sample (after {fit.attrs['until']})",
                          *(f"{te.get(k, float('nan')):.3g}" for k in ("rmse", "mae", "mape_percent", "rmse_log",
                                                                       "coverage"))])
        parts.append("<h3>Fit quality</h3>" + _table(mrows, ["", "RMSE", "MAE", "MAPE %", "RMSE (log)",
                                                              "95% band coverage"]))
        if te:
            parts.append(f"<p>Naive forecast (last fitted value carried forward) MAE: "
                         f"{te['naive_last_value_mae']:.3g}; skill vs naive: {te['skill_vs_naive']:.2f}.</p>")
        if "bic" in fit.attrs:
            parts.append(f"<p>Model: start {html.escape(str(fit.attrs.get('start_state', '')))}; "
                         f"{fit.attrs['n_estimated']} estimated quantities (rates, sigma, offsets); "
                         f"AIC {fit.attrs['aic']:.2f}, BIC {fit.attrs['bic']:.2f}.</p>")
            for name, src in json.loads(fit.attrs.get("events", "{}")).items():
                parts.append(f"<p><b>{html.escape(name)}</b>: {html.escape(src)}</p>")
        parts.append(f"<p>{html.escape(fit.attrs['dependence_share_check'])}</p>")
        excl = json.loads(fit.attrs["excluded_observations"])
        if excl:
            parts.append("<h3>Observations not used</h3><ul>" + "".join(f"<li>{html.escape(e)}</li>" for e in excl)
                         + "</ul>")
        parts.append("<h3>Harms burden (baseline projection)</h3>" + _fig_burden(base))
        for sc in scenarios:
            pr = project(fit, yr, scenario=sc, n_draws=n_draws)
            parts.append(f"<h3>Scenario: {html.escape(sc.name)}</h3><p>{html.escape(sc.description)}</p>")
            ivrows = [[iv.target, iv.factor, iv.start, iv.end or "", iv.label, iv.source] for iv in sc.interventions]
            parts.append(_table(ivrows, ["target", "factor", "from", "until", "label", "source"]))
            parts.append(_fig_burden(pr) + _fig_diff(pr))
            crow = [[k.replace("cumulative_difference_", ""),
                     *(f"{x:.4g}" for x in pr[k].values)] for k in pr.data_vars if k.startswith("cumulative_difference_")]
            parts.append(_table(crow, ["scenario − baseline, summed over years", "2.5%", "median", "97.5%"]))
    css = ("body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;margin:8px 0}"
           "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}img{max-width:100%}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>ketasim epidemiology</title>"
            f"<style>{css}</style></head><body>{''.join(parts)}</body></html>")

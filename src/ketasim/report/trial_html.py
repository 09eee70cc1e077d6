"""Self-contained HTML report of a virtual trial, made from its folder (chunk files and manifest).

Like the sweep and sensitivity reports (:mod:`ketasim.report.trials_html`): figures as
base64 PNG, no JavaScript or network access, Jinja2 with autoescaping, written
atomically. Everything is computed from the trial folder one metric column at a time
(:func:`ketasim.trials.trial_summary`), so the report of a 1,000,000-subject
summaries-only trial needs no more memory than the trial did:

* the set-up (scenario, subjects, seed, chunks, fingerprint, provenance);
* a table of every metric: median and 5-95% of subjects in each arm;
* box plots drawn from the quantiles (5, 25, 50, 75, 95%) of the headline metrics per
  arm (:func:`matplotlib.axes.Axes.bxp` takes the statistics directly);
* the distribution of peak plasma ketamine over subjects in each arm (log-spaced
  histogram, one column read).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .html import _fmt, write_atomic
from .plots import OKABE_ITO, FigureSpec
from .trials_html import _figure_dicts, _new_figure, _png, _render

__all__ = ["TRIAL_HEADLINE", "TRIAL_QUANTILES", "trial_figures", "trial_table", "render_trial_report"]

#: Quantiles the report reads (5, 25, 50, 75, 95% of subjects).
TRIAL_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: Metrics drawn as box plots when the trial has them (exposure, blockade, dopamine, then outcomes).
TRIAL_HEADLINE = ("Cmax_ketamine", "AUC_ketamine", "h_per_week_above_50", "peak_occupancy_NMDA", "peak_DA_NAc_pct",
                  "final_tolerance", "peak_drug_liking", "final_depression_score", "final_p_dependence",
                  "final_p_urinary_symptoms", "peak_memory_impairment", "final_cognitive_burden")
_QNAMES = {0.05: "p05", 0.25: "p25", 0.5: "median", 0.75: "p75", 0.95: "p95"}


def _summary(out: Path, summary: pd.DataFrame | None) -> pd.DataFrame:
    from ..trials import trial_summary

    have = set() if summary is None else set(summary.columns)
    if summary is None or not {"p05", "p25", "median", "p75", "p95"} <= have:
        summary = trial_summary(out, quantiles=TRIAL_QUANTILES)
    return summary


def trial_table(summary: pd.DataFrame, arms: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of the report's table: one row per metric, ``median [p05-p95]`` per arm."""
    cols = ["metric", "unit", *arms]
    rows = []
    for m in dict.fromkeys(summary["metric"]):
        part = summary[summary["metric"] == m].set_index("arm")
        cells = []
        for a in arms:
            if a in part.index:
                r = part.loc[a]
                cells.append(f"{_fmt(float(r['median']))} [{_fmt(float(r['p05']))}–{_fmt(float(r['p95']))}]")
            else:
                cells.append("–")
        rows.append([m, str(part["unit"].iloc[0]), *cells])
    return cols, rows


def _boxes(summary: pd.DataFrame, arms: Sequence[str], metrics: Sequence[str], n: int) -> FigureSpec:
    ncol = 3
    nrow = -(-len(metrics) // ncol)
    fig = _new_figure(9.6, 2.55 * nrow + 0.3)
    for k, m in enumerate(metrics):
        ax = fig.add_subplot(nrow, ncol, k + 1)
        part = summary[summary["metric"] == m].set_index("arm")
        here = [a for a in arms if a in part.index]
        stats = [{"med": part.loc[a, "median"], "q1": part.loc[a, "p25"], "q3": part.loc[a, "p75"],
                  "whislo": part.loc[a, "p05"], "whishi": part.loc[a, "p95"], "label": a} for a in here]
        art = ax.bxp(stats, showfliers=False, patch_artist=True, widths=0.6)
        for i, box in enumerate(art["boxes"]):
            box.set_facecolor(OKABE_ITO[arms.index(here[i]) % len(OKABE_ITO)])
            box.set_alpha(0.55)
        for med in art["medians"]:
            med.set_color("black")
        lo = float(part["p05"].min())
        hi = float(part["p95"].max())
        if lo > 0 and hi / lo > 100:
            ax.set_yscale("log")
        unit = str(part["unit"].iloc[0]) if len(part) else ""
        ax.set_title(m, fontsize=9)
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        for lab in ax.get_xticklabels():
            lab.set_horizontalalignment("right")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return FigureSpec(name="trial_boxes", png=_png(fig), title="Headline metrics by arm",
                      caption=f"Box: 25-75% of subjects with the median; whiskers: 5-95%; {n:,} subjects per arm, "
                              "the same subjects in every arm. Quantiles read from the trial folder one metric "
                              "at a time; a log axis where the 5-95% range spans more than 100-fold.")


def _cmax_histogram(out: Path, man: dict[str, Any], n: int) -> FigureSpec | None:
    import pyarrow.parquet as pq

    from ..trials.execute import _check_complete

    metric = "Cmax_ketamine" if "Cmax_ketamine" in man["units"] else None
    if metric is None:
        return None
    files = _check_complete(out, man)
    arms = list(man["arms"])
    arm = np.concatenate([pd.Categorical(pq.read_table(f, columns=["arm"]).column(0).to_pandas(),
                                         categories=arms).codes for f in files])
    x = np.concatenate([pq.read_table(f, columns=[metric]).column(0).to_numpy() for f in files])
    ok = np.isfinite(x) & (x > 0)
    if not ok.any():
        return None
    lo, hi = np.quantile(x[ok], [0.0005, 0.9995])
    bins = np.geomspace(lo / 1.2, hi * 1.2, 61)
    fig = _new_figure(8.4, 3.6)
    ax = fig.add_subplot()
    for i, a in enumerate(arms):
        xa = x[ok & (arm == i)]
        if xa.size == 0:
            continue
        counts, edges = np.histogram(xa, bins=bins)
        ax.stairs(100.0 * counts / xa.size, edges, label=a, color=OKABE_ITO[i % len(OKABE_ITO)], linewidth=1.6)
    ax.set_xscale("log")
    ax.set_xlabel(f"{metric} ({man['units'][metric]})")
    ax.set_ylabel("% of subjects per bin")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return FigureSpec(name="trial_cmax_histogram", png=_png(fig), title="Peak plasma ketamine over subjects",
                      caption=f"Share of the {n:,} subjects of each arm in 60 log-spaced bins of {metric} (the "
                              "central 99.9% of all subjects); the spread is inter-individual variability of the "
                              "PK layer (sampled population, same subjects in every arm).")


def trial_figures(out: str | os.PathLike, summary: pd.DataFrame | None = None) -> list[FigureSpec]:
    """The report's figures for a finished trial folder (``summary``: its 5/25/50/75/95% quantiles, if at hand)."""
    from ..trials import read_manifest

    outp = Path(out)
    man = read_manifest(outp)
    summ = _summary(outp, summary)
    arms = list(man["arms"])
    n = int(man["n_subjects"])
    metrics = [m for m in TRIAL_HEADLINE if m in set(summ["metric"])][:12]
    figs = [_boxes(summ, arms, metrics, n)] if metrics else []
    h = _cmax_histogram(outp, man, n)
    return figs + ([h] if h is not None else [])


def _context(out: Path, man: dict[str, Any], summary: pd.DataFrame, figures: Sequence[FigureSpec]) -> dict[str, Any]:
    import tomllib

    scenario = tomllib.loads(man["scenario_toml"])
    d = man["design"]
    arms = list(man["arms"])
    cols, rows = trial_table(summary, arms)
    regimens = [(a["name"], a.get("regimen", "")) for a in scenario.get("arms", [])]
    return {
        "kind": "trial",
        "title": f"ketasim virtual trial — {scenario.get('name', '')}",
        "version": man.get("ketasim_version", ""),
        "facts": [("scenario", scenario.get("name", "")),
                  ("period", f"{scenario.get('end', '')} every {scenario.get('step', '')}"),
                  ("subjects per arm", f"{int(man['n_subjects']):,} (the same subjects in every arm)"),
                  ("population", f"sample_population(n, numpy.random.default_rng({d['seed']})), drawn up front"),
                  ("circuit", str(scenario.get("model", {}).get("circuit", "best"))),
                  ("parameter sets", d.get("parameters") or "per arm and subject (default_parameter_set)"),
                  ("chunks", f"{man['chunks_done']:,} of {man['n_chunks']:,} ({d['chunk_size']:,} subjects each)"),
                  ("fingerprint", man["fingerprint"][:16] + "…"),
                  *([("parameter scale factors", ", ".join(f"{k} × {v:g}" for k, v in d["factors"].items()))]
                    if d.get("factors") else []),
                  *[(f"arm {name}", reg) for name, reg in regimens]],
        "fields": [],
        "columns": cols,
        "rows": rows,
        "figures": _figure_dicts(figures),
        "scenario_text": man["scenario_toml"],
    }


def render_trial_report(out: str | os.PathLike, path: str | os.PathLike | None = None, *,
                        summary: pd.DataFrame | None = None) -> Path:
    """Write the HTML report of a finished trial folder (default ``<out>/report.html``), atomically.

    ``summary`` (the folder's :func:`ketasim.trials.trial_summary` with quantiles
    :data:`TRIAL_QUANTILES`) saves reading the metrics again when it is at hand.

    Examples
    --------
    >>> import tempfile, ketasim as ks
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = ks.trials.run(ks.trials.design(n=3, end="1 d"), out=d, load=False)
    ...     html = render_trial_report(d).read_text()
    >>> "Headline metrics by arm" in html
    True
    """
    from ..trials import read_manifest

    outp = Path(out)
    man = read_manifest(outp)
    summ = _summary(outp, summary)
    figs = trial_figures(outp, summ)
    html = _render(_context(outp, man, summ, figs))
    dest = Path(path) if path is not None else outp / "report.html"
    write_atomic(dest, lambda p: p.write_text(html, encoding="utf-8"))
    return dest

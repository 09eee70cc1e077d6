"""The report as a PDF (matplotlib's PdfPages; no extra dependency).

Pages: title, scenario and the benefit-risk summary table; one page per figure
with its caption; the provenance appendix (every parameter's value and source).
The file is deterministic: no creation date is written, so the same results
give the same bytes.
"""

from __future__ import annotations

import io
import json
import os
import textwrap
import tomllib
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

__all__ = ["render_pdf"]

_A4 = (8.27, 11.69)
_ROWS_PER_PAGE = 42


def _fmt(x: float) -> str:
    from .html import _fmt as f

    return f(x).replace("–", "-")


def _text_page(lines: Sequence[tuple[str, dict]]) -> Figure:
    fig = Figure(figsize=_A4)
    y = 0.95
    for text, kw in lines:
        size = kw.get("size", 9)
        for para in text.split("\n"):
            wrapped = textwrap.wrap(para, width=int(95 * 9 / size)) or [""]
            for w in wrapped:
                fig.text(0.07, y, w, fontsize=size, weight=kw.get("weight", "normal"), va="top",
                         family=kw.get("family", "sans-serif"))
                y -= size / 72 / _A4[1] * 1.45
                if y < 0.05:
                    return fig
        y -= 0.006
    return fig


def _table_page(title: str, header: list[str], rows: list[list[str]], widths: list[float], note: str = "") -> Figure:
    fig = Figure(figsize=_A4)
    fig.text(0.07, 0.96, title, fontsize=12, weight="bold", va="top")
    if note:
        fig.text(0.07, 0.935, "\n".join(textwrap.wrap(note, 110)), fontsize=7, va="top")
    ax = fig.add_axes((0.04, 0.04, 0.92, 0.86))
    ax.axis("off")
    if rows:
        tab = ax.table(cellText=rows, colLabels=header, colWidths=widths, loc="upper center", cellLoc="left")
        tab.auto_set_font_size(False)
        tab.set_fontsize(6.5)
        tab.scale(1.0, 1.25)
        for (r, _), cell in tab.get_celld().items():
            cell.set_edgecolor("0.8")
            if r == 0:
                cell.set_facecolor("#f0f0f0")
                cell.set_text_props(weight="bold")
    return fig


def _clip(s: str, n: int) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 1] + "…"


def render_pdf(ds: xr.Dataset, summary: pd.DataFrame, path: str | os.PathLike,
               figures: Sequence[Any] | None = None) -> Path:
    """Write the report of a run as a PDF to ``path`` (atomically)."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.image import imread

    from .html import write_atomic
    from .plots import make_figures

    a = ds.attrs
    scenario = tomllib.loads(a["scenario"])
    if figures is None:
        figures = make_figures(ds) if scenario.get("report", {}).get("figures", True) else []
    arms = [str(x) for x in ds["arm"].values]
    pages: list[Figure] = []
    head = [(scenario.get("report", {}).get("title") or f"ketasim — {scenario['name']}", {"size": 15, "weight": "bold"}),
            (f"ketasim {a['ketasim_version']} · layers run: {a.get('layers', 'pk')} · circuit: {a.get('circuit', '')} · "
             f"{a['n_subjects']} subjects per arm · seed {a['seed']} · scenario sha256 {a['scenario_sha256'][:16]}…",
             {"size": 8})]
    if scenario.get("description"):
        head.append((scenario["description"], {"size": 9}))
    head.append(("Arms", {"size": 11, "weight": "bold"}))
    for i, arm in enumerate(arms):
        head.append((f"{arm}: {ds['regimen'].values[i]}  [parameter sets: {ds['arm_parameter_sets'].values[i]}]",
                     {"size": 8.5}))
    head.append(("Population", {"size": 11, "weight": "bold"}))
    head.append((a.get("population", ""), {"size": 8.5}))
    head.append(("Summary metrics", {"size": 11, "weight": "bold"}))
    head.append((a.get("metric_notes", ""), {"size": 8}))
    pages.append(_text_page(head))
    metrics = list(dict.fromkeys(summary["metric"]))
    cells = {(str(r.arm), str(r.metric)): f"{_fmt(r.median)} [{_fmt(r.p05)}-{_fmt(r.p95)}]"
             for r in summary.itertuples(index=False)}
    units = {str(r.metric): str(r.unit) for r in summary.itertuples(index=False)}
    rows = [[m, units[m]] + [cells.get((arm, m), "-") for arm in arms] for m in metrics]
    w = 0.62 / max(len(arms), 1)
    for k in range(0, len(rows), _ROWS_PER_PAGE):
        pages.append(_table_page("Benefit-risk summary: median [5-95% of subjects]", ["metric", "unit"] +
                                 [_clip(x, 28) for x in arms], rows[k:k + _ROWS_PER_PAGE], [0.28, 0.1] + [w] * len(arms)))
    for j, f in enumerate(figures, 1):
        fig = Figure(figsize=_A4)
        img = imread(io.BytesIO(f.png), format="png")
        h_in = _A4[0] * 0.9 * img.shape[0] / img.shape[1]
        top = 0.93
        hf = min(h_in / _A4[1], 0.72)
        ax = fig.add_axes((0.05, top - hf, 0.9, hf))
        ax.imshow(img, interpolation="antialiased")
        ax.axis("off")
        fig.text(0.05, 0.965, f"Figure {j}. {f.title}", fontsize=11, weight="bold", va="top")
        fig.text(0.05, top - hf - 0.015, "\n".join(textwrap.wrap(f.caption, 120)), fontsize=7.5, va="top")
        pages.append(fig)
    for ps in json.loads(a["provenance"]):
        rows = [[p["name"], f"{p['value']:.6g}", p["unit"], _clip(p["as_published"], 22),
                 "" if not p["iiv"] else f"{p['iiv']:.3g}", p["tag"], _clip(p["source"] + (" — " + p["note"] if p["note"] else ""), 95)]
                for p in ps["parameters"]]
        rows += [[f"route {r['route']}", "", "", "borrowed" if r["borrowed"] else "own", "", "",
                  _clip(r["source"] + (" — " + r["note"] if r["note"] else ""), 95)] for r in ps["routes"]]
        for k in range(0, len(rows), _ROWS_PER_PAGE):
            pages.append(_table_page(f"Appendix: provenance — {ps['id']}", ["parameter", "value", "unit", "as published",
                                                                             "IIV", "tag", "source / note"],
                                     rows[k:k + _ROWS_PER_PAGE], [0.13, 0.08, 0.07, 0.13, 0.05, 0.04, 0.5],
                                     note=f"{ps['title']}. {ps['citation']}"))
    for lp in json.loads(a.get("provenance_layers", "[]")):
        rows = [[_clip(p["name"], 30), _clip(p["value"], 24), p["unit"], p["tag"],
                 _clip(p["source"] + (" — " + p["note"] if p["note"] else ""), 100)] for p in lp["parameters"]]
        for k in range(0, len(rows), _ROWS_PER_PAGE):
            pages.append(_table_page(f"Appendix: provenance — layer {lp['layer']} ({lp['file']})",
                                     ["parameter", "value", "unit", "tag", "source / note"], rows[k:k + _ROWS_PER_PAGE],
                                     [0.2, 0.14, 0.06, 0.05, 0.55]))
    scen = [("Appendix: scenario as run", {"size": 12, "weight": "bold"}), (f"sha256 {a['scenario_sha256']}", {"size": 7})]
    scen += [(line, {"size": 6.5, "family": "monospace"}) for line in a["scenario"].splitlines()]
    pages.append(_text_page(scen))

    def write(p: Path) -> None:
        with PdfPages(p, metadata={"Creator": f"ketasim {a['ketasim_version']}", "Producer": "matplotlib PdfPages",
                                   "CreationDate": None}) as pdf:
            for fig in pages:
                pdf.savefig(fig)

    out = Path(path)
    write_atomic(out, write)
    return out

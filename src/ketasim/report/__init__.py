"""Reports people can read: figures (matplotlib) and a self-contained HTML page.

``render_report(result_or_dir, path)`` writes the flagship report from a
:class:`~ketasim.flagship.FlagshipResult` or from a results folder (nothing is
recomputed); ``make_figures(dataset)`` returns the figures as PNG bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

from .html import read_results, render_html, render_report, write_atomic
from .plots import OKABE_ITO, FigureSpec, make_figures

__all__ = ["render_report", "render_html", "read_results", "make_figures", "write_figures", "write_reports",
           "render_pdf", "FigureSpec", "OKABE_ITO", "write_atomic", "FORMATS"]

#: Report formats: a self-contained HTML page, and a PDF made with matplotlib's PdfPages.
FORMATS = ("html", "pdf")


def render_pdf(result_or_dir, path: str | os.PathLike, *, figures=None) -> Path:
    """Write the report as a PDF (from a result or a results folder; nothing is recomputed)."""
    from .pdf import render_pdf as _render

    if isinstance(result_or_dir, (str, os.PathLike)):
        ds, summary = read_results(result_or_dir)
    else:
        ds, summary = result_or_dir.dataset, result_or_dir.summary
    return _render(ds, summary, path, figures)


def write_reports(result_or_dir, out_dir: str | os.PathLike, *, formats=("html",), figures: bool = True) -> list[Path]:
    """Write figures (``figures/*.png``) and the report in each format (``report.html``, ``report.pdf``)."""
    from ..errors import unknown

    for f in formats:
        if f not in FORMATS:
            raise unknown("--format", f, FORMATS)
    if isinstance(result_or_dir, (str, os.PathLike)):
        ds, summary = read_results(result_or_dir)
    else:
        ds, summary = result_or_dir.dataset, result_or_dir.summary
    out = Path(out_dir)
    figs = write_figures(ds, out / "figures") if figures else []
    written = []
    if "html" in formats:
        html = render_html(ds, summary, figs)
        write_atomic(out / "report.html", lambda p: p.write_text(html, encoding="utf-8"))
        written.append(out / "report.html")
    if "pdf" in formats:
        written.append(render_pdf_ds(ds, summary, out / "report.pdf", figs))
    return written


def render_pdf_ds(ds, summary, path, figures=None) -> Path:
    from .pdf import render_pdf as _render

    return _render(ds, summary, path, figures)


def write_figures(result, folder: str | os.PathLike) -> list[FigureSpec]:
    """Make the report's figures from a result (or its Dataset) and write them as ``folder/<name>.png`` (atomically)."""
    figs = make_figures(getattr(result, "dataset", result))
    d = Path(folder)
    for f in figs:
        write_atomic(d / f"{f.name}.png", lambda p, b=f.png: p.write_bytes(b))
    return figs

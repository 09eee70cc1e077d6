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

__all__ = ["render_report", "render_html", "read_results", "make_figures", "write_figures", "FigureSpec", "OKABE_ITO",
           "write_atomic"]


def write_figures(result, folder: str | os.PathLike) -> list[FigureSpec]:
    """Make the report's figures from ``result.dataset`` and write them as ``folder/<name>.png`` (atomically)."""
    figs = make_figures(result.dataset)
    d = Path(folder)
    for f in figs:
        write_atomic(d / f"{f.name}.png", lambda p, b=f.png: p.write_bytes(b))
    return figs

"""``ketasim compare-patterns``: benefit and harm of therapeutic, recreational and dependent patterns side by side."""

from __future__ import annotations

from typing import Optional

import typer

from .cli import _guard, app


@app.command("compare-patterns")
@_guard
def compare_patterns_cmd(
    n: int = typer.Option(500, "--n", help="Simulated adults (the same subjects take every pattern)."),
    seed: int = typer.Option(1, help="Population seed."),
    weeks: int = typer.Option(12, help="Weeks of continuing recreational / dependent use (therapy: 4 weeks)."),
    patterns: Optional[str] = typer.Option(None, help="Comma-separated pattern keys (default all): "
                                           "iv_therapeutic, esketamine_56, esketamine_84, recreational_weekend, "
                                           "dependent_daily."),
    out: Optional[str] = typer.Option(None, help="Directory for compare_patterns.csv and compare_patterns.html."),
    baseline_madrs: Optional[float] = typer.Option(None, "--baseline-madrs",
                                                   help="Baseline MADRS of every subject in every pattern. Default: "
                                                   "therapy patterns 32 (treatment-resistant), recreational and "
                                                   "dependent users no depression (benefit columns n/a)."),
):
    """Therapeutic IV ketamine, esketamine 56/84 mg per label, a recreational weekend and a dependent daily
    pattern (3 g/day insufflated), side by side on benefit, liking, tolerance, memory, bladder and dependence."""
    from rich.console import Console
    from rich.table import Table

    from .compare_patterns import _BENEFIT_NOTE, METRICS, compare_patterns, write_comparison
    from .terminal import _fmt

    keys = None if patterns is None else [k.strip() for k in patterns.split(",") if k.strip()]
    df = compare_patterns(n=n, seed=seed, weeks=weeks, patterns=keys, baseline_madrs=baseline_madrs)
    tab = Table(title=f"Benefit and harm by pattern of use — {n} adults, seed {seed}, population means "
                      f"(end of use: week 4 for therapy, week {weeks} otherwise)")
    tab.add_column("pattern", overflow="fold")
    for _k, head, unit, *_ in METRICS:
        tab.add_column(f"{head}\n{unit}", justify="right", overflow="fold")
    for r in df.itertuples():
        tab.add_row(f"{r.label}", *[_fmt(float(getattr(r, k))) for k, *_ in METRICS])
    con = Console(width=200)
    con.print(tab)
    if df[[k for k, *_ in METRICS]].isna().any().any():
        con.print(_BENEFIT_NOTE.replace("n/a", "-"))
    if out is not None:
        for p in write_comparison(df, out):
            con.print(f"wrote {p}")

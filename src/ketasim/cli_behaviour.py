"""``ketasim self-administer``: the reinforcement-learning agent chooses its doses (issue 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .cli import _guard, app


def _summary_table(sa):
    """Rich table: per session, mean (min-max over subjects) of infusions, first-hour infusions,
    intake, tolerance and value."""
    from rich import box
    from rich.table import Table

    tab = Table(title=f"Self-administration: {sa.attrs['unit_dose']} per infusion, {sa.attrs['schedule']}, "
                      f"{sa.attrs['access']}, {sa.sizes['subject']} {sa.attrs['species']}s",
                box=box.SIMPLE_HEAD)
    cols = (("infusions", "infusions"), ("first_hour_infusions", "first hour"),
            ("daily_intake", f"intake {sa['daily_intake'].attrs['units']}"), ("tolerance", "tolerance"),
            ("value", "value Q"))
    tab.add_column("session", justify="right")
    for _, label in cols:
        tab.add_column(label + "\nmean (min-max)", justify="right")
    for j, s in enumerate(sa["session"].values):
        row = [str(int(s))]
        for var, _ in cols:
            v = sa[var].values[:, j]
            row.append(f"{v.mean():.3g} ({v.min():.3g}-{v.max():.3g})")
        tab.add_row(*row)
    return tab


@app.command("self-administer")
@_guard
def self_administer(
    species: str = typer.Option("rat", help="rat | human."),
    dose: str = typer.Option("0.5 mg/kg iv", help='Unit dose per earned infusion, e.g. "0.5 mg/kg iv".'),
    access: str = typer.Option("2 h daily", help='Daily session length, e.g. "1h daily", "6 h daily".'),
    days: int = typer.Option(14, help="Number of daily sessions."),
    schedule: str = typer.Option("FR1", help="Fixed ratio: FR1, FR5, ..."),
    n: int = typer.Option(8, help="Number of subjects."),
    seed: int = typer.Option(1, help="Random seed (same seed, same result)."),
    timeout: Optional[str] = typer.Option(None, help='Post-infusion time-out, e.g. "20 s" (default per species).'),
    circuit: Optional[str] = typer.Option(None, help="Circuit variant(s), comma-separated (default: best)."),
    no_tolerance: bool = typer.Option(False, "--no-tolerance", help="Switch off the slow tolerance state."),
    out: Optional[Path] = typer.Option(None, help="Write the result to this NetCDF file (atomically)."),
    quiet: bool = typer.Option(False, help="No progress bar or table."),
):
    """Let a TD-learning agent press for the drug (fixed ratio, time-out, daily access) and report
    infusions, intake, tolerance and learned value per session; the PK is resumed exactly from the
    saved state after every choice."""
    import numpy as np
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .behaviour import self_administration
    from .output import write_netcdf

    circ = [c.strip() for c in circuit.split(",")] if circuit else None
    kwargs = dict(access=access, dose=dose, species=species, days=days, schedule=schedule,
                  rng=np.random.default_rng(seed), circuit=circ, n=n, timeout=timeout, tolerance=not no_tolerance)
    if quiet:
        sa = self_administration(**kwargs)
    else:
        with Progress(TextColumn("[bold]sessions"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("sessions", total=days)
            sa = self_administration(**kwargs, progress=lambda done, total: bar.update(task, completed=done))
    sa.attrs["seed"] = seed
    if out is not None:
        write_netcdf(sa, out)
    if not quiet:
        console = Console(width=140)
        console.print(_summary_table(sa))
        cum = sa["cumulative_dose"].values
        console.print(f"cumulative dose: {cum.mean():.3g} {sa['cumulative_dose'].attrs['units']} "
                      f"(range {cum.min():.3g}-{cum.max():.3g})" + (f"; written to {out}" if out else ""))

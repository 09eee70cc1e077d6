"""Scenario commands: ``ketasim scenario validate|schema``, ``ketasim examples``, ``ketasim report``.

``ketasim run FILE --set a.b=c`` lives in :mod:`ketasim.cli` (it runs the
flagship by default).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .cli import _guard, app

scenario_app = typer.Typer(add_completion=False, no_args_is_help=True,
                           help="Scenario files: validate one, or print the JSON Schema of the format.")
app.add_typer(scenario_app, name="scenario")


@scenario_app.command("validate")
@_guard
def validate(
    file: Path = typer.Argument(..., help="Scenario file (.toml, .yaml/.yml or .json)."),
    sets: Optional[list[str]] = typer.Option(None, "--set", help="Override a field first: PATH=VALUE (repeatable)."),
    show: bool = typer.Option(False, "--show", help="Print the scenario as it would run (TOML)."),
):
    """Check a scenario file without running it (exit status 1 and one line per error if invalid)."""
    from .scenario import dumps, load

    sc = load(file, sets or ())
    if show:
        typer.echo(dumps(sc), nl=False)
    t = sc.times()
    typer.echo(f"{file}: valid scenario {sc.name!r}: {len(sc.arms)} arm(s) ({', '.join(a.name for a in sc.arms)}), "
               f"{sc.population.n} {sc.population.species}s, 0 to {sc.end} every {sc.step} ({t.size} points), "
               f"circuit {sc.model.circuit}.", err=show)


@scenario_app.command("schema")
@_guard
def schema(out: Optional[Path] = typer.Option(None, help="Write to this file instead of stdout.")):
    """Print the JSON Schema of the scenario format (for editors and the web API)."""
    from .scenario import json_schema

    text = json.dumps(json_schema(), indent=1) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        from .output import atomic_write_bytes

        atomic_write_bytes(out, text.encode("utf-8"))
        typer.echo(f"wrote {out}", err=True)


@app.command("examples")
@_guard
def examples(
    name: Optional[str] = typer.Argument(None, help="Print this example (see the list)."),
    copy: Optional[Path] = typer.Option(None, "--copy", help="Copy the example to this file or folder instead of printing it."),
):
    """List the example scenarios shipped with ketasim, or print / copy one."""
    from .scenario import example_path, example_text, list_examples

    if name is None:
        from rich.console import Console
        from rich.table import Table

        tab = Table(title="ketasim example scenarios (ketasim examples NAME prints one; "
                          "ketasim run $(ketasim examples NAME --copy .) runs it)", show_lines=False)
        tab.add_column("name", style="bold", no_wrap=True)
        tab.add_column("what it simulates", overflow="fold")
        for n, d in list_examples():
            tab.add_row(n, d)
        Console(width=140).print(tab)
        return
    text = example_text(name)
    if copy is None:
        typer.echo(text, nl=False)
        return
    dest = copy / example_path(name).name if copy.is_dir() else copy
    from .output import atomic_write_bytes

    atomic_write_bytes(dest, text.encode("utf-8"))
    typer.echo(str(dest))


@app.command("report")
@_guard
def report(
    folder: Path = typer.Argument(..., help="A results folder written by `ketasim run` (flagship.nc, summary.csv)."),
    fmt: str = typer.Option("html", "--format", help="html | pdf (PDF made with matplotlib's PdfPages)."),
    out: Optional[Path] = typer.Option(None, help="Report file (default: FOLDER/report.html or FOLDER/report.pdf)."),
):
    """Re-render the report from saved results, without recomputing anything."""
    from .errors import unknown
    from .report import FORMATS, render_pdf, render_report

    if fmt not in FORMATS:
        raise unknown("--format", fmt, FORMATS)
    path = out or folder / f"report.{fmt}"
    if fmt == "html":
        render_report(folder, path)
    else:
        render_pdf(folder, path)
    typer.echo(str(path))

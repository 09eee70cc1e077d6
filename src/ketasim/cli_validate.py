"""``ketasim validate`` and ``ketasim export`` (SBML, NONMEM dosing data)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import List, Optional

import typer

from .cli import _fail, _guard, app

export_app = typer.Typer(no_args_is_help=True, help="Export a model or dosing records for other tools (SBML, NONMEM).")
app.add_typer(export_app, name="export")


def _write_text(path: Path, text: str) -> None:
    from .output import atomic_write_bytes

    atomic_write_bytes(path, text.encode("utf-8"))


def _pct(x: float) -> str:
    return "-" if x != x else f"{100 * x:.0f}%"


def _g(x: float) -> str:
    return "-" if x != x else f"{x:.3g}"


def _table(result) -> str:
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    con = Console(file=buf, width=140)
    for lr in result.layers:
        s = lr.summary
        tab = Table(title=f"{lr.title} ({lr.name}): {lr.observations}")
        for c in ("group", "n", "studies", "GMFE", "bias", "≤1.25×", "≤1.5×", "≤2×", "in 90% PI"):
            tab.add_column(c, justify="right" if c != "group" else "left")
        for _, g in lr.groups.iterrows():
            tab.add_row(g["group"], str(g["n"]), str(g["studies"]), _g(g["gmfe"]), _g(g["bias"]),
                        _pct(g["within_1_25"]), _pct(g["within_1_5"]), _pct(g["within_2"]), _pct(g["in_pi90"]))
        con.print(tab)
        con.print(f"{s['n_in_scope']} observations in scope from {s['n_studies_in_scope']} studies; "
                  f"{s['n_out_of_scope']} documented out of scope (see the report); "
                  f"{s.get('n_bounds_inside', 0)} of {s.get('n_bounds', 0)} published intervals met "
                  f"({s.get('n_bounds_not_computable', 0)} not computable, {s.get('n_bounds_out_of_scope', 0)} "
                  f"documented known misses); {s.get('n_curves_in_scope', 0)} digitised curves gated "
                  f"of {s.get('n_curves', 0)}.")
        bu = s.get("by_use", {})
        con.print("By use: " + "; ".join(
            f"{u}: {d.get('n_rows', 0)} rows (GMFE {_g(d.get('gmfe', float('nan')))}), "
            f"{d.get('n_bounds_inside', 0)} of {d.get('n_bounds', 0)} intervals met" for u, d in bu.items()))
        gates = Table(title=f"gates: {lr.name}" + ("" if lr.enforced else f" (reported, not enforced: {lr.enforce_reason})"))
        for c in ("gate", "value", "threshold", "result"):
            gates.add_column(c)
        for gr in lr.gates:
            gates.add_row(gr.description, _g(gr.value), _g(gr.threshold),
                          "pass" if gr.passed else ("FAIL" if lr.enforced else "FAIL (not enforced)"))
        con.print(gates)
    con.print(f"Headline: {_headline(result)}")
    if result.passed and result.failed_gates:
        con.print("PASSED the enforced gates; gates not met in layers that are not enforced: "
                  + "; ".join(result.failed_gates))
    else:
        con.print("PASSED" if result.passed else "FAILED: a validation gate is not met")
    return buf.getvalue()


def _headline(result) -> str:
    from .validation import headline

    return headline(result)


@app.command()
@_guard
def validate(
    layer: Optional[List[str]] = typer.Option(None, "--layer", help="Layer(s) to validate (default: every registered layer), e.g. pk."),
    fmt: str = typer.Option("table", "--format", help="table | json."),
    out: Optional[Path] = typer.Option(None, help="Write the table or JSON to this file instead of stdout."),
    report: Optional[Path] = typer.Option(None, help="Also write the self-contained HTML validation report here."),
    observations: Optional[Path] = typer.Option(None, help="Your own observations for one layer (default pk): a CSV "
                                                "in the column format of that layer's file in ketasim/data/observations "
                                                "(pk_calibration.csv; receptors.csv, pkpd.csv, safety.csv)."),
    subjects: Optional[int] = typer.Option(None, help="Virtual subjects per study arm for the 90% prediction "
                                           "intervals (default from validation_gates.toml; 0 = none)."),
    seed: Optional[int] = typer.Option(None, help="Base seed of the virtual populations (default from the config)."),
):
    """Compare every reference observation with ketasim's prediction; exit 1 if a gate fails."""
    from .validation import validate as _validate

    if fmt not in ("table", "json"):
        from .errors import unknown

        raise unknown("--format", fmt, ("table", "json"))
    result = _validate(layer or None, observations=observations, n_subjects=subjects, seed=seed)
    if report is not None:
        from .report.validation_html import render_validation_report

        _write_text(report, render_validation_report(result))
        typer.echo(f"wrote {report}", err=True)
    text = json.dumps(result.to_json(), indent=1, sort_keys=False) + "\n" if fmt == "json" else _table(result)
    if out is not None:
        _write_text(out, text)
        typer.echo(f"wrote {out}", err=True)
    else:
        typer.echo(text, nl=False)
    if not result.passed:
        typer.echo("ketasim: validation gate failed: " + "; ".join(result.failed_gates), err=True)
        raise typer.Exit(1)
    if result.failed_gates:
        typer.echo("ketasim: warning: gates not met in layers that are not enforced: "
                   + "; ".join(result.failed_gates), err=True)


@export_app.command("sbml")
@_guard
def export_sbml(
    regimen: str = typer.Option(..., help='Regimen text, e.g. "20 mg iv over 20 min"; doses become SBML events.'),
    out: Path = typer.Option(..., help="SBML file to write (e.g. model.xml)."),
    parameters: Optional[str] = typer.Option(None, help="Parameter-set id (default: by drug, route and age)."),
    weight: float = typer.Option(70.0, help="Body weight, kg (individual parameter values)."),
    age: float = typer.Option(40.0, help="Age, years."),
    sex: str = typer.Option("M", help="F or M."),
    species: str = typer.Option("human", help="human or rat."),
):
    """Write one subject's PK model and regimen as SBML (L3V2; time in h; outputs under ketasim's names)."""
    from .population import Subject
    from .regimen_text import parse_regimen
    from .sbml import write_sbml
    from .simulate import default_parameter_set

    reg = parse_regimen(regimen)
    subj = Subject(weight=weight, age=age, sex=sex, species=species)
    sid = parameters or default_parameter_set(reg, species, subj.age)
    write_sbml(out, sid, reg, subj)
    typer.echo(f"wrote {out} (parameter set {sid})", err=True)


@export_app.command("nonmem-data")
@_guard
def export_nonmem_data(
    scenario: Path = typer.Argument(..., help="Scenario file (TOML), e.g. examples/iv-depression-trial.toml."),
    out: Path = typer.Option(..., help="CSV file of NONMEM dose records to write."),
    n: Optional[int] = typer.Option(None, help="Subjects per arm (default: the scenario's population n)."),
):
    """Write a scenario's dosing as NONMEM records: every arm x subject, mg doses (mg/kg times weight)."""
    from .io import write_nonmem
    from .scenario_export import scenario_dosing

    if n is not None and n < 1:
        _fail(f"--n must be >= 1; got {n}.")
    regimens, weights, comments = scenario_dosing(scenario, n)
    buf = io.StringIO()
    write_nonmem(regimens, buf, weights=weights)
    _write_text(out, "".join(f"# {c}\n" for c in comments) + buf.getvalue())
    typer.echo(f"wrote {out} ({len(regimens)} subjects)", err=True)

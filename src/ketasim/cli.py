"""The ``ketasim`` command line.

Every command turns ketasim's errors into one line on stderr and a non-zero
exit status; no traceback reaches the user (set ``KETASIM_DEBUG=1`` to see one).
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from .errors import KetasimError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=(
    "ketasim: ketamine from a dose to blood and brain levels — exact, population-scale pharmacokinetics."
))

_FORMATS = ("csv", "json", "netcdf", "table")


def _fail(msg: str, code: int = 1) -> None:
    typer.echo(f"ketasim: error: {msg}", err=True)
    raise typer.Exit(code)


def _guard(fn):
    """Run a command body, turning expected errors into one line."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except (KetasimError, ValueError, KeyError, FileNotFoundError, PermissionError, OSError) as exc:
            if os.environ.get("KETASIM_DEBUG"):
                raise
            msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            _fail(msg or type(exc).__name__)

    return wrapper


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    from .output import atomic_write_bytes

    atomic_write_bytes(path, data)


@app.command()
@_guard
def simulate(
    regimen: str = typer.Argument(..., help='Regimen text, e.g. "0.5 mg/kg iv over 40 min".'),
    weight: Optional[float] = typer.Option(None, help="Body weight, kg (default 70 for a human, 0.3 for a rat)."),
    age: Optional[float] = typer.Option(None, help="Age, years (default 40 for a human, 0.25 for a rat)."),
    sex: str = typer.Option("M", help="F or M."),
    species: str = typer.Option("human", help="human or rat."),
    end: Optional[str] = typer.Option(None, help="Last output time, e.g. 24h, 7d, 90min; default 24 h after the last dose ends."),
    step: Optional[str] = typer.Option(None, help="Output step, e.g. 5min, 0.1h; default 5 min up to 2 days, 1 h beyond."),
    parameters: Optional[str] = typer.Option(None, help="Parameter-set id (see `ketasim parameters`); default by drug, route, age."),
    outputs: Optional[str] = typer.Option(None, help="Comma-separated output variables (see `ketasim variables`)."),
    circuit: Optional[str] = typer.Option(None, help="Circuit variant(s), comma-separated (see `ketasim hypotheses`); default: the best-scoring."),
    fmt: str = typer.Option("csv", "--format", help="csv | json | netcdf | table."),
    out: Optional[Path] = typer.Option(None, help="Write to this file instead of stdout (.nc for NetCDF)."),
    relapse_clock: Optional[str] = typer.Option(None, "--relapse-clock",
                                                help="When the subject is in stable remission or response and the "
                                                     "relapse clock of output p_relapse starts, e.g. 16weeks, 112d; "
                                                     "default the start of the regimen."),
):
    """Simulate one subject and print or save the concentration–time course."""
    from .population import Subject
    from .simulate import simulate as _simulate
    from .units import to_hours

    if fmt not in _FORMATS:
        from .errors import unknown

        raise unknown("--format", fmt, _FORMATS)
    if end is None or step is None:
        from .regimen_text import parse_regimen

        reg = parse_regimen(regimen)
        last = max((float(e.time) + float(e.duration) for e in reg.events), default=0.0)
        end_h = to_hours(end, "--end") if end is not None else last + 24.0
        step_h = to_hours(step, "--step") if step is not None else (5.0 / 60.0 if end_h <= 48.0 else 1.0)
    else:
        end_h = to_hours(end, "--end")
        step_h = to_hours(step, "--step")
    if step_h <= 0:
        _fail(f"--step must be > 0; got {step!r}.")
    if end_h <= 0:
        _fail(f"--end must be > 0; got {end!r}.")
    npts = int(np.floor(end_h / step_h + 1e-9)) + 1
    if npts > 2_000_000:
        _fail(f"--end/--step gives {npts} time points; at most 2000000 are allowed. Use a larger --step.")
    times = np.arange(npts) * step_h
    outs = [o.strip() for o in outputs.split(",") if o.strip()] if outputs else None
    rat = species == "rat"
    weight = (0.3 if rat else 70.0) if weight is None else weight
    age = (0.25 if rat else 40.0) if age is None else age
    subj = Subject(weight=weight, age=age, sex=sex, species=species)
    circ = [c.strip() for c in circuit.split(",") if c.strip()] if circuit else None
    who = subj
    if relapse_clock is not None:
        from .outcomes import with_relapse_clock

        who = with_relapse_clock(subj, to_hours(relapse_clock, "--relapse-clock"))
    ds = _simulate(regimen, who, times, parameters=parameters, outputs=outs, circuit=circ)
    if fmt == "netcdf" or (out is not None and out.suffix == ".nc"):
        if out is None:
            _fail("--format netcdf needs --out FILE.nc.")
        from .output import write_netcdf

        write_netcdf(ds, out)
        typer.echo(f"wrote {out}", err=True)
        return
    df = ds.isel(subject=0).drop_vars([c for c in ("weight", "age", "sex", "subject", "parameter_set")
                                        if c in ds.coords]).to_dataframe()
    df.index.name = "time_h"
    if fmt == "csv":
        text = df.to_csv(float_format="%.6g")
    elif fmt == "json":
        text = json.dumps({"time_h": df.index.tolist(), **{c: df[c].tolist() for c in df.columns},
                           "units": {v: ds[v].attrs.get("units", "") for v in ds.data_vars},
                           "attrs": {k: str(v) for k, v in ds.attrs.items()}}, indent=1)
    else:
        from rich.console import Console
        from rich.table import Table

        tab = Table(title=f"{regimen} — {ds.attrs['parameter_sets']}")
        tab.add_column("time (h)", justify="right")
        for c in df.columns:
            tab.add_column(f"{c} ({ds[c].attrs.get('units', '')})", justify="right")
        stride = max(1, len(df) // 40)
        for t, row in df.iloc[::stride].iterrows():
            tab.add_row(f"{t:g}", *(f"{v:.4g}" for v in row.values))
        buf = io.StringIO()
        Console(file=buf, width=200).print(tab)
        text = buf.getvalue()
    if out is not None:
        _atomic_write_bytes(out, text.encode())
        typer.echo(f"wrote {out}", err=True)
    else:
        sys.stdout.write(text)


@app.command("parameters")
@_guard
def parameters_cmd(
    set_id: Optional[str] = typer.Argument(None, help="Show one set in full."),
    fmt: str = typer.Option("table", "--format", help="table | json."),
):
    """List the parameter sets with citation, population, routes and analytes (or show one)."""
    from rich.console import Console
    from rich.table import Table

    from .parameters import get_parameter_set, list_parameter_sets

    console = Console(width=160)
    if set_id is None:
        rows = [get_parameter_set(s).summary() for s in list_parameter_sets()]
        if fmt == "json":
            typer.echo(json.dumps(rows, indent=1))
            return
        tab = Table(title="ketasim parameter sets", show_lines=True)
        for col in ("id", "species", "drug", "analytes", "routes", "population", "citation"):
            tab.add_column(col, overflow="fold")
        for r in rows:
            tab.add_row(*(str(r[c]) for c in ("id", "species", "drug", "analytes", "routes", "population", "citation")))
        console.print(tab)
        return
    ps = get_parameter_set(set_id)
    if fmt == "json":
        typer.echo(json.dumps({**ps.summary(), "parameters": {
            n: {"value": p.value, "unit": p.kind, "per_kg": p.per_kg, "iiv_sd": p.iiv, "tag": p.tag,
                "source": p.source, "note": p.note, "as_published": p.original}
            for n, p in ps.params.items()}, "notes": list(ps.notes)}, indent=1))
        return
    tab = Table(title=f"{ps.id}: {ps.title}", show_lines=False)
    for col in ("parameter", "as published", "canonical", "IIV (sd)", "tag", "source / note"):
        tab.add_column(col, overflow="fold")
    canon = {"volume": "L", "flow": "L/h", "rate": "1/h", "time": "h", "dimensionless": "", "amount": "mg"}
    for n, p in ps.params.items():
        tab.add_row(n, p.original, f"{p.value:.5g} {canon.get(p.kind, '')}{'/kg' if p.per_kg else ''}",
                    f"{p.iiv:.3g}" if p.iiv else "", p.tag, " — ".join(x for x in (p.source, p.note) if x))
    console.print(tab)
    console.print(f"[b]Citation:[/b] {ps.citation}")
    for note in ps.notes:
        console.print(f"- {note}")
    borrowed = [r for r, spec in ps.routes.items() if spec.get("borrowed")]
    console.print(f"[b]Routes:[/b] own: {', '.join(r for r in ps.routes if r not in borrowed)}; "
                  f"borrowed from the route library: {', '.join(borrowed) or 'none'}")


@app.command()
@_guard
def variables(fmt: str = typer.Option("table", "--format", help="table | json.")):
    """List the output variables with units and meaning."""
    from .layers.pk import PK_OUTPUTS

    from .pd_chain import PD_OUTPUTS

    from .layers.safety import SAFETY_OUTPUTS

    from .outcomes import outcome_variables

    rows = [{"name": k, "units": u, "meaning": m}
            for k, (u, m) in {**PK_OUTPUTS, **PD_OUTPUTS, **SAFETY_OUTPUTS, **outcome_variables()}.items()]
    rows.append({"name": "A_<compartment>", "units": "mg", "meaning": "amount in a compartment of the chosen set "
                 "(see `ketasim parameters <id>`)"})
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    tab = Table(title="ketasim output variables")
    for c in ("name", "units", "meaning"):
        tab.add_column(c, overflow="fold")
    for r in rows:
        tab.add_row(r["name"], r["units"], r["meaning"])
    Console(width=160).print(tab)


@app.command()
@_guard
def run(
    scenario: Optional[Path] = typer.Argument(None, help="Scenario file (TOML, YAML or JSON; see `ketasim examples`); default: the flagship benefit-risk scenario."),
    out: Path = typer.Option(Path("results/flagship"), help="Output directory."),
    n: Optional[int] = typer.Option(None, help="Subjects per arm (default: the scenario's)."),
    seed: Optional[int] = typer.Option(None, help="Population seed (default: the scenario's)."),
    quiet: bool = typer.Option(False, help="No progress bar or table."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    sets: Optional[list[str]] = typer.Option(None, "--set", help='Override a scenario field: PATH=VALUE, e.g. population.n=5000 or arms.esketamine.dose="84 mg" (repeatable).'),
):
    """Run the flagship benefit–risk scenario (through the layers that exist) and write the report."""
    from rich.console import Console

    from . import flagship

    kwargs = {}
    if n is not None:
        if n < 1 or n > 1_000_000:
            _fail(f"--n must be between 1 and 1000000 subjects; got {n}.")
        kwargs["n"] = n
    if seed is not None:
        kwargs["seed"] = seed
    if scenario is not None:
        kwargs["scenario_path"] = scenario
    res = flagship.run_flagship(out, quiet=quiet or as_json, progress=not (quiet or as_json), overrides=sets or (),
                                **kwargs)
    if as_json:
        typer.echo(json.dumps(res.to_json(), indent=1))
    elif not quiet:
        console = Console()
        flagship.print_summary(res, console)
        console.print(f"Report: {Path(out) / 'report.html'}")


# Feature commands live in their own modules (``ketasim/cli_<feature>.py``), each doing
# ``from .cli import app, _guard`` and decorating its commands with ``@app.command()``.
# Add the module's name here; keep this file to the core commands.
_COMMAND_MODULES: tuple[str, ...] = ("cli_trials", "cli_scenario", "cli_circuit", "cli_safety", "cli_epi",
                                     "cli_validate", "cli_web", "cli_behaviour", "cli_outcomes")
for _mod in _COMMAND_MODULES:
    __import__(f"{__package__}.{_mod}")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        app(args=argv, prog_name="ketasim", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

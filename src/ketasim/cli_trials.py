"""``ketasim trial``, ``ketasim sweep`` and ``ketasim sensitivity``: virtual trials at scale."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .cli import _fail, _guard, app


def _scenario(path: Optional[Path], resume: Optional[Path]):
    from .flagship import FLAGSHIP, Scenario, load_scenario

    if path is not None:
        return load_scenario(path)
    if resume is not None:
        import tomllib

        from .trials import read_manifest

        return Scenario.from_dict(tomllib.loads(read_manifest(resume)["scenario_toml"]), where=f"{resume}/manifest.json")
    return FLAGSHIP


def _print_summary(df, title: str) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from .flagship import _fmt

    keep = [m for m in ("Cmax_ketamine", "AUC_ketamine", "h_per_week_above_50", "h_per_week_above_1200")
            if m in set(df["metric"])] or list(dict.fromkeys(df["metric"]))[:4]
    t = Table(title=title, caption="median [5-95% of subjects]", box=box.SIMPLE_HEAD)
    t.add_column("arm", style="bold", no_wrap=True)
    for m in keep:
        u = df.loc[df["metric"] == m, "unit"].iloc[0]
        label = {"Cmax_ketamine": "Cmax", "AUC_ketamine": "AUC", "h_per_week_above_50": "> 50 ng/mL",
                 "h_per_week_above_1200": "> 1200 ng/mL"}.get(m, m)
        t.add_column(f"{label}\n{u}", justify="right", no_wrap=True)
    for arm in dict.fromkeys(df["arm"]):
        cells = []
        for m in keep:
            r = df[(df["arm"] == arm) & (df["metric"] == m)].iloc[0]
            cells.append(f"{_fmt(r['median'])}\n[{_fmt(r['p05'])}-{_fmt(r['p95'])}]")
        t.add_row(arm, *cells)
    Console().print(t)


@app.command()
@_guard
def trial(
    scenario: Optional[Path] = typer.Argument(None, help="Scenario file (TOML); default: the embedded flagship "
                                              "(or, with --resume, the scenario recorded there)."),
    n: Optional[int] = typer.Option(None, help="Subjects per arm (default: the scenario's)."),
    seed: Optional[int] = typer.Option(None, help="Population seed (default: the scenario's)."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default results/trial)."),
    summaries_only: bool = typer.Option(False, "--summaries-only", help="Keep only per-chunk Parquet summaries, "
                                        "manifest and summary.csv (bounded memory); no trial.nc."),
    executor: str = typer.Option("serial", help="serial | dask."),
    workers: int = typer.Option(2, help="Workers of a local Dask cluster."),
    scheduler: Optional[str] = typer.Option(None, help="Address of an existing Dask scheduler, "
                                            "e.g. tcp://127.0.0.1:8786 (implies --executor dask)."),
    chunk_size: Optional[int] = typer.Option(None, help="Subjects per chunk (default 1000; results do not depend on it)."),
    resume: Optional[Path] = typer.Option(None, help="Continue the interrupted trial in this folder."),
    parameters: Optional[str] = typer.Option(None, help="One parameter-set id for every arm (default: per arm)."),
    end: Optional[str] = typer.Option(None, help="Override the simulated period, e.g. 7d."),
    step: Optional[str] = typer.Option(None, help="Override the output step, e.g. 10min."),
    quiet: bool = typer.Option(False, help="No progress bar or table."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest summary as JSON."),
):
    """Run a virtual trial: every arm in one sampled population, chunk by chunk, serially or on Dask."""
    from . import trials
    from .output import atomic_write_bytes

    if n is not None and not 1 <= n <= 10_000_000:
        _fail(f"--n must be between 1 and 10000000 subjects; got {n}.")
    if resume is not None and out is not None and Path(out).resolve() != Path(resume).resolve():
        _fail(f"--resume {resume} and --out {out} name different folders; give one of them.")
    if scheduler is not None:
        executor = "dask"
    outp = Path(resume or out or "results/trial")
    sc = _scenario(scenario, resume)
    sets = [f"{k}={json.dumps(v)}" for k, v in (("end", end), ("step", step)) if v is not None]
    if sets:
        from .trials._scenario import with_overrides

        sc = with_overrides(sc, sets)
    kw = {}
    if resume is not None:
        rec = trials.read_manifest(resume)["design"]
        kw = {"n": rec["n"], "seed": rec["seed"], "chunk_size": rec["chunk_size"]}
        if rec.get("parameters") and parameters is None:
            kw["parameters"] = rec["parameters"]
    for k, v in (("n", n), ("seed", seed), ("chunk_size", chunk_size), ("parameters", parameters)):
        if v is not None:
            kw[k] = v
    d = trials.TrialDesign(sc, **kw)
    show = not (quiet or as_json)
    ds = trials.run(d, executor=executor, workers=workers, scheduler=scheduler, out=outp, resume=resume is not None,
                    progress=show, load=not summaries_only)
    summary = trials.trial_summary(outp)
    atomic_write_bytes(outp / "summary.csv", summary.to_csv(index=False, lineterminator="\n").encode())
    if ds is not None:
        from .output import write_netcdf

        write_netcdf(ds, outp / "trial.nc")
    if as_json:
        man = trials.read_manifest(outp)
        typer.echo(json.dumps({k: man[k] for k in ("fingerprint", "n_subjects", "n_chunks", "chunks_done", "complete",
                                                   "arms")} | {"out": str(outp)}, indent=1))
    elif show:
        _print_summary(summary, f"{sc.name}: n = {d.n} per arm, seed {d.seed}")
        typer.echo(f"Chunks and manifest: {outp}", err=True)

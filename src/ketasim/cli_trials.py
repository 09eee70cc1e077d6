"""``ketasim trial``, ``ketasim sweep`` and ``ketasim sensitivity``: virtual trials at scale."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .cli import _fail, _guard, app


def _factors(items: List[str]) -> dict[str, float]:
    out = {}
    for it in items:
        name, sep, val = it.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(val)
        except ValueError:
            _fail(f"--factor must be NAME=NUMBER, e.g. Ki_NMDA=1.5 or harms.dependence.E50=2; got {it!r}.")
    return out


#: Largest estimated memory for a trial whose per-subject Dataset is loaded (without --summaries-only).
LOAD_LIMIT_BYTES = 4 * 2**30


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

    from .terminal import _fmt

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
    outputs: Optional[str] = typer.Option(None, help="Comma-separated variables to simulate and summarise "
                                          "(peak_, auc_, final_ per subject), e.g. C_plasma_ketamine,DA_NAc_pct,"
                                          "dissociation (see `ketasim variables`); 'default' stands for the "
                                          "default variables, 'outcomes' for every outcome variable (tolerance, "
                                          "drug_liking, depression_score, p_dependence ...): default,outcomes is "
                                          "everything. Default: the scenario's, else 'default'."),
    quiet: bool = typer.Option(False, help="No progress bar or table."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest summary as JSON."),
    report: bool = typer.Option(True, help="Write report.html (set-up, every metric per arm, box plots, the "
                                "spread of peak ketamine) into the output folder."),
    factor: List[str] = typer.Option([], help='Scale a model parameter for every subject, e.g. "Ki_NMDA=1.5" or '
                                     '"harms.dependence.E50=2" (receptor, circuit, dopamine or outcome-layer '
                                     'names; see `ketasim sweep --vary param.NAME=...`). Repeat it.'),
):
    """Run a virtual trial: every arm in one sampled population, chunk by chunk, serially or on Dask.

    Writes per-chunk Parquet summaries and a manifest as chunks finish, then summary.csv, report.html and
    (without --summaries-only) trial.nc. A finished folder given to --resume is read, not rerun: that
    remakes summary.csv and the report.
    """
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
        if rec.get("factors") and not factor:
            kw["factors"] = rec["factors"]
        per_arm = rec.get("outputs") or []
        if outputs is None and per_arm and all(o == per_arm[0] for o in per_arm):   # the variables it ran with
            kw["outputs"] = tuple(per_arm[0])
    if outputs is not None:
        names = tuple(o.strip() for o in outputs.split(",") if o.strip())
        if not names:
            _fail("--outputs must name at least one variable, e.g. C_plasma_ketamine,DA_NAc_pct.")
        kw["outputs"] = names
    for k, v in (("n", n), ("seed", seed), ("chunk_size", chunk_size), ("parameters", parameters)):
        if v is not None:
            kw[k] = v
    if factor:
        kw["factors"] = _factors(factor)
    d = trials.TrialDesign(sc, **kw)
    if not summaries_only:
        # the per-subject Dataset (trial.nc) is held in memory: refuse what would not fit comfortably
        n_metrics = 3 * max(len(o) for o in d.arm_outputs) + 7          # peak/auc/final per variable + PK metrics
        need = 3 * 8 * d.n * len(sc.arms) * n_metrics                    # frames, Dataset and NetCDF buffers
        if need > LOAD_LIMIT_BYTES:
            _fail(f"--n {d.n:,} with {len(sc.arms)} arms and {n_metrics} metrics would hold about "
                  f"{need / 2**30:.1f} GiB of per-subject metrics in memory for trial.nc (at most "
                  f"{LOAD_LIMIT_BYTES / 2**30:.0f} GiB here). Add --summaries-only: Parquet chunks, summary.csv and "
                  f"report.html in bounded memory (ketasim.trials.read_trial reads the chunks later if needed).")
    show = not (quiet or as_json)
    ds = trials.run(d, executor=executor, workers=workers, scheduler=scheduler, out=outp, resume=resume is not None,
                    progress=show, load=not summaries_only)
    from .report.trial_html import TRIAL_QUANTILES, render_trial_report

    full = trials.trial_summary(outp, quantiles=TRIAL_QUANTILES)   # read once: summary.csv and the report
    summary = full[["arm", "metric", "unit", "p05", "median", "p95"]]
    atomic_write_bytes(outp / "summary.csv", summary.to_csv(index=False, lineterminator="\n").encode())
    if report:
        render_trial_report(outp, summary=full)
    if ds is not None:
        from .output import write_netcdf

        write_netcdf(ds, outp / "trial.nc")
    if as_json:
        man = trials.read_manifest(outp)
        typer.echo(json.dumps({k: man[k] for k in ("fingerprint", "n_subjects", "n_chunks", "chunks_done", "complete",
                                                   "arms")} | {"out": str(outp)}, indent=1))
    elif show:
        _print_summary(summary, f"{sc.name}: n = {d.n} per arm, seed {d.seed}")
        typer.echo(f"Chunks and manifest: {outp}" + (f"; report: {outp / 'report.html'}" if report else ""), err=True)


@app.command()
@_guard
def sweep(
    scenario: Optional[Path] = typer.Argument(None, help="Scenario file (TOML); default: the embedded flagship."),
    vary: List[str] = typer.Option(..., help='Field and values: "arms.iv.dose=0.25..1.0 mg/kg:7", '
                                   '"population.weight=50..110:4" or "arms.esketamine.dose=28,56,84 mg"; a model '
                                   'parameter by scale factors: "param.Ki_NMDA=0.5..2:5", '
                                   '"param.harms.dependence.E50=0.5,1,2". Repeat it.'),
    paired: bool = typer.Option(False, help="Zip the --vary fields (same lengths) instead of every combination."),
    n: Optional[int] = typer.Option(None, help="Subjects per arm and point (default: the scenario's)."),
    seed: Optional[int] = typer.Option(None, help="Population seed (default: the scenario's)."),
    metric: str = typer.Option("Cmax_ketamine", help="Metric plotted against the first field."),
    outputs: Optional[str] = typer.Option(None, help="Comma-separated variables to simulate (as for `ketasim "
                                          "trial --outputs`; 'outcomes' adds every outcome variable), e.g. "
                                          "default,outcomes with --metric final_tolerance."),
    end: Optional[str] = typer.Option(None, help="Override the simulated period, e.g. 7d."),
    step: Optional[str] = typer.Option(None, help="Override the output step, e.g. 1h."),
    out: Path = typer.Option(Path("results/sweep"), help="Output folder."),
    executor: str = typer.Option("serial", help="serial | dask."),
    workers: int = typer.Option(2, help="Workers of a local Dask cluster."),
    scheduler: Optional[str] = typer.Option(None, help="Address of an existing Dask scheduler."),
    chunk_size: int = typer.Option(250, help="Subjects per chunk."),
    quiet: bool = typer.Option(False, help="No progress bar."),
):
    """Sweep scenario fields (Cartesian or paired) and plot dose-response curves."""
    from .output import atomic_write_bytes, write_netcdf
    from .trials.sweep import plot_sweep, sweep as run_sweep

    if scheduler is not None:
        executor = "dask"
    outs = None if outputs is None else tuple(o.strip() for o in outputs.split(",") if o.strip()) or None
    ds = run_sweep(scenario, vary, mode="paired" if paired else "cartesian", n=n, seed=seed, outputs=outs,
                   end=end, step=step,
                      chunk_size=chunk_size, executor=executor, workers=workers, scheduler=scheduler,
                      progress=not quiet)
    out.mkdir(parents=True, exist_ok=True)
    write_netcdf(ds, out / "sweep.nc")
    q = ds[metric].quantile([0.05, 0.5, 0.95], dim="subject") if metric in ds else None
    if q is None:
        _fail(f"--metric {metric!r} is not a metric of this sweep; try Cmax_ketamine or peak_<variable>.")
    df = q.to_dataframe().reset_index().pivot_table(index=[d for d in q.dims if d != "quantile"],
                                                    columns="quantile", values=metric).reset_index()
    df.columns = [c if not isinstance(c, float) else {0.05: "p05", 0.5: "median", 0.95: "p95"}[c] for c in df.columns]
    atomic_write_bytes(out / "sweep_summary.csv", df.to_csv(index=False, lineterminator="\n").encode())
    plot_sweep(ds, metric, out / "dose_response.png")
    from .report.trials_html import render_sweep_report

    render_sweep_report(ds, out / "report.html", metric=metric)
    if not quiet:
        typer.echo(df.to_string(index=False))
        typer.echo(f"wrote {out / 'sweep.nc'}, {out / 'sweep_summary.csv'}, {out / 'dose_response.png'}, "
                   f"{out / 'report.html'}", err=True)


@app.command()
@_guard
def sensitivity(
    scenario: Optional[Path] = typer.Argument(None, help="Scenario file (TOML); default: the embedded flagship."),
    method: str = typer.Option("sobol", help="sobol | morris."),
    n: int = typer.Option(1024, help="Sobol base samples (a power of 2) or Morris trajectories."),
    parameters: str = typer.Option(..., help="Comma-separated parameters of the arm's set, e.g. CL,V1,Q2,V2 "
                                   "(see `ketasim parameters <set>`), and of the receptor, circuit and dopamine "
                                   "layers, e.g. Ki_NMDA,gain,strength_vta_local,Vmax_NAc (for outputs of those "
                                   "layers and the outcomes), and of the outcome layers, e.g. tolerance.k_in,"
                                   "harms.dependence.E50,antidepressant.P50 (for outcome outputs); an unknown "
                                   "name lists them all."),
    output: str = typer.Option("peak_C_plasma_ketamine", help="Metric: peak_<variable>, auc_<variable>, "
                               "final_<variable> or Cmax_ketamine, AUC_ketamine ..."),
    arm: Optional[str] = typer.Option(None, help="Arm name (or unique prefix); default the first."),
    parameter_set: Optional[str] = typer.Option(None, "--parameter-set", help="Default: the arm's."),
    low: float = typer.Option(0.5, help="Lowest scale factor on the typical values."),
    high: float = typer.Option(2.0, help="Highest scale factor on the typical values."),
    seed: int = typer.Option(1, help="Sampling seed."),
    out: Path = typer.Option(Path("results/sensitivity"), help="Output folder."),
    executor: str = typer.Option("serial", help="serial | dask."),
    workers: int = typer.Option(2, help="Workers of a local Dask cluster."),
    scheduler: Optional[str] = typer.Option(None, help="Address of an existing Dask scheduler."),
    quiet: bool = typer.Option(False, help="No progress bar or table."),
):
    """Global sensitivity (SALib Sobol or Morris) of a metric to PK, receptor, circuit, dopamine and outcome parameters."""
    from .output import atomic_write_bytes, write_netcdf
    from .trials.sensitivity import plot_sensitivity, sensitivity as run_sensitivity

    if scheduler is not None:
        executor = "dask"
    names = [p.strip() for p in parameters.split(",") if p.strip()]
    ds = run_sensitivity(scenario, parameters=names, output=output, method=method, n=n, arm=arm,
                           parameter_set=parameter_set, bounds=(low, high), seed=seed, executor=executor,
                           workers=workers, scheduler=scheduler, progress=not quiet)
    out.mkdir(parents=True, exist_ok=True)
    write_netcdf(ds, out / "sensitivity.nc")
    cols = ["S1", "S1_conf", "ST", "ST_conf"] if method == "sobol" else ["mu", "mu_star", "sigma", "mu_star_conf"]
    df = ds[cols].to_dataframe().reset_index()
    atomic_write_bytes(out / "indices.csv", df.to_csv(index=False, lineterminator="\n", float_format="%.6g").encode())
    plot_sensitivity(ds, out / "sensitivity.png")
    from .report.trials_html import render_sensitivity_report

    render_sensitivity_report(ds, out / "report.html")
    if not quiet:
        typer.echo(f"{method} sensitivity of {output} ({ds.attrs['arm']}, {ds.attrs['parameter_set']}, "
                   f"{ds.attrs['simulations']} simulations)")
        # Sobol indices are fractions (3 decimals); Morris effects carry the output's unit (4 significant digits)
        typer.echo(df.to_string(index=False, float_format=(lambda x: f"{x:.3f}") if method == "sobol"
                                else (lambda x: f"{x:.4g}")))
        typer.echo(f"wrote {out / 'sensitivity.nc'}, {out / 'indices.csv'}, {out / 'sensitivity.png'}, "
                   f"{out / 'report.html'}", err=True)

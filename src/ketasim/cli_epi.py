"""``ketasim epi ...``: fit, project, compare and report the population model of ketamine use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .cli import _guard, app

epi_app = typer.Typer(add_completion=False, no_args_is_help=True, help=(
    "Population model of ketamine use, dependence, treatment and relapse: fit to a real series, "
    "project with uncertainty, compare regions, test interventions."
))
app.add_typer(epi_app, name="epi")


def _summary(ds) -> dict:
    return {
        "series": ds.attrs["series"],
        "until": ds.attrs["until"],
        "n_train": ds.attrs["n_train"],
        "n_test": ds.attrs["n_test"],
        "parameters": {
            p: {"estimate": float(ds.estimate.sel(parameter=p)), "lower": float(ds.lower.sel(parameter=p)),
                "upper": float(ds.upper.sel(parameter=p)), "unit": str(ds.parameter_unit.sel(parameter=p).values),
                "at_bound": bool(ds.at_bound.sel(parameter=p))}
            for p in ds.parameter.values.tolist()
        },
        "interval_method": ds.attrs["interval_method"],
        "interval_meaning": ds.attrs["interval_meaning"],
        "log_likelihood": ds.attrs["log_likelihood"],
        "aic": ds.attrs["aic"],
        "aicc": ds.attrs["aicc"],
        "bic": ds.attrs["bic"],
        "n_estimated": ds.attrs["n_estimated"],
        "start_state": ds.attrs["start_state"],
        "events": json.loads(ds.attrs["events"]),
        "leave_one_out": json.loads(ds.attrs["loo_metrics"]),
        "linked_rates": json.loads(ds.attrs.get("linked_rates", "{}")),
        "sigma_log": ds.attrs["sigma_log"],
        "posterior_ess": ds.attrs["posterior_ess"],
        "fit_quality": json.loads(ds.attrs["train_metrics"]),
        "out_of_sample": json.loads(ds.attrs["test_metrics"]),
        "excluded_observations": json.loads(ds.attrs["excluded_observations"]),
        "dependence_share_check": ds.attrs["dependence_share_check"],
    }


@epi_app.command("fit")
@_guard
def fit_cmd(
    series: str = typer.Option("england_wales_16_24_past_year", help="Series name (see `ketasim epi compare --help`)."),
    until: Optional[int] = typer.Option(None, help="Fit observations up to this year; later ones are held out."),
    out: Optional[Path] = typer.Option(None, help="Write the fit Dataset to this NetCDF file."),
    summary: Optional[Path] = typer.Option(None, help="Write a JSON summary (rates, intervals, errors)."),
    intervals: str = typer.Option("profile", help="profile | laplace."),
    include_unverified: bool = typer.Option(False, help="Also fit rows tagged U (weighted x2)."),
    conflict: str = typer.Option("exclude", help="E&W 2018/19 16-24 conflict: exclude | dhsc | home_office."),
    seed: int = typer.Option(0, help="Seed of the posterior draws."),
    initiation_break: Optional[int] = typer.Option(None, help="Also fit a change of initiation from this year."),
    event: Optional[list[str]] = typer.Option(None, help="Dated policy event to fit (data/epi/events.yaml; NAME or "
                                              "NAME:TARGET; repeatable). Default: the series' own events; "
                                              "'none' for none."),
    start_state: Optional[str] = typer.Option(None, help="seeded | equilibrium (default: the series' own)."),
    cross_validate: bool = typer.Option(False, help="Also report leave-one-out cross-validation (one refit per "
                                        "observation)."),
    dependence_from_harms: Optional[str] = typer.Option(None, help="Take regular_to_dependent from the harms "
                                                        "layer's p_dependence for this use pattern "
                                                        "(recreational_weekend | dependent_daily)."),
    uropathy_from_harms: Optional[str] = typer.Option(None, help="Take uropathy_regular from the harms layer's "
                                                      "p_urinary_symptoms for this use pattern."),
    harms_years: float = typer.Option(3.0, help="Years of the pattern over which the harms probability is read."),
):
    """Fit the model to a series; print rates with intervals, fit quality and out-of-sample error."""
    from .epidemiology import fit
    from .output import atomic_write_bytes, write_netcdf

    events = None if not event else (() if [e.lower() for e in event] == ["none"] else tuple(event))
    ds = fit(series, until, intervals=intervals, include_unverified=include_unverified, conflict=conflict, seed=seed,
             initiation_break=initiation_break, events=events, start_state=start_state,
             cross_validate=cross_validate, dependence_from_harms=dependence_from_harms,
             uropathy_from_harms=uropathy_from_harms, harms_years=harms_years)
    summ = _summary(ds)
    if out is not None:
        write_netcdf(ds, out)
        typer.echo(f"wrote {out}", err=True)
    if summary is not None:
        atomic_write_bytes(summary, json.dumps(summ, indent=1).encode())
        typer.echo(f"wrote {summary}", err=True)
    typer.echo(f"{summ['series']}: fitted {summ['n_train']} observations up to {summ['until']}, "
               f"held out {summ['n_test']}")
    for p, v in summ["parameters"].items():
        flag = "  (interval reaches bound: not identified)" if v["at_bound"] else ""
        typer.echo(f"  {p:24s} {v['estimate']:.4g} [{v['lower']:.4g}, {v['upper']:.4g}] {v['unit']}{flag}")
    fq, oos = summ["fit_quality"], summ["out_of_sample"]
    typer.echo(f"  in sample:     RMSE {fq['rmse']:.3g}  MAPE {fq['mape_percent']:.1f}%  RMSE(log) {fq['rmse_log']:.3f}")
    if oos:
        typer.echo(f"  out of sample: RMSE {oos['rmse']:.3g}  MAPE {oos['mape_percent']:.1f}%  "
                   f"RMSE(log) {oos['rmse_log']:.3f}  coverage {oos['coverage']:.2f}  "
                   f"(naive MAE {oos['naive_last_value_mae']:.3g})")
    typer.echo(f"  AIC {summ['aic']:.2f}  BIC {summ['bic']:.2f}  ({summ['n_estimated']} estimated incl. sigma and "
               f"offsets; start {summ['start_state']})  posterior ESS {summ['posterior_ess']:.0f}")
    for rate, v in summ["linked_rates"].items():
        typer.echo(f"  {rate} from the harms layer: {v['value']:.4g} /yr ({v['source']})")
    loo = summ["leave_one_out"]
    if loo:
        typer.echo(f"  leave-one-out: RMSE(log) {loo['rmse_log']:.3f}  MAPE {loo['mape_percent']:.1f}%")


@epi_app.command("project")
@_guard
def project_cmd(
    from_fit: Path = typer.Option(..., "--from-fit", help="A fit written by `ketasim epi fit --out`."),
    years: str = typer.Option("2017..2030", help="Years to project, e.g. 2017..2030."),
    scenario: Optional[Path] = typer.Option(None, help="Scenario TOML (interventions)."),
    out: Optional[Path] = typer.Option(None, help="Write the projection Dataset to NetCDF."),
    vary_fixed: Optional[str] = typer.Option(None, help="Comma-separated fixed rates to sample in their ranges."),
    n_draws: Optional[int] = typer.Option(None, help="Use only the first N posterior draws."),
):
    """Project a fit, with bands; with --scenario, the paired differences vs baseline."""
    from .epidemiology import load_scenario, project
    from .output import read_netcdf, write_netcdf

    if not from_fit.exists():
        raise FileNotFoundError(f"--from-fit {from_fit} does not exist; make it with `ketasim epi fit --out`.")
    fit = read_netcdf(from_fit)
    sc = load_scenario(scenario) if scenario is not None else None
    vf = tuple(v.strip() for v in vary_fixed.split(",") if v.strip()) if vary_fixed else ()
    ds = project(fit, years, scenario=sc, vary_fixed=vf, n_draws=n_draws)
    if out is not None:
        write_netcdf(ds, out)
        typer.echo(f"wrote {out}", err=True)
    arms = ds.arm.values.tolist()
    typer.echo(f"{ds.attrs['series']}: projection {int(ds.year[0])}..{int(ds.year[-1])}, {ds.attrs['n_draws']} draws"
               + (f", scenario '{arms[1]}'" if len(arms) > 1 else ""))
    unit = ds.series_value.attrs["units"]
    for y in ds.year.values:
        row = f"  {int(y)}"
        for a in arms:
            q = ds.series_value.sel(arm=a, year=y).values
            row += f"  {a}: {q[1]:.3g} [{q[0]:.3g}, {q[2]:.3g}] {unit}"
        typer.echo(row)
    typer.echo("  expected new cases per year, median [band]: dependence | uropathy")
    for y in ds.year.values:
        row = f"  {int(y)}"
        for a in arms:
            d, u = (ds[k].sel(arm=a, year=y).values for k in ("new_dependence", "new_uropathy"))
            row += f"  {a}: {d[1]:.4g} [{d[0]:.4g}, {d[2]:.4g}] | {u[1]:.4g} [{u[0]:.4g}, {u[2]:.4g}]"
        typer.echo(row)
    linked = json.loads(ds.attrs.get("linked_rates", "{}") or "{}")
    if linked:
        for rate, v in linked.items():
            typer.echo(f"  {rate} from the harms layer: {v['value']:.4g} /yr ({v['source']})")
    else:
        typer.echo("  dependence and uropathy rates: data/epi/parameters.yaml (fit with --dependence-from-harms / "
                   "--uropathy-from-harms to take them from the individual-level harms layer)")
    if len(arms) > 1:
        for k in ("dependent", "new_dependence", "new_uropathy", "excess_deaths"):
            q = ds[f"cumulative_difference_{k}"].values
            typer.echo(f"  Δ {k} summed: {q[1]:.4g} [{q[0]:.4g}, {q[2]:.4g}] {ds[f'cumulative_difference_{k}'].attrs['units']}")


@epi_app.command("compare")
@_guard
def compare_cmd(
    series: str = typer.Option("hong_kong_registered", help="Series to compare with England & Wales 16-24 "
                               "(comma-separated for several)."),
    out: Optional[Path] = typer.Option(None, help="Write the comparison as JSON."),
):
    """Fit the same model structure to England & Wales 16-24 and another series; print side by side."""
    from .epidemiology import compare
    from .output import atomic_write_bytes

    names = ["england_wales_16_24_past_year"] + [s.strip() for s in series.split(",")
                                                 if s.strip() and s.strip() != "england_wales_16_24_past_year"]
    from .epidemiology import SERIES
    from .errors import unknown

    for n in names:
        if n not in SERIES:
            raise unknown("--series", n, SERIES)
    ds = compare(names)
    typer.echo(f"{'rate':24s}" + "".join(f"{n[:30]:>34s}" for n in names))
    for p in ds.parameter.values:
        row = f"{p:24s}"
        for n in names:
            e, lo, hi = (float(ds[v].sel(series=n, parameter=p)) for v in ("estimate", "lower", "upper"))
            row += f"{'—':>34s}" if e != e else f"{f'{e:.3g} [{lo:.3g}, {hi:.3g}]':>34s}"
        typer.echo(row)
    typer.echo(f"{'RMSE (log)':24s}" + "".join(f"{float(ds.rmse_log.sel(series=n)):>34.3f}" for n in names))
    typer.echo(f"{'dependence share (last)':24s}" + "".join(f"{float(ds.dependence_share_last.sel(series=n)):>34.3f}"
                                                      for n in names))
    if out is not None:
        atomic_write_bytes(out, json.dumps(ds.to_dict(data="list"), indent=1, default=str).encode())
        typer.echo(f"wrote {out}", err=True)


@epi_app.command("report")
@_guard
def report_cmd(
    fits: list[Path] = typer.Argument(..., help="One or more fit files (e.g. England & Wales and Hong Kong)."),
    out: Path = typer.Option(Path("epi.html"), help="HTML file to write."),
    scenario: Optional[list[Path]] = typer.Option(None, help="Scenario TOML(s) to compare (repeatable)."),
    years: str = typer.Option("2017..2030", help="Projection years."),
    n_draws: int = typer.Option(100, help="Posterior draws used for the bands."),
):
    """Self-contained HTML: fit vs data, projections with bands, harms burden, interventions."""
    from .epi.report import report_html
    from .epidemiology import load_scenario
    from .output import atomic_write_bytes, read_netcdf

    for f in fits:
        if not f.exists():
            raise FileNotFoundError(f"fit file {f} does not exist; make it with `ketasim epi fit --out`.")
    ds = [read_netcdf(f) for f in fits]
    scs = [load_scenario(s) for s in (scenario or [])]
    atomic_write_bytes(out, report_html(ds, years=years, scenarios=scs, n_draws=n_draws).encode())
    typer.echo(f"wrote {out}")

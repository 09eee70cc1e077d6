"""``ketasim safety``: peak blood pressure, heart rate, sedation and dissociation, and the monitoring window."""

from __future__ import annotations

import json
from typing import Optional

import typer

from .cli import _guard, app

_FORMATS = ("table", "json")


def _criteria_arg(text: str):
    text = text.strip()
    if text.startswith("{"):
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            from .errors import InputError

            raise InputError(f"--criteria must be 'label' or a JSON object of thresholds; got {text!r} ({exc.msg}).") \
                from None
        return d
    return text


def _population_summary(regimen: str, subj, n: int, seed: int, criteria, parameters) -> dict:
    """Population distribution for ``--population``: subjects of the given age and sex, weight log-normal
    (geometric SD 20%) around the given weight, PK and safety variability, every dose of the regimen."""
    import numpy as np

    from .acute_safety import arm_safety_table, with_safety_variability
    from .population import sample_population

    rng = np.random.default_rng(seed)
    pop = sample_population(n, rng, parameters, weight=(subj.weight, 0.20), age=(subj.age, subj.age),
                            female_fraction=1.0 if subj.sex == "F" else 0.0)
    pop = with_safety_variability(pop, np.random.default_rng(seed + 1))
    row = arm_safety_table({regimen: regimen}, pop, criteria=criteria, first_hours=24.0,
                           parameters=parameters).iloc[0]
    return {"n": n, "seed": seed, **{k: float(v) for k, v in row.items()}}


def _f(x: float, nd: int = 1) -> str:
    if x == float("inf"):
        return "not within the simulated time"
    return f"{x:.{nd}f}"


@app.command()
@_guard
def safety(
    regimen: str = typer.Argument(..., help='Regimen text, e.g. "84 mg esketamine intranasal".'),
    age: float = typer.Option(40.0, help="Age, years."),
    weight: float = typer.Option(70.0, help="Body weight, kg."),
    sex: str = typer.Option("M", help="F or M."),
    baseline_sbp: Optional[float] = typer.Option(None, "--baseline-sbp", help="Resting systolic pressure, mmHg."),
    baseline_dbp: Optional[float] = typer.Option(None, "--baseline-dbp", help="Resting diastolic pressure, mmHg."),
    criteria: str = typer.Option("label", help="'label' or a JSON object, e.g. '{\"min_hours\": 1, \"moaas_min\": 4.5}'."),
    end: Optional[str] = typer.Option(None, help="Last time, e.g. 8h (default: 8 h after the last dose ends)."),
    step: str = typer.Option("1min", help="Time step, e.g. 1min."),
    parameters: Optional[str] = typer.Option(None, help="Parameter-set id (default by drug, route, age)."),
    fmt: str = typer.Option("table", "--format", help="table | json."),
    population: int = typer.Option(0, "--population", help="Also simulate N virtual subjects like this one (same age "
                                   "and sex, weight log-normal around --weight with PK and safety variability): "
                                   "the distribution of peaks and of the monitoring window, shares with intervals."),
    seed: int = typer.Option(0, help="Seed of the --population sample."),
):
    """Peak BP/HR rises, sedation and dissociation with their times, the monitoring window and which
    criterion sets it, and the exposure against published recreational, anaesthetic and post-mortem levels."""
    from .acute_safety import safety_summary
    from .errors import unknown
    from .population import Subject
    from .units import to_hours

    if fmt not in _FORMATS:
        raise unknown("--format", fmt, _FORMATS)
    subj = Subject(weight=weight, age=age, sex=sex, baseline_sbp=baseline_sbp)
    s = safety_summary(regimen, subj, criteria=_criteria_arg(criteria),
                       end_h=None if end is None else to_hours(end, "--end"), step_h=to_hours(step, "--step"),
                       baseline_dbp=baseline_dbp, parameters=parameters)
    if population < 0 or population > 100_000:
        from .errors import InputError

        raise InputError(f"--population must be between 0 and 100000 subjects; got {population}.")
    if population:
        s["population"] = _population_summary(regimen, subj, population, seed, _criteria_arg(criteria), parameters)
    if fmt == "json":
        typer.echo(json.dumps(s, indent=1, default=float))
        return
    from rich.console import Console
    from rich.table import Table

    con = Console(width=120)
    subj_txt = f"{s['subject']['sex']}, {s['subject']['age']:g} y, {s['subject']['weight']:g} kg"
    if baseline_sbp is not None:
        subj_txt += f", resting BP {baseline_sbp:g}" + (f"/{baseline_dbp:g}" if baseline_dbp is not None else "")
    tab = Table(title=f"{s['regimen']} — {subj_txt}")
    for c in ("", "peak", "at (h after start)"):
        tab.add_column(c, justify="right" if c else "left")
    names = {"delta_SBP": "SBP rise", "delta_DBP": "DBP rise", "delta_HR": "heart-rate rise",
             "SBP": "systolic pressure", "DBP": "diastolic pressure", "sedation": "sedation (MOAA/S, lowest)",
             "dissociation": "dissociation", "C_plasma_ketamine": "plasma ketamine (S + R)"}
    for k, p in s["peaks"].items():
        tab.add_row(names.get(k, k), f"{p['value']:.3g} {p['units']}", f"{p['time_h']:.2f}")
    con.print(tab)
    w = s["monitoring_window"]
    con.print(f"[b]Monitoring window:[/b] {_f(w['window_h'], 2)} h after the dose at {w['after_dose_at_h']:g} h "
              f"— set by {w['set_by']}.")
    met = ", ".join(f"{k} {_f(v, 2)} h" for k, v in w["met_at_h"].items())
    con.print(f"  criteria met for good at: {met}")
    for n in w["notes"]:
        con.print(f"  note: {n}")
    e = s["exposure"]
    con.print(f"[b]Exposure:[/b] peak plasma ketamine {e['Cmax_ng_per_mL']['median']:.0f} ng/mL; published levels "
              "(the peak reaches the low / high end of each band):")
    for b in e["bands"]:
        mark = ("above" if b["share_reaching_high"] >= 0.5 else "within" if b["share_reaching_low"] >= 0.5
                else "below")
        rng = f"{b['low']:g}" if b["low"] == b["high"] else f"{b['low']:g}-{b['high']:g}"
        if b["low"] == b["high"]:
            mark = "above" if b["share_reaching_low"] >= 0.5 else "below"
        con.print(f"  {mark:>6}  {b['label']}: {rng} ng/mL ({b['matrix']}) [{b['tag']}]")
    con.print(f"[i]{e['caveat']}[/i]")
    if population:
        p = s["population"]
        con.print(f"[b]Population[/b] ({p['n']} virtual subjects like this one, seed {p['seed']}; first day of dosing):")
        con.print(f"  peak SBP rise {p['peak_dSBP_median']:.1f} mmHg (5-95%: {p['peak_dSBP_p05']:.1f}-"
                  f"{p['peak_dSBP_p95']:.1f}); SBP rise >= 40 mmHg in {100 * p['share_dSBP_ge_40']:.1f}% "
                  f"(95% CI {100 * p['share_dSBP_ge_40_low']:.1f}-{100 * p['share_dSBP_ge_40_high']:.1f}%)")
        con.print(f"  sedated (MOAA/S < 4.5) {100 * p['share_sedated']:.0f}%; lowest MOAA/S median "
                  f"{p['min_MOAAS_median']:.2f}; peak dissociation median {p['peak_dissociation_median']:.0f}% of max")
        con.print(f"  monitoring window median {p['window_h_median']:.2f} h (5-95%: {p['window_h_p05']:.2f}-"
                  f"{p['window_h_p95']:.2f}); longer than the minimum for {100 * p['share_window_over_min']:.1f}%")

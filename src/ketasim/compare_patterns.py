"""Benefit and harm of patterns of use side by side: :func:`compare_patterns` (``ketasim compare-patterns``).

The comparison the review asks for: therapeutic IV ketamine (0.5 mg/kg over 40 min twice weekly),
esketamine 56 and 84 mg per label (induction, twice weekly for 4 weeks), a recreational weekend
pattern and a dependent daily pattern (about 3 g/day insufflated), each simulated in the same
sampled population, summarised on benefit (depression score, response), drug liking, tolerance,
memory (acute and chronic), bladder and dependence.

Benefit is shown only where it is defined. Every figure the antidepressant layer is calibrated to
comes from patients with depression (antidepressant.csv: treatment-resistant or major depression
trials, entry MADRS >= 25 in the Cochrane CD011612 trials); the reference tables hold no
antidepressant or mood-score data for people without depression, so a "MADRS change" of a
recreational or dependent user is outside the model's data. The recreational and dependent rows
therefore show the benefit columns (:data:`BENEFIT_METRICS`) as not applicable (NaN, with a
``benefit`` note), unless the caller gives ``baseline_madrs`` — then every row is simulated as a
person with that baseline depression score (e.g. self-medicating users).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from .errors import InputError, unknown

__all__ = ["COMPARE_PATTERNS", "ComparePattern", "compare_patterns", "pattern_outcomes", "METRICS", "BENEFIT_METRICS",
           "NOT_APPLICABLE", "write_comparison"]

DAY = 24.0
WEEK = 168.0


@dataclass(frozen=True)
class ComparePattern:
    """One pattern of use: regimen text (``{weeks}`` is the duration of continuing use) and its source."""

    key: str
    label: str
    regimen: str
    source: str
    depressed: bool = False


#: The five patterns of the comparison (regimen text; ``{weeks}`` = weeks of continuing use).
COMPARE_PATTERNS: tuple[ComparePattern, ...] = (
    ComparePattern("iv_therapeutic", "IV ketamine 0.5 mg/kg, twice weekly x 4 wk",
                   "0.5 mg/kg iv over 40 min twice weekly for 4 weeks",
                   "antidepressant.csv / clinical_context.csv: 0.5 mg/kg over 40 min, repeated twice weekly "
                   "(e.g. Singh et al. 2016 Am J Psychiatry)", True),
    ComparePattern("esketamine_56", "esketamine 56 mg IN, label induction",
                   "56 mg esketamine intranasal twice weekly for 4 weeks",
                   "clinical_context.csv: SPRAVATO label induction, 56 mg day 1 then 56 or 84 mg twice weekly "
                   "for weeks 1-4", True),
    ComparePattern("esketamine_84", "esketamine 84 mg IN, label induction (56 mg day 1)",
                   "56 mg esketamine intranasal, then after 84 h (84 mg esketamine intranasal twice weekly x 7)",
                   "clinical_context.csv: SPRAVATO label induction, 56 mg day 1 then 84 mg twice weekly", True),
    ComparePattern("recreational_weekend", "recreational: 4 x 100 mg snorted one night a week",
                   "(100 mg insufflated every 30 min x 4) weekly for {weeks} weeks",
                   "use_patterns.csv: per-occasion nasal doses 60-125 mg 'strong' (Erowid/Drugs-Forum, tag U); "
                   "the issue's example pattern"),
    ComparePattern("dependent_daily", "dependent: 250 mg snorted hourly x 12, daily (3 g/day)",
                   "(250 mg insufflated every 1 h x 12) daily for {weeks} weeks",
                   "use_patterns.csv: dependent inpatients 3.4 g/day (SD 2.7), 75.4% daily (Fan et al. 2015)"),
)

#: Columns of the comparison: (key, header, unit, outcome variable, statistic, description).
METRICS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("cmax_week1", "plasma ketamine peak", "ng/mL", "C_plasma_ketamine", "peak_first_week",
     "mean over subjects of the peak plasma ketamine (S + R) in the first week"),
    ("madrs_change_d28", "MADRS change day 28", "points", "depression_score", "change_d28",
     "mean change of the MADRS-like score from baseline at day 28"),
    ("p_response_d28", "response day 28", "%", "p_response", "d28", "mean probability of response at day 28"),
    ("drug_liking_peak", "drug liking peak", "VAS above placebo", "drug_liking", "peak_first_week",
     "mean over subjects of the peak drug liking in the first week (bipolar VAS above placebo)"),
    ("tolerance_end", "tolerance", "%", "tolerance", "end_use", "mean tolerance at the end of use (% of response lost)"),
    ("memory_acute_peak", "memory (acute) peak", "%", "memory_impairment", "peak_first_week",
     "mean peak acute memory impairment in the first week (% of NMDA-dependent plasticity blocked)"),
    ("cognitive_burden_end", "cognitive burden", "%", "cognitive_burden", "end_use",
     "mean chronic cognitive burden at the end of use"),
    ("p_urinary_end", "urinary symptoms", "%", "p_urinary_symptoms", "end_use",
     "mean probability of urinary symptoms at the end of use"),
    ("p_dependence_end", "dependence", "%", "p_dependence", "end_use",
     "mean probability of use disorder at the end of use"),
)
#: Benefit columns: shown for patterns taken by people with depression (or when baseline_madrs is given).
BENEFIT_METRICS: tuple[str, ...] = ("madrs_change_d28", "p_response_d28")
#: The ``benefit`` note of a row without a depression baseline.
NOT_APPLICABLE = "not applicable: no depression at baseline"
_PERCENT = {"p_response", "tolerance", "memory_impairment", "cognitive_burden", "p_urinary_symptoms", "p_dependence"}


def _times(end_h: float) -> np.ndarray:
    """Hourly for the first week (acute peaks), then every 6 h to the end, plus day 28 and the end."""
    first = np.arange(0.0, WEEK, 0.25)
    later = np.arange(WEEK, end_h + 1e-9, 6.0)
    return np.unique(np.r_[first, later, 28 * DAY, end_h])


def _stat(ds, var: str, how: str, end_use_h: float) -> float:
    x = np.asarray(ds[var].values, float)
    t = np.asarray(ds["time"].values, float)
    scale = 100.0 if var in _PERCENT else 1.0
    if how == "peak_first_week":
        return scale * float(np.mean(np.max(x[:, t <= WEEK], axis=1)))
    if how == "d28":
        return scale * float(np.mean(x[:, np.searchsorted(t, 28 * DAY)]))
    if how == "change_d28":
        i = np.searchsorted(t, 28 * DAY)
        return float(np.mean(x[:, i] - x[:, 0]))
    if how == "end_use":
        i = min(np.searchsorted(t, end_use_h), t.size - 1)
        return scale * float(np.mean(x[:, i]))
    raise ValueError(how)


def pattern_outcomes(regimen, population, *, scenario: str = "", parameters=None, circuit=None,
                     benefit: bool = True) -> dict[str, float]:
    """The :data:`METRICS` of one regimen in one population (population means), as a dict.

    With ``benefit=False`` the :data:`BENEFIT_METRICS` are NaN (not simulated).

    The outcome variables are simulated by :func:`ketasim.simulate` (its outcome layers run on
    their own dose-aware internal grid): the acute peaks (plasma ketamine, drug liking, acute
    memory impairment) over the first week, the slow states on a 6-hourly grid to the end of the
    last week of use (at least day 28); "end of use" is that time.
    """
    import ketasim as ks

    reg = ks.parse_regimen(regimen) if isinstance(regimen, str) else regimen
    last = max(e.time + getattr(e, "duration", 0.0) for e in reg.events)
    end_use = (np.floor(last / WEEK) + 1) * WEEK                 # end of the last week of use
    T = _times(max(end_use, 28 * DAY))
    kw = dict(scenario=scenario, parameters=parameters, circuit=circuit)
    # acute (first-week) metrics need the dopamine chain: simulate them over the first week only;
    # the slow states (PK-driven) over the whole period
    acute = [m[3] for m in METRICS if m[4] == "peak_first_week"]
    skip = set() if benefit else set(BENEFIT_METRICS)
    slow = list(dict.fromkeys(m[3] for m in METRICS if m[4] != "peak_first_week" and m[0] not in skip))
    ds = {"acute": ks.simulate(reg, population, T[T <= WEEK], outputs=acute, **kw),
          "slow": ks.simulate(reg, population, T, outputs=slow, **kw)}
    return {key: np.nan if key in skip else _stat(ds["acute" if how == "peak_first_week" else "slow"], var, how,
                                                  end_use)
            for key, _h, _u, var, how, _d in METRICS}


def compare_patterns(n: int = 500, seed: int = 1, *, weeks: int = 12, patterns=None,
                     baseline_madrs: float | None = None) -> pd.DataFrame:
    """Simulate every pattern in the same sampled population and summarise benefit and harm.

    Parameters
    ----------
    n : int
        Subjects (adults 18-65 y, weight log-normal median 70 kg).
    seed : int
        Seed of the population (the same subjects take every pattern).
    weeks : int
        Weeks of continuing (recreational, dependent) use; the therapeutic courses last 4 weeks.
        Outcomes at the end of use are read at the end of each pattern's last week.
    patterns : list of str, optional
        Keys of :data:`COMPARE_PATTERNS` (default all).
    baseline_madrs : float, optional
        Baseline depression score (MADRS, 0-60) of every subject in every pattern. Without it the
        therapeutic patterns use the layer's treatment-resistant default and the recreational and
        dependent patterns have no depression at baseline: their :data:`BENEFIT_METRICS` are NaN.

    Returns
    -------
    pandas.DataFrame
        One row per pattern: ``pattern``, ``label``, ``regimen``, ``n``, ``seed``, then the
        :data:`METRICS` columns (population means), then ``benefit`` (the depression baseline the
        benefit columns assume, or :data:`NOT_APPLICABLE`).
    """
    import ketasim as ks

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 100_000:
        raise InputError(f"n must be a whole number of subjects from 1 to 100000; got {n!r}.")
    if isinstance(weeks, bool) or not isinstance(weeks, (int, np.integer)) or not 4 <= weeks <= 520:
        raise InputError(f"weeks must be a whole number of weeks from 4 to 520; got {weeks!r}.")
    keys = [p.key for p in COMPARE_PATTERNS]
    chosen = keys if patterns is None else list(patterns)
    for k in chosen:
        if k not in keys:
            raise unknown("patterns", k, keys)
    pop = ks.sample_population(int(n), np.random.default_rng(int(seed)))
    if baseline_madrs is not None:
        from .layers.antidepressant import MADRS_RANGE

        lo, hi = MADRS_RANGE
        if isinstance(baseline_madrs, bool) or not isinstance(baseline_madrs, (int, float, np.number)) \
                or not lo <= float(baseline_madrs) <= hi:
            raise InputError(f"baseline_madrs must be a MADRS total from {lo:g} to {hi:g}; got {baseline_madrs!r}.")
        extra = dict(pop.extra)
        extra["baseline_madrs"] = np.full(pop.n, float(baseline_madrs))
        pop = dataclasses.replace(pop, extra=MappingProxyType(extra))
    from .layers.antidepressant import DEFAULT_BASELINE_MADRS

    rows = []
    for p in (q for q in COMPARE_PATTERNS if q.key in chosen):
        text = p.regimen.format(weeks=int(weeks))
        row = {"pattern": p.key, "label": p.label, "regimen": text, "n": int(n), "seed": int(seed)}
        benefit = p.depressed or baseline_madrs is not None
        row.update(pattern_outcomes(text, pop, scenario=f"compare-patterns {p.key}", benefit=benefit))
        row["benefit"] = (f"baseline MADRS {float(baseline_madrs):g} (given)" if baseline_madrs is not None
                          else f"baseline MADRS {DEFAULT_BASELINE_MADRS:g} (treatment-resistant default)"
                          if p.depressed else NOT_APPLICABLE)
        rows.append(row)
    return pd.DataFrame(rows)


_BENEFIT_NOTE = ("Benefit (MADRS change, response) is shown for the therapeutic patterns, taken by patients with "
                 "treatment-resistant depression (baseline MADRS 32 unless --baseline-madrs is given); n/a = not "
                 "applicable: no depression at baseline (the antidepressant layer is calibrated only in depressed "
                 "patients).")


def _html(df: pd.DataFrame) -> str:
    import html

    head = "".join(f"<th>{html.escape(h)}<br><small>{html.escape(u)}</small></th>" for _k, h, u, *_ in METRICS)
    body = []
    for r in df.itertuples():
        cells = "".join(f"<td>{getattr(r, k):.3g}</td>" if np.isfinite(getattr(r, k)) else
                        f"<td title='{html.escape(NOT_APPLICABLE)}'>n/a</td>" for k, *_ in METRICS)
        body.append(f"<tr><th>{html.escape(r.label)}<br><small><code>{html.escape(r.regimen)}</code></small></th>"
                    f"{cells}</tr>")
    notes = "".join(f"<li><b>{html.escape(h)}</b>: {html.escape(d)}</li>" for _k, h, _u, _v, _s, d in METRICS)
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>ketasim compare-patterns</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{text-align:left}</style></head><body>"
            f"<h1>Benefit and harm by pattern of use</h1><p>{int(df['n'].iloc[0])} simulated adults (seed "
            f"{int(df['seed'].iloc[0])}); population means.</p>"
            f"<table><tr><th>pattern</th>{head}</tr>{''.join(body)}</table><ul>{notes}</ul>"
            f"<p>{html.escape(_BENEFIT_NOTE)}</p>"
            "<p>Generated by <code>ketasim compare-patterns</code>; model and sources: docs/model.md, "
            "docs/outcomes.md.</p></body></html>")


def write_comparison(df: pd.DataFrame, out: str | Path) -> list[Path]:
    """Write ``compare_patterns.csv`` and ``compare_patterns.html`` into directory ``out`` (atomically)."""
    from .output import atomic_write_bytes

    d = Path(out)
    if d.exists() and not d.is_dir():
        raise InputError(f"--out must be a directory; {str(d)!r} is a file.")
    d.mkdir(parents=True, exist_ok=True)
    paths = [d / "compare_patterns.csv", d / "compare_patterns.html"]
    atomic_write_bytes(paths[0], df.to_csv(index=False).encode())
    atomic_write_bytes(paths[1], _html(df).encode())
    return paths

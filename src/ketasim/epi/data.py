"""Observed series and the model's parameter table, read from ``ketasim/data/epi``.

A *series* is one region/population/measure from ``epidemiology.csv`` turned into annual
observations by explicit rules (README of the reference tables, "Key cautions"):

* rows tagged **U** are left out unless ``include_unverified=True`` (then weighted ×2);
* the England & Wales 2018/19 16-24 conflict (2.9% Home Office, truncated, vs 1.3% DHSC,
  both U) is left out unless ``conflict="dhsc"`` or ``conflict="home_office"`` picks one;
* pooled multi-year figures (NSDUH 2015-2019 pooled) are not annual values and are left out;
* Hong Kong part-year counts (H1, Q1-Q3, "probably part-year") are never used as annual figures;
* where one year still has two values the better tag wins (V > S > U): Hong Kong 2009 uses the
  official 5,212 [V], not AFP's "later revision" 5,280 [S];
* **method breaks** split a series into *segments*; each segment after the first gets its own
  multiplicative bias (estimated), so levels are never compared across a break (NSDUH 2020);
* rows tagged S are weighted ×1.5 in the likelihood (their observation s.d. is 1.5 σ).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import yaml

from ..errors import InputError, unknown

__all__ = ["Series", "SeriesSpec", "SERIES", "load_series", "load_parameter_table", "load_events", "read_table"]

TAG_WEIGHT = {"V": 1.0, "S": 1.5, "U": 2.0}
_PART_YEAR_MARKERS = ("H1", "Q1-Q3", "part-year")


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """How to build one named series from ``epidemiology.csv``."""

    name: str
    region: str
    population: str
    measure: str
    kind: str  # "prevalence_percent" (past-year users / population) or "count" (scaled count)
    model_population: float  # persons in the modelled age band (assumption, see docs)
    band_years: float  # width of the age band: ageing-out rate = 1 / band_years
    start_year: int  # the model starts here (first users seeded)
    description: str
    segments: tuple[tuple[int, str], ...] = ()  # (first year, label) of each method segment after the first
    fitted: tuple[str, ...] = ("contagion", "initial_prevalence")
    population_source: str = ""
    start_state: str = "seeded"  # "seeded" (initial_prevalence) or "equilibrium" (endemic state of the start rates)
    start_state_source: str = ""
    events: tuple[str, ...] = ()  # dated policy events (data/epi/events.yaml) fitted by default
    initial_prevalence_key: str = ""  # parameters.yaml entry fixing the initial prevalence when it is not fitted


SERIES: dict[str, SeriesSpec] = {
    s.name: s
    for s in (
        SeriesSpec(
            "england_wales_16_24_past_year", "England & Wales", "16-24", "past_year_use_percent",
            "prevalence_percent", 6.6e6, 9.0, 2006,
            "Crime Survey for England and Wales (CSEW/BCS), past-year ketamine use, ages 16-24, percent.",
            fitted=("contagion",),
            events=("uk_ketamine_class_b_2014",),
            population_source="ONS mid-year estimates put 16-24-year-olds in England & Wales at about "
                              "6.4-6.9 million over 2006-2023 (assumption: 6.6 million, constant; not in the "
                              "reference tables).",
            start_state="equilibrium",
            start_state_source="EMCDDA European Drug Report text (epidemiology.csv, England & Wales 2014/15, S): "
                               "16-24 past-year use 1.6%, 'stable trend since 2008'; so in 2006 the model starts at "
                               "the endemic equilibrium of its rates instead of at a fitted initial prevalence "
                               "(one parameter fewer; preferred by AIC/BIC and leave-one-out error, docs).",
        ),
        SeriesSpec(
            "england_wales_16_59_past_year", "England & Wales", "16-59", "past_year_use_percent",
            "prevalence_percent", 3.3e7, 44.0, 2005,
            "CSEW past-year ketamine use, ages 16-59, percent.",
            fitted=("contagion",),
            events=("uk_ketamine_class_b_2014",),
            population_source="About 33 million people aged 16-59 in England & Wales (assumption).",
            start_state="equilibrium",
            start_state_source="As for the 16-24 series (EMCDDA: 'stable trend since 2008').",
        ),
        SeriesSpec(
            "hong_kong_registered", "Hong Kong", "registered abusers (CRDA), ketamine", "registered_abusers",
            "count", 2.0e6, 20.0, 1998,
            "Hong Kong Central Registry of Drug Abuse (CRDA): persons reported as ketamine abusers per year. "
            "A voluntary register: trends, not prevalence; the model count is ascertainment x (regular + "
            "dependent + in treatment).",
            segments=((2001, "CRDA after ketamine became a dangerous drug (DDO First Schedule Part I, "
                                "in force 15 Dec 2000: HKSAR press release 22 Nov 2000, 'Government to tighten "
                                "control on Ketamine'); before it, possession was a poisons offence and 1999's "
                                "'cases of ketamine abuse' (S) are not on the same ascertainment"),),
            fitted=("contagion",),
            events=("hk_youth_drug_measures_2009",),
            initial_prevalence_key="initial_prevalence_hong_kong_registered",
            population_source="Hong Kong residents aged about 10-29, ~2.0 million (assumption); the "
                              "ascertainment factor absorbs the scale, so only trends are identified.",
        ),
        SeriesSpec(
            "us_nsduh_adult_past_year", "United States", "18+", "past_year_use_percent",
            "prevalence_percent", 2.6e8, 60.0, 2010,
            "NSDUH past-year ketamine use, adults 18+, percent; METHOD BREAK in 2020 (2015-2019 and 2021+ "
            "are separate segments with their own level).",
            segments=((2020, "NSDUH 2021+ method"),),
            population_source="About 260 million US adults (assumption).",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Series:
    """Annual observations of one series after the handling rules were applied."""

    spec: SeriesSpec
    years: np.ndarray
    values: np.ndarray
    weights: np.ndarray  # observation s.d. multiplier (tag)
    segment: np.ndarray  # integer segment index per observation
    tags: tuple[str, ...]
    citations: tuple[str, ...]
    excluded: tuple[str, ...] = field(default=())  # human-readable notes on dropped rows

    @property
    def name(self) -> str:
        return self.spec.name


@functools.cache
def read_table(name: str) -> tuple[dict[str, str], ...]:
    """Rows of one shipped CSV (``epidemiology``, ``use_patterns``, ``harms``, ``treatment``)."""
    with resources.files("ketasim").joinpath("data", "epi", f"{name}.csv").open(encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


@functools.cache
def load_events() -> dict[str, dict]:
    """Dated policy events with citations (``data/epi/events.yaml``); a fit may estimate their size."""
    text = resources.files("ketasim").joinpath("data", "epi", "events.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


@functools.cache
def load_parameter_table() -> dict[str, dict]:
    """The model's parameter table (``data/epi/parameters.yaml``)."""
    text = resources.files("ketasim").joinpath("data", "epi", "parameters.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _series_name(series: str) -> SeriesSpec:
    if series not in SERIES:
        raise unknown("series", series, SERIES)
    return SERIES[series]


def load_series(series: str, *, include_unverified: bool = False, conflict: str = "exclude") -> Series:
    """Build the annual observations of a named series.

    Examples
    --------
    >>> s = load_series("england_wales_16_24_past_year")
    >>> int(s.years[0]), float(s.values[0])
    (2007, 0.8)
    """
    spec = _series_name(series)
    if conflict not in ("exclude", "dhsc", "home_office"):
        raise unknown("conflict", conflict, ("exclude", "dhsc", "home_office"))
    picked: dict[int, list[tuple[float, str, str, str]]] = {}
    excluded: list[str] = []
    for row in read_table("epidemiology"):
        if (row["region"], row["population"], row["measure"]) != (spec.region, spec.population, spec.measure):
            continue
        label, tag, value = row["year_label"], row["tag"], row["value"]
        if not row["year_start"] or not value:
            excluded.append(f"{label}: no year or value")
            continue
        year = int(row["year_start"])
        if any(m in label for m in _PART_YEAR_MARKERS):
            excluded.append(f"{label} = {value}: part-year count, not an annual figure")
            continue
        if "pooled" in label:
            excluded.append(f"{label} = {value}: pooled multi-year figure, not an annual value")
            continue
        if "CONFLICT" in row["note"] and label == "2018/19":
            source = "dhsc" if "DHSC" in row["citation"] else "home_office"
            if conflict != source:
                excluded.append(f"{label} = {value} [{tag}]: conflicting figure ({source}); conflict={conflict!r}")
                continue
        elif tag == "U" and not include_unverified:
            excluded.append(f"{label} = {value} [U]: unverified; include_unverified=False")
            continue
        picked.setdefault(year, []).append((float(value), tag, row["citation"], label))
    years, values, weights, tags, cites, segs = [], [], [], [], [], []
    for year in sorted(picked):
        cands = sorted(picked[year], key=lambda c: "VSU".index(c[1]))
        for dropped in cands[1:]:
            excluded.append(f"{dropped[3]} = {dropped[0]:g} [{dropped[1]}]: same year as a better-tagged value")
        value, tag, cite, _ = cands[0]
        years.append(year)
        values.append(value)
        weights.append(TAG_WEIGHT[tag])
        tags.append(tag)
        cites.append(cite)
        segs.append(sum(year >= first for first, _ in spec.segments))
    return Series(spec, np.array(years, dtype=int), np.array(values, dtype=float), np.array(weights),
                  np.array(segs, dtype=int), tuple(tags), tuple(cites), tuple(excluded))


def check_years(series: Series, until: int | None, field_name: str = "until") -> None:
    """Reject a cut-off year that leaves fewer than 3 observations to fit."""
    if until is None:
        return
    lo, hi = int(series.years.min()), int(series.years.max())
    n = int((series.years <= until).sum())
    if until < lo or n < 3:
        raise InputError(
            f"{field_name} must leave at least 3 observations of '{series.name}' to fit "
            f"(data cover {lo}..{hi}: {', '.join(str(y) for y in series.years)}); got {until}. "
            f"Use a later year."
        )
    if until > hi:
        raise InputError(
            f"{field_name} must be at most the last observed year of '{series.name}' ({hi}); got {until}. "
            f"Leave {field_name} out to fit every year."
        )

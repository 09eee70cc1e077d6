"""Population dynamics of ketamine use, dependence, treatment and relapse.

A separate model from the individual-level cascade (DESIGN.md): seven compartments (never,
occasional, regular, dependent, in treatment, abstinent/recovered, former users) with
initiation by a background rate plus peer contagion, escalation, quitting, treatment entry and
completion, relapse, ageing in/out and mortality with excess for dependent users; expected
harm cases (new dependence, new uropathy, cognitive burden, excess deaths) per year.
Equations: :mod:`ketasim.epi.model`; the model description with sources: docs/epidemiology.md.

Typical use::

    import ketasim as ks
    fit = ks.epidemiology.fit("england_wales_16_24_past_year", until=2016)
    proj = ks.epidemiology.project(fit, "2017..2030", scenario="examples/epi-treatment-expansion.toml")

Linking levels: every rate is a field of :class:`EpiParameters`; an individual-level layer
that produces a per-person probability (of dependence for a pattern of use, of urinary
symptoms ...) supplies it with ``EpiParameters.defaults().with_rates(regular_to_dependent=
hazard_from_probability(p, years))`` and passes ``params=`` to :func:`fit`.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from .epi.data import SERIES, Series, SeriesSpec, load_series
from .epi.fitting import fit
from .epi.model import FLOWS, STATES, TARGETS, EpiParameters, Intervention, hazard_from_probability, run_model
from .epi.scenario import Scenario, load_scenario, project
from .errors import unknown

__all__ = [
    "STATES", "FLOWS", "TARGETS", "SERIES", "EpiParameters", "Intervention", "Scenario", "Series",
    "SeriesSpec", "fit", "project", "compare", "load_scenario", "load_series", "run_model",
    "hazard_from_probability", "list_series",
]


def list_series() -> list[str]:
    """Names of the series the model can be fitted to.

    Examples
    --------
    >>> "hong_kong_registered" in list_series()
    True
    """
    return list(SERIES)


def compare(series: tuple[str, ...] | list[str] = ("england_wales_16_24_past_year", "hong_kong_registered"),
            *, intervals: str = "laplace", **fit_kwargs) -> xr.Dataset:
    """Fit the same model structure to several series; estimates side by side over ``series``.

    Examples
    --------
    >>> ds = compare(["england_wales_16_24_past_year"], n_starts=1, n_draws=10, n_proposals=30)
    >>> ds.sizes["series"]
    1
    """
    names = [series] if isinstance(series, str) else list(series)
    for n in names:
        if n not in SERIES:
            raise unknown("series", n, SERIES)
    fits = [fit(n, intervals=intervals, **fit_kwargs) for n in names]
    params = []
    for f in fits:
        params += [p for p in f.parameter.values.tolist() if p not in params]
    shape = (len(names), len(params))
    est, lo, hi = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    for i, f in enumerate(fits):
        for p in f.parameter.values.tolist():
            j = params.index(p)
            est[i, j], lo[i, j], hi[i, j] = (float(f[v].sel(parameter=p)) for v in ("estimate", "lower", "upper"))
    metrics = [json.loads(f.attrs["train_metrics"]) for f in fits]
    ds = xr.Dataset(
        {
            "estimate": (("series", "parameter"), est),
            "lower": (("series", "parameter"), lo),
            "upper": (("series", "parameter"), hi),
            "rmse_log": ("series", [m.get("rmse_log", np.nan) for m in metrics]),
            "mape_percent": ("series", [m.get("mape_percent", np.nan) for m in metrics]),
            "n_obs": ("series", [f.attrs["n_train"] for f in fits]),
            "log_likelihood": ("series", [f.attrs["log_likelihood"] for f in fits]),
            "aic": ("series", [f.attrs["aic"] for f in fits]),
            "bic": ("series", [f.attrs["bic"] for f in fits]),
            "posterior_ess": ("series", [f.attrs["posterior_ess"] for f in fits]),
            "dependence_share_last": ("series", [float(f["dependence_share"].values[-1]) for f in fits]),
        },
        coords={"series": names, "parameter": params},
    )
    ds.attrs["interval_method"] = intervals
    ds.attrs["note"] = ("Same equations and fixed rates for every series; only the rates in `parameter` are fitted. "
                        "Register counts (Hong Kong) identify trends only: their level is absorbed by an "
                        "ascertainment factor.")
    return ds

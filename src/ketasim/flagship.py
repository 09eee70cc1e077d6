"""The flagship job: therapeutic ketamine versus recreational and dependent use.

``ketasim run`` (and ``make run``) simulates the four arms of :data:`FLAGSHIP`
in one sampled adult population and writes, into one folder:

``flagship.nc``
    One compressed NetCDF file (xarray, h5netcdf engine): full time series for
    the first 50 subjects of every arm (float32; dims ``arm x subject_sample x
    time``), population quantile bands over time (``arm x quantile x time``) and
    per-subject summary metrics for every subject (``arm x subject``), with
    units and provenance (ketasim version, scenario text and its sha256,
    parameter sets with their citations and every parameter's source, seed).
``summary.csv``
    Tidy per-arm summary: ``arm, metric, unit, median, p05, p95``.
``report.html``
    A self-contained report (see :mod:`ketasim.report`).
``figures/*.png``
    The report's figures.

The scenario is the shipped example ``benefit-risk`` (``ketasim examples
benefit-risk``; the same file as ``examples/benefit-risk.toml``), validated by
:mod:`ketasim.scenario`; the computation is :func:`ketasim.runner.run_scenario`,
which includes every variable :func:`ketasim.simulate` offers beyond the PK
layer (receptor occupancy, circuit and dopamine, outcomes) as those layers land.
This module keeps the flagship's public names.

Summary metrics (all from plasma ketamine = S + R unless named otherwise),
computed on the output grid (default every 10 min):

- ``Cmax`` of ketamine and of norketamine over the whole period (ng/mL);
- ``Tmax_first``: time of the ketamine peak within the first dosing occasion,
  from the first dose to the start of the second occasion (an occasion is a run
  of doses less than :data:`OCCASION_GAP_H` apart, e.g. one evening's four
  insufflations);
- ``AUC``: area under the plasma ketamine curve over the whole period by the
  trapezoid rule on the output grid (ng*h/mL), and ``Cavg`` = AUC / period;
- hours per week above 50 ng/mL and above 1200 ng/mL (see :data:`THRESHOLDS`),
  with linear interpolation between grid points.

Examples
--------
>>> [a.name for a in FLAGSHIP.arms]
['iv-depression', 'esketamine', 'recreational-weekend', 'dependent-daily']
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from .errors import InputError
from .parameters import ParameterSet
from .runner import (ANCHORS, METRICS, N_SERIES, OCCASION_GAP_H, OUTPUTS, QUANTILES, THRESHOLDS, RunResult,
                     Threshold, print_summary, run_scenario, save_results)
from .scenario import Arm, Scenario, load, load_example

__all__ = [
    "Arm",
    "Scenario",
    "Threshold",
    "FLAGSHIP",
    "THRESHOLDS",
    "OUTPUTS",
    "QUANTILES",
    "METRICS",
    "ANCHORS",
    "OCCASION_GAP_H",
    "N_SERIES",
    "FlagshipResult",
    "load_scenario",
    "run_flagship",
    "print_summary",
    "save_results",
]

#: The result of a flagship (or any scenario) run.
FlagshipResult = RunResult

#: The flagship scenario: the shipped example ``benefit-risk`` (``examples/benefit-risk.toml``).
FLAGSHIP: Scenario = load_example("benefit-risk")


def load_scenario(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Scenario:
    """Load a scenario file (TOML, YAML or JSON) such as ``examples/benefit-risk.toml``; see :mod:`ketasim.scenario`."""
    return load(path, overrides)


def run_flagship(out_dir: str | os.PathLike, *, scenario_path: str | os.PathLike | None = None,
                 n: int | None = None, seed: int | None = None, end: str | float | None = None,
                 step: str | float | None = None, parameters: str | ParameterSet | None = None,
                 chunk_size: int = 250, quiet: bool = False, progress: bool = True,
                 report: bool = True, overrides: Sequence[str] = (), scenario: Scenario | None = None,
                 formats: Sequence[str] | None = None) -> RunResult:
    """Run the flagship scenario (or a scenario file) and write results, report and figures.

    Parameters
    ----------
    out_dir : path
        Folder for ``flagship.nc``, ``summary.csv``, ``report.html`` and
        ``figures/`` (created if needed; files are replaced atomically).
    scenario_path : path, optional
        A scenario file (see ``ketasim examples``); default :data:`FLAGSHIP`.
    n, seed : int, optional
        Override the scenario's population size and seed (as ``population.n=...``).
    end, step : str or float, optional
        Override the simulated period and output grid (``"3 d"``, ``"10 min"``; numbers are hours).
    parameters : str or ParameterSet, optional
        One parameter set for every arm; default: the scenario's choice, else
        the documented default set per arm and subject.
    chunk_size : int
        Subjects simulated at once (bounds memory; results do not depend on it).
    quiet : bool
        No progress bar. ``progress=False`` does the same.
    report : bool
        Also write the report(s) and ``figures/*.png``.
    overrides : sequence of str
        ``a.b=c`` overrides, as ``ketasim run --set``.
    scenario : Scenario, optional
        A scenario object (instead of ``scenario_path``).
    formats : sequence of {"html", "pdf"}, optional
        Report formats (default: the scenario's ``report.formats``).

    Returns
    -------
    FlagshipResult
    """
    if scenario is not None and scenario_path is not None:
        raise InputError("give scenario or scenario_path, not both.")
    sets = list(overrides)
    for key, v in (("population.n", n), ("population.seed", seed), ("end", end), ("step", step)):
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                raise InputError(f"{key.split('.')[-1]} must be a number or text; got {v!r}.")
            sets.append(f"{key}={_toml_literal(v)}")
    if scenario_path is not None:
        sc = load(scenario_path, sets)
    else:
        sc = (scenario or FLAGSHIP).with_overrides(sets) if sets else (scenario or FLAGSHIP)
    return run_scenario(sc, out_dir, parameters=parameters, chunk_size=chunk_size,
                        progress=progress and not quiet, report=report, formats=formats)


def _toml_literal(v: Any) -> str:
    import json

    if isinstance(v, str):
        return json.dumps(v)
    return repr(v) if isinstance(v, float) else str(v)

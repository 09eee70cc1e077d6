"""Virtual trials at scale: designs, chunked execution (serial or Dask), sweeps, sensitivity.

>>> import ketasim as ks
>>> ds = ks.trials.run(ks.trials.design(n=3, end="1 d"))
>>> ds["Cmax_ketamine"].dims
('arm', 'subject')

``ks.trials.run(design, executor=...)``, ``ks.trials.sweep(scenario, vary=[...])`` and
``ks.trials.sensitivity(scenario, parameters=[...], output=...)`` return xarray Datasets
(dims ``arm`` x ``subject``, plus the sweep dims; ``sample`` x ``parameter`` for
sensitivity). Only :mod:`ketasim.trials.execute` imports Dask, and only when the
Dask executor is asked for. (The functions ``sweep`` and ``sensitivity`` shadow
their modules as attributes of this package; import the modules' other names with
``from ketasim.trials.sweep import parse_vary``.)
"""

from .design import DEFAULT_CHUNK_SIZE, Chunk, TrialDesign, design
from .execute import EXECUTORS, map_tasks, read_manifest, read_trial, run, trial_summary
from .sensitivity import analyse_function, plot_sensitivity
from .sensitivity import sensitivity as sensitivity  # noqa: E402 - the function (shadows the module attribute)
from .sweep import Vary, parse_vary, plot_sweep
from .sweep import sweep as sweep  # noqa: E402 - the function

__all__ = [
    "TrialDesign",
    "Chunk",
    "design",
    "DEFAULT_CHUNK_SIZE",
    "EXECUTORS",
    "run",
    "map_tasks",
    "read_trial",
    "read_manifest",
    "trial_summary",
    "sweep",
    "Vary",
    "parse_vary",
    "plot_sweep",
    "sensitivity",
    "analyse_function",
    "plot_sensitivity",
]

"""Virtual trials at scale: designs, chunked execution (serial or Dask), sweeps, sensitivity.

>>> import ketasim as ks
>>> ds = ks.trials.run(ks.trials.design(n=3, end="1 d"))
>>> ds["Cmax_ketamine"].dims
('arm', 'subject')

Only :mod:`ketasim.trials.execute` imports Dask, and only when the Dask
executor is asked for.
"""

from .design import DEFAULT_CHUNK_SIZE, Chunk, TrialDesign, design
from .execute import EXECUTORS, map_tasks, read_manifest, read_trial, run, trial_summary

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
]

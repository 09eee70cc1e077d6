"""Executors: the one module that imports Dask.

:func:`map_tasks` runs a function over a list of tasks (each a chunk of
subjects, arms or parameter samples; never one task per subject) serially
(the default) or on Dask: a local cluster of ``workers`` processes, or an
existing scheduler at ``scheduler="tcp://host:port"``. Results come back as
they finish, with a progress bar over tasks and an ETA, and the number of
tasks in flight is bounded so memory stays bounded however many tasks there
are. Because every random number is drawn up front (see
:mod:`ketasim.trials.design`), results are identical whichever executor runs
them.

:func:`run` is the virtual-trial driver on top: per-chunk summaries streamed
to Parquet files (written atomically by the client as chunks finish) with a
manifest, and ``resume=True`` to continue an interrupted run. A chunk's file
name is its index, so a chunk computed twice (a retried task, a resumed run)
replaces its file and is never counted twice.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError, KetasimError, unknown
from ..output import atomic_path, atomic_write_bytes
from .design import Chunk, TrialDesign
from .summaries import KEY_COLUMNS, metric_units, pack_population, run_chunk

__all__ = ["EXECUTORS", "map_tasks", "run", "read_trial", "read_manifest", "trial_summary", "MANIFEST"]

#: Executors by name.
EXECUTORS = ("serial", "dask")

MANIFEST = "manifest.json"
#: Seconds between manifest refreshes during a run (it is always written at the start and the end).
MANIFEST_EVERY_S = 0.5
CHUNK_DIR = "chunks"
_CHUNK_RE = re.compile(r"^chunk-(\d{6,})\.parquet$")
_FORMAT = "ketasim-trial/1"


# ---------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------
@contextmanager
def _progress(total: int, label: str, show: bool):
    if not show:
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=False)
    with bar:
        task = bar.add_task(label, total=total)
        yield lambda n=1: bar.advance(task, n)


# ---------------------------------------------------------------------------
# executors
# ---------------------------------------------------------------------------
def _check_executor(executor: str, workers: int, scheduler: str | None) -> None:
    if executor not in EXECUTORS:
        raise unknown("executor", executor, EXECUTORS)
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise InputError(f"workers must be a whole number >= 1; got {workers!r}.")
    if scheduler is not None:
        if executor != "dask":
            raise InputError(f"scheduler is only used with executor='dask'; got executor={executor!r}. "
                             "Pass executor='dask' (--executor dask).")
        if not isinstance(scheduler, str) or "://" not in scheduler:
            raise InputError(f"scheduler must be an address such as 'tcp://127.0.0.1:8786'; got {scheduler!r}.")


@contextmanager
def _dask_client(workers: int, scheduler: str | None):
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="15s")
        except (OSError, TimeoutError) as exc:
            raise KetasimError(f"could not connect to the Dask scheduler at {scheduler}: {exc}. "
                               "Start one with `dask scheduler` or use --workers for a local cluster.") from None
        try:
            yield client
        finally:
            client.close()
        return
    import dask

    # Dask's default MALLOC_TRIM_THRESHOLD_=65536 for its workers turns off glibc's adaptive mmap threshold, so
    # every large array is mapped afresh and page-faulted: chunks ran 1.7x slower in a worker than serially on a
    # VM. Unset it for the local cluster (set it the same way for the workers of your own cluster).
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)  # any free port
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def map_tasks(fn: Callable[..., Any], tasks: Iterable[tuple[Any, tuple]], *, total: int,
              executor: str = "serial", workers: int = 2, scheduler: str | None = None,
              progress: bool = False, label: str = "tasks", max_in_flight: int | None = None,
              retries: int = 3) -> Iterator[tuple[Any, Any]]:
    """Run ``fn(*args)`` for each ``(key, args)`` of ``tasks``; yield ``(key, result)`` as each finishes.

    Parameters
    ----------
    fn : callable
        An importable (module-level) function: Dask ships it by reference.
    tasks : iterable of (key, args)
        Consumed lazily, so arguments (e.g. a population chunk) are built only
        when a task is submitted.
    total : int
        Number of tasks (for the progress bar and its ETA).
    executor : {"serial", "dask"}
    workers : int
        Processes of a local Dask cluster (ignored with ``scheduler``).
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://127.0.0.1:8786``).
    max_in_flight : int, optional
        Tasks submitted but not yet collected (default ``4 x workers``): bounds
        memory on the client.
    retries : int
        Dask retries of a task whose worker died.

    Examples
    --------
    >>> sorted(map_tasks(pow, [("a", (2, 3)), ("b", (3, 2))], total=2))
    [('a', 8), ('b', 9)]
    """
    _check_executor(executor, workers, scheduler)
    it = iter(tasks)
    if executor == "serial":
        with _progress(total, label, progress) as advance:
            for key, args in it:
                yield key, fn(*args)
                advance()
        return
    from distributed import as_completed

    with _dask_client(workers, scheduler) as client:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or int(workers))
        limit = max_in_flight or 4 * n_workers
        keys: dict[Any, Any] = {}

        def submit(key, args):
            fut = client.submit(fn, *args, pure=False, retries=retries)
            keys[fut.key] = key
            return fut

        ac = as_completed()
        for key, args in it:
            ac.add(submit(key, args))
            if ac.count() >= limit:
                break
        with _progress(total, label, progress) as advance:
            for fut in ac:
                result = fut.result()
                key = keys.pop(fut.key)
                fut.release()
                for nxt in it:
                    ac.add(submit(*nxt))
                    break
                yield key, result
                advance()


# ---------------------------------------------------------------------------
# the trial store: per-chunk Parquet files and a manifest
# ---------------------------------------------------------------------------
def _chunk_path(out: Path, index: int) -> Path:
    return out / CHUNK_DIR / f"chunk-{index:06d}.parquet"


def _write_chunk(out: Path, design: TrialDesign, chunk: Chunk, df: pd.DataFrame) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"ketasim_fingerprint"] = design.fingerprint.encode()
    meta[b"ketasim_chunk"] = json.dumps([chunk.index, chunk.start, chunk.stop]).encode()
    meta[b"ketasim_units"] = json.dumps(metric_units(df)).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(_chunk_path(out, chunk.index)) as tmp:
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())


def _chunk_ok(path: Path, design: TrialDesign, chunk: Chunk) -> dict[str, str] | None:
    """The units of a finished chunk file that belongs to this design, else None."""
    import pyarrow.parquet as pq

    try:
        md = pq.read_metadata(path)
    except (OSError, ValueError, Exception):  # noqa: BLE001 - an unreadable file is an unfinished chunk
        return None
    meta = md.metadata or {}
    if meta.get(b"ketasim_fingerprint", b"").decode() != design.fingerprint:
        return None
    if json.loads(meta.get(b"ketasim_chunk", b"[]")) != [chunk.index, chunk.start, chunk.stop]:
        return None
    if md.num_rows != chunk.size * len(design.arm_names):
        return None
    return json.loads(meta.get(b"ketasim_units", b"{}"))


def read_manifest(out: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a trial folder."""
    p = Path(out) / MANIFEST
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise InputError(f"{str(Path(out))!r} holds no trial ({MANIFEST} is missing); run "
                         "`ketasim trial SCENARIO --out DIR` first.") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{str(p)!r} is not a valid trial manifest: {exc}.") from None


def _write_manifest(out: Path, design: TrialDesign, done: dict[int, Chunk], units: dict[str, str],
                    complete: bool) -> None:
    from .. import __version__

    doc = {
        "format": _FORMAT,
        "ketasim_version": __version__,
        "fingerprint": design.fingerprint,
        "design": design.to_dict(),
        "scenario_toml": design.scenario.to_toml(),
        "arms": list(design.arm_names),
        "n_subjects": design.n,
        "n_chunks": design.n_chunks,
        "chunks_done": len(done),
        "complete": complete,
        "units": units,
        "chunks": {str(i): {"file": f"{CHUNK_DIR}/{_chunk_path(out, i).name}", "start": c.start, "stop": c.stop,
                            "rows": c.size * len(design.arm_names)} for i, c in sorted(done.items())},
    }
    atomic_write_bytes(out / MANIFEST, (json.dumps(doc, indent=1) + "\n").encode())


def _prepare_store(out: Path, design: TrialDesign, resume: bool) -> tuple[dict[int, Chunk], dict[str, str]]:
    """Chunks already finished (when resuming) and their units; clears stale chunk files otherwise."""
    chunks = design.chunks()
    cdir = out / CHUNK_DIR
    if resume:
        man = read_manifest(out)
        if man.get("fingerprint") != design.fingerprint:
            old = man.get("design", {})
            new = design.to_dict()
            diff = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
            raise InputError(f"--resume {str(out)!r}: that folder holds a different trial (differs in: "
                             f"{', '.join(diff) or 'ketasim version'}). Resume with the same scenario, --n, --seed "
                             "and --chunk-size, or start a new --out folder.")
        done: dict[int, Chunk] = {}
        units: dict[str, str] = dict(man.get("units", {}))
        for c in chunks:
            u = _chunk_ok(_chunk_path(out, c.index), design, c)
            if u is not None:
                done[c.index] = c
                units.update(u)
        return done, units
    if cdir.is_dir():
        for f in cdir.iterdir():
            if _CHUNK_RE.match(f.name):
                f.unlink()
    return {}, {}


def _population_tasks(design: TrialDesign, todo: Sequence[Chunk]) -> Iterator[tuple[int, tuple]]:
    pop = design.population()  # every random number, drawn once, up front
    for c in todo:
        yield c.index, (design, c, pack_population(pop.take(slice(c.start, c.stop))))


def run(design: TrialDesign, *, executor: str = "serial", workers: int = 2, scheduler: str | None = None,
        out: str | os.PathLike | None = None, resume: bool = False, progress: bool = False, load: bool = True,
        on_chunk: Callable[[int, int], None] | None = None) -> xr.Dataset | None:
    """Run a virtual trial: every arm of ``design`` in its population, chunk by chunk.

    Parameters
    ----------
    design : TrialDesign
        See :func:`ketasim.trials.design`.
    executor : {"serial", "dask"}
        ``"serial"`` (default) or Dask (a local cluster of ``workers``
        processes, or the cluster at ``scheduler``). Results are identical.
    workers : int
    scheduler : str, optional
        Address of an existing Dask scheduler.
    out : path, optional
        Folder for per-chunk Parquet summaries (``chunks/chunk-NNNNNN.parquet``,
        written atomically as chunks finish) and ``manifest.json``. Without it
        the chunks are kept in memory.
    resume : bool
        Continue the trial in ``out``: chunks whose files are complete are
        skipped; none is counted twice.
    progress : bool
        A progress bar over chunks, with an ETA, on stderr.
    load : bool
        Return the per-subject Dataset (else None: read it later with
        :func:`read_trial`, or summarise with :func:`trial_summary`).
    on_chunk : callable, optional
        Called as ``on_chunk(done, total)`` after each chunk is stored.

    Returns
    -------
    xarray.Dataset or None
        Dims ``arm`` x ``subject``; one variable per metric (with units), the
        subjects' covariates as coordinates.

    Examples
    --------
    >>> import ketasim as ks
    >>> d = ks.trials.design(n=4, end="1 d", chunk_size=2)
    >>> ds = ks.trials.run(d)
    >>> dict(ds.sizes)
    {'arm': 4, 'subject': 4}
    """
    if not isinstance(design, TrialDesign):
        raise InputError(f"design must be a TrialDesign (ketasim.trials.design(...)); got {type(design).__name__}.")
    _check_executor(executor, workers, scheduler)
    chunks = design.chunks()
    if out is None:
        if resume:
            raise InputError("resume needs the trial's folder: pass out=DIR (--resume DIR).")
        frames = {}
        for idx, df in map_tasks(run_chunk, _population_tasks(design, chunks), total=len(chunks),
                                 executor=executor, workers=workers, scheduler=scheduler, progress=progress,
                                 label="trial chunks"):
            frames[idx] = df
            if on_chunk is not None:
                on_chunk(len(frames), len(chunks))
        units = metric_units(frames[0])
        return _to_dataset(design.scenario, pd.concat([frames[i] for i in sorted(frames)], ignore_index=True),
                           units, design)
    outp = Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    done, units = _prepare_store(outp, design, resume)
    todo = [c for c in chunks if c.index not in done]
    _write_manifest(outp, design, done, units, complete=not todo)
    last = time.monotonic()
    try:
        for idx, df in map_tasks(run_chunk, _population_tasks(design, todo), total=len(todo), executor=executor,
                                 workers=workers, scheduler=scheduler, progress=progress, label="trial chunks"):
            c = chunks[idx]
            _write_chunk(outp, design, c, df)
            done[idx] = c
            units.update(metric_units(df))
            now = time.monotonic()
            if len(done) == len(chunks) or now - last >= MANIFEST_EVERY_S:
                # the chunk files are self-describing (resume scans them); the manifest is refreshed
                # at most every MANIFEST_EVERY_S so that huge trials do not rewrite it thousands of times
                _write_manifest(outp, design, done, units, complete=len(done) == len(chunks))
                last = now
            if on_chunk is not None:
                on_chunk(len(done), len(chunks))
    finally:  # interrupted (an exception, Ctrl-C) or finished: record what is done
        _write_manifest(outp, design, done, units, complete=len(done) == len(chunks))
    return read_trial(outp) if load else None


# ---------------------------------------------------------------------------
# reading back
# ---------------------------------------------------------------------------
def _check_complete(out: Path, man: dict[str, Any]) -> list[Path]:
    n = int(man["n_chunks"])
    files = [out / CHUNK_DIR / f"chunk-{i:06d}.parquet" for i in range(n)]
    missing = [i for i in range(n) if str(i) not in man["chunks"] or not files[i].exists()]
    if missing:
        raise InputError(f"trial in {str(out)!r} is incomplete: {len(missing)} of {n} chunks missing (first: "
                         f"{missing[0]}). Continue it with `ketasim trial SCENARIO --resume {out}`.")
    return files


def read_trial(out: str | os.PathLike) -> xr.Dataset:
    """Read a finished trial folder into the per-subject Dataset (``arm`` x ``subject``)."""
    import pyarrow.parquet as pq

    from ..flagship import Scenario
    import tomllib

    outp = Path(out)
    man = read_manifest(outp)
    files = _check_complete(outp, man)
    df = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    sc = Scenario.from_dict(tomllib.loads(man["scenario_toml"]))
    return _to_dataset(sc, df, man["units"], None, man)


def _to_dataset(sc, df: pd.DataFrame, units: dict[str, str], design: TrialDesign | None,
                man: dict[str, Any] | None = None) -> xr.Dataset:
    from .. import __version__

    arms = [a.name for a in sc.arms]
    code = pd.Categorical(df["arm"], categories=arms).codes
    subj = df["subject"].to_numpy()
    ids = np.unique(subj)
    pos = np.searchsorted(ids, subj)
    shape = (len(arms), ids.size)
    metrics = [c for c in df.columns if c not in KEY_COLUMNS]
    data_vars: dict[str, Any] = {}
    for m in metrics:
        a = np.full(shape, np.nan)
        a[code, pos] = df[m].to_numpy(float)
        data_vars[m] = (("arm", "subject"), a, {"units": units.get(m, "")})
    ps = np.full(shape, "", dtype=object)
    ps[code, pos] = df["parameter_set"].to_numpy()
    data_vars["parameter_set"] = (("arm", "subject"), ps.astype(str), {"long_name": "parameter set used"})
    first = np.zeros(ids.size, np.int64)
    first[pos[::-1]] = np.arange(len(df))[::-1]
    cov = df.iloc[first]
    coords = {
        "arm": ("arm", arms),
        "subject": ("subject", ids.astype(np.int64), {"long_name": "subject id (the same subjects in every arm)"}),
        "weight": ("subject", cov["weight"].to_numpy(float), {"units": "kg"}),
        "age": ("subject", cov["age"].to_numpy(float), {"units": "years"}),
        "sex": ("subject", cov["sex"].to_numpy().astype(str), {"units": ""}),
    }
    ds = xr.Dataset(data_vars, coords=coords)
    seed = design.seed if design is not None else man["design"]["seed"]
    ds.attrs.update({
        "title": f"ketasim virtual trial: {sc.name}",
        "ketasim_version": __version__,
        "scenario": sc.to_toml(),
        "scenario_sha256": sc.sha256,
        "seed": int(seed),
        "n_subjects": int(ids.size),
        "population": "sample_population(n, numpy.random.default_rng(seed)), drawn up front; the same subjects "
                      "in every arm",
    })
    return ds


def trial_summary(out: str | os.PathLike, quantiles: Sequence[float] = (0.05, 0.5, 0.95), *,
                  max_bytes: float = 2.5e8) -> pd.DataFrame:
    """Per-arm quantiles of every metric of a finished trial folder, a few metric columns at a time.

    Memory stays bounded by ``max_bytes`` (default 250 MB) of metric columns of the
    whole trial (8 bytes x subjects x arms each; at least one column at a time), so it
    suits million-subject summaries-only runs; each chunk file is opened once per group
    of columns. Columns: ``arm, metric, unit, p05, median, p95`` (for the default
    quantiles; ``pNN`` for others).
    """
    import pyarrow.parquet as pq

    outp = Path(out)
    man = read_manifest(outp)
    files = _check_complete(outp, man)
    arm_col = pd.concat([pq.read_table(f, columns=["arm"]).to_pandas()["arm"] for f in files], ignore_index=True)
    arm_col = pd.Categorical(arm_col, categories=man["arms"]).codes
    rows_total = max(1, arm_col.size)
    names = {0.5: "median"}
    metrics = list(man["units"].items())
    per_pass = max(1, int(max_bytes // (8 * rows_total)))
    rows = []
    for g in range(0, len(metrics), per_pass):
        group = metrics[g:g + per_pass]
        cols = {m: [] for m, _ in group}
        for f in files:
            t = pq.read_table(f, columns=[m for m, _ in group])
            for m, _ in group:
                cols[m].append(t.column(m).to_numpy())
        for m, u in group:
            col = np.concatenate(cols.pop(m))
            for i, arm in enumerate(man["arms"]):
                x = col[arm_col == i]
                x = x[~np.isnan(x)]
                if x.size == 0:  # the variable does not exist in this arm (e.g. a metabolite its set lacks)
                    continue
                qs = np.quantile(x, quantiles)
                row = {"arm": arm, "metric": m, "unit": u}
                row.update({names.get(q, f"p{round(q * 100):02d}"): float(v) for q, v in zip(quantiles, qs)})
                rows.append(row)
            del col
    return pd.DataFrame(rows)

"""Background runs: a pool of worker processes, with progress and cancellation through the run records.

A run is a scenario too large to answer while the client waits. The server records it
(``queued``), hands it to a worker process, and the worker runs
:func:`ketasim.runner.run_scenario` into ``<data_dir>/runs/<id>/``, writing its progress
into the record after each chunk of subjects. Cancelling sets the record to
``cancelling``; the worker sees that at the next chunk and stops (``cancelled``). As the
records live in the database, any server process (uvicorn worker) can report on or cancel
any run. Worker processes are started with ``spawn`` (no fork of a threaded server).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import KetasimError
from .store import Store

__all__ = ["JobPool", "execute_run", "RunStopped", "recover_interrupted"]

_SIM_SHARE = 0.9  # share of the progress bar given to simulating (the rest: writing results and report)


class RunStopped(KetasimError):
    """Raised inside a worker when its run was cancelled or ran out of time."""


class _RecordProgress:
    """Duck-typed :class:`rich.progress.Progress`: reports chunks into the run record and stops on cancel."""

    def __init__(self, store: Store, rid: str, deadline: float) -> None:
        self.store, self.rid, self.deadline = store, rid, deadline
        self.total, self.done, self._last_write = 1, 0, 0.0

    def add_task(self, description: str, total: int = 1, **_: Any) -> int:
        self.total = max(1, int(total))
        return 0

    def _check(self) -> None:
        if self.store.run_status(self.rid) in ("cancelling", "cancelled"):
            raise RunStopped("cancelled")
        if time.monotonic() > self.deadline:
            raise RunStopped("timeout")

    def update(self, task: int, description: str | None = None, **_: Any) -> None:
        self._check()
        now = time.monotonic()
        if description and now - self._last_write > 0.5:
            self._last_write = now
            self.store.update_run(self.rid, only_if=("running",), message=str(description)[:200])

    def advance(self, task: int, advance: float = 1) -> None:
        self.done += int(advance)
        self.store.update_run(self.rid, only_if=("running",), progress=_SIM_SHARE * self.done / self.total)
        self._check()


def execute_run(db_url: str, rid: str, document: dict, out_dir: str, timeout_s: float) -> str:
    """Run one recorded run (in a worker process); returns its final status."""
    from ..runner import run_scenario
    from ..scenario import Scenario

    store = Store.open(db_url, migrate=False)
    try:
        if not store.update_run(rid, only_if=("queued",), status="running", started_at=time.time(),
                                message="starting"):
            return store.run_status(rid) or "missing"  # cancelled while queued
        sc = Scenario.from_dict(document, where=f"run {rid}")
        prog = _RecordProgress(store, rid, time.monotonic() + timeout_s)
        try:
            run_scenario(sc, out_dir, progress=prog, report=True, formats=("html",))
        except RunStopped as exc:
            shutil.rmtree(out_dir, ignore_errors=True)
            if str(exc) == "timeout":
                store.update_run(rid, status="failed", finished_at=time.time(),
                                 message=f"stopped: ran longer than the server's limit of {timeout_s:g} s")
                return "failed"
            store.update_run(rid, status="cancelled", finished_at=time.time(), message="cancelled by request")
            return "cancelled"
        except KetasimError as exc:
            store.update_run(rid, status="failed", finished_at=time.time(), message=str(exc)[:2000])
            return "failed"
        except Exception as exc:  # noqa: BLE001 - recorded, never shown as a traceback
            store.update_run(rid, status="failed", finished_at=time.time(),
                             message=f"internal error ({type(exc).__name__}); the server log has details")
            raise
        if store.update_run(rid, only_if=("running",), status="done", progress=1.0, finished_at=time.time(),
                            message="finished"):
            return "done"
        store.update_run(rid, status="cancelled", finished_at=time.time(), message="cancelled by request")
        shutil.rmtree(out_dir, ignore_errors=True)
        return "cancelled"
    finally:
        store.engine.dispose()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted(store: Store) -> int:
    """Mark runs whose server process is gone as failed (they cannot finish); returns how many."""
    n = 0
    for r in store.unfinished_runs():
        if r["owner_pid"] != os.getpid() and not _pid_alive(int(r["owner_pid"])):
            n += store.update_run(r["id"], only_if=("queued", "running", "cancelling"), status="failed",
                                  finished_at=time.time(),
                                  message="interrupted: the server stopped before the run finished; submit it again")
    return n


class JobPool:
    """Worker processes for background runs (started on the first run)."""

    def __init__(self, store: Store, db_url: str, runs_dir: Path, workers: int, timeout_s: float) -> None:
        self.store, self.db_url, self.runs_dir = store, db_url, Path(runs_dir)
        self.workers, self.timeout_s = workers, timeout_s
        self._pool: ProcessPoolExecutor | None = None
        self.futures: dict[str, Future] = {}

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def run_dir(self, rid: str) -> Path:
        return self.runs_dir / rid

    def submit(self, rid: str, document: dict) -> None:
        fut = self._executor().submit(execute_run, self.db_url, rid, document, str(self.run_dir(rid)),
                                      self.timeout_s)
        self.futures[rid] = fut

        def done(f: Future, rid=rid) -> None:
            self.futures.pop(rid, None)
            if f.cancelled() or f.exception() is not None:
                self.store.update_run(rid, only_if=("queued", "running", "cancelling"), status="failed",
                                      finished_at=time.time(), message="the worker process stopped unexpectedly")

        fut.add_done_callback(done)

    def cancel(self, rid: str) -> str:
        """Ask a run to stop; returns its status after the request."""
        if self.store.update_run(rid, only_if=("queued",), status="cancelled", finished_at=time.time(),
                                 message="cancelled before it started"):
            fut = self.futures.get(rid)
            if fut is not None:
                fut.cancel()
            return "cancelled"
        self.store.update_run(rid, only_if=("running",), status="cancelling", message="cancelling")
        return self.store.run_status(rid) or "missing"

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

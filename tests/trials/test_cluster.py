"""A real Dask cluster: `dask scheduler` and two `dask worker` processes on 127.0.0.1.

The trial run against it must equal the serial run, and a worker killed
mid-run (SIGKILL) must lose and duplicate nothing: the scheduler reassigns the
dead worker's chunks, and each chunk's file is written once, by the client.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

import ketasim as ks

DESIGN = ks.trials.design(n=48, seed=11, end="7 d", step="1 h", chunk_size=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_workers(address: str, n: int, timeout: float = 60.0) -> None:
    from distributed import Client

    with Client(address, timeout="30s") as c:
        c.wait_for_workers(n, timeout=timeout)


@pytest.fixture
def cluster(tmp_path):
    """Scheduler + two single-process workers (no nanny, so a kill is a real loss), torn down after."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    log = open(tmp_path / "dask.log", "wb")
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=log, stderr=log, env=env)]
    try:
        time.sleep(0.5)
        for _ in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                 "--no-nanny", "--no-dashboard", "--local-directory", str(tmp_path / "dask-worker-space")],
                stdout=log, stderr=log, env=env))
        _wait_for_workers(address, 2)
        yield address, procs[1:]
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(procs):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        log.close()


@pytest.fixture(scope="module")
def reference():
    return ks.trials.run(DESIGN.with_(chunk_size=48))


def test_trial_on_a_real_cluster_survives_a_killed_worker(cluster, reference, tmp_path):
    address, workers = cluster
    killed = []

    def kill_one(done, total):
        if done == 4 and not killed:
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(10)
            killed.append(done)

    out = tmp_path / "trial"
    ds = ks.trials.run(DESIGN, executor="dask", scheduler=address, out=out, on_chunk=kill_one)
    assert killed and workers[0].poll() is not None and workers[1].poll() is None
    xr.testing.assert_identical(ds, reference)
    man = ks.trials.read_manifest(out)
    assert man["complete"] and man["chunks_done"] == man["n_chunks"] == 24
    files = sorted(p.name for p in (out / "chunks").iterdir())
    assert files == [f"chunk-{i:06d}.parquet" for i in range(24)]
    # one row per subject and arm: nothing lost, nothing duplicated
    import pyarrow.parquet as pq

    rows = sum(pq.read_metadata(out / "chunks" / f).num_rows for f in files)
    assert rows == 48 * 4
    assert np.all(np.isfinite(ds["Cmax_ketamine"].values))


def test_cli_against_the_cluster(cluster, reference, tmp_path):
    from ketasim.cli import main

    address, _ = cluster
    out = tmp_path / "cli"
    rc = main(["trial", "--n", "48", "--seed", "11", "--end", "7 d", "--step", "1 h", "--chunk-size", "8",
               "--scheduler", address, "--out", str(out), "--quiet"])
    assert rc == 0
    from ketasim.output import read_netcdf

    ds = read_netcdf(out / "trial.nc")
    np.testing.assert_array_equal(ds["Cmax_ketamine"].values, reference["Cmax_ketamine"].values)
    assert (out / "summary.csv").exists()

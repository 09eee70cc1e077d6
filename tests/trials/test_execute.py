"""Executors and the chunk store: identical numbers whatever the executor or chunking; resume never double-counts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import ketasim as ks
from ketasim.errors import InputError
from ketasim.trials import execute

N = 60
DESIGN = ks.trials.design(n=N, seed=7, end="3 d", step="20 min", chunk_size=16)


@pytest.fixture(scope="module")
def reference() -> xr.Dataset:
    return ks.trials.run(DESIGN.with_(chunk_size=N))


def test_dataset_contract(reference):
    ds = reference
    assert dict(ds.sizes) == {"arm": 4, "subject": N}
    assert list(ds["subject"].values) == list(range(N))
    for m in ("Cmax_ketamine", "AUC_ketamine", "peak_C_plasma_ketamine", "auc_C_effect_ketamine"):
        assert ds[m].dims == ("arm", "subject") and ds[m].attrs["units"]
        assert np.all(np.isfinite(ds[m].values))
    assert ds.attrs["seed"] == 7 and ds.attrs["n_subjects"] == N
    # no timing or host information anywhere
    assert not any(k in ds.attrs for k in ("elapsed", "host", "executor", "chunk_size"))
    np.testing.assert_array_equal(ds["Cmax_ketamine"].values, ds["peak_C_plasma_ketamine"].values)


@pytest.mark.parametrize("chunk_size", [1, 7, 16, 59])
def test_identical_across_chunk_sizes(reference, chunk_size):
    xr.testing.assert_identical(ks.trials.run(DESIGN.with_(chunk_size=chunk_size)), reference)


def test_identical_serial_and_local_dask(reference, tmp_path):
    ds = ks.trials.run(DESIGN.with_(chunk_size=9), executor="dask", workers=2, out=tmp_path / "t")
    xr.testing.assert_identical(ds, reference)
    man = ks.trials.read_manifest(tmp_path / "t")
    assert man["complete"] and man["chunks_done"] == man["n_chunks"] == 7


def test_store_and_summary(reference, tmp_path):
    ds = ks.trials.run(DESIGN, out=tmp_path, load=True)
    xr.testing.assert_identical(ds, reference)
    files = sorted(p.name for p in (tmp_path / "chunks").iterdir())
    assert files == [f"chunk-{i:06d}.parquet" for i in range(4)]  # atomic writes leave no temporary files
    summ = ks.trials.trial_summary(tmp_path)
    row = summ[(summ.arm == "iv-depression") & (summ.metric == "Cmax_ketamine")].iloc[0]
    assert row["median"] == pytest.approx(float(np.median(reference["Cmax_ketamine"].sel(arm="iv-depression"))))
    assert row["unit"] == "ng/mL"


class _Stop(Exception):
    pass


def test_resume_after_interruption_never_double_counts(reference, tmp_path):
    def stop_after(k):
        def cb(done, total):
            if done == k:
                raise _Stop
        return cb

    with pytest.raises(_Stop):
        ks.trials.run(DESIGN, out=tmp_path, on_chunk=stop_after(2))
    man = ks.trials.read_manifest(tmp_path)
    assert man["chunks_done"] == 2 and not man["complete"]
    with pytest.raises(InputError, match="incomplete: 2 of 4 chunks missing"):
        ks.trials.read_trial(tmp_path)
    calls = []
    ds = ks.trials.run(DESIGN, out=tmp_path, resume=True, on_chunk=lambda d, t: calls.append(d))
    assert calls == [3, 4]  # only the two missing chunks were simulated
    xr.testing.assert_identical(ds, reference)
    # a chunk file that was written but not yet recorded in the manifest is also recognised
    man = json.loads((tmp_path / "manifest.json").read_text())
    del man["chunks"]["3"]
    (tmp_path / "manifest.json").write_text(json.dumps(man))
    calls.clear()
    ds = ks.trials.run(DESIGN, out=tmp_path, resume=True, on_chunk=lambda d, t: calls.append(d))
    assert calls == [] and ks.trials.read_manifest(tmp_path)["complete"]
    xr.testing.assert_identical(ds, reference)


def test_resume_rejects_another_design(tmp_path):
    ks.trials.run(DESIGN.with_(n=16), out=tmp_path, load=False)
    with pytest.raises(InputError, match=r"holds a different trial \(differs in: n"):
        ks.trials.run(DESIGN, out=tmp_path, resume=True)
    with pytest.raises(InputError, match="holds no trial"):
        ks.trials.run(DESIGN, out=tmp_path / "empty", resume=True)


def test_corrupt_chunk_is_recomputed(reference, tmp_path):
    ks.trials.run(DESIGN, out=tmp_path, load=False)
    (tmp_path / "chunks" / "chunk-000001.parquet").write_bytes(b"not parquet")
    calls = []
    ds = ks.trials.run(DESIGN, out=tmp_path, resume=True, on_chunk=lambda d, t: calls.append(d))
    assert calls == [4]
    xr.testing.assert_identical(ds, reference)


def test_cli_killed_then_resumed(tmp_path):
    """A real interruption: SIGKILL the CLI after some chunks, then --resume."""
    out = tmp_path / "big"
    args = ["trial", "--n", "40", "--seed", "3", "--end", "7 d", "--step", "1 h", "--chunk-size", "1",
            "--summaries-only", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from ketasim.cli import main; sys.exit(main(sys.argv[1:]))",
                             *args, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                done = json.loads((out / "manifest.json").read_text())["chunks_done"]
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                done = 0
            if done >= 3 or proc.poll() is not None:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before it could be interrupted"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    man = ks.trials.read_manifest(out)
    assert 3 <= man["chunks_done"] < 40 and not man["complete"]
    before = {p.name: p.stat().st_mtime_ns for p in (out / "chunks").glob("chunk-*.parquet")}
    from ketasim.cli import main

    assert main([*args, "--resume", str(out)]) == 0
    man = ks.trials.read_manifest(out)
    assert man["complete"] and man["chunks_done"] == 40
    after = {p.name: p.stat().st_mtime_ns for p in (out / "chunks").glob("chunk-*.parquet")}
    assert all(after[k] == v for k, v in before.items() if k in after)  # finished chunks were not redone
    assert sorted(after) == [f"chunk-{i:06d}.parquet" for i in range(40)]
    assert not [p for p in (out / "chunks").iterdir() if p.name.startswith(".")]  # no leftovers counted
    ds = ks.trials.read_trial(out)
    assert dict(ds.sizes) == {"arm": 4, "subject": 40}
    fresh = ks.trials.run(ks.trials.design(n=40, seed=3, end="7 d", step="1 h", chunk_size=40))
    xr.testing.assert_identical(ds, fresh)
    assert (out / "summary.csv").exists()


def test_executor_errors():
    with pytest.raises(InputError, match="executor"):
        ks.trials.run(DESIGN, executor="spark")
    with pytest.raises(InputError, match="only used with executor='dask'"):
        ks.trials.run(DESIGN, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(InputError, match="workers must be a whole number >= 1"):
        ks.trials.run(DESIGN, executor="dask", workers=0)
    with pytest.raises(InputError, match="chunk_size must be a whole number >= 1"):
        DESIGN.with_(chunk_size=0)


def test_only_execute_imports_dask():
    src = Path(ks.__file__).parent
    offenders = [str(p.relative_to(src)) for p in src.rglob("*.py")
                 if p.name != "execute.py" and any(
                     line.lstrip().startswith(("import dask", "from dask", "import distributed", "from distributed"))
                     for line in p.read_text().splitlines())]
    assert offenders == []

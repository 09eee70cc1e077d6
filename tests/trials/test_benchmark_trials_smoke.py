"""Smoke test of benchmarks/trials.py on tiny sizes (the real run is documented in benchmarks/README.md)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "trials.py"


@pytest.mark.slow
def test_trials_benchmark_smoke(tmp_path):
    spec = importlib.util.spec_from_file_location("ketasim_bench_trials", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    out = tmp_path / "trials.json"
    res = mod.main(["--sizes", "8,16", "--skip", "dask", "--memory-n", "20", "--sobol-n", "8", "--flagship-n", "4",
                    "--end", "1 d", "--step", "1 h", "--out", str(out)])
    assert res["scaling"]["runs"][1]["n"] == 16 and "slope_s_per_subject" in res["scaling"]
    assert 0 < res["memory"]["peak_rss_bytes"] < 2**31
    assert res["sobol"]["simulations"] == 8 * 12
    assert json.loads(out.read_text())["settings"]["outputs"] == "all"


@pytest.mark.slow
def test_trial_memory_benchmark_smoke_and_resume(tmp_path):
    """benchmarks/trial_memory.py runs the CLI in a child, samples it, and continues a folder it finds."""
    spec = importlib.util.spec_from_file_location("ketasim_bench_trial_memory", SCRIPT.parent / "trial_memory.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    folder, out = tmp_path / "big", tmp_path / "mem.json"
    res = mod.main(["--n", "12", "--chunk-size", "5", "--end", "1 d", "--step", "1 h", "--dir", str(folder),
                    "--every", "0.2", "--out", str(out)])
    assert res["exit_code"] == 0 and res["complete"] and res["n_chunks"] == 3 and not res["resumed"]
    assert 2**20 < res["peak_rss_bytes"] < 2**31
    assert json.loads(out.read_text())["chunk_size"] == 5
    again = mod.main(["--dir", str(folder), "--every", "0.2", "--out", str(out)])
    assert again["resumed"] and again["exit_code"] == 0 and again["chunks_done"] == 3

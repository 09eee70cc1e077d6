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

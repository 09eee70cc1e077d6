"""Smoke test of the web load benchmark (benchmarks/web_load.py) with a handful of requests."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "web_load.py"


@pytest.mark.slow
def test_web_load_benchmark_small(tmp_path):
    spec = importlib.util.spec_from_file_location("ketasim_bench_web_load", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    out = tmp_path / "web.json"
    res = mod.main(["--requests", "16", "--concurrency", "4", "--warmup", "4", "--out", str(out)])
    assert json.loads(out.read_text()) == res
    assert res["errors"] == 0 and res["requests"] == 16
    assert 0 < res["latency_ms"]["p50"] <= res["latency_ms"]["p99"] <= res["latency_ms"]["max"]
    assert res["throughput_rps"] > 0 and res["server_rss_mb"]["after_load"] > 50

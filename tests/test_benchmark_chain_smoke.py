"""Smoke test of the whole-chain benchmark (benchmarks/chain.py) in --quick mode."""

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "chain.py"


def test_chain_benchmark_quick(tmp_path):
    spec = importlib.util.spec_from_file_location("ketasim_bench_chain", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    res = mod.main(["--quick", "--out", str(tmp_path / "chain.json")])
    assert res["mode"] == "quick" and (tmp_path / "chain.json").is_file()
    assert res["seconds"]["chain_warm"] > 0 and res["ratios"]["dynamic_over_chain"] > 1

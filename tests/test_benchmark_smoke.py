"""Smoke test of the population PK benchmark (benchmarks/pk_population.py) in --quick mode."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "pk_population.py"


def _load_benchmark():
    # benchmarks/ is not a package: load the script as a module by path
    spec = importlib.util.spec_from_file_location("ketasim_bench_pk_population", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_pk_population_benchmark_quick(tmp_path, capsys):
    bench = _load_benchmark()
    out = tmp_path / "out" / "pk_population.json"
    res = bench.main(["--quick", "--baseline-n", "10", "--out", str(out)])

    assert res["mode"] == "quick"
    assert res["baseline_odeint"]["n_subjects"] == 10
    assert res["accuracy"]["max_rel_err"] <= 1e-6
    # the tight reference shows the residual is odeint's: ketasim is far closer to it
    tight = res["accuracy"]["tight"]
    assert tight["ketasim_vs_tight"]["max_rel_err"] < tight["odeint_vs_tight"]["max_rel_err"]
    # off-grid events and a non-uniform grid are just as exact
    for v in res["variants"].values():
        assert v["accuracy_vs_odeint"]["max_rel_err"] <= 1e-6

    assert out.exists()
    data = json.loads(out.read_text())
    assert data["accuracy"]["max_rel_err"] == res["accuracy"]["max_rel_err"]
    assert data["ketasim"]["1000"]["subjects_per_s"] > 0
    assert not list(out.parent.glob("*.tmp"))          # atomic write left no temp file behind
    assert "ACCURACY  PASS" in capsys.readouterr().out

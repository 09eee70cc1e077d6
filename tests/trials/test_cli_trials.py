"""`ketasim trial`, `ketasim sweep`, `ketasim sensitivity` from the command line."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from ketasim.cli import app

runner = CliRunner()


def test_trial_cli(tmp_path):
    out = tmp_path / "t"
    r = runner.invoke(app, ["trial", "examples/benefit-risk.toml", "--n", "6", "--end", "2 d", "--step", "1 h",
                            "--chunk-size", "4", "--summaries-only", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["complete"] and doc["n_chunks"] == 2 and doc["n_subjects"] == 6
    assert not (out / "trial.nc").exists()  # summaries only
    summ = pd.read_csv(out / "summary.csv")
    assert list(summ.columns) == ["arm", "metric", "unit", "p05", "median", "p95"]
    # resuming a finished trial simulates nothing and changes nothing
    before = (out / "chunks" / "chunk-000000.parquet").stat().st_mtime_ns
    r = runner.invoke(app, ["trial", "--resume", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert (out / "chunks" / "chunk-000000.parquet").stat().st_mtime_ns == before
    assert (out / "trial.nc").exists()


def test_trial_cli_errors(tmp_path):
    r = runner.invoke(app, ["trial", "--n", "2", "--executor", "spark", "--out", str(tmp_path)])
    assert r.exit_code == 1 and "executor" in r.stderr and "Traceback" not in r.output
    assert r.stderr.count("\n") == 1
    r = runner.invoke(app, ["trial", "--resume", str(tmp_path / "nothing")])
    assert r.exit_code == 1 and "holds no trial" in r.stderr


def test_sweep_cli(tmp_path):
    r = runner.invoke(app, ["sweep", "--vary", "arms.iv.dose=0.25..1.0 mg/kg:3", "--n", "4", "--out", str(tmp_path),
                            "--quiet"])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(tmp_path / "sweep_summary.csv")
    assert list(df["arms.iv.dose"]) == [0.25, 0.625, 1.0]
    assert df["median"].is_monotonic_increasing
    assert (tmp_path / "dose_response.png").stat().st_size > 1000 and (tmp_path / "sweep.nc").exists()


def test_sensitivity_cli(tmp_path):
    r = runner.invoke(app, ["sensitivity", "--method", "morris", "--n", "10", "--parameters", "CL,V1,Q2",
                            "--output", "peak_C_plasma_ketamine", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "morris sensitivity of peak_C_plasma_ketamine" in r.stdout
    df = pd.read_csv(tmp_path / "indices.csv")
    assert list(df["parameter"]) == ["CL", "V1", "Q2"] and "mu_star" in df
    assert (tmp_path / "sensitivity.png").exists()
    r = runner.invoke(app, ["sensitivity", "--parameters", "Ki_NMDA", "--n", "8", "--out", str(tmp_path)])
    assert r.exit_code == 1 and "Ki_NMDA" in r.stderr

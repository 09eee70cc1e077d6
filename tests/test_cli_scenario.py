"""CLI: ketasim run FILE --set, scenario validate / schema, examples, report --format html|pdf."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from ketasim.cli import app
from ketasim.runner import RunResult

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "benefit-risk.toml"
SMALL = ["--set", "population.n=6", "--set", 'end="1 d"', "--set", 'step="20 min"']
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_run")
    # no figures here, so that re-rendering is quick; the figures' round trip is tested in test_flagship.py
    res = invoke("run", EXAMPLE, "--out", d, *SMALL, "--set", "arms.esketamine.dose=28 mg",
                 "--set", "report.formats=['html', 'pdf']", "--set", "report.figures=false", "--json")
    assert res.exit_code == 0, res.output
    return d, json.loads(res.stdout)


def test_run_json_and_overrides(run_dir):
    d, j = run_dir
    assert j["scenario"] == "benefit-risk" and j["n_subjects"] == 6 and j["seed"] == 1
    assert set(j["files"]) == {"netcdf", "summary", "report", "pdf"}
    assert set(j["summary"]) == {"iv-depression", "esketamine", "recreational-weekend", "dependent-daily"}
    ds = xr.load_dataset(d / "flagship.nc", engine="h5netcdf")
    assert str(ds["regimen"].values[1]).startswith("28 mg esketamine intranasal twice weekly")
    assert 'dose = "28 mg"' in ds.attrs["scenario"]
    assert ds.sizes["time"] == 73 and ds.sizes["subject"] == 6


def test_run_quiet_prints_nothing(tmp_path):
    res = invoke("run", EXAMPLE, "--out", tmp_path, "--set", "population.n=2", "--set", 'end="2 h"',
                 "--set", "report.figures=false", "--quiet")
    assert res.exit_code == 0 and res.stdout == ""
    assert (tmp_path / "report.html").is_file()


def test_run_table(tmp_path):
    res = invoke("run", EXAMPLE, "--out", tmp_path, "--set", "population.n=2", "--set", 'end="2 h"',
                 "--set", "report.figures=false")
    assert res.exit_code == 0
    assert "iv-depression" in res.stdout and "Cmax" in res.stdout and "report.html" in res.stdout


def test_run_bad_set_is_one_line(tmp_path):
    res = runner.invoke(app, ["run", str(EXAMPLE), "--out", str(tmp_path), "--set", "arms.esk.dose=1 mg"])
    assert res.exit_code == 1
    assert res.output.strip().startswith("ketasim: error: --set: arms.esk: no arm named 'esk'")
    assert "Traceback" not in res.output


def test_report_rerendered_from_saved_results_equals_direct(run_dir, tmp_path):
    d, _ = run_dir
    html_direct = (d / "report.html").read_bytes()
    pdf_direct = (d / "report.pdf").read_bytes()
    res = invoke("report", d, "--format", "html", "--out", tmp_path / "r.html")
    assert res.exit_code == 0
    assert (tmp_path / "r.html").read_bytes() == html_direct
    res = invoke("report", d, "--format", "pdf", "--out", tmp_path / "r.pdf")
    assert res.exit_code == 0
    assert pdf_direct.startswith(b"%PDF") and (tmp_path / "r.pdf").read_bytes() == pdf_direct
    assert b"CreationDate" not in pdf_direct  # deterministic
    res = runner.invoke(app, ["report", str(d), "--format", "docx"])
    assert res.exit_code == 1 and "--format must be one of 'html', 'pdf'; got 'docx'." in res.output


def test_report_from_a_folder_without_results(tmp_path):
    res = runner.invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 1 and "has no flagship.nc; run `ketasim run --out" in res.output


def test_identical_results_for_identical_seed(run_dir, tmp_path):
    d, _ = run_dir
    from ketasim.flagship import run_flagship

    sets = [x for x in SMALL if x != "--set"] + ["arms.esketamine.dose=28 mg", "report.formats=['html', 'pdf']",
                                                 "report.figures=false"]
    run_flagship(tmp_path, scenario_path=EXAMPLE, overrides=sets, quiet=True, report=False)  # same scenario, no report
    a, b = RunResult.load(d), RunResult.load(tmp_path)
    xr.testing.assert_identical(a.dataset, b.dataset)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    assert (d / "summary.csv").read_bytes() == (tmp_path / "summary.csv").read_bytes()


def test_results_layout_float32_and_provenance(run_dir):
    d, _ = run_dir
    ds = xr.load_dataset(d / "flagship.nc", engine="h5netcdf")
    for v in ds.data_vars:
        if ds[v].dims[-1] == "time":
            assert ds[v].dtype == "float32", v
            assert ds[v].attrs["units"] is not None and ds[v].attrs["long_name"]
    for k in ("ketasim_version", "scenario", "scenario_sha256", "provenance", "citations", "seed", "circuit"):
        assert k in ds.attrs
    s = pd.read_csv(d / "summary.csv")
    assert list(s.columns) == ["arm", "metric", "unit", "median", "p05", "p95"]


def test_scenario_validate(tmp_path):
    res = invoke("scenario", "validate", EXAMPLE)
    assert res.exit_code == 0
    assert res.stdout.startswith(f"{EXAMPLE}: valid scenario 'benefit-risk': 4 arm(s)")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[population]\nn = 0\n[[arms]]\nregimen = "1 mg intranasl"\n')
    res = runner.invoke(app, ["scenario", "validate", str(bad)])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert lines[0] == f"ketasim: error: {bad}, line 3, population.n: must be >= 1; got 0."
    assert lines[1].startswith(f"{bad}, line 5, arms[0].regimen: cannot read regimen '1 mg intranasl'")
    res = invoke("scenario", "validate", EXAMPLE, "--set", "population.n=7", "--show")
    assert res.exit_code == 0 and "n = 7" in res.stdout


def test_scenario_schema(tmp_path):
    res = invoke("scenario", "schema")
    assert res.exit_code == 0
    s = json.loads(res.stdout)
    assert s["title"] == "ketasim scenario" and "arms" in s["properties"]
    res = invoke("scenario", "schema", "--out", tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text()) == s


def test_examples_list_print_copy(tmp_path):
    res = invoke("examples")
    assert res.exit_code == 0
    for n in ("benefit-risk", "esketamine-label", "iv-depression-trial", "children-sedation", "rat-microdialysis",
              "self-administration"):
        assert n in res.stdout
    res = invoke("examples", "children-sedation")
    assert res.exit_code == 0 and res.stdout == (REPO / "examples" / "children-sedation.toml").read_text()
    res = invoke("examples", "rat-microdialysis", "--copy", tmp_path)
    assert res.exit_code == 0 and (tmp_path / "rat-microdialysis.toml").read_text() == \
        (REPO / "examples" / "rat-microdialysis.toml").read_text()
    res = runner.invoke(app, ["examples", "benefit-risc"])
    assert res.exit_code == 1 and "Did you mean 'benefit-risk'?" in res.output


@pytest.mark.parametrize("name", ["children-sedation", "rat-microdialysis", "self-administration",
                                  "esketamine-label", "iv-depression-trial"])
def test_every_example_runs(name, tmp_path):
    from ketasim.scenario import example_path

    res = invoke("run", example_path(name), "--out", tmp_path, "--set", "population.n=3", "--set", 'end="12 h"',
                 "--set", "report.formats=['html']", "--set", "report.figures=false", "--json")
    assert res.exit_code == 0, res.output
    j = json.loads(res.stdout)
    assert j["scenario"] == name
    for arm, m in j["summary"].items():
        assert m["Cmax_ketamine"]["median"] > 0, arm

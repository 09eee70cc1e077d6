"""Hypothesis comparison, calibration data, and the circuit CLI commands."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ketasim.cli import app
from ketasim.hypotheses import COMBINATIONS, FACTS, compare
from ketasim.layers.circuit import DEFAULT_CIRCUIT, combo_key, load_calibration



@pytest.fixture(scope="module")
def result():
    return compare()


def test_default_circuit_is_the_best_scoring(result):
    assert result["best"] == combo_key(DEFAULT_CIRCUIT)
    scores = [r["score"] for r in result["ranking"]]
    assert scores == sorted(scores)
    assert {r["circuit"] for r in result["ranking"]} == {combo_key(c) for c in COMBINATIONS}


def test_every_fact_scored_for_every_variant(result):
    for r in result["ranking"]:
        assert [row["fact"] for row in r["rows"]] == [f.id for f in FACTS]
        assert all(np.isfinite(row["prediction"]) and row["residual"] >= 0 for row in r["rows"])


def test_calibration_file_covers_every_combination_with_fit_quality():
    cal = load_calibration()
    for c in COMBINATIONS:
        fit = cal[combo_key(c)]
        assert fit["values"] and "rms_residual" in fit["fit"] and fit["fit"]["per_fact"]


def test_committed_hypotheses_table_is_current(result):
    from pathlib import Path

    from ketasim.cli_circuit import _markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "hypotheses.md"
    assert doc.read_text() == _markdown(result), "regenerate: ketasim hypotheses --format markdown --out docs/hypotheses.md"


def test_cli_hypotheses_json_and_report(tmp_path):
    r = CliRunner().invoke(app, ["hypotheses", "--format", "json", "--out", str(tmp_path / "h.json"),
                                 "--report", str(tmp_path / "h.html")])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "h.json").read_text())
    assert data["best"] == combo_key(DEFAULT_CIRCUIT) and len(data["facts"]) == len(FACTS)
    assert "data:image/png;base64" in (tmp_path / "h.html").read_text()


def test_cli_circuit_dynamic_window():
    r = CliRunner().invoke(app, ["circuit", "0.5 mg/kg iv over 40 min", "--window", "2s", "--at", "40min",
                                 "--step", "0.2s", "--format", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert len(d["time_s"]) == 11 and d["circuit"] == combo_key(DEFAULT_CIRCUIT)
    assert d["rate_VTA_DA"][0] == pytest.approx(d["quasi_steady_at_start"]["rate_VTA_DA"], rel=1e-6)


def test_cli_circuit_errors():
    r = CliRunner().invoke(app, ["circuit", "0.5 mg/kg iv over 40 min", "--window", "2h"])
    assert r.exit_code != 0 and "--window must be > 0 and at most 10 min" in r.output
    r = CliRunner().invoke(app, ["circuit", "0.5 mg/kg iv", "--circuit", "cortical"])
    assert r.exit_code != 0 and "circuit must be one of" in r.output


def test_cli_simulate_rat_with_circuit():
    # the command: rat defaults for weight and age
    r = CliRunner().invoke(app, ["simulate", "25 mg/kg ip", "--species", "rat",
                                 "--circuit", "cortical_disinhibition", "--format", "csv", "--end", "1h",
                                 "--outputs", "occupancy_NMDA,rate_TRN,DA_PFC_pct"])
    assert r.exit_code == 0, r.output
    head = r.output.splitlines()[0]
    assert head == "time_h,occupancy_NMDA,rate_TRN,DA_PFC_pct"

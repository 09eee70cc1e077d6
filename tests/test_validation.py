"""Validation framework (issue 10): `ketasim validate` passes its gates, the committed report and the
README headline are what the command produces, exports round-trip.

The full run (typical values, 200-subject prediction intervals, digitised curves, report) happens
once, in ``test_validate_command_report_and_readme``; the other tests use small inputs.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketasim.cli import main
from ketasim.validation import fold_metrics, load_config, validate

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "validation.html"
README = ROOT / "README.md"
OBS = ROOT / "src" / "ketasim" / "data" / "observations" / "pk_calibration.csv"


@pytest.mark.slow
def test_validate_command_report_and_readme(tmp_path, capsys):
    """CI runs `ketasim validate`: exit 0; the committed report and the README line are current."""
    out, rep = tmp_path / "v.json", tmp_path / "validation.html"
    code = main(["validate", "--format", "json", "--out", str(out), "--report", str(rep)])
    err = capsys.readouterr().err
    assert code == 0, f"ketasim validate failed its gates:\n{err}"
    res = json.loads(out.read_text())
    assert res["passed"] is True
    pk = res["layers"]["pk"]
    gates = {g["gate"]: g for g in pk["gates"]}
    assert {"min_within_1_5", "min_within_2", "max_gmfe"} <= set(gates)
    assert gates["max_gmfe"]["threshold"] == 1.35 and gates["min_within_1_5"]["threshold"] == 0.8
    s = pk["summary"]
    print(f"\n{res['headline']}; 90% PI coverage {s['in_pi90']:.0%} (in scope {s['in_pi90_in_scope']:.0%})")
    # every out-of-scope row has a written reason; every row has citation and tag
    for r in pk["rows"]:
        assert r["citation"], r["obs_id"]
        if not r["in_scope"]:
            assert len(r["reason"]) > 20, r["obs_id"]
        assert r["pi_low"] is not None and r["pi_low"] <= r["pi_high"], r["obs_id"]
    assert len(pk["curves"]) >= 5 and len(pk["bounds"]) >= 1
    produced = rep.read_text(encoding="utf-8")
    assert REPORT.exists(), "docs/validation.html is missing; run `ketasim validate --report docs/validation.html`"
    assert produced == REPORT.read_text(encoding="utf-8"), (
        "docs/validation.html is not what `ketasim validate --report docs/validation.html` produces now; "
        "regenerate it with that command and commit it")
    m = re.search(r"<!-- validation-headline -->(.*?)<!-- /validation-headline -->", README.read_text(encoding="utf-8"))
    assert m, "README.md lacks the validation headline markers"
    assert m.group(1) == res["headline"], (
        f"README headline is stale:\n  README:  {m.group(1)}\n  measured: {res['headline']}\n"
        "copy the measured line (ketasim validate --format json | jq .headline)")


def test_report_is_deterministic_and_self_contained():
    from ketasim.report.validation_html import svg_curve_plot, svg_fold_plot

    a = svg_fold_plot([1, 10, 100], [1.2, 9, 300], [True, True, False], "t")
    assert a == svg_fold_plot([1, 10, 100], [1.2, 9, 300], [True, True, False], "t")
    assert a.startswith("<svg") and "polygon" in a
    b = svg_curve_plot([0.5, 1, 2], [3, 2, 1], [2.5, 2.1, 1.2], "c", "ng/mL")
    assert "polyline" in b and b.count("<circle") >= 3
    html = REPORT.read_text(encoding="utf-8")
    assert "data:image/svg+xml;base64," in html
    assert not re.search(r"(src|href)=\"https?://", html), "the report must not load anything from the network"


def test_fold_metrics():
    m = fold_metrics([1.0, 1.2, 0.7, 2.5, np.nan])
    assert m["n"] == 4
    assert m["within_1_25"] == 0.5 and m["within_1_5"] == 0.75 and m["within_2"] == 0.75
    assert m["gmfe"] == pytest.approx(10 ** np.mean(np.abs(np.log10([1.0, 1.2, 0.7, 2.5]))))
    assert fold_metrics([])["n"] == 0


def test_config_registers_pk_with_issue_gates():
    cfg = load_config()
    pk = cfg["layers"]["pk"]
    assert pk["min_within_1_5"] == 0.80 and pk["min_within_2"] == 1.0 and pk["max_gmfe"] == 1.35
    assert cfg["population"]["n_subjects"] == 200


def _user_file(tmp_path, ids) -> Path:
    df = pd.read_csv(OBS, dtype=str, keep_default_na=False)
    p = tmp_path / "my_study.csv"
    df[df["obs_id"].isin(ids)].to_csv(p, index=False)
    return p


def test_a_failing_gate_fails_the_run(tmp_path):
    cfg = tmp_path / "gates.toml"
    cfg.write_text(textwrap.dedent("""
        [layers.pk]
        observations = "pk_calibration.csv"
        predictor = "ketasim.validation:predict_pk"
        max_gmfe = 1.01
    """))
    res = validate(observations=_user_file(tmp_path, ["VP04a", "VP04c", "VP13a"]), n_subjects=0, config=cfg)
    assert not res.passed
    (g,) = res.layer("pk").gates  # measured on the user's rows: fails, whatever the file
    assert g.gate == "max_gmfe" and not g.passed and g.value > 1.01


def test_user_observations_and_exit_code(tmp_path, capsys):
    obs = _user_file(tmp_path, ["VP04a", "VP04c", "VP13a", "VP05a"])
    out = tmp_path / "mine.json"
    code = main(["validate", "--observations", str(obs), "--subjects", "20", "--format", "json", "--out", str(out)])
    res = json.loads(out.read_text())
    rows = res["layers"]["pk"]["rows"]
    assert sorted(r["obs_id"] for r in rows) == ["VP04a", "VP04c", "VP05a", "VP13a"]
    # a user's file has no curves or bounds: those gates do not apply; the others pass for these rows
    assert code == 0, capsys.readouterr().err
    gates = {g["gate"]: g for g in res["layers"]["pk"]["gates"]}
    assert "not applicable" in gates["max_curve_gmfe"]["description"]
    assert gates["max_gmfe"]["passed"] and gates["max_gmfe"]["value"] < 1.35
    for r in rows:
        assert r["pi_low"] <= r["predicted"] * 1.5 and r["pi_high"] >= r["predicted"] / 1.5
    code = main(["validate", "--layer", "nope"])
    assert code != 0
    assert "nope" in capsys.readouterr().err


def test_prediction_interval_is_seeded_and_brackets_the_typical_value():
    from ketasim.validation import population_interval
    from ketasim.validation_pk import load_observations

    row = load_observations().set_index("obs_id").loc["VP04a"].copy()
    row["obs_id"] = "VP04a"
    a = population_interval(row, n_subjects=50, seed=3)
    assert a == population_interval(row, n_subjects=50, seed=3)
    assert a != population_interval(row, n_subjects=50, seed=4)
    assert a[0] < 296 * 1.054 < a[1]  # typical prediction (fold 1.054 of 296 ng/mL) inside


def test_export_sbml_cli(tmp_path):
    out = tmp_path / "model.xml"
    code = main(["export", "sbml", "--parameters", "fanta_2015_s_ketamine", "--regimen", "20 mg iv over 20 min",
                 "--out", str(out)])
    assert code == 0
    xml = out.read_text()
    assert 'timeUnits="hour"' in xml and 'id="C_plasma_ketamine"' in xml and "<event" in xml


def test_export_nonmem_data_round_trips(tmp_path):
    from ketasim.flagship import load_scenario
    from ketasim.io import read_nonmem

    scen = ROOT / "examples" / "iv-depression-trial.toml"
    out = tmp_path / "dosing.csv"
    assert main(["export", "nonmem-data", str(scen), "--out", str(out), "--n", "4"]) == 0
    regs = read_nonmem(out)
    sc = load_scenario(scen)
    assert len(regs) == 4 * len(sc.arms)
    text = out.read_text()
    for k, arm in enumerate(sc.arms):
        reg = arm.to_regimen()
        got = regs[str(k * 4 + 1)]
        assert [e.time for e in got.events] == pytest.approx([e.time for e in reg.events])
        assert [e.duration for e in got.events] == pytest.approx([e.duration for e in reg.events])
        assert f"arm {arm.name!r}" in text
    # mg/kg doses were written in mg with each subject's weight: the amounts differ between subjects
    assert len({round(regs[str(i)].events[0].amount, 6) for i in range(1, 5)}) > 1


def test_a_layer_judged_on_intervals_only(tmp_path, monkeypatch):
    """Layers whose observations are published intervals (no fold errors) plug in through bounds."""
    import sys
    import types

    from ketasim.report.validation_html import render_validation_report
    from ketasim.validation import ROW_COLUMNS, LayerOutcome, headline

    def predict(path, *, n_subjects, seed, interval):
        bounds = pd.DataFrame([
            {"obs_id": "F1", "kind": "validation", "regimen": "10 mg iv", "parameters": "", "metric": "peak DA %",
             "observed": 150.0, "bound_low": 120.0, "bound_high": 200.0, "predicted": 160.0, "unit": "%",
             "inside": True, "status": "ok", "citation": "Someone 2001"},
            {"obs_id": "F2", "kind": "validation", "regimen": "10 mg iv", "parameters": "", "metric": "firing %",
             "observed": -20.0, "bound_low": -40.0, "bound_high": -10.0, "predicted": 5.0, "unit": "%",
             "inside": False, "status": "ok", "citation": "Someone 2002"},
        ])
        return LayerOutcome(rows=pd.DataFrame(columns=list(ROW_COLUMNS)), bounds=bounds)

    mod = types.ModuleType("ketasim_fake_layer")
    mod.predict = predict
    monkeypatch.setitem(sys.modules, "ketasim_fake_layer", mod)
    cfg = tmp_path / "gates.toml"
    cfg.write_text(textwrap.dedent("""
        [layers.dopamine]
        title = "Dopamine"
        observations = "dopamine.csv"
        predictor = "ketasim_fake_layer:predict"
        min_bounds_inside = 0.5
    """))
    res = validate(config=cfg)
    assert res.passed
    assert headline(res) == "DOPAMINE: 1 of 2 published facts reproduced within their interval"
    html = render_validation_report(res)
    assert "F2" in html and "Dopamine" in html
    json.dumps(res.to_json())


def test_cli_exits_1_when_a_gate_fails(tmp_path, monkeypatch, capsys):
    import ketasim.validation as kv

    strict = {"population": {"n_subjects": 0, "seed": 1, "interval": 0.9},
              "layers": {"pk": {"title": "PK", "observations": "pk_calibration.csv",
                                "predictor": "ketasim.validation:predict_pk", "max_gmfe": 1.001}}}
    monkeypatch.setattr(kv, "load_config", lambda path=None: strict)
    code = main(["validate", "--observations", str(_user_file(tmp_path, ["VP04a", "VP13a"]))])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAILED" in captured.out and "validation gate failed" in captured.err and "GMFE" in captured.err

"""Validation layers beyond PK (issue 10): receptors, PK-PD effects, acute safety, circuit, dopamine;
calibration vs validation data reported apart; gates that are reported but not enforced.

Closed forms: the receptor layer's half-occupancy concentration of a 50:50 mixture is
1 / (0.5/K_S + 0.5/K_R) (Gaddum, Hill 1); its R/S potency ratio is K_R/K_S.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ketasim.cli import main
from ketasim.errors import DataFileError
from ketasim.validation import USES, load_config, validate
from ketasim.validation_layers import (BOUND_COLUMNS, DOPAMINE_FACTS, load_facts, predict_circuit,
                                       predict_dopamine, predict_pkpd, predict_receptors)

ROOT = Path(__file__).resolve().parent.parent
OBS = ROOT / "src" / "ketasim" / "data" / "observations" / "pk_calibration.csv"
RECEPTORS_YAML = ROOT / "src" / "ketasim" / "data" / "circuit" / "receptors.yaml"


def _k(target, lig):
    return float(yaml.safe_load(RECEPTORS_YAML.read_text())[target][lig]["value"])


def test_receptor_layer_against_closed_forms_and_published_ranges():
    b = predict_receptors().bounds.set_index("obs_id")
    ks_, kr = _k("nmda", "K_S_ketamine"), _k("nmda", "K_R_ketamine")
    assert b.loc["RC01", "predicted"] == pytest.approx(1.0 / (0.5 / ks_ + 0.5 / kr), rel=1e-8)
    assert b.loc["RC02", "predicted"] == pytest.approx(kr / ks_, rel=1e-8)
    assert b.loc["RC03", "predicted"] == pytest.approx(_k("nmda", "K_norketamine"), rel=1e-8)
    mu = 1.0 / (0.5 / _k("mu", "K_S_ketamine") + 0.5 / _k("mu", "K_R_ketamine"))
    assert b.loc["RC04", "predicted"] == pytest.approx(mu, rel=1e-8)
    # every calibration fact is reproduced; the in vitro racemic range holds; in vitro norketamine
    # (0.97-3.0 uM) is more potent than the in vivo EC50 the model uses (9.1 uM): reported as a miss
    assert b.loc[b["used_for"] == "calibration", "inside"].all()
    assert b.loc["RC06", "inside"] and not b.loc["RC07", "inside"]
    assert 0.23 <= b.loc["RC09", "predicted"] <= 0.33        # peak NMDA occupancy, 0.5 mg/kg over 40 min


def test_pkpd_layer_values():
    out = predict_pkpd()
    b = out.bounds.set_index("obs_id")
    r = out.rows.set_index("obs_id")
    assert b.loc["PD01", "predicted"] == pytest.approx(121.0, rel=1e-6)   # Olofsen 2022 C50, used as EC50
    assert 20 <= b.loc["PD02", "predicted"] <= 37                         # Bowdle: model below 37-89%
    assert b.loc["PD08", "status"].startswith("not computable") and not b.loc["PD08", "inside"]
    assert r.loc["PD07", "status"].startswith("not computable")
    assert r.loc["PD06", "fold_error"] == pytest.approx(r.loc["PD06", "predicted"] / 185.0)
    # the peak plasma concentration of 0.5 mg/kg over 40 min sits at the top of the 100-250 ng/mL anchor
    assert 200 <= b.loc["PD05", "predicted"] <= 300


def test_circuit_and_dopamine_wrap_the_hypothesis_facts():
    from ketasim.hypotheses import FACTS, score
    from ketasim.layers.circuit import DEFAULT_CIRCUIT

    c, d = predict_circuit().bounds, predict_dopamine().bounds
    assert set(c["obs_id"]) | set(d["obs_id"]) == {f.id for f in FACTS}
    assert set(d["obs_id"]) == set(DOPAMINE_FACTS)
    s = score(DEFAULT_CIRCUIT)
    both = pd.concat([c, d]).set_index("obs_id")
    for row in s["rows"]:
        assert both.loc[row["fact"], "predicted"] == pytest.approx(row["prediction"])
        assert both.loc[row["fact"], "used_for"] == row["kind"]
        # inside (with the 0.1% round-off slack) agrees with a zero residual except at an interval's end
        if row["residual"] == 0:
            assert both.loc[row["fact"], "inside"]


def test_fact_files_have_citations_and_uses():
    for name in ("receptors.csv", "pkpd.csv", "safety.csv"):
        df = load_facts(name)
        assert set(df["used_for"]) <= set(USES) and df["citation"].str.len().min() > 10, name
        assert (df["used_for"] == "validation").any() and (df["used_for"] == "calibration").any(), name


def test_pk_rows_used_for_fitting_are_marked():
    obs = pd.read_csv(OBS, dtype=str, keep_default_na=False)
    cal = set(obs.loc[obs["used_for"] == "calibration", "obs_id"])
    # _routes.yaml: intranasal spray fitted to VP05-VP07, IM ka fitted to VP13/VP14
    assert {"VP05d", "VP06d", "VP13a", "VP14a"} <= cal
    assert all(x[:4] in ("VP05", "VP06", "VP07", "VP13", "VP14") for x in cal)
    assert set(obs["used_for"]) == set(USES)


def test_bad_fact_file(tmp_path):
    p = tmp_path / "f.csv"
    p.write_text(",".join(["obs_id", "used_for", "kind", "metric", "regimen", "parameters", "observed", "bound_low",
                           "bound_high", "unit", "statement", "citation", "tag", "note"]) + "\n"
                 "X1,fitting,k,m,,,1,,,u,s,Someone 2020,V,\n")
    with pytest.raises(DataFileError, match="used_for must be one of"):
        load_facts(p)
    p.write_text("obs_id,used_for\nX1,validation\n")
    with pytest.raises(DataFileError, match="lacks columns"):
        load_facts(p)


def _cfg(tmp_path, enforce: str) -> object:
    cfg = tmp_path / "gates.toml"
    cfg.write_text(textwrap.dedent(f"""
        [population]
        n_subjects = 0
        seed = 1
        [layers.receptors]
        title = "Receptors"
        observations = "receptors.csv"
        predictor = "ketasim.validation_layers:predict_receptors"
        min_bounds_inside_calibration = 1.0
        min_bounds_inside_validation = 1.0
        {enforce}
    """))
    return cfg


def test_calibration_and_validation_reported_apart(tmp_path):
    res = validate(config=_cfg(tmp_path, ""))
    lr = res.layer("receptors")
    bu = lr.summary["by_use"]
    assert (bu["calibration"]["n_bounds"], bu["calibration"]["n_bounds_inside"]) == (5, 5)
    assert (bu["validation"]["n_bounds"], bu["validation"]["n_bounds_inside"]) == (4, 3)
    g = {x.gate: x for x in lr.gates}
    assert g["min_bounds_inside_calibration"].passed and not g["min_bounds_inside_validation"].passed
    assert g["min_bounds_inside_validation"].value == pytest.approx(0.75)
    assert not res.passed   # enforced by default


def test_a_layer_not_enforced_reports_its_failure_without_failing(tmp_path, capsys):
    with pytest.raises(DataFileError, match="enforce_reason"):
        validate(config=_cfg(tmp_path, "enforce = false"))
    cfg = _cfg(tmp_path, 'enforce = false\nenforce_reason = "a reason that is long enough to read"')
    res = validate(config=cfg)
    assert res.passed and res.failed_gates and "[not enforced]" in res.failed_gates[0]
    from ketasim.validation import headline

    assert headline(res).endswith("[gate not met, not enforced]")


def test_shipped_config_enforces_pk_and_explains_the_rest():
    cfg = load_config()
    assert cfg["layers"]["pk"].get("enforce", True) is True
    for name, spec in cfg["layers"].items():
        if spec.get("enforce", True) is False:
            assert len(spec["enforce_reason"]) > 100, name
        if name != "pk":   # calibration data must be reproduced in full
            cal = [v for k, v in spec.items() if k.endswith("_calibration")]
            assert cal == [1.0], name


def test_bounds_columns():
    assert list(predict_receptors().bounds.columns) == list(BOUND_COLUMNS)
    assert not math.isnan(predict_dopamine().bounds["predicted"].astype(float).sum())


def test_safety_layer_calibration_reproduced_and_bp_peak_time_reported():
    from ketasim.validation_layers import predict_safety

    out = predict_safety(seed=20261127)
    b = out.bounds.set_index("obs_id")
    assert b.loc[b["used_for"] == "calibration", "inside"].all(), b.loc[~b["inside"], ["predicted", "bound_low"]]
    # label 5.6 "BP peaks ~40 min": with the plasma drive the median peak is at the plasma Tmax (~44 min)
    assert 40 <= b.loc["SF10", "predicted"] <= 48 and b.loc["SF10", "used_for"] == "calibration"
    assert b.loc[["SF09", "SF15", "SF18", "SF19"], "inside"].all()
    r = out.rows.set_index("obs_id")
    # Langsjo's 'up to' maxima at 1959 ng/mL: the recalibrated Emax gives lower mean rises (fold ~0.7)
    assert 0.6 <= r.loc["SF16", "fold_error"] <= 0.9 and 0.6 <= r.loc["SF17", "fold_error"] <= 0.9


def test_outcome_targets_are_wrapped_with_their_use(monkeypatch):
    from ketasim import outcome_targets as ot
    from ketasim.validation_outcomes import predict_outcomes, target_use

    monkeypatch.setattr(ot, "_TARGET_MODULES", ())
    monkeypatch.setattr(ot, "TARGETS", {})
    ot.register(ot.Target("harms.x", "harms", "share with X", "harms.csv: Someone 2020", 26.6, 20.0, 33.0, "%",
                          lambda: 30.0, note="calibrated; binomial CI widened"))
    ot.register(ot.Target("harms.y", "harms", "share with Y", "harms.csv: Other 2021", 10.0, 5.0, 15.0, "%",
                          lambda: 16.0, note="validation only: not fitted"))
    b = predict_outcomes().bounds.set_index("obs_id")
    assert b.loc["harms.x", "used_for"] == "calibration" and b.loc["harms.x", "inside"]
    assert b.loc["harms.y", "used_for"] == "validation" and not b.loc["harms.y", "inside"]
    assert target_use("") == "calibration"


def test_empty_registry_is_not_applicable(monkeypatch):
    from ketasim import outcome_targets as ot
    from ketasim.validation import headline

    monkeypatch.setattr(ot, "_TARGET_MODULES", ())
    monkeypatch.setattr(ot, "TARGETS", {})
    res = validate(["outcomes"])
    assert res.passed and headline(res) == "OUTCOMES: no observations registered yet"
    assert all("not applicable" in g.description for g in res.layer("outcomes").gates)


@pytest.mark.slow
def test_epidemiology_out_of_sample():
    """Fitted years (calibration) all within 2-fold; the held-out E&W years 2017-2023 are under-predicted
    (the rise after 2016 is not in the pre-2016 data): a reported miss."""
    from ketasim.validation_outcomes import predict_epidemiology

    r = predict_epidemiology(seed=20261127).rows.set_index("obs_id")
    cal, val = r[r["used_for"] == "calibration"], r[r["used_for"] == "validation"]
    assert len(cal) == 9 and len(val) == 6
    assert cal["within_2"].all()
    ew = val[val.index.str.startswith("england")]
    assert (ew["fold_error"] < 0.5).all()
    assert (r["fold_error"] == r["predicted"] / r["observed"]).all()


def test_a_documented_known_miss_is_listed_not_gated(monkeypatch):
    from ketasim import outcome_targets as ot

    monkeypatch.setattr(ot, "_TARGET_MODULES", ())
    monkeypatch.setattr(ot, "TARGETS", {})
    ot.register(ot.Target("harms.a", "harms", "a", "harms.csv: A 2020", 10.0, 5.0, 15.0, "%", lambda: 10.0,
                          note="calibrated"))
    ot.register(ot.Target("harms.b", "harms", "b", "harms.csv: B 2020", 10.0, 5.0, 15.0, "%", lambda: 2.0,
                          note="calibrated; KNOWN MISS: the structure cannot meet it (reason)"))
    ot.register(ot.Target("harms.c", "harms", "c", "harms.csv: C 2020", 10.0, 5.0, 15.0, "%", lambda: 12.0,
                          note="validation"))
    res = validate(["outcomes"])
    lr = res.layer("outcomes")
    assert res.passed and lr.summary["n_bounds"] == 2 and lr.summary["n_bounds_out_of_scope"] == 1
    b = lr.outcome.bounds.set_index("obs_id")
    assert not b.loc["harms.b", "in_scope"] and "KNOWN MISS" in b.loc["harms.b", "reason"]
    from ketasim.validation import headline

    assert headline(res) == ("OUTCOMES: 2 of 2 published facts reproduced within their interval "
                             "(held-out validation facts: 1 of 1; 1 more documented known miss)")


def test_outcome_rows_do_not_depend_on_import_order(monkeypatch):
    from ketasim import outcome_targets as ot
    from ketasim.validation_outcomes import predict_outcomes

    monkeypatch.setattr(ot, "_TARGET_MODULES", ())
    for order in (("b.y", "a.x"), ("a.x", "b.y")):
        monkeypatch.setattr(ot, "TARGETS", {})
        for i in order:
            ot.register(ot.Target(i, i[0], i, "x.csv: S 2020", 1.0, 0.5, 2.0, "1", lambda: 1.0, note="calibrated"))
        assert predict_outcomes().bounds["obs_id"].tolist() == ["a.x", "b.y"]

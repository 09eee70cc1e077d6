"""Reproduction of published ketamine PK (the calibration gate) and the rat parameter set.

Run with ``pytest -s tests/test_calibration.py`` to see the tables.

Gate (issue): of the scored observation rows, at least 80% are predicted within 1.5-fold and
all within 2-fold, except rows that carry a written, cited ``miss_reason`` in
``ketasim/data/observations/pk_calibration.csv``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ketasim as ks
from ketasim.regimen_text import parse_regimen
from ketasim.validation_pk import (
    bound_table,
    calibration_summary,
    curve_table,
    load_observations,
    pk_calibration_table,
)

REFERENCE = Path(__file__).resolve().parent / "reference" / "pk_observations_calibration.csv"  # verbatim copy

pd.set_option("display.width", 220)
pd.set_option("display.max_columns", 30)
pd.set_option("display.max_colwidth", 48)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return pk_calibration_table()


# ---------------------------------------------------------------------------
# the observation file
# ---------------------------------------------------------------------------
def test_observation_file_is_complete_and_mapped():
    obs = load_observations()
    assert obs["obs_id"].is_unique
    for _, r in obs.iterrows():
        assert r["citation"] and r["use"] in ("score", "bound", "skip"), r["obs_id"]
        if r["use"] == "skip":
            assert len(r["skip_reason"]) > 20, f"{r['obs_id']}: a skipped row needs a written reason"
            continue
        for col in ("regimen", "output", "metric_def", "value_canonical", "unit_canonical", "subject_weight_kg"):
            assert r[col] != "", f"{r['obs_id']}: column {col} is empty"
        parse_regimen(r["regimen"])  # every mapped regimen is valid regimen text
        if r["metric_def"] == "f":
            parse_regimen(r["reference_regimen"])
        if r["use"] == "bound":
            assert r["bound_low"] or r["bound_high"], r["obs_id"]
    assert set(obs.loc[obs["kind"] == "model_prediction", "obs_id"].str[:4]) == {"VP26", "VP27"}
    assert set(obs.loc[obs["kind"] == "forensic", "use"]) == {"bound"}


def test_every_reference_row_is_copied_with_citation_and_tag():
    obs = load_observations().set_index("obs_id")
    with open(REFERENCE, encoding="utf-8") as fh:
        ref = list(csv.DictReader(fh))
    assert len(ref) == len(obs)
    for r in ref:
        row = obs.loc[r["obs_id"]]
        for col, val in r.items():
            if col == "obs_id":
                continue
            assert row[col] == val, f"{r['obs_id']}.{col} differs from the reference table"


def test_unit_conversions():
    obs = load_observations().set_index("obs_id")
    assert float(obs.loc["VP22a", "value_canonical"]) == pytest.approx(9.3 * 237.73)
    assert float(obs.loc["VP22c", "value_canonical"]) == pytest.approx(4.7 * 223.70)
    assert float(obs.loc["VP04b", "value_canonical"]) == pytest.approx(2 / 60, rel=1e-4)
    assert obs.loc["VP04c", "unit_canonical"] == "ng*h/mL"
    assert float(obs.loc["VP05d", "value_canonical"]) == pytest.approx(0.17)


# ---------------------------------------------------------------------------
# the gate
# ---------------------------------------------------------------------------
def test_calibration_gate(table):
    cols = ["obs_id", "kind", "route", "analyte", "metric", "parameters", "observed", "predicted", "unit",
            "fold_error", "within_1_5", "within_2", "reason"]
    print("\n=== PK calibration: scored observations ===")
    shown = table[cols].assign(reason=table["reason"].str.slice(0, 70))
    print(shown.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print("(reason: first 70 characters of the written miss_reason; full text in pk_calibration.csv)")
    print("\n=== summary by route ===")
    print(calibration_summary(table, by="route").to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    print("\n=== summary by kind ===")
    print(calibration_summary(table, by="kind").to_string(index=False, float_format=lambda x: f"{x:.3g}"))

    not_computable = table[table["status"] != "ok"]
    assert not_computable.empty, "rows could not be simulated:\n" + not_computable[["obs_id", "status"]].to_string()

    miss = ~table["within_1_5"]
    explained = miss & (table["miss_reason"] != "")
    gated = table[~explained]
    share = gated["within_1_5"].mean()
    outside_2 = gated[~gated["within_2"]]
    stale = table[(table["miss_reason"] != "") & table["within_1_5"]]
    if len(stale):
        print("\nnote: rows with a miss_reason now within 1.5-fold:", ", ".join(stale["obs_id"]))
    print(f"\ngate: {len(gated)} rows without a written miss reason, {share:.0%} within 1.5-fold, "
          f"{len(outside_2)} outside 2-fold; {int(explained.sum())} explained misses")
    assert share >= 0.80, f"only {share:.0%} of gated rows within 1.5-fold"
    # guard: the written reasons must not hide a general failure - over all computable rows
    # (explained or not) at least 80% stay within 2-fold
    raw_within_2 = table["within_2"].mean()
    print(f"all scored rows, no exemptions: {table['within_1_5'].mean():.0%} within 1.5-fold, "
          f"{raw_within_2:.0%} within 2-fold")
    assert raw_within_2 >= 0.80
    assert outside_2.empty, "outside 2-fold without a written reason:\n" + outside_2[cols].to_string()


def test_explained_misses_have_a_cited_reason(table):
    for _, r in table[(~table["within_1_5"]) & (table["miss_reason"] != "")].iterrows():
        assert len(r["miss_reason"]) > 60, r["obs_id"]


def test_bound_rows_are_plausible():
    b = bound_table()
    print("\n=== bound rows (forensic envelopes, label Tmax range) ===")
    print(b[["obs_id", "kind", "regimen", "parameters", "metric", "observed", "bound_low", "bound_high",
             "predicted", "inside"]].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    assert (b["status"] == "ok").all(), b.loc[b["status"] != "ok", ["obs_id", "status"]].to_string()
    assert b["inside"].all(), b.loc[~b["inside"], ["obs_id", "predicted", "bound_low", "bound_high"]].to_string()


# ---------------------------------------------------------------------------
# digitised curves
# ---------------------------------------------------------------------------
def test_digitised_curves():
    ct = curve_table()
    print("\n=== digitised curves ===")
    print(ct[["curve", "parameters", "unit", "n_points", "gmfe", "bias", "within_2", "cmax_obs", "cmax_pred",
              "cmax_fold", "tmax_obs_h", "tmax_pred_h", "tmax_error_h", "status"]]
          .to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    ok = ct[ct["status"] == "ok"]
    parent = ok[ok["curve"].str.contains("-ketamine_|ketamine_iv")]
    assert len(parent) == 5, "all five parent-drug curves must be computable"
    assert (parent["gmfe"] < 2.0).all()
    dhnk = ct[ct["curve"].str.contains("DHNK")]
    assert (dhnk["status"] != "ok").all() or (dhnk["gmfe"] < 3).all()


# ---------------------------------------------------------------------------
# the rat set
# ---------------------------------------------------------------------------
RAT = ks.Subject(weight=0.3, age=0.25, sex="M", species="rat")
T_RAT = np.linspace(0, 24, 24 * 600 + 1)


def _rat(text: str, output: str = "C_plasma_ketamine") -> np.ndarray:
    return ks.simulate(parse_regimen(text), RAT, T_RAT)[output].values[0]


def test_issue_example_rat_ip():
    times = np.linspace(0, 6, 73)
    res = ks.simulate(parse_regimen("25 mg/kg ip"), RAT, times)
    assert res.attrs["parameter_sets"] == "rat_ketamine_pk"
    c = res["C_plasma_ketamine"].values[0]
    assert np.all(np.isfinite(c)) and c.max() > 1000 and c[-1] < c.max() / 50


def test_rat_set_covers_routes_and_metadata():
    ps = ks.get_parameter_set("rat_ketamine_pk")
    assert ps.species == "rat"
    assert {"iv", "ip", "sc", "im", "oral"} <= set(ps.routes)
    assert not any(r.get("borrowed") for r in ps.routes.values())
    assert ps.age_range == (0.15, 1.0)
    assert any("6.5" in n and "brain" in n.lower() for n in ps.notes)
    for p in ps.params.values():
        assert p.tag and p.source, p.name
    # per-kg values scale with body weight
    p1 = ps.individual({"weight": np.array([0.25]), "age": np.array([0.25]), "sex": np.array(["M"])}, None)
    p2 = ps.individual({"weight": np.array([0.5]), "age": np.array([0.25]), "sex": np.array(["M"])}, None)
    assert p2["CL"][0] == pytest.approx(2 * p1["CL"][0])
    assert p1["CL"][0] == pytest.approx(77 * 60 / 1000 * 0.25)  # mL/min/kg -> L/h


def test_rat_every_route_gives_a_profile():
    for route in ("iv", "ip", "sc", "im", "oral"):
        k = _rat(f"10 mg/kg {route}")
        assert k.max() > 0 and k[-1] < 0.01 * k.max(), route


def test_rat_le_nedelec_2018():
    """SC and IM give about the IV exposure (F ~ 1); an IV bolus peaks ~15-fold higher [V]."""
    iv = _rat("10 mg/kg iv")
    auc_iv = np.trapezoid(iv, T_RAT)
    c2min = np.interp(2 / 60, T_RAT, iv)
    for route in ("sc", "im"):
        k = _rat(f"10 mg/kg {route}")
        assert np.trapezoid(k, T_RAT) == pytest.approx(auc_iv, rel=0.02)
        assert 7.5 <= c2min / k.max() <= 30
    ivi = _rat("10 mg/kg iv over 40 min")
    assert np.trapezoid(ivi, T_RAT) == pytest.approx(auc_iv, rel=0.02)


def test_rat_moeller_2019_im_every_90_min_stays_above_100():
    """7.5 mg/kg IM every 90 min keeps plasma ketamine above 100 ng/mL [V]."""
    k = _rat("7.5 mg/kg im every 90 min x 4")
    window = (T_RAT >= 0.5) & (T_RAT <= 6.0)
    assert k[window].min() > 100


def test_rat_shimoyama_1999_oral_norketamine_ratio():
    """Oral 100 mg/kg: plasma norketamine/ketamine AUC ratio 6.4 [V]."""
    k = _rat("100 mg/kg oral")
    nk = _rat("100 mg/kg oral", "C_plasma_norketamine")
    ratio = np.trapezoid(nk, T_RAT) / np.trapezoid(k, T_RAT)
    assert 6.4 / 1.5 <= ratio <= 6.4 * 1.5


def test_rat_half_lives():
    """Terminal ketamine half-life ~52 min (dog 61 min, rabbit 59 min [V]); HNK ~8 h (Moaddel 2015 [V])."""
    k = _rat("10 mg/kg iv")
    m = (T_RAT >= 3) & (T_RAT <= 6)
    t_half = math.log(2) / -np.polyfit(T_RAT[m], np.log(k[m]), 1)[0]
    assert 0.6 <= t_half <= 1.2
    ps = ks.get_parameter_set("rat_ketamine_pk")
    p = ps.individual({"weight": np.array([0.25]), "age": np.array([0.25]), "sex": np.array(["M"])}, None)
    assert math.log(2) * p["VH"][0] / p["CLH"][0] == pytest.approx(7.24, rel=0.01)  # 7352/704 x ln2 h

"""Acute-safety layer (issue 9): calibration targets with their tolerances, invariants, the monitoring
window, population shares, extremes, the CLI and the error messages.

Each calibration test names its source; the values and tags are in src/ketasim/data/safety/*.yaml.
"""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import ketasim as ks
from ketasim import acute_safety as AS
from ketasim.cli import app
from ketasim.dosing import Bolus, Regimen
from ketasim.layers import acute_effects as AE
from ketasim.layers import safety as S

ESK84 = "84 mg esketamine intranasal"
IV05 = "0.5 mg/kg iv over 40 min"
CNS_CV = ["delta_SBP", "delta_DBP", "delta_HR", "sedation", "dissociation"]
T = np.arange(0, 6.0001, 1 / 60)


def _pop(n, age, seed):
    return ks.with_safety_variability(ks.sample_population(n, np.random.default_rng(seed), age=age),
                                      np.random.default_rng(seed + 1))


@pytest.fixture(scope="module")
def young():
    """Esketamine 84 mg in 800 adults 18-64 y (PK and safety variability), 2-min grid."""
    return ks.simulate(ESK84, _pop(800, (18, 64), 1), np.arange(0, 6.0001, 1 / 30), outputs=CNS_CV)


@pytest.fixture(scope="module")
def old():
    return ks.simulate(ESK84, _pop(800, (65, 86), 3), np.arange(0, 6.0001, 1 / 30), outputs=["delta_SBP", "delta_DBP"])


@pytest.fixture(scope="module")
def iv():
    return ks.simulate(IV05, _pop(800, (30, 60), 5), np.arange(0, 6.0001, 1 / 30),
                       outputs=["delta_SBP", "delta_DBP", "delta_HR"])


def _typical(reg=ESK84, age=45.0, times=T, **kw):
    return ks.simulate(reg, ks.Subject(age=age, **kw), times, outputs=CNS_CV)


# ------------------------------------------------------------------------------ calibration: cardiovascular

@pytest.mark.parametrize("var, lo, hi", [("delta_SBP", 10.40, 14.82), ("delta_DBP", 6.89, 10.09),
                                         ("delta_HR", 0.55, 7.63)])
def test_mean_peak_rise_within_meta_analysis_ci(var, lo, hi, iv, young):
    """Vankawala et al. 2021 (15 studies, N = 2252): mean SBP +12.61 (10.40-14.82), DBP +8.49 (6.89-10.09),
    HR +4.09 (0.55-7.63); ketamine and esketamine not different -> both populations inside the CI."""
    for res in (iv, young):
        m = float(res[var].max("time").mean())
        assert lo <= m <= hi, (var, m)


def test_share_with_large_bp_rise_within_label_bounds(young, old):
    """SPRAVATO label Table 6: SBP rise >= 40 mmHg in 8% (< 65 y) and 17% (>= 65 y), DBP rise >= 25 mmHg in 13%
    (< 65 y), at least once over up to 8 sessions. One session must lie between the all-independent (1-(1-p)^8)
    and the fully-correlated bound: < 65 y 1.0-8%, >= 65 y 2.3-17%, DBP 1.7-13%; and the age ratio about 2.1."""
    y = ks.share_exceeding(young, "delta_SBP", 40)["share"]
    o = ks.share_exceeding(old, "delta_SBP", 40)["share"]
    d = ks.share_exceeding(young, "delta_DBP", 25)["share"]
    assert 0.010 <= y <= 0.08, y
    assert 0.023 <= o <= 0.17, o
    assert 0.017 <= d <= 0.13, d
    assert 1.4 <= o / y <= 3.2, o / y


def test_bp_time_course_matches_label():
    """Label 5.6: BP increases peak ~40 min after dosing (when plasma esketamine peaks) and last ~4 h. The rise
    follows plasma (t_half_ke0_cv = 0): it peaks with the plasma concentration, at 40-50 min after the first of
    the three devices (plasma Tmax 20-40 min after the last spray, label), not with the effect site; at 4 h
    the rise is small but not gone."""
    res = ks.simulate(ESK84, ks.Subject(age=45.0), T, outputs=["delta_SBP", "C_plasma_S_ketamine",
                                                                  "C_effect_S_ketamine"])
    x = res["delta_SBP"].values[0]
    tpk = T[np.argmax(x)]
    assert tpk == T[np.argmax(res["C_plasma_S_ketamine"].values[0])]
    assert 40 / 60 <= tpk <= 50 / 60, tpk
    assert T[np.argmax(res["C_effect_S_ketamine"].values[0])] > tpk + 5 / 60
    at4 = x[np.searchsorted(T, 4.0)]
    assert 0 < at4 <= 0.4 * x.max() and at4 < 5.0  # model: ~36% of the peak, ~3 mmHg


def test_langsjo_anaesthetic_level_in_range():
    """Langsjo et al. 2005: at S-ketamine 1959 ng/mL, MAP up to +27.0% and HR up to +43.5% (resting MAP 90 mmHg,
    HR 70 bpm assumed). The model (typical subject, age 45) must give the same order: MAP +15-40%, HR +25-60%."""
    c = np.full((1, 3), 1959.0)
    out = S.run_safety(np.array([0.0, 1.0, 2.0]), {"C_plasma_S_ketamine": c},
                       np.array([45.0]), None, ["delta_SBP", "delta_DBP", "delta_HR"])
    dmap = out["delta_DBP"][0, 0] + (out["delta_SBP"][0, 0] - out["delta_DBP"][0, 0]) / 3
    assert 0.15 <= dmap / 90 <= 0.40
    assert 0.25 <= out["delta_HR"][0, 0] / 70 <= 0.60


def test_age_raises_systolic_not_diastolic():
    a, b = _typical(age=30), _typical(age=75)
    assert float(b["delta_SBP"].max()) > 1.2 * float(a["delta_SBP"].max())
    assert float(b["delta_DBP"].max()) == pytest.approx(float(a["delta_DBP"].max()), rel=0.05)


def test_s_stronger_than_r():
    """R-ketamine: no cardiac-output effect (Kamp 2021) and no psychedelic effect (Olofsen 2022); sedation
    weaker (Schuttler 1987 EEG IC50 S 0.8 vs R 1.8 ug/mL)."""
    kw = {"parameters": "kamp_2020_racemic_meta"}  # the same PK for both enantiomers
    s = ks.simulate("56 mg esketamine iv over 40 min", ks.Subject(), T, outputs=CNS_CV, **kw)
    r = ks.simulate("56 mg arketamine iv over 40 min", ks.Subject(), T, outputs=CNS_CV, **kw)
    assert float(r["delta_SBP"].max()) == 0 and float(r["dissociation"].max()) == 0
    assert float(s["delta_SBP"].max()) > 5
    assert 5 - float(r["sedation"].min()) < 0.6 * (5 - float(s["sedation"].min()))


# ------------------------------------------------------------------------ calibration: sedation, dissociation

def test_dissociation_share_matches_label(young):
    """Label 5.1/5.2: 61-75% of patients showed dissociative or perceptual changes (CADSS)."""
    thr = AE.acute_parameters()["dissociation"]["present_threshold"]
    assert thr == ks.LABEL_CRITERIA["dissociation_max"]
    share = ks.share_exceeding(young, "dissociation", thr)["share"]
    assert 0.61 <= share <= 0.75, share


def test_sedation_shares_match_label(young):
    """Label: 48-61% developed sedation (any MOAA/S decrease); 0.3% lost consciousness (MOAA/S 0)."""
    sed = ks.share_exceeding(young, "sedation", 4.5, below=True)["share"]
    loc = ks.share_exceeding(young, "sedation", 0.5, below=True)["share"]
    assert 0.48 <= sed <= 0.61, sed
    assert loc <= 0.02, loc


def test_central_effects_time_course(young):
    """Janssen MI: dissociation peaks at 40 min and has generally resolved by 1.5 h; sedation peaks at 30-45 min
    and resolves by 1-1.5 h. Plasma esketamine at 1.5 h is still ~80% of its peak: the effects fade faster."""
    t = young["time"].values
    for var, lo, hi in (("dissociation", 0.5, 0.85), ("sedation", 0.5, 0.85)):
        x = young[var].values
        tpk = np.median(t[(x.argmin(1) if var == "sedation" else x.argmax(1))])
        assert lo <= tpk <= hi, (var, tpk)
    crit = {"dissociation_max": ks.LABEL_CRITERIA["dissociation_max"]}
    w = ks.monitoring_window(young, crit)["window_h"]
    assert 0.75 <= w.median() <= 1.5 and w.quantile(0.9) <= 2.0
    w = ks.monitoring_window(young, {"moaas_min": 4.5})["window_h"]
    exposed = w[w > 0]
    assert 0.9 <= exposed.median() <= 1.6


def test_dissociation_fades_faster_than_concentration():
    res = ks.simulate(ESK84, ks.Subject(), T, outputs=["dissociation", "C_effect_S_ketamine"])
    d, c = res["dissociation"].values[0], res["C_effect_S_ketamine"].values[0]
    i = np.searchsorted(T, 1.5)
    assert d[i] / d.max() < 0.8 * c[i] / c.max()


def test_bowdle_staircase_validation():
    """Bowdle 1998: racemic 50/100/150/200 ng/mL for 30 min each; psychedelic VAS effects linear in
    concentration, most scales 37-89% of maximum at ~200 ng/mL. The model sits at the low end (>= 20%)."""
    t = np.arange(0, 2.0001, 1 / 120)
    c = np.select([t < 0.5, t < 1, t < 1.5], [25.0, 50.0, 75.0], 100.0)[None, :]
    auc = np.concatenate([[0], np.cumsum(np.diff(t) * c[0, :-1])])[None, :]
    p = AE.acute_parameters()
    d = AE.tolerant_drive(t, c, 0 * c, auc, 0 * auc, 0.0, p["tolerance"]["k_tol"], p["tolerance"]["f_tol"])
    e = AE.dissociation(d)[0, [np.searchsorted(t, x) - 1 for x in (0.5, 1.0, 1.5, 2.0)]]
    assert np.all(np.diff(e) > 0)
    assert 20 <= e[-1] <= 89


# ------------------------------------------------------------------------------------------- invariants

def test_monotonic_dose_response():
    peaks = []
    for dose in (28, 56, 84, 112):
        r = _typical(f"{dose} mg esketamine intranasal")
        peaks.append([float(r[v].max()) for v in ("delta_SBP", "delta_DBP", "delta_HR", "dissociation")]
                     + [-float(r["sedation"].min())])
    assert np.all(np.diff(np.array(peaks), axis=0) > 0)


def test_no_drug_no_change():
    z = np.zeros((2, 5))
    out = S.run_safety(np.arange(5.0), {"C_plasma_S_ketamine": z, "C_effect_S_ketamine": z, "AUC_effect_S_ketamine": z},
                       np.array([30.0, 70.0]), None, list(S.SAFETY_OUTPUTS))
    for v in ("delta_SBP", "delta_DBP", "delta_HR", "dissociation"):
        assert np.all(out[v] == 0)
    assert np.all(out["sedation"] == 5)
    res = ks.simulate(Regimen((Bolus(2.0, 84, "intranasal", "esketamine"),)), ks.Subject(), T, outputs=CNS_CV)
    before = res.sel(time=slice(0, 1.99))
    assert float(abs(before[["delta_SBP", "delta_DBP", "delta_HR", "dissociation"]].to_array()).max()) == 0
    assert float(before["sedation"].min()) == 5


def test_grid_independent():
    fine = _typical(times=np.arange(0, 6.0001, 1 / 60))
    coarse = _typical(times=np.arange(0, 6.0001, 0.25))
    for v in CNS_CV:
        np.testing.assert_allclose(coarse[v].values, fine[v].sel(time=coarse["time"].values, method="nearest").values,
                                   rtol=1e-9, atol=1e-9)


def test_only_when_asked():
    res = ks.simulate(ESK84, ks.Subject(), [0, 1, 2])
    assert not set(S.SAFETY_OUTPUTS) & set(res.data_vars)
    res = ks.simulate(ESK84, ks.Subject(), [0, 1, 2], outputs=["delta_SBP"])
    assert list(res.data_vars) == ["delta_SBP"] and res["delta_SBP"].attrs["units"] == "mmHg"
    res = ks.simulate(ESK84, ks.Subject(baseline_sbp=140), [0, 1, 2], outputs=["C_plasma_ketamine", "sedation"])
    assert list(res.data_vars) == ["C_plasma_ketamine", "sedation"] and float(res["baseline_sbp"][0]) == 140


# ------------------------------------------------------------------------------------- monitoring window

@pytest.mark.parametrize("age", [30, 68])
def test_label_window_typical_subject(age):
    """Label: monitor at least 2 h; the model's criteria (sedation, dissociation, BP) resolve before, so the
    2-h minimum decides the window for a typical patient."""
    w = ks.monitoring_window(_typical(age=age, baseline_sbp=135))
    assert w["window_h"].iloc[0] == pytest.approx(2.0)
    assert w["set_by"].iloc[0] == "minimum observation"
    assert 1.0 <= w["dissociation_max_h"].iloc[0] <= 2.0


def test_label_window_population(young):
    """Without the 2-h floor, most patients need about 1-2 h: the range the label's 2-h minimum implies."""
    w = ks.monitoring_window(young)
    dist = w.attrs["distribution"]
    assert dist["median_h"] == pytest.approx(2.0) and dist["share_over"] < 0.1
    crit = {k: v for k, v in ks.LABEL_CRITERIA.items() if k != "min_hours"}
    raw = ks.monitoring_window(young, crit).attrs["distribution"]
    assert 1.0 <= raw["median_h"] <= 2.0 and raw["p95_h"] <= 2.5


def test_window_set_by_user_threshold_and_unresolved():
    res = _typical(baseline_sbp=135)
    w = ks.monitoring_window(res, {"delta_sbp_max": 2.0})
    assert w["set_by"].iloc[0] == "blood pressure" and w["window_h"].iloc[0] > 3
    short = ks.simulate(ESK84, ks.Subject(), np.arange(0, 0.75, 1 / 60), outputs=["dissociation"])
    w = ks.monitoring_window(short, {"dissociation_max": 5.0})
    assert np.isinf(w["window_h"].iloc[0])


def test_window_after_last_dose():
    res = ks.simulate("84 mg esketamine intranasal every 3 h x 2", ks.Subject(), np.arange(0, 8, 1 / 60),
                      outputs=CNS_CV)
    w = ks.monitoring_window(res)
    assert w.attrs["dose_time_h"] == 3.0 and w["window_h"].iloc[0] >= 2.0


def test_share_interval():
    res = ks.simulate(ESK84, [ks.Subject(), ks.Subject(age=70)], [0, 1], outputs=["delta_SBP"])
    s = ks.share_exceeding(res, "delta_SBP", 100)
    assert s["count"] == 0 and s["low"] == 0 and 0 < s["high"] < 1


# ---------------------------------------------------------------------------------------------- extremes

def test_extremes_binge_and_dependent_patterns():
    """A recreational binge and the dependent-inpatient daily dose (3.4 g/day, Fan 2015) reach the drivers' and
    post-mortem concentration ranges; the result carries the 'does not predict death' caveat."""
    out = {}
    for name, reg in (("therapeutic", ESK84), ("binge", "250 mg insufflated every 30 min x 4"),
                      ("dependent", "425 mg insufflated every 2 h x 8")):
        s = AS.safety_summary(reg, ks.Subject(), step_h=2 / 60)
        out[name] = s["exposure"]
    assert out["therapeutic"]["Cmax_ng_per_mL"]["median"] < out["binge"]["Cmax_ng_per_mL"]["median"] \
        < out["dependent"]["Cmax_ng_per_mL"]["median"]
    bands = {b["id"]: b for b in out["binge"]["bands"]}
    assert bands["duid_cologne"]["share_reaching_low"] == 1.0
    assert bands["postmortem_australia"]["share_reaching_low"] == 1.0
    assert "does not predict death" in out["binge"]["caveat"]
    assert "95.5%" in out["binge"]["caveat"]


# ----------------------------------------------------------------------------------------- CLI and errors

def test_cli_safety_json_and_table():
    r = CliRunner().invoke(app, ["safety", ESK84, "--age", "68", "--baseline-sbp", "135", "--format", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["monitoring_window"]["window_h"] == pytest.approx(2.0)
    assert d["monitoring_window"]["set_by"] == "minimum observation"
    assert set(d["peaks"]) >= {"delta_SBP", "delta_DBP", "delta_HR", "sedation", "dissociation", "SBP"}
    r = CliRunner().invoke(app, ["safety", "250 mg insufflated every 30 min x 4"])
    assert r.exit_code == 0 and "does not predict death" in r.output and "Monitoring window" in r.output



def test_cli_safety_population():
    """--population: the distribution over virtual subjects like the one given, shares with Wilson intervals."""
    r = CliRunner().invoke(app, ["safety", ESK84, "--age", "68", "--sex", "F", "--population", "60", "--format", "json"])
    assert r.exit_code == 0, r.output
    p = json.loads(r.output)["population"]
    assert p["n"] == 60 and p["window_h_median"] == pytest.approx(2.0)
    assert p["share_dSBP_ge_40_low"] <= p["share_dSBP_ge_40"] <= p["share_dSBP_ge_40_high"]
    assert p["peak_dSBP_p05"] < p["peak_dSBP_median"] < p["peak_dSBP_p95"]
    r = CliRunner().invoke(app, ["safety", ESK84, "--population", "30"])
    assert r.exit_code == 0 and "virtual subjects like this one" in r.output
    r = CliRunner().invoke(app, ["safety", ESK84, "--population", "-3"])
    assert r.exit_code == 1 and "--population must be between 0 and 100000 subjects; got -3." in r.output


ERRORS = [
    (lambda: ks.simulate(ESK84, ks.Subject(baseline_sbp=1350), [0, 1], outputs=["delta_SBP"]),
     "baseline_sbp must be between 60 and 250 mmHg (a resting value); got 1350. Check the unit and that systolic "
     "and diastolic are not swapped."),
    (lambda: AS.safety_summary(ESK84, ks.Subject(baseline_sbp=80), baseline_dbp=120),
     "baseline_dbp must be below baseline_sbp; got 120 / 80 mmHg. Are systolic and diastolic swapped?"),
    (lambda: ks.monitoring_window(_typical(times=[0, 1]), "lable"),
     "criteria must be one of 'label'; got 'lable'. Did you mean 'label'?"),
    (lambda: ks.monitoring_window(_typical(times=[0, 1]), {"moaas_mn": 4}),
     "criteria key must be one of 'min_hours', 'moaas_min', 'dissociation_max', 'delta_sbp_max', 'delta_dbp_max', "
     "'delta_hr_max', 'sbp_max', 'dbp_max'; got 'moaas_mn'. Did you mean 'moaas_min'?"),
    (lambda: ks.monitoring_window(ks.simulate(ESK84, ks.Subject(), [0, 1], outputs=["delta_SBP"])),
     "monitoring_window needs 'sedation' in the result for criterion 'moaas_min'; simulate with outputs=[..., "
     "'sedation'] (safety outputs: delta_SBP, delta_DBP, delta_HR, dissociation, sedation)."),
    (lambda: ks.monitoring_window(_typical(times=[0, 1]), {"moaas_min": 7}),
     "criteria['moaas_min'] must be in (0, 5] (MOAA/S); got 7."),
]


@pytest.mark.parametrize("call, message", ERRORS)
def test_error_messages(call, message):
    with pytest.raises(ks.InputError) as exc:
        call()
    assert str(exc.value) == message


def test_cli_error_is_one_line():
    r = CliRunner().invoke(app, ["safety", ESK84, "--criteria", "lable"])
    assert r.exit_code != 0
    assert r.output.strip() == "ketasim: error: criteria must be one of 'label'; got 'lable'. Did you mean 'label'?"


def test_arm_safety_table_for_reports():
    pop = _pop(40, (18, 64), 9)
    tab = AS.arm_safety_table({"esketamine": ESK84, "binge": "(100 mg insufflated every 30 min x 4) weekly for 2 weeks"},
                              pop)
    assert list(tab.index) == ["esketamine", "binge"]
    assert tab.loc["binge", "doses_first_day"] == 4
    assert (tab["window_h_median"] >= 2.0).all()
    assert (tab["share_dSBP_ge_40_low"] <= tab["share_dSBP_ge_40"]).all()


def test_chunking_gives_identical_results(monkeypatch):
    pop = _pop(30, (18, 64), 21)
    a = ks.simulate(ESK84, pop, np.arange(0, 4, 1 / 30), outputs=CNS_CV)
    monkeypatch.setattr(AS, "_CHUNK_VALUES", 4 * 2000 * 7)  # ~7 subjects per chunk
    b = ks.simulate(ESK84, pop, np.arange(0, 4, 1 / 30), outputs=CNS_CV)
    for v in CNS_CV:
        np.testing.assert_array_equal(a[v].values, b[v].values)

"""Maintenance and relapse (SUSTAIN-1): p_relapse closed forms, protection by continued dosing, targets."""

import numpy as np
import pytest

import ketasim as ks
from ketasim import calibrate_outcomes_relapse as cr
from ketasim.errors import InputError
from ketasim.layers import antidepressant as ad
from ketasim.outcome_targets import evaluate
from ketasim.outcomes import with_outcome_variability, with_relapse_clock

ADULT = ks.Subject(weight=70.0)
P = ad.antidepressant_parameters()


def test_relapse_probability_closed_form_without_drug():
    t = np.linspace(0.0, 5000.0, 51)
    s = np.zeros((2, t.size))
    p = ad.relapse_probability(t, s, np.array([0.0, 1000.0]))
    np.testing.assert_allclose(p[0], 1 - np.exp(-P["h0_relapse"] * t), rtol=1e-12)
    np.testing.assert_allclose(p[1], 1 - np.exp(-P["h0_relapse"] * np.clip(t - 1000.0, 0, None)), rtol=1e-12)
    # full saturation: hazard h0 exp(-beta)
    p1 = ad.relapse_probability(t, np.ones((1, t.size)), 0.0)
    np.testing.assert_allclose(p1[0], 1 - np.exp(-P["h0_relapse"] * np.exp(-P["beta_relapse"]) * t), rtol=1e-12)


def test_no_drug_no_protection_through_simulate():
    # one dose, the relapse clock starts 60 days later: plasticity is gone (half-life 3 d), hazard = h0
    start = 60 * 24.0
    t = np.array([0.0, start - 24.0, start, start + 100 * 24.0])
    ds = ks.simulate("84 mg esketamine intranasal", with_relapse_clock(ADULT, start), t, outputs=["p_relapse"])
    p = ds["p_relapse"].values[0]
    assert p[0] == 0.0 and p[1] == 0.0 and p[2] == 0.0               # nothing before the clock starts
    assert p[3] == pytest.approx(1 - np.exp(-P["h0_relapse"] * 100 * 24.0), rel=1e-4)


def test_continued_dosing_lowers_relapse_and_matches_sustain1():
    d, pc, pw = cr.arm_relapse()
    assert pc[0] == pw[0] == 0.0
    assert np.all(pc[1:] < pw[1:])
    assert np.all(np.diff(pc) >= 0) and np.all(np.diff(pw) >= 0)
    assert float(np.interp(0.5, pw, d)) == pytest.approx(273.0, rel=0.02)     # calibrated median
    assert cr.hazard_ratio() == pytest.approx(0.49, abs=0.01)                 # calibrated HR
    assert 0.29 <= cr.hazard_ratio() <= 0.84
    # dosing every 2 weeks protects less than weekly
    assert 0.49 < cr.hazard_ratio("every 2 weeks") < 1.0


def test_fit_reproduces_shipped_parameters():
    fit = cr.fit_relapse()
    assert fit["beta_relapse"] == pytest.approx(P["beta_relapse"], rel=1e-3)
    assert fit["h0_relapse"] == pytest.approx(P["h0_relapse"], rel=1e-3)


def test_relapse_targets_within_band():
    rows = evaluate(layers=["relapse"])
    assert len(rows) == 4
    for r in rows.itertuples():
        assert r.low <= r.model <= r.high, r


def test_p_relapse_does_not_depend_on_output_grid():
    reg = cr.maintenance_regimen(weeks_after=4)
    pop = with_relapse_clock(ADULT, cr.RANDOMISATION_H)
    t1 = np.arange(0.0, 20 * 168.0 + 1, 1.0)
    t2 = np.r_[np.arange(0.0, 20 * 168.0 + 1, 12.0), 2700.37]
    a = ks.simulate(reg, pop, t1, outputs=["p_relapse"])["p_relapse"].values[0]
    b = ks.simulate(reg, pop, np.sort(t2), outputs=["p_relapse"])["p_relapse"]
    common = np.arange(0.0, 20 * 168.0 + 1, 12.0)
    np.testing.assert_allclose(b.sel(time=common).values[0], a[common.astype(int)], rtol=1e-12, atol=1e-15)


def test_population_variability_and_bad_input():
    rng = np.random.default_rng(3)
    pop = with_relapse_clock(with_outcome_variability(ks.sample_population(20, rng), rng), cr.RANDOMISATION_H)
    t = np.array([0.0, cr.RANDOMISATION_H + 180 * 24.0])
    pc = ks.simulate(cr.maintenance_regimen(weeks_after=27), pop, t, outputs=["p_relapse"])["p_relapse"].values[:, -1]
    pw = ks.simulate(cr.withdrawal_regimen(), pop, t, outputs=["p_relapse"])["p_relapse"].values[:, -1]
    assert np.all(pc < pw) and np.ptp(pc) > 1e-3                     # subjects differ in protection
    H = P["h0_relapse"] * 180 * 24.0                                 # bounds: full protection .. none
    assert np.all((pc >= -np.expm1(-H * np.exp(-P["beta_relapse"]))) & (pw <= -np.expm1(-H) + 1e-12))
    with pytest.raises(InputError, match="relapse_from_h"):
        with_relapse_clock(ADULT, -1.0)
    with pytest.raises(InputError, match="start_h"):
        with_relapse_clock(ADULT, [1.0, 2.0])

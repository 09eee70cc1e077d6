"""Harms layer (ketasim.layers.harms): closed forms, limits, monotonicity, reversibility, grid independence,
calibration targets."""

import numpy as np
import pytest

import ketasim as ks
from ketasim import calibrate_outcomes_harms as cal
from ketasim.errors import InputError
from ketasim.layers import harms
from ketasim.layers.exposure import BLOCKADE_INPUTS, blockade_integral
from ketasim.outcome_targets import evaluate

DAY = 24.0
P = harms.harms_parameters()


def _inputs(text, T, n=1):
    outs = ["A_eliminated", *BLOCKADE_INPUTS]
    r = ks.simulate(text, ks.Subject(weight=70.0, age=40.0), T, outputs=outs)
    return {o: r[o].values for o in outs}


def test_no_drug_gives_zero():
    T = np.arange(0, 60 * DAY, DAY)
    zeros = {k: np.zeros((3, T.size)) for k in harms.INPUTS}
    out = harms.run(T, zeros, None, list(harms.OUTPUTS))
    assert set(out) == set(harms.OUTPUTS)
    for k, v in out.items():
        assert v.shape == (3, T.size)
        assert np.all(v == 0.0), k


def test_bladder_states_match_the_closed_form_for_a_constant_rate():
    # constant urinary input r: I = r/k (1 - e^-kt), F = kf r/k (t - (1 - e^-kt)/k)
    T = np.sort(np.r_[0.0, np.random.default_rng(1).uniform(0, 2 * 8766, 300)])
    rate_A = 10.0                                   # mg/h of eliminated ketamine
    I, F = harms.bladder_states(T, rate_A * T[None, :])
    b = P["bladder"]
    r, k, kf = b["f_urine"] * rate_A, b["k_repair"], b["k_fibrosis"]
    np.testing.assert_allclose(I[0], r / k * -np.expm1(-k * T), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(F[0], kf * r / k * (T + np.expm1(-k * T) / k), rtol=1e-9, atol=1e-9)


def test_filter_mean_matches_the_closed_form():
    T = np.linspace(0, 5000, 77)
    B = harms.filter_mean(T, 0.3 * T[None, :], 720.0)
    np.testing.assert_allclose(B[0], 0.3 * -np.expm1(-T / 720.0), rtol=1e-12, atol=1e-14)


def test_probabilities_are_bounded_and_states_nonnegative():
    T, A, X = cal.exposure("dependent_daily", 40, 17)
    inp = {"A_eliminated": A}
    out = harms.run(T, {**inp, **_fake_blockade(X)}, None, list(harms.OUTPUTS))
    for k in ("p_urinary_symptoms", "cognitive_burden", "p_dependence"):
        assert np.all((out[k] >= 0) & (out[k] <= 1)), k
    assert np.all(out["bladder_injury"] >= 0)
    assert out["p_urinary_symptoms"].max() > 0.5 and out["p_dependence"].max() > 0.05


def _fake_blockade(X):
    """Inputs whose blockade integral is X: put everything on AUC_effect_S_ketamine."""
    from ketasim.layers.exposure import _coefficients

    a = _coefficients()[0]
    return {BLOCKADE_INPUTS[0]: X / a}


def test_fake_blockade_roundtrip():
    X = np.linspace(0, 3, 10)[None, :]
    np.testing.assert_allclose(blockade_integral(_fake_blockade(X)), X, rtol=1e-12)


@pytest.mark.parametrize("texts", [
    # dose: 50 -> 100 -> 200 mg per snort, same schedule
    ["(50 mg insufflated every 30 min x 4) weekly for 8 weeks",
     "(100 mg insufflated every 30 min x 4) weekly for 8 weeks",
     "(200 mg insufflated every 30 min x 4) weekly for 8 weeks"],
    # frequency: weekly -> twice weekly -> daily, same session
    ["(100 mg insufflated every 30 min x 4) weekly for 8 weeks",
     "(100 mg insufflated every 30 min x 4) twice weekly for 8 weeks",
     "(100 mg insufflated every 30 min x 4) daily for 8 weeks"],
])
def test_monotone_in_dose_and_frequency(texts):
    T = np.arange(0, 8 * 7 * DAY + 1, 3.0)
    finals = []
    for text in texts:
        out = harms.run(T, _inputs(text, T), None, list(harms.OUTPUTS))
        finals.append({k: float(v[0, -1]) for k, v in out.items()})
    for k in harms.OUTPUTS:
        vals = [f[k] for f in finals]
        assert vals[0] > 0 and np.all(np.diff(vals) > 0), (k, vals)


def test_reversibility_after_stopping():
    use, stop = 3 * 52, 2 * 52
    T, A, X = cal.exposure("dependent_daily", use, stop)
    out = harms.run(T, {"A_eliminated": A, **_fake_blockade(X)}, None, list(harms.OUTPUTS))
    i_stop = int(np.searchsorted(T, use * 168.0))
    inj, pu = out["bladder_injury"][0], out["p_urinary_symptoms"][0]
    # injury and symptom probability fall after stopping, but not to zero (fibrotic part)
    assert inj[-1] < 0.6 * inj[i_stop] and pu[-1] < pu[i_stop] - 0.05
    b = P["bladder"]
    I, F = harms.bladder_states(T, A)
    np.testing.assert_allclose(inj[-1], F[0, -1] / b["S50"] + I[0, i_stop] * np.exp(-b["k_repair"] * (T[-1] - T[i_stop]))
                               / b["S50"], rtol=0.02)
    assert pu[-1] > 0.05
    # cognition recovers almost fully in 2 years; dependence risk is cumulative and never falls
    cb = out["cognitive_burden"][0]
    assert cb[i_stop] > 0.8 and cb[-1] < 1e-3
    assert np.all(np.diff(out["p_dependence"][0]) >= -1e-15)


def test_grid_independence():
    """Same regimen on a 1-h grid and on a 1-day grid: states agree at the common (daily) times."""
    text = "(100 mg insufflated every 30 min x 4) twice weekly for 6 weeks"
    fine = np.arange(0, 8 * 7 * DAY + 0.5, 1.0)
    coarse = fine[::24]
    out_f = harms.run(fine, _inputs(text, fine), None, list(harms.OUTPUTS))
    out_c = harms.run(coarse, _inputs(text, coarse), None, list(harms.OUTPUTS))
    for k in harms.OUTPUTS:
        a, b = out_f[k][0, ::24], out_c[k][0]
        # bladder: exact up to the within-interval timing of the urinary load (months vs a day)
        tol = 0.02 if k in ("bladder_injury", "p_urinary_symptoms") else 0.06
        # (after the first week: before it the values are tiny and set by where in the day the first dose falls)
        np.testing.assert_allclose(b[7:], a[7:], rtol=tol, atol=1e-6 * a.max(), err_msg=k)


def test_superposed_exposure_equals_direct_simulation():
    for pat in cal.PATTERNS:
        T, A, X = cal.exposure(pat, 6, 2)
        inp = _inputs(cal.PATTERNS[pat].format(weeks=6), T)
        np.testing.assert_allclose(A, inp["A_eliminated"], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(X, blockade_integral(inp), rtol=1e-9, atol=1e-12)


def test_frequent_vs_infrequent_cognitive_contrast():
    """Deficits mainly in frequent users (Morgan 2010; Curran & Monaghan 2001, harms.csv)."""
    T, _, Xw = cal.exposure("recreational_weekend", 52)
    weekly = harms.cognitive_burden(T, Xw)[0, -1]
    T, _, Xd = cal.exposure("dependent_daily", 52)
    daily = harms.cognitive_burden(T, Xd)[0, -1]
    assert weekly < 0.02 and daily > 0.85 and daily / weekly > 50


def test_calibration_targets_within_band():
    df = evaluate(layers=["harms"])
    assert len(df) >= 7
    must = df[df.expect_within]
    assert must.within.all(), must[~must.within][["id", "observed", "low", "high", "model"]].to_string()
    # the documented known miss stays visible and within a factor 3
    miss = df[~df.expect_within]
    assert (miss.fold_error < 3).all()


def test_bad_inputs_raise_input_error():
    T = np.arange(5.0)
    with pytest.raises(InputError, match="A_eliminated"):
        harms.run(T, {}, None, ["bladder_injury"])
    with pytest.raises(InputError, match="cumulative"):
        harms.run(T, {"A_eliminated": np.array([[0, 2, 1, 3, 4.0]])}, None, ["bladder_injury"])
    with pytest.raises(InputError, match="time points"):
        harms.bladder_states(T, np.zeros((1, 3)))
    with pytest.raises(InputError, match="increasing"):
        harms.bladder_states(np.array([0, 1, 1.0]), np.zeros((1, 3)))


def test_grid_independence_through_simulate():
    """Through ks.simulate (the orchestrator's base points): the same values at common times on two grids."""
    text = "(100 mg insufflated every 30 min x 4) twice weekly for 3 weeks"
    pop = ks.sample_population(3, np.random.default_rng(5))
    a_t = np.arange(0, 4 * 7 * DAY + 1, 24.0)
    b_t = np.union1d(np.arange(0, 4 * 7 * DAY + 1, 7.0), a_t)
    a = ks.simulate(text, pop, a_t, outputs=list(harms.OUTPUTS))
    b = ks.simulate(text, pop, b_t, outputs=list(harms.OUTPUTS))
    for k in harms.OUTPUTS:
        np.testing.assert_allclose(b[k].sel(time=a_t).values, a[k].values, rtol=1e-9, atol=1e-15, err_msg=k)
        assert a[k].attrs["units"] == harms.OUTPUTS[k][0]

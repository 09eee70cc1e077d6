"""Slow tolerance layer: exact step, closed forms, calibration to Lindefors et al. 1997."""

import numpy as np
import pytest

from ketasim.errors import InputError
from ketasim.layers import tolerance as tol


def test_step_matches_closed_form_for_constant_drive():
    # dS/dt = k_in x - k_out S with constant x: S(t) = k_in x / k_out (1 - e^{-k_out t})
    p = {"k_in": 0.4, "k_out": 0.05}
    x, T = 0.7, 30.0
    exact = p["k_in"] * x / p["k_out"] * (1 - np.exp(-p["k_out"] * T))
    one = tol.tolerance_step(np.zeros(1), np.array([x * T]), T, p)
    many = np.zeros(1)
    for _ in range(300):
        many = tol.tolerance_step(many, np.array([x * T / 300]), T / 300, p)
    assert one[0] == pytest.approx(exact, rel=1e-12)
    assert many[0] == pytest.approx(exact, rel=1e-12)


def test_step_recovery_and_impulse():
    p = tol.tolerance_parameters("human")
    s = tol.tolerance_step(np.array([2.0, 0.0]), np.array([0.0, 1.5]), np.array([7 * 24.0, 0.0]), p)
    assert s[0] == pytest.approx(1.0, rel=1e-3)            # 7-day recovery half-life
    assert s[1] == pytest.approx(p["k_in"] * 1.5, rel=1e-12)


def test_step_rejects_negative_dt():
    with pytest.raises(InputError, match="dt_h must be >= 0"):
        tol.tolerance_step(np.zeros(1), np.zeros(1), -1.0, tol.tolerance_parameters())


def test_response_factor_bounds():
    r = tol.response_factor(np.array([0.0, 0.3, 1e6]))
    assert r[0] == 1.0 and 0 < r[2] < 1e-5 and np.all(np.diff(r) < 0)


def test_path_base_points_independent_of_extra_points():
    rng = np.random.default_rng(3)
    t = np.arange(0.0, 50.0, 0.5)
    X = np.cumsum(rng.uniform(0, 1, (4, t.size)), axis=1)
    p = tol.tolerance_parameters("rat")
    base = tol.tolerance_path(t, X, p)
    # insert extra points (linearly interpolated X) that are not carried along
    tx = np.sort(np.concatenate([t, t[:-1] + 0.123]))
    Xx = np.stack([np.interp(tx, t, row) for row in X])
    isbase = np.isin(tx, t)
    ext = tol.tolerance_path(tx, Xx, p, isbase)
    np.testing.assert_allclose(ext[:, isbase], base, rtol=1e-13, atol=0)


@pytest.mark.slow
def test_calibration_lindefors_1997_rat_daily_7_days():
    """Rat 25 mg/kg i.p. daily: acute PFC DA response almost abolished after 7 days (target 0.9, 0.8-1.0)."""
    k_fit = tol.calibrate_k_in()
    assert tol.tolerance_parameters("rat")["k_in"] == pytest.approx(k_fit, rel=2e-3)


def test_recovers_with_abstinence_rat():
    import ketasim as ks

    rat = ks.Subject(weight=0.3, species="rat", age=0.25)
    t = np.array([0.0, 168.0, 336.0])
    tl = ks.simulate("25 mg/kg ip daily for 7 days", rat, t, outputs=["tolerance"])["tolerance"].values[0]
    S = tl / (1 - tl)
    assert tl[1] > 0.8                                    # nearly abolished response after a week of dosing
    assert S[2] / S[1] == pytest.approx(0.5, abs=0.01)     # 7-day recovery half-life once dosing stops


@pytest.mark.parametrize("k", [0.0, 0.004, 2.77, 50.0])
def test_first_order_recurrence_equals_loop_over_long_horizons(k):
    from ketasim.layers.exposure import first_order_recurrence

    rng = np.random.default_rng(5)
    t = np.concatenate([[0.0], np.cumsum(rng.uniform(0.001, 1.5, 3000))])   # ~2250 h: many rescaled blocks
    b = rng.uniform(0, 1, (3, t.size))
    ref = np.zeros_like(b)
    s = np.zeros(3)
    for j in range(1, t.size):
        s = s * np.exp(-k * (t[j] - t[j - 1])) + b[:, j]
        ref[:, j] = s
    np.testing.assert_allclose(first_order_recurrence(t, b, k), ref, rtol=1e-11, atol=1e-300)

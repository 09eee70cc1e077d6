"""The exact engine against closed forms and an independent ODE integration."""

import numpy as np
import pytest

from ketasim import testing as kt
from ketasim.dosing import Bolus, Infusion, Regimen
from ketasim.engine import Inputs, solve_linear
from ketasim.errors import InputError


def _one(A, C, starts, durs, amts, vec, times):
    inp = Inputs(np.asarray(starts, float), np.asarray(durs, float), np.zeros(len(starts), int),
                 np.asarray(amts, float)[None, :], np.asarray(vec, float)[None, None, :])
    return solve_linear(np.asarray(A, float)[None], np.asarray(C, float), inp, np.asarray(times, float))[0]


T = np.linspace(0, 24, 481)


def test_iv_bolus_one_compartment():
    V, k = 20.0, 0.3
    y = _one([[-k]], [[1 / V]], [0.0], [0.0], [100.0], [1.0], T)[0]
    np.testing.assert_allclose(y, kt.one_cpt_bolus(T, 100, V, k), rtol=1e-12)


def test_infusion_during_and_after_off_grid():
    V, k, dur = 30.0, 0.2, 0.777  # the infusion ends between grid points
    y = _one([[-k]], [[1 / V]], [0.0], [dur], [50.0], [1.0], T)[0]
    np.testing.assert_allclose(y, kt.one_cpt_infusion(T, 50 / dur, dur, V, k), rtol=1e-11, atol=1e-14)


def test_bateman_oral():
    ka, k, V, F = 1.3, 0.25, 40.0, 0.2
    A = [[-ka, 0], [ka, -k]]
    y = _one(A, [[0, 1 / V]], [0.0], [0.0], [100.0], [F, 0], T)[0]
    np.testing.assert_allclose(y, kt.bateman(T, 100, F, V, ka, k), rtol=1e-10, atol=1e-13)


def test_two_compartment_biexponential():
    V1, CL, Q, V2 = 10.0, 5.0, 8.0, 40.0
    A = [[-(CL + Q) / V1, Q / V2], [Q / V1, -Q / V2]]
    y = _one(A, [[1 / V1, 0]], [0.0], [0.0], [70.0], [1, 0], T)[0]
    np.testing.assert_allclose(y, kt.two_cpt_bolus(T, 70, V1, CL, Q, V2), rtol=1e-11)


def test_accumulation_ratio_at_steady_state():
    k, tau, V = 0.1, 12.0, 10.0
    n = 40
    t = np.array([tau * (n - 1) - 1e-9 + 1e-9, tau * n - 1e-7])  # just after the last dose, just before the next
    y = _one([[-k]], [[1 / V]], tau * np.arange(n), np.zeros(n), np.full(n, 100.0), [1.0], t)[0]
    peak_ss = 100 / V * kt.accumulation_ratio(k, tau)
    assert y[0] == pytest.approx(peak_ss, rel=1e-9)
    assert y[1] == pytest.approx(peak_ss * np.exp(-k * tau), rel=1e-6)


def test_repeated_eigenvalue_uses_exact_fallback():
    # ka == k: the modal path is singular; the answer is D ka t e^{-k t} / V
    k, V = 0.5, 1.0
    A = [[-k, 0], [k, -k]]
    y = _one(A, [[0, 1 / V]], [0.0], [0.0], [100.0], [1, 0], T)[0]
    np.testing.assert_allclose(y, 100 * k * T * np.exp(-k * T), rtol=1e-9, atol=1e-12)


def test_chunking_does_not_change_results():
    rng = np.random.default_rng(3)
    N = 37
    k = rng.uniform(0.1, 1, N)
    A = np.zeros((N, 2, 2)); A[:, 0, 0] = -2.0; A[:, 1, 0] = 2.0; A[:, 1, 1] = -k
    C = np.array([[0, 0.1]])
    inp = Inputs(np.array([0.0, 5.3]), np.array([0.0, 1.1]), np.array([0, 0]), rng.uniform(10, 20, (N, 2)),
                 np.tile([1.0, 0.0], (N, 1, 1)))
    a = solve_linear(A, C, inp, T, chunk=5)
    b = solve_linear(A, C, inp, T, chunk=1000)
    np.testing.assert_array_equal(a, b)


def test_nonuniform_grid_matches_uniform():
    V, k = 20.0, 0.3
    t2 = np.sort(np.random.default_rng(0).uniform(0, 24, 300))
    y = _one([[-k]], [[1 / V]], [1.234], [2.5], [100.0], [1.0], t2)[0]
    np.testing.assert_allclose(y, kt.one_cpt_infusion(t2 - 1.234, 40.0, 2.5, V, k), rtol=1e-11, atol=1e-14)


def test_unstable_model_is_rejected():
    with pytest.raises(InputError, match="unstable"):
        _one([[0.5]], [[1.0]], [0.0], [0.0], [1.0], [1.0], T)


def test_threads_do_not_change_results():
    rng = np.random.default_rng(5)
    N = 300
    k = rng.uniform(0.1, 1, N)
    A = np.zeros((N, 2, 2)); A[:, 0, 0] = -2.0; A[:, 1, 0] = 2.0; A[:, 1, 1] = -k
    C = np.array([[0, 0.1]])
    inp = Inputs(np.array([0.0, 5.3]), np.array([0.0, 1.1]), np.array([0, 0]), rng.uniform(10, 20, (N, 2)),
                 np.tile([1.0, 0.0], (N, 1, 1)))
    one = solve_linear(A, C, inp, T, threads=1, chunk=50)
    many = solve_linear(A, C, inp, T, threads=3, chunk=50)
    np.testing.assert_array_equal(one, many)
    with pytest.raises(InputError, match="chunk must be >= 1"):
        solve_linear(A, C, inp, T, chunk=0)


def _one_int(A, C, starts, durs, amts, vec, times):
    inp = Inputs(np.asarray(starts, float), np.asarray(durs, float), np.zeros(len(starts), int),
                 np.asarray(amts, float)[None, :], np.asarray(vec, float)[None, None, :])
    C = np.asarray(C, float)
    C2 = np.vstack([C, C])
    return solve_linear(np.asarray(A, float)[None], C2, inp, np.asarray(times, float),
                        integral=np.array([False, True]))[0]


def test_exact_cumulative_integral_bolus_and_infusion():
    V, k = 20.0, 0.3
    y, auc = _one_int([[-k]], [[1 / V]], [0.0], [0.0], [100.0], [1.0], T)
    np.testing.assert_allclose(auc, 100 / (V * k) * (1 - np.exp(-k * T)), rtol=1e-11, atol=1e-13)
    # infusion ending off-grid, then a bolus: AUC(inf) = total dose / CL
    y, auc = _one_int([[-k]], [[1 / V]], [0.0, 3.3], [0.777, 0.0], [50.0, 20.0], [1.0], np.linspace(0, 200, 2001))
    assert auc[-1] == pytest.approx(70 / (V * k), rel=1e-10)
    from scipy.integrate import quad

    def conc(t):
        return kt.one_cpt_infusion(t, 50 / 0.777, 0.777, V, k) + kt.one_cpt_bolus(t - 3.3, 20.0, V, k)

    pts = np.array([0.3, 0.777, 2.0, 3.3, 3.31, 10.0, 24.0])
    _, a = _one_int([[-k]], [[1 / V]], [0.0, 3.3], [0.777, 0.0], [50.0, 20.0], [1.0], pts)
    ref = [quad(conc, 0, p, points=[0.777, 3.3], limit=200, epsabs=1e-13, epsrel=1e-13)[0] for p in pts]
    np.testing.assert_allclose(a, ref, rtol=1e-10)


def test_integral_is_grid_independent_and_matches_fallback():
    ka, kel, V = 1.3, 0.25, 40.0
    A = [[-ka, 0], [ka, -kel]]
    coarse = np.array([0.0, 5.0, 24.0])
    uniform = np.linspace(0, 24, 97)
    _, a1 = _one_int(A, [[0, 1 / V]], [0.5], [0.0], [100.0], [0.2, 0], coarse)
    _, a2 = _one_int(A, [[0, 1 / V]], [0.5], [0.0], [100.0], [0.2, 0], uniform)
    np.testing.assert_allclose(a1[[1, 2]], a2[[20, 96]], rtol=1e-12)
    # repeated eigenvalue -> matrix-exponential path, same closed form
    k = 0.5
    _, a3 = _one_int([[-k, 0], [k, -k]], [[0, 1.0]], [0.0], [0.0], [100.0], [1, 0], uniform)
    closed = 100 / k * (1 - np.exp(-k * uniform) * (1 + k * uniform))  # int of 100 k t e^{-kt}
    np.testing.assert_allclose(a3, closed, rtol=1e-9, atol=1e-10)

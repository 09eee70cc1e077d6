"""Inputs.delivered (the A_eliminated bookkeeping) against the dense events x times formula it replaced."""

import numpy as np

from ketasim.engine import Inputs
def dense(self, times):
    t = np.asarray(times, float)[None, :]
    s = self.start[:, None]; d = self.duration[:, None]
    started = (t >= s).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        prog = np.where(d > 0, np.clip((t - s) / np.where(d > 0, d, 1.0), 0.0, 1.0), 1.0)
    first = np.ones(self.start.shape[0], bool) if self.dose_start is None else np.asarray(self.dose_start, bool)
    given = self.amount * first[None, :]
    entering = self.vectors.sum(axis=2)[:, self.kind]
    waiting = self.amount * entering * (self.duration > 0)[None, :]
    return given @ started - waiting @ (started * (1.0 - prog))


def test_delivered_equals_dense_formula_on_random_inputs():
    rng = np.random.default_rng(0)
    for trial in range(200):
        N, E, R, n = rng.integers(1, 5), rng.integers(1, 30), rng.integers(1, 4), 3
        start = np.round(rng.uniform(0, 10, E), 1)          # ties on purpose
        dur = np.where(rng.random(E) < 0.5, 0.0, rng.uniform(0.05, 3, E))
        inp = Inputs(start, dur, rng.integers(0, R, E), rng.uniform(0, 100, (N, E)),
                     rng.uniform(0, 0.5, (N, R, n)), rng.random(E) < 0.7 if trial % 2 else None)
        t = np.unique(np.concatenate([np.round(rng.uniform(0, 14, 50), 2), start, start + dur]))
        if trial % 5 == 0:
            t = rng.permutation(t)                           # unsorted times are put back in order
        a = dense(inp, t)
        np.testing.assert_allclose(inp.delivered(t), a, rtol=0, atol=1e-12 * max(1.0, np.abs(a).max()))


def test_delivered_of_an_infusion_is_pro_rata():
    inp = Inputs(np.array([1.0]), np.array([2.0]), np.array([0]), np.array([[60.0]]), np.array([[[1.0]]]))
    # given at its start, minus what is still in the pump: 0 before, 60 - 60 (1 - f) = 60 f during, 60 after
    np.testing.assert_allclose(inp.delivered(np.array([0.5, 1.0, 1.5, 2.0, 3.0, 4.0]))[0],
                               [0.0, 0.0, 15.0, 30.0, 60.0, 60.0], atol=1e-12)

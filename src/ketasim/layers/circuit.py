"""Circuit layer: a firing-rate model of TRN, thalamic relay (MD), PFC pyramidal and PV
cells, VTA GABA and VTA DA neurons, with named mechanistic variants.

Rates are normalised to baseline, ``x_i = r_i / r0_i``::

    tau_i dx_i/dt = -x_i + phi(I_i)
    I_i = b_i (1 - s f_ext_i occ) + sum_j w_ij (1 - s f_ij occ) x_j - w_op (occ_mu + occ_kappa) [VTA_GABA, opioid]
    b_i = 1 - sum_j w_ij
    phi(I) = M / (1 + (M - 1) exp(-g M (I - 1) / (M - 1)))

so ``x = 1`` is the fixed point at zero occupancy for every variant. A variant
sets which inputs are NMDA-dependent (``f``); ``s`` is its fitted strength.
Variants combine (their NMDA fractions add, capped at 1).

Two modes:

* ``quasi_steady`` — the fixed point of the rate equations, precomputed once per
  model on a fine occupancy grid (and an opioid-occupancy grid for the
  ``opioid`` variant) by Newton continuation, then interpolated (linear, or
  bilinear, with one shared cell index for every output) over subjects x time. Neuronal rates settle in tens of ms; PK
  changes over minutes, so this is the default inside long simulations.
* ``dynamic`` — the full rate ODE (RK4, 0.5 ms steps) for short windows.

Parameters and their sources: ``data/circuit/circuit.yaml``; fitted values:
``data/circuit/calibration.yaml`` (written by ``benchmarks``-independent
``python -m ketasim.calibrate_circuit``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Iterable, Mapping, Sequence

import numpy as np
import yaml

from ..errors import InputError, unknown

__all__ = ["POPULATIONS", "VARIANTS", "CIRCUIT_OUTPUTS", "CircuitModel", "resolve_circuit", "get_model",
           "fixed_point_map", "grid_tables", "interp_tables", "quasi_steady", "integrate_dynamic", "run_circuit",
           "check_occupancy", "batch_arrays", "fixed_point_map_batch", "quasi_steady_batch", "quasi_steady_path_batch",
           "circuit_parameters", "load_calibration", "DEFAULT_CIRCUIT", "MODES"]

POPULATIONS = ("TRN", "relay", "PFC_pyr", "PFC_PV", "VTA_GABA", "VTA_DA")
VARIANTS = ("trn_disinhibition", "cortical_disinhibition", "vta_local", "opioid")
MODES = ("quasi_steady", "dynamic")

#: The best-scoring variant combination of ``ketasim hypotheses`` (docs/hypotheses.md);
#: a test checks that it still is.
DEFAULT_CIRCUIT: tuple[str, ...] = ("cortical_disinhibition", "vta_local")

_LONG = {
    "TRN": "thalamic reticular nucleus GABA neurons",
    "relay": "mediodorsal thalamic relay neurons",
    "PFC_pyr": "prefrontal pyramidal neurons",
    "PFC_PV": "prefrontal PV (fast-spiking) interneurons",
    "VTA_GABA": "VTA GABA neurons",
    "VTA_DA": "VTA dopamine neurons",
}
#: name -> (unit, long name)
CIRCUIT_OUTPUTS: dict[str, tuple[str, str]] = {
    **{f"rate_{p}": ("Hz", f"population firing rate of {_LONG[p]}") for p in POPULATIONS},
    "burst_fraction_VTA_DA": ("1", "fraction of VTA DA spikes fired in bursts"),
}

_N_OCC = 1001     # occupancy grid points on [0, 1]
_N_OPI = 41       # opioid-occupancy grid points on [0, 2] (occ_mu + occ_kappa)


def _data(name: str) -> dict:
    return yaml.safe_load((resources.files("ketasim") / "data" / "circuit" / name).read_text())


@lru_cache(maxsize=1)
def circuit_parameters() -> dict:
    """The raw circuit parameter table (``circuit.yaml``)."""
    return _data("circuit.yaml")


@lru_cache(maxsize=1)
def load_calibration() -> dict:
    """Fitted values per variant combination (``calibration.yaml``), or ``{}`` before calibration."""
    path = resources.files("ketasim") / "data" / "circuit" / "calibration.yaml"
    if not path.is_file():
        return {}
    return (yaml.safe_load(path.read_text()) or {}).get("fits", {})


def resolve_circuit(circuit) -> tuple[str, ...]:
    """Canonical variant tuple for ``circuit`` (None/"best" -> the default; name; list of names).

    Examples
    --------
    >>> resolve_circuit(["opioid", "cortical_disinhibition"])
    ('cortical_disinhibition', 'opioid')
    """
    if circuit is None or (isinstance(circuit, str) and circuit == "best"):
        return DEFAULT_CIRCUIT
    names = [circuit] if isinstance(circuit, str) else list(circuit)
    if not names:
        raise InputError("circuit must name at least one variant; got an empty list. "
                         f"Valid variants: {', '.join(VARIANTS)}.")
    for n in names:
        if not isinstance(n, str) or n not in VARIANTS:
            raise unknown("circuit", n, VARIANTS)
    return tuple(v for v in VARIANTS if v in names)


def combo_key(variants: Sequence[str]) -> str:
    return "+".join(variants)


@dataclass(frozen=True)
class CircuitModel:
    """A fully specified circuit: variants and the numbers that define them (hashable)."""

    variants: tuple[str, ...]
    strengths: tuple[tuple[str, float], ...]
    gain: float
    max_multiple: float
    opioid_weight: float
    b0: float
    r0: tuple[float, ...] = field(repr=False)
    tau_s: tuple[float, ...] = field(repr=False)
    W: tuple[tuple[float, ...], ...] = field(repr=False)
    F: tuple[tuple[float, ...], ...] = field(repr=False)
    f_ext: tuple[float, ...] = field(repr=False)
    burst_nmda: float = 0.0

    # -- arrays -------------------------------------------------------------
    @property
    def arrays(self):
        return _arrays(self)

    @property
    def uses_opioid(self) -> bool:
        return "opioid" in self.variants and self.opioid_weight != 0.0


@lru_cache(maxsize=64)
def _arrays(m: CircuitModel):
    W = np.array(m.W)
    F = np.array(m.F)
    fext = np.array(m.f_ext)
    b = 1.0 - W.sum(axis=1)
    o = np.zeros(len(POPULATIONS))
    if m.uses_opioid:
        o[POPULATIONS.index("VTA_GABA")] = m.opioid_weight
    return W, F, fext, b, o, np.array(m.tau_s), np.array(m.r0)


def get_model(circuit=None, **overrides) -> CircuitModel:
    """Build the :class:`CircuitModel` of a variant combination, with calibrated values.

    Values come from the combination's own fit in ``calibration.yaml``, or, for a
    combination that was not fitted, from each variant's single fit. ``overrides`` may set
    ``strength_<variant>``, ``gain``, ``opioid_weight``.
    """
    variants = resolve_circuit(circuit)
    p = circuit_parameters()
    fits = load_calibration()
    if combo_key(variants) in fits:
        cal = dict(fits[combo_key(variants)].get("values", {}))
    else:   # a combination without its own fit: each variant's single-variant fit
        cal = {}
        for v in variants:
            cal.update(fits.get(v, {}).get("values", {}))
    cal.update(overrides)
    idx = {n: i for i, n in enumerate(POPULATIONS)}
    n = len(POPULATIONS)
    W = np.zeros((n, n))
    for c in p["connections"]:
        W[idx[c["to"]], idx[c["from"]]] = float(c["w"])
    F = np.zeros((n, n))
    fext = np.zeros(n)
    burst = 0.0
    strengths = []
    for v in variants:
        spec = p["variants"][v]
        s = float(cal.get(f"strength_{v}", 1.0))
        if v != "opioid":             # the opioid term has a weight, not an NMDA strength
            strengths.append((v, s))
        for pop, f in (spec.get("nmda") or {}).items():
            i = idx[pop]
            exc = W[i] > 0
            F[i, exc] = np.minimum(1.0, F[i, exc] + s * float(f))
            fext[i] = min(1.0, fext[i] + s * float(f))
        burst = min(1.0, burst + s * float(spec.get("burst_nmda", 0.0)))
    pops = p["populations"]
    return CircuitModel(
        variants=variants, strengths=tuple(strengths),
        gain=float(cal.get("gain", p["gain"]["value"])),
        max_multiple=float(p["max_multiple"]["value"]),
        opioid_weight=float(cal.get("opioid_weight", p["variants"]["opioid"]["opioid_weight"])) if "opioid" in variants else 0.0,
        b0=float(p["burst"]["b0"]["value"]),
        r0=tuple(float(pops[k]["r0"]) for k in POPULATIONS),
        tau_s=tuple(float(pops[k]["tau_ms"]) / 1000.0 for k in POPULATIONS),
        W=tuple(map(tuple, W)), F=tuple(map(tuple, F)), f_ext=tuple(fext), burst_nmda=burst,
    )


# -- the rate equations --------------------------------------------------------

def _phi(I, M, g):
    k = g * M / (M - 1.0)
    z = np.exp(np.clip(-k * (I - 1.0), -700, 700))
    y = M / (1.0 + (M - 1.0) * z)
    return y, y * (1.0 - y / M) * k


def _input(m: CircuitModel, x, occ, s_op):
    """Normalised input I (..., 6) for rates x (..., 6), NMDA occupancy occ (...), opioid s_op (...)."""
    W, F, fext, b, o, _, _ = m.arrays
    occ = np.asarray(occ, float)[..., None]
    Weff = W * (1.0 - F * occ[..., None])                      # (..., 6, 6)
    I = b * (1.0 - fext * occ) + np.einsum("...ij,...j->...i", Weff, x)
    I = I - o * np.asarray(s_op, float)[..., None]
    return I, Weff


def rhs(m: CircuitModel, x, occ, s_op):
    """dx/dt (1/s) of the normalised rate equations."""
    I, _ = _input(m, x, occ, s_op)
    y, _ = _phi(I, m.max_multiple, m.gain)
    return (y - x) / m.arrays[5]


def jacobian(m: CircuitModel, x, occ, s_op):
    """Jacobian of dx/dt with respect to x, shape (..., 6, 6), 1/s."""
    I, Weff = _input(m, x, occ, s_op)
    _, dy = _phi(I, m.max_multiple, m.gain)
    J = dy[..., :, None] * Weff - np.eye(len(POPULATIONS))
    return J / m.arrays[5][:, None]


def _newton(m, x, occ, s_op, tol=1e-12, maxit=100):
    eye = np.eye(len(POPULATIONS))
    for _ in range(maxit):
        I, Weff = _input(m, x, occ, s_op)
        y, dy = _phi(I, m.max_multiple, m.gain)
        G = y - x
        if np.max(np.abs(G)) < tol:
            return x
        J = dy[..., :, None] * Weff - eye
        dx = np.linalg.solve(J, -G[..., None])[..., 0]
        step = np.clip(np.max(np.abs(dx), axis=-1, keepdims=True), 0.5, None) / 0.5
        x = np.maximum(x + dx / step, 0.0)
    raise RuntimeError(f"circuit fixed point did not converge (variants {m.variants}); max residual {np.max(np.abs(G)):.3g}")


def _burst(m: CircuitModel, x_da, occ):
    return np.minimum(1.0, m.b0 * x_da) * (1.0 - m.burst_nmda * np.asarray(occ, float))


_MAPS: dict[CircuitModel, tuple] = {}


def fixed_point_map(m: CircuitModel):
    """The quasi-steady map, computed once per model and cached.

    Returns ``(occ_grid (N,), opioid_grid (K,), X (N, K, 6) normalised rates, burst (N, K))``;
    ``K == 1`` unless the model has the opioid term.
    """
    if m in _MAPS:
        return _MAPS[m]
    occ = np.linspace(0.0, 1.0, _N_OCC)
    sop = np.linspace(0.0, 2.0, _N_OPI) if m.uses_opioid else np.zeros(1)
    X = np.empty((occ.size, sop.size, len(POPULATIONS)))
    # continuation along the opioid axis at zero occupancy, then along occupancy
    x = np.ones(len(POPULATIONS))
    row = np.empty((sop.size, len(POPULATIONS)))
    for k, s in enumerate(sop):
        x = _newton(m, x, 0.0, s)
        row[k] = x
    X[0] = row
    for i in range(1, occ.size):
        X[i] = _newton(m, X[i - 1], np.full(sop.size, occ[i]), sop)
    B = _burst(m, X[..., POPULATIONS.index("VTA_DA")], occ[:, None])
    if len(_MAPS) > 32:
        _MAPS.clear()
    _MAPS[m] = (occ, sop, X, B)
    return _MAPS[m]


def check_occupancy(occ, name: str = "occupancy_NMDA", upper: float = 1.0) -> np.ndarray:
    """Occupancy as an array; values outside [0, upper] raise :class:`InputError`."""
    a = np.asarray(occ, float)
    if a.size == 0:
        return a
    lo, hi = float(a.min()), float(a.max())          # two passes, no temporaries
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -1e-9 or hi > upper + 1e-9:
        bad = ~np.isfinite(a) | (a < -1e-9) | (a > upper + 1e-9)
        v = a[bad].ravel()[0]
        raise InputError(f"{name} must be a fraction in [0, {upper:g}]; got {v:g}. "
                         "Occupancies come from the receptor layer; check its inputs.")
    return np.clip(a, 0.0, upper) if (lo < 0 or hi > upper) else a


_N_FINE = 2 ** 16 + 1   # lookup-table points on [0, 1] for the 1-D map
_TABS: dict[CircuitModel, tuple] = {}


def grid_tables(m: CircuitModel) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The quasi-steady outputs tabulated for fast lookup: ``(occ_grid, opioid_grid, {name: (N, K)})``.

    Without the opioid term the Newton map (1001 points) is linearly interpolated once onto
    2^16 + 1 points, and lookups take the nearest point: the result is the linear interpolant
    of the Newton map to within an occupancy quantum of 2^-17 (a relative error below 1e-5),
    with one gather per output. With the opioid term the tables are the Newton grid itself
    (bilinear lookup). Rates in Hz. Cached per model.
    """
    if m in _TABS:
        return _TABS[m]
    occ_grid, sop_grid, X, B = fixed_point_map(m)
    tabs = {f"rate_{p}": m.r0[j] * X[:, :, j] for j, p in enumerate(POPULATIONS)}
    tabs["burst_fraction_VTA_DA"] = B
    if not m.uses_opioid:
        fine = np.linspace(0.0, 1.0, _N_FINE)
        tabs = {k: np.interp(fine, occ_grid, v[:, 0])[:, None] for k, v in tabs.items()}
        occ_grid = fine
    if len(_TABS) > 32:
        _TABS.clear()
    _TABS[m] = (occ_grid, sop_grid, tabs)
    return _TABS[m]


def interp_tables(m: CircuitModel, grid: tuple[np.ndarray, np.ndarray], tables: Mapping[str, np.ndarray],
                  occ, sop=None, *, out: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Look up tables (N, K) on ``grid = (occ_grid, opioid_grid)`` (from :func:`grid_tables`)
    at occupancy arrays of any shape: nearest point of the fine 1-D table, or bilinear in 2-D.
    The cell index is computed once and shared by every table. ``out`` may hold arrays
    (the occupancy's shape) to write the 1-D lookups into."""
    occ = check_occupancy(occ)
    occ_grid, sop_grid = grid
    n = occ_grid.size
    dest = out or {}
    out = {}
    if m.uses_opioid:
        s = check_occupancy(np.zeros_like(occ) if sop is None else sop, "occupancy_mu + occupancy_kappa", 2.0)
        fi = occ * (n - 1)
        i = fi.astype(np.intp)
        np.minimum(i, n - 2, out=i)
        a = fi - i
        fk = s * ((sop_grid.size - 1) / sop_grid[-1])
        k = fk.astype(np.intp)
        np.minimum(k, sop_grid.size - 2, out=k)
        c = fk - k
        flat = i * sop_grid.size + k
        for name, Z in tables.items():
            z = np.ascontiguousarray(Z).ravel()
            z00, z10 = z[flat], z[flat + sop_grid.size]
            z01, z11 = z[flat + 1], z[flat + sop_grid.size + 1]
            lo = z00 + a * (z10 - z00)
            hi = z01 + a * (z11 - z01)
            out[name] = lo + c * (hi - lo)
    else:
        fi = occ * (n - 1)
        fi += 0.5
        i = fi.astype(np.intp)
        del fi
        for name, Z in tables.items():
            out[name] = np.take(np.ascontiguousarray(Z[:, 0]), i, out=dest.get(name))
    return out


def quasi_steady(m: CircuitModel, occ, sop=None, populations: Iterable[str] = POPULATIONS, burst: bool = True):
    """Quasi-steady rates (Hz) and burst fraction for occupancy arrays of any shape."""
    occ_grid, sop_grid, tabs = grid_tables(m)
    names = [f"rate_{p}" for p in populations] + (["burst_fraction_VTA_DA"] if burst else [])
    return interp_tables(m, (occ_grid, sop_grid), {k: tabs[k] for k in names}, occ, sop)


def integrate_dynamic(m: CircuitModel, t_s, occ, sop=None, *, dt_s: float = 5e-4, x0=None):
    """Integrate the full rate ODE (RK4, step ``dt_s``) through a short window.

    ``t_s`` (T,) output times in seconds from the window start; ``occ`` and ``sop``
    either scalars, arrays (S,) per subject, or (S, T) sampled at ``t_s`` (linearly
    interpolated in between). Starts from ``x0`` (S, 6) or the quasi-steady state at
    the first occupancy. Returns (rates Hz (S, T, 6), burst (S, T)).
    """
    t = np.asarray(t_s, float)
    occ = check_occupancy(occ)
    occ = np.atleast_2d(occ if occ.ndim != 1 else occ[:, None])
    if occ.shape[1] == 1:
        occ = np.repeat(occ, t.size, axis=1)
    sop = np.zeros_like(occ) if sop is None else np.asarray(sop, float)
    sop = np.atleast_2d(sop if sop.ndim != 1 else sop[:, None])
    if sop.shape[1] == 1:
        sop = np.repeat(sop, t.size, axis=1)
    S = occ.shape[0]
    if x0 is None:
        q = quasi_steady(m, occ[:, 0], sop[:, 0], burst=False)
        x = np.stack([q[f"rate_{p}"] / m.r0[j] for j, p in enumerate(POPULATIONS)], axis=-1)
    else:
        x = np.array(x0, float)
    out = np.empty((S, t.size, len(POPULATIONS)))
    out[:, 0] = x
    tcur = t[0]

    def at(tt):
        j = np.searchsorted(t, tt, side="right") - 1
        j = min(max(j, 0), t.size - 2) if t.size > 1 else 0
        if t.size == 1:
            return occ[:, 0], sop[:, 0]
        w = (tt - t[j]) / (t[j + 1] - t[j])
        return occ[:, j] * (1 - w) + occ[:, j + 1] * w, sop[:, j] * (1 - w) + sop[:, j + 1] * w

    for n in range(1, t.size):
        while tcur < t[n] - 1e-12:
            h = min(dt_s, t[n] - tcur)
            o1, s1 = at(tcur)
            o2, s2 = at(tcur + h / 2)
            o3, s3 = at(tcur + h)
            k1 = rhs(m, x, o1, s1)
            k2 = rhs(m, x + h / 2 * k1, o2, s2)
            k3 = rhs(m, x + h / 2 * k2, o2, s2)
            k4 = rhs(m, x + h * k3, o3, s3)
            x = np.maximum(x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), 0.0)
            tcur += h
        out[:, n] = x
    rates = out * np.array(m.r0)
    return rates, _burst(m, out[..., POPULATIONS.index("VTA_DA")], occ)


# -- per-subject parameters (scale factors, :mod:`ketasim.pd_parameters`) -------------------

_N_BATCH = 401    # occupancy grid points of a per-subject fixed-point map (linear interpolation between)


def _vec(f, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(f, float).ravel(), (n,))


def batch_arrays(m: CircuitModel, factors: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Per-subject arrays of the rate equations of ``m`` with scale factors applied.

    ``factors`` maps ``gain``, ``max_multiple``, ``b0`` (odds scaled), ``strength_<variant>``
    and ``w_<to>_<from>`` to a scalar or ``n`` values. With all factors 1 the arrays equal
    ``m``'s. Returns W, F (n, 6, 6), f_ext, b (n, 6), gain, M, b0, burst_nmda (n,).
    """
    p = circuit_parameters()
    idx = {q: i for i, q in enumerate(POPULATIONS)}
    W0 = np.array(m.W)
    W = np.broadcast_to(W0, (n, *W0.shape)).copy()
    for i, to in enumerate(POPULATIONS):
        for j, frm in enumerate(POPULATIONS):
            f = factors.get(f"w_{to}_{frm}")
            if f is not None:
                W[:, i, j] *= _vec(f, n)
    F = np.zeros_like(W)
    fext = np.zeros((n, len(POPULATIONS)))
    burst = np.zeros(n)
    for v, s0 in m.strengths:
        s = s0 * _vec(factors.get(f"strength_{v}", 1.0), n)
        spec = p["variants"][v]
        for q, f in (spec.get("nmda") or {}).items():
            i = idx[q]
            exc = W0[i] > 0
            F[:, i, exc] += (s * float(f))[:, None]
            fext[:, i] += s * float(f)
        burst += s * float(spec.get("burst_nmda", 0.0))
    M = m.max_multiple * _vec(factors.get("max_multiple", 1.0), n)
    if np.any(M <= 1.0):
        raise InputError(f"max_multiple must stay > 1 (it is {m.max_multiple:g} times the factor); got "
                         f"{float(M.min()):g}. Use a factor above {1.0 / m.max_multiple:g}.")
    fb = _vec(factors.get("b0", 1.0), n)
    o = np.zeros((n, len(POPULATIONS)))
    if m.uses_opioid:
        o[:, idx["VTA_GABA"]] = m.opioid_weight * _vec(factors.get("opioid_weight", 1.0), n)
    return {"W": W, "F": np.minimum(F, 1.0), "f_ext": np.minimum(fext, 1.0), "b": 1.0 - W.sum(axis=2),
            "gain": m.gain * _vec(factors.get("gain", 1.0), n), "M": M,
            "b0": m.b0 * fb / (1.0 - m.b0 + m.b0 * fb), "burst_nmda": np.minimum(burst, 1.0), "o": o}


def _newton_batch(A, x, occ, tol=1e-11, maxit=100, sop=None):
    """Newton steps to the fixed points of every set at NMDA occupancy ``occ`` (scalar or (n,)) and, with the
    opioid term, opioid occupancy ``sop`` ((n,))."""
    W, F, fext, b = A["W"], A["F"], A["f_ext"], A["b"]
    M = A["M"][:, None]
    k = A["gain"][:, None] * M / (M - 1.0)
    eye = np.eye(len(POPULATIONS))
    occ = np.asarray(occ, float)
    oc = occ[:, None] if occ.ndim == 1 else occ
    Weff = W * (1.0 - F * (oc[:, :, None] if occ.ndim == 1 else oc))
    base = b * (1.0 - fext * oc)
    if sop is not None:
        base = base - A["o"] * np.asarray(sop, float)[:, None]
    for _ in range(maxit):
        I = base + np.einsum("nij,nj->ni", Weff, x)
        z = np.exp(np.clip(-k * (I - 1.0), -700, 700))
        y = M / (1.0 + (M - 1.0) * z)
        G = y - x
        if np.max(np.abs(G)) < tol:
            return x
        J = (y * (1.0 - y / M) * k)[:, :, None] * Weff - eye
        dx = np.linalg.solve(J, -G[..., None])[..., 0]
        step = np.clip(np.max(np.abs(dx), axis=-1, keepdims=True), 0.5, None) / 0.5
        x = np.maximum(x + dx / step, 0.0)
    raise RuntimeError(f"circuit fixed point did not converge for per-subject parameters; max residual "
                       f"{np.max(np.abs(G)):.3g}. Narrow the range of the circuit factors.")


def fixed_point_map_batch(A: Mapping[str, np.ndarray], n_grid: int = _N_BATCH):
    """Quasi-steady maps of many parameter sets at once (Newton continuation in occupancy, batched).

    ``A`` from :func:`batch_arrays`. Returns ``(occ_grid (G,), X (n, G, 6) normalised rates, burst (n, G))``.
    """
    n = A["W"].shape[0]
    if np.any(A.get("o", 0.0)):
        raise InputError("the occupancy map has no opioid axis; use quasi_steady_path_batch for a circuit with "
                         "the opioid variant.")
    occ = np.linspace(0.0, 1.0, int(n_grid))
    X = np.empty((n, occ.size, len(POPULATIONS)))
    x = np.ones((n, len(POPULATIONS)))           # the baseline fixed point at zero occupancy, for every set
    X[:, 0] = x
    for i in range(1, occ.size):
        x = _newton_batch(A, x, occ[i])
        X[:, i] = x
    j = POPULATIONS.index("VTA_DA")
    B = np.minimum(1.0, A["b0"][:, None] * X[:, :, j]) * (1.0 - A["burst_nmda"][:, None] * occ)
    return occ, X, B


def quasi_steady_batch(m: CircuitModel, factors: Mapping[str, np.ndarray], occ,
                       populations: Iterable[str] = POPULATIONS, burst: bool = True) -> dict[str, np.ndarray]:
    """Quasi-steady rates (Hz) and burst fraction with per-subject circuit ``factors``.

    ``occ`` (subjects x times, or (times,) for one subject); each subject's fixed-point map
    is computed on its own (batched Newton continuation on 401 occupancies) and linearly
    interpolated. With every factor 1 this is :func:`quasi_steady` to the grids' resolution.
    """
    occ = check_occupancy(occ)
    shape = occ.shape
    o2 = occ.reshape(1, -1) if occ.ndim < 2 else occ
    n = o2.shape[0]
    sizes = {np.asarray(f).size for f in factors.values()} - {1}
    if sizes - {n}:
        raise InputError(f"circuit factors must be scalars or one value per subject ({n}); got sizes {sorted(sizes)}.")
    grid, X, B = fixed_point_map_batch(batch_arrays(m, factors, n))
    g = grid.size
    fi = o2 * (g - 1)
    i = np.minimum(fi.astype(np.intp), g - 2)
    a = fi - i
    out = {}

    def look(Z):
        lo = np.take_along_axis(Z, i, axis=1)
        hi = np.take_along_axis(Z, i + 1, axis=1)
        return (lo + a * (hi - lo)).reshape(shape)

    for q in populations:
        j = POPULATIONS.index(q)
        out[f"rate_{q}"] = m.r0[j] * look(np.ascontiguousarray(X[:, :, j]))
    if burst:
        out["burst_fraction_VTA_DA"] = look(B)
    return out


#: Largest change of NMDA / opioid occupancy per continuation step along a path (finer steps are inserted).
_PATH_DOCC = 0.02
_PATH_DSOP = 0.05


def quasi_steady_path_batch(m: CircuitModel, factors: Mapping[str, np.ndarray], occ, sop=None,
                            populations: Iterable[str] = POPULATIONS, burst: bool = True) -> dict[str, np.ndarray]:
    """Quasi-steady rates (Hz) and burst fraction with per-subject circuit ``factors``, solved along each path.

    The fixed point of every subject is followed along its own occupancy path
    (``occ``, and for the ``opioid`` variant ``sop`` = mu + kappa occupancy; subjects x
    times), starting from the baseline fixed point (x = 1 at zero occupancy) and
    inserting continuation steps wherever occupancy moves by more than 0.02 (NMDA) or
    0.05 (opioid) between two times. Newton converges to 1e-11 at every time, so there is
    no interpolation error. This is the method for the opioid variant, whose quasi-steady
    map is two-dimensional (a per-subject table of 401 x 41 points would be far larger);
    for the other variants it agrees with :func:`quasi_steady_batch` to the latter's grid
    resolution (tested). The circuit has one stable branch in the calibrated ranges, so
    following the path gives the same branch as the map's continuation from zero.
    """
    occ = check_occupancy(occ)
    shape = occ.shape
    o2 = occ.reshape(1, -1) if occ.ndim < 2 else occ
    n, nt = o2.shape
    if m.uses_opioid:
        if sop is None:
            raise InputError("the opioid variant needs the opioid occupancy (occupancy_mu + occupancy_kappa).")
        s2 = np.broadcast_to(check_occupancy(sop, "opioid occupancy (mu + kappa)", upper=2.0).reshape(o2.shape),
                             o2.shape)
    else:
        s2 = np.zeros_like(o2)
    sizes = {np.asarray(f).size for f in factors.values()} - {1}
    if sizes - {n}:
        raise InputError(f"circuit factors must be scalars or one value per subject ({n}); got sizes {sorted(sizes)}.")
    A = batch_arrays(m, factors, n)
    pops = list(populations)
    cols = [POPULATIONS.index(q) for q in pops]
    j_da = POPULATIONS.index("VTA_DA")
    rates = np.empty((len(pops), n, nt))
    bur = np.empty((n, nt)) if burst else None
    x = np.ones((n, len(POPULATIONS)))
    po, ps = np.zeros(n), np.zeros(n)
    for j in range(nt):
        to, ts = o2[:, j], s2[:, j]
        k = int(max(1.0, np.ceil(max(np.max(np.abs(to - po)) / _PATH_DOCC, np.max(np.abs(ts - ps)) / _PATH_DSOP))))
        for q in range(1, k + 1):
            f = q / k
            x = _newton_batch(A, x, po + f * (to - po), sop=ps + f * (ts - ps))
        po, ps = to, ts
        rates[:, :, j] = x[:, cols].T
        if burst:
            bur[:, j] = np.minimum(1.0, A["b0"] * x[:, j_da]) * (1.0 - A["burst_nmda"] * to)
    out = {f"rate_{q}": (m.r0[POPULATIONS.index(q)] * rates[i]).reshape(shape) for i, q in enumerate(pops)}
    if burst:
        out["burst_fraction_VTA_DA"] = bur.reshape(shape)
    return out


def run_circuit(inputs: Mapping[str, np.ndarray], circuit=None, outputs: Sequence[str] = tuple(CIRCUIT_OUTPUTS),
                model: CircuitModel | None = None) -> dict[str, np.ndarray]:
    """Quasi-steady circuit outputs from ``occupancy_NMDA`` (and, for ``opioid``,
    ``occupancy_mu`` + ``occupancy_kappa``), arrays of any common shape."""
    m = model or get_model(circuit)
    occ = inputs["occupancy_NMDA"]
    sop = None
    if m.uses_opioid:
        sop = np.asarray(inputs["occupancy_mu"], float) + np.asarray(inputs["occupancy_kappa"], float)
    pops = [o[5:] for o in outputs if o.startswith("rate_")]
    res = quasi_steady(m, occ, sop, populations=pops, burst="burst_fraction_VTA_DA" in outputs)
    return {o: res[o] for o in outputs}

"""Receptor-level exposure integrals that drive the slow outcome states.

The slow states (tolerance, antidepressant plasticity) are driven by NMDA
blockade. Occupancy itself is a nonlinear function of concentration, so its
time integral cannot be read exactly from the PK layer; its *odds*
``x = occ / (1 - occ)`` can. With the receptor layer's competitive model
(:mod:`ketasim.layers.receptors`, Hill 1)::

    x(t) = sum_i  u_i C_i(t) / K_i        u_i = fu_i Kp,uu_i 1000 / M_i   (nM per ng/mL)

is linear in the concentrations, so its cumulative integral is the same linear
combination of the PK layer's exact cumulative areas ``AUC_*``::

    X(t) = int_0^t x ds = sum_i u_i AUC_i(t) / K_i            (h)

``X`` is exact at every time, whatever the output grid, and it is the same
quantity in rats and humans (the receptor parameters are shared), which is why
the slow states use it as their driver. Its unit is "occupancy-odds hours":
one hour at 50% occupancy adds 1 h.

Scale factors on receptor parameters (``Ki_NMDA``, ``fu_ketamine``, ``Kpuu_ketamine`` ...;
:func:`ketasim.pd_parameters.with_pd_factors`) carried by the subjects change the
coefficients per subject (``subjects=``), as they change the receptor layer's occupancy.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .receptors import receptor_parameters

__all__ = ["BLOCKADE_INPUTS", "BLOCKADE_RATE_INPUTS", "blockade_integral", "blockade_odds"]

#: PK variables (cumulative areas, ng*h/mL) whose combination is the exact NMDA-blockade integral.
BLOCKADE_INPUTS = ("AUC_effect_S_ketamine", "AUC_effect_R_ketamine", "AUC_plasma_norketamine")
#: The matching concentrations (ng/mL), for the instantaneous odds.
BLOCKADE_RATE_INPUTS = ("C_effect_S_ketamine", "C_effect_R_ketamine", "C_plasma_norketamine")


def _coefficients(subjects=None):
    """(S, R, norketamine) coefficients; arrays (subjects, 1) when ``subjects`` carry receptor factors."""
    p = receptor_parameters()
    if subjects is not None:
        from ..pd_parameters import pd_factors_of, scaled_receptor_parameters

        f = pd_factors_of(subjects)
        scaled = scaled_receptor_parameters({k: np.asarray(v, float)[:, None] for k, v in f.items()}) if f else None
        if scaled is not None:
            p = scaled
    uk = p["fu_ketamine"] * p["kpuu_ketamine"] * 1000.0 / p["M_ketamine"]
    un = p["fu_norketamine"] * p["kpuu_norketamine"] * 1000.0 / p["M_norketamine"]
    K = p["nmda"]
    return uk / K["S"], uk / K["R"], un / K.get("NK", np.inf)


def _combine(inputs: Mapping[str, np.ndarray], names: tuple[str, str, str], subjects=None) -> np.ndarray:
    a, b, c = _coefficients(subjects)
    s = np.asarray(inputs[names[0]], float)
    out = a * s
    if names[1] in inputs:
        out = out + b * np.asarray(inputs[names[1]], float)
    if names[2] in inputs:   # a set without norketamine: zero, as in the receptor layer
        out = out + c * np.asarray(inputs[names[2]], float)
    return out


def blockade_integral(inputs: Mapping[str, np.ndarray], subjects=None) -> np.ndarray:
    """Exact cumulative NMDA-blockade integral ``X(t)`` (occupancy-odds hours) from the PK areas.

    ``inputs`` maps :data:`BLOCKADE_INPUTS` to arrays (any common shape); R-ketamine and
    norketamine entries may be missing (zero). ``subjects`` (a Population whose rows are
    the arrays' rows) applies the receptor scale factors it carries.

    Examples
    --------
    >>> a, _, _ = _coefficients()
    >>> float(blockade_integral({"AUC_effect_S_ketamine": np.array(1.0 / a)}))   # 1 h at 50 %
    1.0
    """
    return _combine(inputs, BLOCKADE_INPUTS, subjects)


def blockade_odds(inputs: Mapping[str, np.ndarray], subjects=None) -> np.ndarray:
    """Instantaneous NMDA occupancy odds ``x = occ / (1 - occ)`` from the concentrations (ng/mL)."""
    return np.clip(_combine(inputs, BLOCKADE_RATE_INPUTS, subjects), 0.0, None)


def first_order_recurrence(t: np.ndarray, b: np.ndarray, k: float, s0: np.ndarray | None = None) -> np.ndarray:
    """``s_0 = s0`` (default 0); ``s_j = s_{j-1} exp(-k (t_j - t_{j-1})) + b[:, j]`` for j >= 1, vectorised.

    The recurrence of every linear first-order state advanced with exact steps. Solved
    without a Python loop over time: within blocks where ``k (t_j - t_0) <= 500``,
    ``s_j = e^{-k tau_j} (s_0 + sum_i b_i e^{k tau_i})`` (all terms of one sign, no
    cancellation), carried from block to block. ``b`` has shape (n, len(t)); ``b[:, 0]``
    is ignored.

    Examples
    --------
    >>> t = np.array([0.0, 1.0, 2.0]); b = np.array([[0.0, 1.0, 1.0]])
    >>> np.round(first_order_recurrence(t, b, np.log(2)), 6).tolist()     # 1, then 1/2 + 1
    [[0.0, 1.0, 1.5]]
    """
    t = np.asarray(t, float)
    b = np.asarray(b, float)
    n, m = b.shape
    out = np.empty((n, m))
    s = np.zeros(n) if s0 is None else np.asarray(s0, float).copy()
    out[:, 0] = s
    if m == 1:
        return out
    if k <= 0:
        out[:, 1:] = s[:, None] + np.cumsum(b[:, 1:], axis=1)
        return out
    span = 500.0 / k
    j0 = 0
    while j0 < m - 1:
        j1 = int(np.searchsorted(t, t[j0] + span, side="right")) - 1
        j1 = min(max(j1, j0 + 1), m - 1)
        tau = t[j0 + 1:j1 + 1] - t[j0]
        if j1 == j0 + 1 and k * tau[0] > 500.0:           # one long step: decay first, no rescaling
            out[:, j1] = s * np.exp(-k * tau[0]) + b[:, j1]
        else:
            c = np.cumsum(b[:, j0 + 1:j1 + 1] * np.exp(k * tau), axis=1)
            out[:, j0 + 1:j1 + 1] = (s[:, None] + c) * np.exp(-k * tau)
        s = out[:, j1]
        j0 = j1
    return out


def previous_base(base: np.ndarray) -> np.ndarray:
    """For each grid index, the index of the last base point at or before it (``base[0]`` must be True)."""
    base = np.asarray(base, bool)
    if not base[0]:
        raise ValueError("the first grid point must be a base point")
    idx = np.where(base, np.arange(base.size), 0)
    return np.maximum.accumulate(idx)

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


def _coefficients() -> tuple[float, float, float]:
    p = receptor_parameters()
    uk = p["fu_ketamine"] * p["kpuu_ketamine"] * 1000.0 / p["M_ketamine"]
    un = p["fu_norketamine"] * p["kpuu_norketamine"] * 1000.0 / p["M_norketamine"]
    K = p["nmda"]
    return uk / K["S"], uk / K["R"], un / K.get("NK", np.inf)


def _combine(inputs: Mapping[str, np.ndarray], names: tuple[str, str, str]) -> np.ndarray:
    a, b, c = _coefficients()
    s = np.asarray(inputs[names[0]], float)
    out = a * s
    if names[1] in inputs:
        out = out + b * np.asarray(inputs[names[1]], float)
    if names[2] in inputs:   # a set without norketamine: zero, as in the receptor layer
        out = out + c * np.asarray(inputs[names[2]], float)
    return out


def blockade_integral(inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """Exact cumulative NMDA-blockade integral ``X(t)`` (occupancy-odds hours) from the PK areas.

    ``inputs`` maps :data:`BLOCKADE_INPUTS` to arrays (any common shape); R-ketamine and
    norketamine entries may be missing (zero).

    Examples
    --------
    >>> a, _, _ = _coefficients()
    >>> float(blockade_integral({"AUC_effect_S_ketamine": np.array(1.0 / a)}))   # 1 h at 50 %
    1.0
    """
    return _combine(inputs, BLOCKADE_INPUTS)


def blockade_odds(inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """Instantaneous NMDA occupancy odds ``x = occ / (1 - occ)`` from the concentrations (ng/mL)."""
    return np.clip(_combine(inputs, BLOCKADE_RATE_INPUTS), 0.0, None)

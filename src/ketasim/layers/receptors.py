"""Receptor layer: NMDA, mu- and kappa-opioid occupancy from brain concentrations.

Reads the PK layer's effect-site S- and R-ketamine (``C_effect_S_ketamine``,
``C_effect_R_ketamine``) and plasma norketamine (``C_plasma_norketamine``), all
ng/mL, and adds ``occupancy_NMDA``, ``occupancy_mu`` and ``occupancy_kappa``.

Unbound brain concentration, nM::

    C_u = fu * Kp_uu * C * 1000 / M          (C in ng/mL, M in g/mol)

Competitive (Gaddum) occupancy of one site by several ligands, Hill 1::

    occ = sum_i(C_u,i / K_i) / (1 + sum_i(C_u,i / K_i))

Parameter values and their sources are in ``data/circuit/receptors.yaml``
(see docs/model.md, "Receptors, circuit and dopamine").
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Mapping

import numpy as np
import yaml

from ..errors import InputError

__all__ = ["RECEPTOR_OUTPUTS", "RECEPTOR_INPUTS", "receptor_parameters", "unbound_nM",
           "competitive_occupancy", "run_receptors"]

#: name -> (unit, long name)
RECEPTOR_OUTPUTS: dict[str, tuple[str, str]] = {
    "occupancy_NMDA": ("1", "fraction of NMDA receptors (PCP site) occupied by S-, R-ketamine and norketamine"),
    "occupancy_mu": ("1", "fraction of mu-opioid receptors occupied by ketamine (S and R)"),
    "occupancy_kappa": ("1", "fraction of kappa-opioid receptors occupied by ketamine (S and R)"),
}
#: PK variables the layer reads.
RECEPTOR_INPUTS = ("C_effect_S_ketamine", "C_effect_R_ketamine", "C_plasma_norketamine")


@lru_cache(maxsize=1)
def receptor_parameters() -> dict:
    """The receptor parameters (values only, canonical units) from ``receptors.yaml``."""
    raw = yaml.safe_load((resources.files("ketasim") / "data" / "circuit" / "receptors.yaml").read_text())

    def v(*keys):
        d = raw
        for k in keys:
            d = d[k]
        return float(d["value"])

    return {
        "M_ketamine": v("molar_mass", "ketamine"),
        "M_norketamine": v("molar_mass", "norketamine"),
        "fu_ketamine": v("unbound_fraction", "ketamine"),
        "fu_norketamine": v("unbound_fraction", "norketamine"),
        "kpuu_ketamine": v("brain_unbound_partition", "ketamine"),
        "kpuu_norketamine": v("brain_unbound_partition", "norketamine"),
        "nmda": {"S": v("nmda", "K_S_ketamine"), "R": v("nmda", "K_R_ketamine"), "NK": v("nmda", "K_norketamine")},
        "mu": {"S": v("mu", "K_S_ketamine"), "R": v("mu", "K_R_ketamine")},
        "kappa": {"S": v("kappa", "K_S_ketamine"), "R": v("kappa", "K_R_ketamine")},
        "raw": raw,
    }


def unbound_nM(c_ng_ml, analyte: str) -> np.ndarray:
    """Unbound brain concentration (nM) from a plasma or effect-site concentration (ng/mL).

    Examples
    --------
    >>> round(float(unbound_nM(237.73, "ketamine")), 1)   # 1 uM total, fu 0.53
    530.0
    """
    p = receptor_parameters()
    if analyte not in ("ketamine", "norketamine"):
        raise InputError(f"analyte must be 'ketamine' or 'norketamine'; got {analyte!r}.")
    c = np.asarray(c_ng_ml, float)
    return c * p[f"fu_{analyte}"] * p[f"kpuu_{analyte}"] * 1000.0 / p[f"M_{analyte}"]


def competitive_occupancy(conc_nM: Mapping[str, np.ndarray], K_nM: Mapping[str, float]) -> np.ndarray:
    """Fraction of one site occupied by competing ligands (Gaddum, Hill 1).

    ``conc_nM`` and ``K_nM`` map ligand name -> concentration (nM, array) and
    dissociation constant (nM). Concentrations must be finite and >= 0.

    Examples
    --------
    >>> float(competitive_occupancy({"S": 862.0}, {"S": 862.0}))
    0.5
    """
    x = 0.0
    for name, c in conc_nM.items():
        c = np.asarray(c, float)
        if np.any(~np.isfinite(c)) or np.any(c < 0):
            bad = c[~np.isfinite(c) | (c < 0)].ravel()[0]
            raise InputError(f"concentration of {name} must be finite and >= 0 nM; got {bad:g}. "
                             "Check the upstream PK outputs.")
        K = float(K_nM[name])
        if not K > 0:
            raise InputError(f"K of {name} must be > 0 nM; got {K:g}.")
        x = x + c / K
    x = np.asarray(x, float)
    return x / (1.0 + x)


def _checked(c, name: str) -> np.ndarray:
    """Concentration array, finite and >= 0 (round-off residues of the exact PK above -1e-6 are zeroed)."""
    c = np.asarray(c, float)
    if c.size == 0:
        return c
    lo, hi = float(c.min()), float(c.max())
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -1e-6:
        bad = c[~np.isfinite(c) | (c < -1e-6)].ravel()[0]
        raise InputError(f"{name} must be finite and >= 0 ng/mL; got {bad:g}. Check the upstream PK outputs.")
    return np.maximum(c, 0.0) if lo < 0 else c


def run_receptors(inputs: Mapping[str, np.ndarray], outputs=tuple(RECEPTOR_OUTPUTS), *,
                  out: Mapping[str, np.ndarray] | None = None, parameters: Mapping | None = None
                  ) -> dict[str, np.ndarray]:
    """Occupancies from the PK variables ``RECEPTOR_INPUTS`` (arrays of any common shape, ng/mL).

    A missing norketamine input (a set without the metabolite) counts as zero.
    Returns name -> array for each name in ``outputs`` (written into ``out[name]`` where
    given, an array of the inputs' shape). Equivalent to
    :func:`unbound_nM` followed by :func:`competitive_occupancy`, fused for speed.
    ``parameters`` replaces :func:`receptor_parameters` (same keys); its values may be
    arrays of shape (subjects, 1), one per subject (:mod:`ketasim.pd_parameters`).
    """
    p = receptor_parameters() if parameters is None else parameters
    cs = _checked(inputs["C_effect_S_ketamine"], "C_effect_S_ketamine")
    cr = _checked(inputs["C_effect_R_ketamine"], "C_effect_R_ketamine")
    cn = inputs.get("C_plasma_norketamine")
    cn = None if cn is None else _checked(cn, "C_plasma_norketamine")
    uk = p["fu_ketamine"] * p["kpuu_ketamine"] * 1000.0 / p["M_ketamine"]      # nM per ng/mL, unbound
    un = p["fu_norketamine"] * p["kpuu_norketamine"] * 1000.0 / p["M_norketamine"]
    dest = out or {}
    out = {}
    tmp = np.empty(np.broadcast(cs, cr).shape)
    for name, target in (("occupancy_NMDA", "nmda"), ("occupancy_mu", "mu"), ("occupancy_kappa", "kappa")):
        if name not in outputs:
            continue
        K = p[target]
        x = cs * (uk / K["S"])                      # sum_i C_u,i / K_i, built in place
        if x.shape != tmp.shape:                    # per-subject parameters broadcast the inputs
            tmp = np.empty(x.shape)
        x += np.multiply(cr, uk / K["R"], out=tmp)
        if "NK" in K and cn is not None:
            x += np.multiply(cn, un / K["NK"], out=tmp)
        np.add(x, 1.0, out=tmp)
        out[name] = np.divide(x, tmp, out=dest[name] if name in dest else x)   # occ = x / (1 + x)
    return out

"""Named parameters of the receptor, circuit and dopamine layers, scaled per subject.

The PK layer's parameters vary per subject through its random effects; the layers
below it read fixed tables (``data/circuit/receptors.yaml``, ``circuit.yaml``,
``calibration.yaml``, ``dopamine.yaml``). This module names the numbers of those
tables that can be varied, and applies **scale factors** to them — one factor per
subject (an array) or one for all (a scalar) — without touching the tables:

* a positive quantity (a dissociation constant, a weight, a rate) is multiplied by
  the factor: ``value * f``;
* a fraction (an unbound fraction, the baseline burst share) has its odds multiplied,
  so it stays in (0, 1): ``v f / (1 - v + v f)`` (as the PK layer's logit-scale
  fractions, :mod:`ketasim.trials.sensitivity`).

A factor of 1 gives the table's value exactly, so no factors means the default model.
Used by :func:`ketasim.pd_chain.run_pd` (``factors=``) and by global sensitivity
analysis (``ketasim sensitivity --parameters Ki_NMDA,gain,Vmax_NAc,...``). Factors can
also travel with the subjects (:func:`with_pd_factors`): :func:`ketasim.simulate` then
applies them wherever it runs the chain, including under the acute-safety and outcome
layers (so ``peak_drug_liking`` or ``final_p_dependence`` respond to ``Ki_NMDA``).

Examples
--------
>>> table = pd_parameter_table()
>>> table["Ki_NMDA"].typical, table["Ki_NMDA"].unit
(862.0, 'nM')
>>> round(float(scale_value(0.53, 2.0, "logit")), 4)    # fu 0.53, odds doubled
0.6928
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .errors import InputError, suggest
from .layers.circuit import POPULATIONS, CircuitModel, get_model
from .layers.dopamine import REGIONS, dopamine_parameters
from .layers.receptors import receptor_parameters

__all__ = ["PDParameter", "pd_parameter_table", "check_factors", "scale_value", "closest", "scaled_receptor_parameters",
           "scaled_dopamine_parameters", "circuit_factors", "with_pd_factors", "pd_factors_of", "FACTOR_PREFIX",
           "RECEPTOR_FACTORS", "DOPAMINE_FACTORS"]

#: Key prefix of per-subject scale factors carried in ``Population.extra`` (:func:`with_pd_factors`).
FACTOR_PREFIX = "pd_factor:"


@dataclass(frozen=True, slots=True)
class PDParameter:
    """One variable parameter: layer, typical value (for the circuit in use), unit, scale and source."""

    name: str
    layer: str
    typical: float
    unit: str
    scale: str          # "log" (multiply the value) or "logit" (multiply the odds)
    description: str
    source: str


_REC = "data/circuit/receptors.yaml"
_CIRC = "data/circuit/circuit.yaml (calibrated values: calibration.yaml)"
_DA = "data/circuit/dopamine.yaml"

#: receptor factor name -> (description, keys into receptor_parameters(), unit, scale)
RECEPTOR_FACTORS: dict[str, tuple[str, tuple[tuple[str, ...], ...], str, str]] = {
    "Ki_NMDA": ("NMDA dissociation constants of S-, R-ketamine and norketamine together (potency; S:R ratio kept)",
                (("nmda", "S"), ("nmda", "R"), ("nmda", "NK")), "nM", "log"),
    "Ki_NMDA_S": ("NMDA dissociation constant of S-ketamine", (("nmda", "S"),), "nM", "log"),
    "Ki_NMDA_R": ("NMDA dissociation constant of R-ketamine", (("nmda", "R"),), "nM", "log"),
    "Ki_NMDA_norketamine": ("NMDA dissociation constant of norketamine", (("nmda", "NK"),), "nM", "log"),
    "Ki_mu": ("mu-opioid dissociation constants of S- and R-ketamine", (("mu", "S"), ("mu", "R")), "nM", "log"),
    "Ki_kappa": ("kappa-opioid dissociation constants of S- and R-ketamine", (("kappa", "S"), ("kappa", "R")),
                 "nM", "log"),
    "fu_ketamine": ("unbound fraction of ketamine in plasma", (("fu_ketamine",),), "1", "logit"),
    "fu_norketamine": ("unbound fraction of norketamine in plasma", (("fu_norketamine",),), "1", "logit"),
    "Kpuu_ketamine": ("unbound brain:plasma partition of ketamine", (("kpuu_ketamine",),), "1", "log"),
    "Kpuu_norketamine": ("unbound brain:plasma partition of norketamine", (("kpuu_norketamine",),), "1", "log"),
}

#: dopamine factor name -> (description, region or None, key, unit)
DOPAMINE_FACTORS: dict[str, tuple[str, str | None, str, str]] = {
    **{f"{k}_{r}": (f"{d}, {r}", r, key, u)
       for r in REGIONS
       for k, key, d, u in (("Vmax", "Vmax_nM_per_s", "DAT/NET uptake Vmax", "nM/s"),
                            ("Km", "Km_nM", "DAT/NET uptake Km", "nM"),
                            ("k_nonDAT", "k_nonDAT_per_s", "first-order non-DAT clearance", "1/s"),
                            ("basal", "basal_nM", "basal extracellular dopamine", "nM"))},
    "kappa_burst": ("release of a burst spike relative to a tonic spike", None, "kappa_burst", "1"),
}


def _circuit_entries(m: CircuitModel) -> dict[str, PDParameter]:
    out = {
        "gain": PDParameter("gain", "circuit", m.gain, "1", "log", "slope of the normalised rate function at baseline",
                            _CIRC),
        "max_multiple": PDParameter("max_multiple", "circuit", m.max_multiple, "1", "log",
                                    "ceiling of each population's rate, multiple of baseline (must stay > 1)", _CIRC),
        "b0": PDParameter("b0", "circuit", m.b0, "1", "logit", "baseline fraction of VTA DA spikes fired in bursts",
                          _CIRC),
    }
    for v, s in m.strengths:
        out[f"strength_{v}"] = PDParameter(f"strength_{v}", "circuit", s, "1", "log",
                                           f"strength of the {v} variant's NMDA dependence", _CIRC)
    if m.uses_opioid:
        out["opioid_weight"] = PDParameter("opioid_weight", "circuit", m.opioid_weight, "1", "log",
                                           "weight of opioid occupancy on VTA GABA drive", _CIRC)
    for i, to in enumerate(POPULATIONS):
        for j, frm in enumerate(POPULATIONS):
            if m.W[i][j] != 0.0:
                nm = f"w_{to}_{frm}"
                out[nm] = PDParameter(nm, "circuit", m.W[i][j], "1", "log",
                                      f"connection weight {frm} -> {to} (sign kept)", _CIRC)
    return out


def pd_parameter_table(circuit=None) -> dict[str, PDParameter]:
    """Every variable parameter below the PK layer for ``circuit``, with its typical value.

    Circuit parameters depend on the variants: ``strength_<variant>`` exists for each NMDA
    variant in use, ``opioid_weight`` only with the opioid variant.
    """
    rp = receptor_parameters()
    out: dict[str, PDParameter] = {}
    for name, (desc, keys, unit, scale) in RECEPTOR_FACTORS.items():
        d = rp
        for k in keys[0]:
            d = d[k]
        out[name] = PDParameter(name, "receptors", float(d), unit, scale, desc, _REC)
    out.update(_circuit_entries(get_model(circuit)))
    dp = dopamine_parameters()
    for name, (desc, region, key, unit) in DOPAMINE_FACTORS.items():
        val = dp["kappa_burst"] if region is None else dp["regions"][region][key]
        out[name] = PDParameter(name, "dopamine", float(val), unit, "log", desc, _DA)
    return out


def closest(name: str, valid) -> str:
    """``" Did you mean 'x'?"``: a case-insensitive exact match first, else the closest spelling."""
    low = {str(v).lower(): v for v in valid}
    if str(name).lower() in low:
        return f" Did you mean '{low[str(name).lower()]}'?"
    return suggest(name, list(valid))


def scale_value(value, factor, scale: str):
    """``value`` scaled by ``factor``: multiplied ("log") or its odds multiplied ("logit")."""
    f = np.asarray(factor, float)
    if scale == "logit":
        return value * f / (1.0 - value + value * f)
    return value * f


def check_factors(factors: Mapping[str, object] | None, circuit=None, n: int | None = None) -> dict[str, np.ndarray]:
    """Validated factors: known names, finite values > 0, each a scalar or an array of ``n`` (subjects).

    Returns name -> float array of shape ``()`` or ``(n, 1)`` (broadcasts over subjects x times).
    """
    if not factors:
        return {}
    table = pd_parameter_table(circuit)
    out = {}
    for name, v in factors.items():
        if name not in table:
            raise InputError(f"factors: {name!r} is not a parameter of the receptor, circuit or dopamine layer "
                             f"(circuit {'+'.join(get_model(circuit).variants)}); valid names: "
                             f"{', '.join(table)}.{closest(name, table)}")
        a = factor_values(f"factors[{name!r}]", v, n)
        out[name] = a[:, None] if a.ndim == 1 else a
    return out


def factor_values(label: str, v, n: int | None) -> np.ndarray:
    """``v`` as scale factors: finite, > 0, a number or one value per subject (``n``); errors name ``label``."""
    a = np.asarray(v, float)
    if a.ndim > 1 or (a.ndim == 1 and n is not None and a.size != n):
        raise InputError(f"{label} must be a number or one value per subject ({n}); got shape {a.shape}.")
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        bad = a[~np.isfinite(a) | (a <= 0)].ravel()
        raise InputError(f"{label} must be finite scale factors > 0; got {bad[0] if bad.size else 'an empty array'}.")
    return a


def scaled_receptor_parameters(factors: Mapping[str, np.ndarray]) -> dict | None:
    """The receptor layer's parameters with ``factors`` applied, or None when none concerns it."""
    mine = {k: v for k, v in factors.items() if k in RECEPTOR_FACTORS}
    if not mine:
        return None
    base = receptor_parameters()
    p = {k: (dict(v) if isinstance(v, dict) and k != "raw" else v) for k, v in base.items()}
    for name, f in mine.items():
        _, keys, _, scale = RECEPTOR_FACTORS[name]
        for path in keys:
            if len(path) == 1:
                p[path[0]] = scale_value(p[path[0]], f, scale)
            else:
                p[path[0]][path[1]] = scale_value(p[path[0]][path[1]], f, scale)
    return p


def scaled_dopamine_parameters(factors: Mapping[str, np.ndarray]) -> dict | None:
    """The dopamine layer's parameters with ``factors`` applied, or None when none concerns it."""
    mine = {k: v for k, v in factors.items() if k in DOPAMINE_FACTORS}
    if not mine:
        return None
    base = dopamine_parameters()
    p = {**base, "regions": {r: dict(base["regions"][r]) for r in REGIONS}}
    for name, f in mine.items():
        _, region, key, _ = DOPAMINE_FACTORS[name]
        if region is None:
            p[key] = scale_value(p[key], f, "log")
        else:
            p["regions"][region][key] = scale_value(p["regions"][region][key], f, "log")
    return p


def circuit_factors(factors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The factors that concern the circuit layer."""
    return {k: v for k, v in factors.items() if k not in RECEPTOR_FACTORS and k not in DOPAMINE_FACTORS}



def with_pd_factors(population, factors: Mapping[str, object], circuit=None):
    """A copy of ``population`` carrying scale factors on receptor, circuit and dopamine parameters.

    ``factors`` maps parameter names (:func:`pd_parameter_table`) to one factor for all
    subjects or one per subject. They are stored per subject in ``Population.extra``
    (keys ``"pd_factor:<name>"``), so sub-populations keep their own, and
    :func:`ketasim.simulate` applies them to every run of the receptor -> circuit ->
    dopamine chain, also the one under the acute-safety and outcome layers. Factors of
    1 give the default model exactly. ``circuit`` checks the names against that circuit
    (circuit-weight names depend on it).

    Examples
    --------
    >>> import numpy as np, ketasim as ks
    >>> pop = with_pd_factors(ks.sample_population(3, np.random.default_rng(1)), {"Ki_NMDA": [0.5, 1.0, 2.0]})
    >>> pd_factors_of(pop.take(slice(1, 3)))["Ki_NMDA"].tolist()
    [1.0, 2.0]
    """
    from .population import as_population

    pop = as_population(population)
    return pop.with_extra(FACTOR_PREFIX, check_factors(factors, circuit, pop.n))


def pd_factors_of(population) -> dict[str, np.ndarray] | None:
    """The per-subject scale factors a population carries (:func:`with_pd_factors`), or None."""
    return (population.extra_with(FACTOR_PREFIX) or None) if hasattr(population, "extra_with") else None

"""Named parameters of the outcome layers, scaled per subject (for sensitivity analysis).

The outcome layers (:mod:`ketasim.outcomes`: tolerance, liking, memory, antidepressant,
harms) read fixed values from ``data/outcomes/*.yaml``. This module names those values
(``"<layer>.<name>"``, or ``"harms.<block>.<name>"``: ``tolerance.k_in``,
``harms.dependence.E50``, ``antidepressant.P50`` ...) and lets a population carry **scale
factors** on them, one per subject, as :mod:`ketasim.pd_parameters` does for the receptor,
circuit and dopamine layers:

* a positive quantity is multiplied by the factor;
* a fraction (``antidepressant.Fmax``, ``harms.bladder.f_urine``) has its odds multiplied.

The factors travel in ``Population.extra`` (keys ``"outcome_factor:<name>"``). When a
sub-population carries factors for a layer, :mod:`ketasim.outcomes` runs that layer one
subject at a time with that subject's scaled values (:func:`overridden`), so the layers'
vectorised code is unchanged and a factor of 1 reproduces the default numbers exactly.
The layer's parameter getters (``tolerance_parameters`` ...) return the scaled values
inside :func:`overridden` and the shipped values everywhere else.

Left out on purpose: ``liking.L_max`` (the top of the VAS, a definition rather than a
parameter) and ``antidepressant.baseline_madrs`` (a patient characteristic: set it with
:func:`ketasim.outcomes.with_outcome_variability` or ``Subject(baseline_madrs=...)``).

Examples
--------
>>> t = outcome_parameter_table()
>>> t["harms.dependence.E50"].typical, t["harms.dependence.E50"].layer
(0.11954, 'harms')
>>> round(float(scaled_layer_parameters("harms", {"harms.dependence.E50": 2.0})["dependence"]["E50"]), 5)
0.23908
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Iterator, Mapping

import numpy as np

from .errors import InputError
from .layer_data import load_yaml

__all__ = ["OUTCOME_FACTOR_PREFIX", "LAYER_FILES", "OutcomeParameter", "outcome_parameter_table",
           "with_outcome_factors", "outcome_factors_of", "scaled_layer_parameters", "overridden", "current_override",
           "overridable"]

#: Key prefix of per-subject outcome-parameter factors in ``Population.extra``.
OUTCOME_FACTOR_PREFIX = "outcome_factor:"
#: Layer -> its parameter file (under ``ketasim/data/outcomes``).
LAYER_FILES = {"tolerance": "tolerance.yaml", "liking": "liking.yaml", "memory": "memory.yaml",
               "antidepressant": "antidepressant.yaml", "harms": "harms.yaml"}
#: Fractions, scaled on the odds.
_LOGIT = frozenset({"antidepressant.Fmax", "harms.bladder.f_urine"})
#: Not variable (see the module docstring).
_EXCLUDED = frozenset({"liking.L_max", "antidepressant.baseline_madrs"})

_OVERRIDE: ContextVar[Mapping[str, dict] | None] = ContextVar("ketasim_outcome_parameters", default=None)


@dataclasses.dataclass(frozen=True, slots=True)
class OutcomeParameter:
    """One variable outcome-layer parameter: its layer, path in the file, typical value, unit, scale, source."""

    name: str
    layer: str
    path: tuple[str, ...]
    typical: float
    unit: str
    scale: str          # "log" or "logit"
    tag: str
    source: str


def _entries(d: dict, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict]]:
    for k, v in d.items():
        if isinstance(v, dict) and "value" in v:
            yield (*path, k), v
        elif isinstance(v, dict):
            yield from _entries(v, (*path, k))


@lru_cache(maxsize=4)
def _table(species: str) -> tuple[tuple[str, OutcomeParameter], ...]:
    rows = []
    for layer, fname in LAYER_FILES.items():
        raw = load_yaml("outcomes", fname)
        if layer == "tolerance":
            raw = raw[species]
        for path, e in _entries(raw):
            name = ".".join((layer, *path))
            try:
                v = float(e["value"])
            except (TypeError, ValueError):
                continue
            if name in _EXCLUDED or not v > 0:
                continue
            rows.append((name, OutcomeParameter(name, layer, path, v, str(e.get("unit", "")),
                                                "logit" if name in _LOGIT else "log", str(e.get("tag", "")),
                                                str(e.get("source", "")))))
    return tuple(rows)


def outcome_parameter_table(species: str = "human") -> dict[str, OutcomeParameter]:
    """Every variable outcome-layer parameter, by name, with its typical value, unit, tag and source."""
    if species not in ("human", "rat"):
        raise InputError(f"species must be 'human' or 'rat'; got {species!r}.")
    return dict(_table(species))


def _check(factors: Mapping[str, object], n: int, species: str) -> dict[str, np.ndarray]:
    from .pd_parameters import closest, factor_values

    table = outcome_parameter_table(species)
    out = {}
    for name, v in factors.items():
        if name not in table:
            raise InputError(f"outcome factors: {name!r} is not a parameter of the outcome layers; valid names: "
                             f"{', '.join(table)}.{closest(name, table)}")
        out[name] = factor_values(f"outcome factors[{name!r}]", v, n)
    return out


def with_outcome_factors(population, factors: Mapping[str, object]):
    """A copy of ``population`` carrying scale factors on outcome-layer parameters (one per subject or one for all).

    Examples
    --------
    >>> import numpy as np, ketasim as ks
    >>> pop = with_outcome_factors(ks.sample_population(2, np.random.default_rng(1)), {"tolerance.k_in": [1.0, 2.0]})
    >>> outcome_factors_of(pop, "tolerance")["tolerance.k_in"].tolist()
    [1.0, 2.0]
    """
    from .population import as_population

    pop = as_population(population)
    return pop.with_extra(OUTCOME_FACTOR_PREFIX, _check(factors, pop.n, pop.species))


def outcome_factors_of(population, layer: str | None = None) -> dict[str, np.ndarray]:
    """The outcome factors a population carries (those of ``layer`` only, if given); ``{}`` when none."""
    f = population.extra_with(OUTCOME_FACTOR_PREFIX) if hasattr(population, "extra_with") else {}
    return {k: v for k, v in f.items() if layer is None or k.split(".", 1)[0] == layer}


def _base(layer: str, species: str):
    if layer == "tolerance":
        from .layers.tolerance import tolerance_parameters
        return dict(tolerance_parameters(species))
    if layer == "liking":
        from .layers.liking import liking_parameters
        return dict(liking_parameters())
    if layer == "memory":
        from .layers.memory import memory_parameters
        return dict(memory_parameters())
    if layer == "antidepressant":
        from .layers.antidepressant import antidepressant_parameters
        return dict(antidepressant_parameters())
    if layer == "harms":
        from .layers.harms import harms_parameters
        return copy.deepcopy(harms_parameters())
    raise InputError(f"layer must be one of {', '.join(LAYER_FILES)}; got {layer!r}.")


def scaled_layer_parameters(layer: str, factors: Mapping[str, float], species: str = "human") -> dict:
    """The layer's parameter dict (as its getter returns it) with scalar ``factors`` applied."""
    from .pd_parameters import scale_value

    table = outcome_parameter_table(species)
    with overridden(None):
        p = _base(layer, species)
    for name, f in factors.items():
        e = table[name]
        d = p
        for k in e.path[:-1]:
            d = d[k]
        d[e.path[-1]] = float(scale_value(d[e.path[-1]], float(f), e.scale))
    return p


@contextmanager
def overridden(params_by_layer: Mapping[str, dict] | None):
    """Within the block, the layers' parameter getters return ``params_by_layer[layer]`` where given."""
    token = _OVERRIDE.set(params_by_layer)
    try:
        yield
    finally:
        _OVERRIDE.reset(token)


def current_override(layer: str) -> dict | None:
    """The parameters of ``layer`` set by :func:`overridden` around the current call, or None."""
    d = _OVERRIDE.get()
    return None if d is None else d.get(layer)


def overridable(layer: str):
    """Decorator of a layer's parameter getter: inside :func:`overridden` it returns the values set there
    for ``layer``, elsewhere what the getter returns (the shipped values)."""
    def wrap(getter):
        @functools.wraps(getter)
        def get(*args, **kwargs):
            o = current_override(layer)
            return o if o is not None else getter(*args, **kwargs)
        return get
    return wrap

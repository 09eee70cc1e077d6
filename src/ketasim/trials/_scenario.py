"""What the trials need from a scenario, in one place (the scenario format is shared with ``ketasim run``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from ..population import Population, sample_population


def with_n_seed(sc, n: int, seed: int):
    """The scenario with its population size and seed set."""
    if (sc.n, sc.seed) == (n, seed):
        return sc
    if hasattr(sc, "with_overrides"):
        return sc.with_overrides([f"population.n={int(n)}", f"population.seed={int(seed)}"])
    return replace(sc, n=int(n), seed=int(seed))


def with_overrides(sc, sets: Sequence[str]):
    """The scenario with ``a.b=c`` overrides applied (``ketasim run --set``)."""
    if not sets:
        return sc
    if not hasattr(sc, "with_overrides"):
        from ..errors import InputError

        raise InputError("this scenario type does not support field overrides (a.b=c).")
    return sc.with_overrides(list(sets))


def population(sc) -> Population:
    """The scenario's subjects, every random number drawn up front from its seed."""
    try:
        from ..runner import sample_scenario_population
    except ImportError:  # pragma: no cover - older scenario format
        return sample_population(sc.n, np.random.default_rng(sc.seed))
    return sample_scenario_population(sc)


def regimen(arm):
    if hasattr(arm, "to_regimen"):
        return arm.to_regimen()
    from ..regimen_text import parse_regimen

    return parse_regimen(arm.regimen)


def arm_parameters(sc, arm, override: Any):
    if override is not None:
        return override
    p = getattr(arm, "parameters", None)
    if p is not None:
        return p
    return getattr(getattr(sc, "population", None), "parameters", None)


def circuit(sc):
    """The scenario's circuit choice for ``simulate(circuit=)``: None (the best-scoring default) or variant names."""
    c = getattr(getattr(sc, "model", None), "circuit", None)
    return None if c in (None, "", "best") else [x.strip() for x in str(c).split("+")]


def circuit_kw(sc) -> dict:
    """``{"circuit": ...}`` when the scenario chooses a circuit, else ``{}``."""
    c = circuit(sc)
    return {} if c is None else {"circuit": c}


def requested_outputs(sc) -> tuple[str, ...] | None:
    spec = getattr(sc, "outputs", None)
    v = getattr(spec, "variables", None)
    return tuple(v) if v else None


def only_arms(sc, names: Sequence[str]):
    """The scenario with only the named arms (in scenario order)."""
    keep = tuple(a for a in sc.arms if a.name in set(names))
    if len(keep) == len(sc.arms):
        return sc
    if hasattr(sc, "model_copy"):
        return sc.model_copy(update={"arms": keep})
    return replace(sc, arms=keep)


def resolve_arm(sc, key: str) -> str:
    """An arm's name from its name, index or a unique prefix of its name."""
    from ..errors import InputError, suggest

    names = [a.name for a in sc.arms]
    if key in names:
        return key
    if key.isdigit() and int(key) < len(names):
        return names[int(key)]
    pref = [n for n in names if n.startswith(key)]
    if len(pref) == 1:
        return pref[0]
    raise InputError(f"no arm named {key!r}; arms are {', '.join(map(repr, names))} (or an index 0-{len(names) - 1}, "
                     f"or a unique prefix).{suggest(key, names)}")

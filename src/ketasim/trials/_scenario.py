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


def requested_outputs(sc) -> tuple[str, ...] | None:
    spec = getattr(sc, "outputs", None)
    v = getattr(spec, "variables", None)
    return tuple(v) if v else None

"""A scenario's dosing as per-subject regimens, for NONMEM-style data export.

Every arm of the scenario is given to the scenario's sampled subjects (the same draw as
``ketasim run``: :func:`ketasim.runner.sample_scenario_population`); subject ``i`` of arm
``k`` (both from 0) gets the NONMEM ID ``k * n + i + 1``. Doses in mg/kg are written in mg
with the subject's sampled weight.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["scenario_dosing"]


def scenario_dosing(path: str | os.PathLike, n: int | None = None) -> tuple[dict[str, Any], dict[str, float], list[str]]:
    """``(regimens by ID, weights by ID, comment lines)`` for a scenario file.

    ``n`` limits the subjects per arm (the first ``n`` of the scenario's draw).
    """
    from .flagship import load_scenario

    sc = load_scenario(path)
    try:
        from .runner import sample_scenario_population

        pop = sample_scenario_population(sc)
    except ImportError:  # pragma: no cover - older scenario runner
        import numpy as np

        from .population import sample_population

        pop = sample_population(sc.n, np.random.default_rng(sc.seed))
    size = pop.n if n is None else min(int(n), pop.n)
    weights_all = [float(w) for w in pop.covariates["weight"][:size]]
    regimens: dict[str, Any] = {}
    weights: dict[str, float] = {}
    comments = [f"ketasim dosing records of scenario {sc.name!r} ({os.fspath(path)}); TIME h, AMT mg, RATE mg/h",
                f"population: {size} subjects per arm, seed {sc.seed} (the subjects of `ketasim run`)"]
    for k, arm in enumerate(sc.arms):
        reg = arm.to_regimen()
        first = k * size + 1
        comments.append(f"arm {arm.name!r}: ID {first}-{first + size - 1}: {reg.to_text()}")
        for i in range(size):
            sid = str(k * size + i + 1)
            regimens[sid] = reg
            weights[sid] = weights_all[i]
    return regimens, weights, comments

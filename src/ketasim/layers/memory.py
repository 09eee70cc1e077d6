"""Acute memory impairment: the fraction of NMDA-dependent plasticity blocked.

Encoding of new memories needs NMDA-receptor-dependent plasticity; ketamine impairs
the encoding of material learned during the infusion, not its retrieval (Hetem et
al. 2000), dose-dependently (Morgan et al. 2004, 0.4 vs 0.8 mg/kg). Plasticity
induction depends on calcium entry through unblocked NMDA channels; with ``n``
independent channels needed per induction event (cooperativity)::

    memory_impairment = 1 - (1 - occupancy_NMDA)^n_coop          0..1

With ``n_coop = 1`` (the default, no data to set it) it equals the occupancy.
Monotonic in dose and bounded by construction. The chronic cognitive burden of
frequent users is a separate, slow layer (harms). Parameters and sources:
``data/outcomes/memory.yaml``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Mapping

import numpy as np
import yaml

from ..outcome_parameters import overridable

__all__ = ["OUTPUTS", "INPUTS", "memory_parameters", "run"]

OUTPUTS: dict[str, tuple[str, str]] = {
    "memory_impairment": ("1", "acute fraction of NMDA-dependent plasticity (memory encoding) blocked"),
}
INPUTS: tuple[str, ...] = ("occupancy_NMDA",)


@overridable("memory")
@lru_cache(maxsize=1)
def memory_parameters() -> dict:
    """Memory parameters (values only) from ``memory.yaml`` (scaled ones inside
    :func:`ketasim.outcome_parameters.overridden`)."""
    raw = yaml.safe_load((resources.files("ketasim") / "data" / "outcomes" / "memory.yaml").read_text())
    return {k: float(v["value"]) for k, v in raw.items()}


def run(times: np.ndarray, inputs: Mapping[str, np.ndarray], subjects, wanted, **_) -> dict[str, np.ndarray]:
    """Layer interface: ``memory_impairment`` (n, len(times)).

    Examples
    --------
    >>> run(np.zeros(2), {"occupancy_NMDA": np.array([[0.0, 0.3]])}, None, ["memory_impairment"])["memory_impairment"]
    array([[0. , 0.3]])
    """
    if "memory_impairment" not in wanted:
        return {}
    occ = np.clip(np.asarray(inputs["occupancy_NMDA"], float), 0.0, 1.0)
    return {"memory_impairment": -np.expm1(memory_parameters()["n_coop"] * np.log1p(-occ))}

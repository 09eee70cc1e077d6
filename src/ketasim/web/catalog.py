"""What the package offers, read from the package itself: variables, parameter sets, hypotheses, examples.

Output variables are found, not listed here: every ``*_OUTPUTS`` table
(``name -> (units, meaning)``) of the layer modules and of every ketasim module that
:func:`ketasim.simulate` imports. A layer that adds outcome variables appears in
``GET /api/variables`` and on the dashboard without a change to the web package.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
import tomllib
from functools import lru_cache
from typing import Any

__all__ = ["variables", "parameter_sets", "parameter_set", "hypotheses", "examples", "example", "ui_group"]

_GROUPS = {"pk": "concentration", "receptors": "occupancy", "circuit": "circuit", "dopamine": "dopamine"}


def ui_group(layer: str, name: str) -> str:
    """Which dashboard panel a variable belongs to: concentration, occupancy, circuit, dopamine or outcome."""
    if layer in _GROUPS:
        return _GROUPS[layer]
    if name.startswith(("C_", "A_")):
        return "concentration"
    return "outcome"


def _output_tables() -> list[tuple[str, dict]]:
    import ketasim.layers as layers
    import ketasim.simulate  # noqa: F401  (imports whatever simulate() uses)

    mods = []
    for info in sorted(pkgutil.iter_modules(layers.__path__), key=lambda i: i.name):
        try:
            mods.append(importlib.import_module(f"ketasim.layers.{info.name}"))
        except Exception as exc:  # noqa: BLE001 - a broken layer must not take the catalogue down
            logging.getLogger("ketasim.web").warning("layer module %s not importable: %s", info.name, exc)
    mods += [m for n, m in sorted(sys.modules.items())
             if n.startswith("ketasim.") and not n.startswith(("ketasim.layers.", "ketasim.web")) and m is not None]
    out = []
    for m in mods:
        for attr in sorted(vars(m)):
            table = getattr(m, attr)
            if attr.endswith("_OUTPUTS") and isinstance(table, dict) and table and all(
                    isinstance(k, str) and isinstance(v, tuple) and len(v) == 2 for k, v in table.items()):
                out.append((m.__name__.rsplit(".", 1)[-1], table))
    return out


def _defaults() -> set[str]:
    out: set[str] = set()
    for mod, attr in (("ketasim.layers.pk", "DEFAULT_PK_OUTPUTS"), ("ketasim.pd_chain", "DEFAULT_PD_OUTPUTS")):
        try:
            out.update(getattr(importlib.import_module(mod), attr))
        except (ImportError, AttributeError):
            pass
    return out


@lru_cache(maxsize=1)
def variables() -> tuple[dict[str, Any], ...]:
    """Every output variable: name, units, meaning, layer (module), dashboard group, simulated by default."""
    layer_of = {"pk": "pk", "receptors": "receptors", "circuit": "circuit", "dopamine": "dopamine"}
    seen: dict[str, dict[str, Any]] = {}
    defaults = _defaults()
    for module, table in _output_tables():
        for name, (units, meaning) in table.items():
            if name in seen:
                continue
            layer = layer_of.get(module, module)
            seen[name] = {"name": name, "units": units, "meaning": meaning, "layer": layer,
                          "group": ui_group(layer, name), "default": name in defaults}
    return tuple(seen.values())


@lru_cache(maxsize=1)
def parameter_sets() -> tuple[dict[str, Any], ...]:
    from ..parameters import get_parameter_set, list_parameter_sets

    return tuple(_plain(get_parameter_set(s).summary()) for s in list_parameter_sets())


def parameter_set(set_id: str) -> dict[str, Any]:
    """One parameter set in full: every parameter with value, unit, variability, tag and source."""
    from ..parameters import get_parameter_set

    ps = get_parameter_set(set_id)
    return _plain({**ps.summary(), "parameters": [
        {"name": n, "value": p.value, "unit": p.kind, "per_kg": p.per_kg, "iiv_sd": p.iiv, "tag": p.tag,
         "source": p.source, "note": p.note, "as_published": p.original} for n, p in ps.params.items()],
        "notes": list(ps.notes)})


def hypotheses() -> list[dict[str, Any]]:
    """The circuit hypotheses a scenario may choose (``model.circuit``)."""
    from ..layers.circuit import VARIANTS

    doc = {
        "best": "the best-scoring combination of `ketasim hypotheses` (the default)",
        "trn_disinhibition": "NMDA block on thalamic reticular GABA neurons releases the thalamic relay (the review's hypothesis)",
        "cortical_disinhibition": "NMDA block on prefrontal PV interneurons disinhibits pyramidal cells projecting to VTA",
        "vta_local": "NMDA block on VTA GABA interneurons and on DA neurons themselves",
        "opioid": "S-ketamine's mu/kappa activity as an added reinforcement source",
    }
    return [{"id": v, "description": doc.get(v, "")} for v in ("best", *VARIANTS)]


def examples() -> list[dict[str, Any]]:
    """Shipped example scenarios: name, description, the document, and whether it can run over HTTP."""
    from ..scenario import example_text, list_examples

    out = []
    for name, desc in list_examples():
        doc = tomllib.loads(example_text(name))
        web = "arms" in doc and not any("nonmem" in a for a in doc.get("arms", []))
        out.append({"name": name, "description": desc, "runs_over_http": web, "scenario": doc})
    return out


def example(name: str) -> dict[str, Any]:
    from ..errors import unknown

    ex = {e["name"]: e for e in examples()}
    if name not in ex:
        raise unknown("example", name, list(ex))
    return ex[name]


def _plain(x: Any) -> Any:
    """Tuples and numpy scalars to JSON types."""
    import numpy as np

    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and x != x:
        return None
    return x

"""Ground floor for the layers' parameter files: read a shipped YAML file, strip it to its values.

Layer parameter files hold one ``{value, unit, tag, source}`` mapping per parameter, possibly
grouped in blocks (docs/model.md); the layers compute with the floats only.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

__all__ = ["load_yaml", "values"]


def load_yaml(*parts: str) -> Any:
    """The parsed YAML file ``ketasim/data/<parts...>`` shipped with the package."""
    path = resources.files("ketasim").joinpath("data", *parts)
    return yaml.safe_load(path.read_text())


def values(d: dict) -> dict:
    """Strip a mapping of ``{value, unit, tag, source}`` entries (and blocks of them) down to floats.

    Examples
    --------
    >>> values({"EC50": {"value": 150, "unit": "ng/mL"}, "tolerance": {"f_tol": {"value": 0.5}}, "note": "x"})
    {'EC50': 150.0, 'tolerance': {'f_tol': 0.5}}
    """
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and "value" in v:
            out[k] = float(v["value"])
        elif isinstance(v, dict):
            out[k] = values(v)
    return out

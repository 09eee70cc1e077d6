"""Provenance of a run: every parameter of every parameter set used, and of every layer beyond PK.

Stored as JSON in the results' attributes (``provenance``, ``provenance_layers``) and shown in
the report's appendix.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

from .parameters import ParameterSet

__all__ = ["parameter_set_provenance", "layer_provenance"]


def _unit(p) -> str:
    base = {"volume": "L", "flow": "L/h", "rate": "1/h", "time": "h", "amount": "mg",
            "concentration": "ng/mL", "dimensionless": "fraction"}.get(p.kind, p.unit)
    return base + ("/kg" if p.per_kg else "")


def parameter_set_provenance(sets: Mapping[str, ParameterSet], routes_by_set: Mapping[str, set[str]]) -> list[dict[str, Any]]:
    """Every parameter (value, unit, as published, IIV, tag, source) and every route used, per set."""
    out = []
    for sid, ps in sets.items():
        params = [{
            "name": p.name, "value": float(p.value), "unit": _unit(p), "as_published": p.original,
            "iiv": float(p.iiv), "tag": p.tag, "source": p.source, "note": p.note,
        } for p in ps.params.values()]
        routes = []
        for r in sorted(routes_by_set.get(sid, ())):
            spec = ps.routes.get(r, {})
            routes.append({"route": r, "borrowed": bool(spec.get("borrowed", False)),
                           "source": str(spec.get("source", "") or ("the set's own model" if not spec.get("borrowed") else "")),
                           "note": str(spec.get("note", "") or "")})
        out.append({"id": sid, "title": ps.title, "citation": ps.citation, "doi": ps.doi,
                    "population": ps.population, "notes": list(ps.notes), "parameters": params, "routes": routes})
    return out


def _layer_files(layers: Sequence[str]) -> list[tuple[str, Path]]:
    """(layer, parameter file) pairs: ``data/circuit/<layer>.yaml``, ``data/<layer>.yaml``, then ``data/<layer>/*.yaml``."""
    data = Path(__file__).resolve().parent / "data"
    out: list[tuple[str, Path]] = []
    seen: set[Path] = set()
    passes = ([(ly, [data / "circuit" / f"{ly}.yaml", data / f"{ly}.yaml"]) for ly in layers],
              [(ly, sorted((data / ly).glob("*.yaml")) if (data / ly).is_dir() else []) for ly in layers])
    for one_pass in passes:
        for ly, cands in one_pass:
            for p in cands:
                if p.is_file() and p not in seen:
                    seen.add(p)
                    out.append((ly, p))
    return out


def layer_provenance(layers: Sequence[str]) -> list[dict[str, Any]]:
    """Every sourced entry of the parameter files of the layers beyond PK that ran (path, values, tag, source)."""
    import copy

    return copy.deepcopy(_layer_provenance(tuple(layers)))


@lru_cache(maxsize=64)
def _layer_provenance(layers: tuple[str, ...]) -> list[dict[str, Any]]:
    """Parsed once per set of layers (the package's data files do not change while it runs)."""
    import yaml

    out = []
    for layer, f in _layer_files([ly for ly in layers if ly != "pk"]):
        if True:
            rows: list[dict[str, str]] = []

            def walk(node, path):
                if isinstance(node, Mapping):
                    if "source" in node:
                        vals = {k: v for k, v in node.items() if k not in ("source", "tag", "note", "unit")
                                and isinstance(v, (int, float, str)) and not isinstance(v, bool)}
                        rows.append({"name": ".".join(path),
                                     "value": ", ".join(f"{v}" if k == "value" else f"{k} = {v}" for k, v in vals.items()),
                                     "unit": str(node.get("unit", "")), "tag": str(node.get("tag", "")),
                                     "source": str(node["source"]), "note": str(node.get("note", ""))})
                        return
                    for k, v in node.items():
                        walk(v, path + [str(k)])
                elif isinstance(node, list):
                    for i, v in enumerate(node):
                        walk(v, path + [str(i) if not (isinstance(v, Mapping) and "to" in v and "from" in v)
                                        else f"{v['from']}->{v['to']}"])

            walk(yaml.safe_load(f.read_text(encoding="utf-8")), [])
            if rows:
                out.append({"layer": layer, "file": f"ketasim/data/{f.relative_to(f.parents[1]).as_posix()}"
                            if f.parent.name != "data" else f"ketasim/data/{f.name}", "parameters": rows})
    return out

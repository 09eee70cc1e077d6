"""Scenario text: writing TOML, reading TOML/YAML/JSON with errors that point at the line, ``--set``
overrides, the JSON Schema and the shipped examples. The public names are re-exported by
:mod:`ketasim.scenario`.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Mapping, Sequence

from pydantic import BaseModel, ValidationError

from .errors import suggest
from .scenario import _EXAMPLES_DIR, Scenario, ScenarioError

__all__ = ["load", "loads", "dumps", "to_dict", "apply_overrides", "json_schema", "list_examples", "example_text",
           "example_path", "load_example", "validate_document"]


# ---------------------------------------------------------------------------
# dumping
# ---------------------------------------------------------------------------
def to_dict(sc: Scenario) -> dict[str, Any]:
    """The fields that were given (after validation), as plain TOML/JSON data."""
    return _plain(sc.model_dump(mode="json", exclude_unset=True, exclude_none=True))


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, BaseModel):
        return _plain(x.model_dump(mode="json", exclude_unset=True, exclude_none=True))
    return x


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # JSON strings are TOML basic strings
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def dumps(sc: Scenario | Mapping[str, Any]) -> str:
    """The scenario in the scenario-file format (TOML)."""
    doc = to_dict(sc) if isinstance(sc, Scenario) else dict(sc)
    lines: list[str] = []
    tables, arrays = [], []
    for k, v in doc.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            arrays.append((k, v))
        else:
            lines.append(f"{_key(k)} = {_toml_value(v)}")
    for k, v in tables:
        lines += ["", f"[{_key(k)}]"] + [f"{_key(a)} = {_toml_value(b)}" for a, b in v.items()]
    for k, v in arrays:
        for item in v:
            lines += ["", f"[[{_key(k)}]]"] + [f"{_key(a)} = {_toml_value(b)}" for a, b in item.items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# loading, with errors that point at the line
# ---------------------------------------------------------------------------
def _toml_lines(text: str) -> dict[tuple, int]:
    """Map key paths of a TOML document to 1-based line numbers (tables, array tables, keys)."""
    out: dict[tuple, int] = {}
    counts: dict[tuple, int] = {}
    table: tuple = ()
    for i, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^\[\[\s*([^\]]+?)\s*\]\]", line)
        if m:
            path = tuple(p.strip().strip('"') for p in m.group(1).split("."))
            k = counts.get(path, 0)
            counts[path] = k + 1
            table = path + (k,)
            out.setdefault(table, i)
            out.setdefault(path, i)
            continue
        m = re.match(r"^\[\s*([^\]]+?)\s*\]", line)
        if m:
            table = tuple(p.strip().strip('"') for p in m.group(1).split("."))
            out.setdefault(table, i)
            continue
        m = re.match(r'^("[^"]*"|[A-Za-z0-9_.\-]+)\s*=', line)
        if m:
            key = tuple(p.strip().strip('"') for p in m.group(1).split("."))
            out.setdefault(table + key, i)
    return out


def _yaml_lines(text: str) -> dict[tuple, int]:
    import yaml

    out: dict[tuple, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return out

    def walk(node, path):
        out.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for kn, vn in node.value:
                out[path + (str(kn.value),)] = kn.start_mark.line + 1
                walk(vn, path + (str(kn.value),))
                out[path + (str(kn.value),)] = kn.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for j, vn in enumerate(node.value):
                walk(vn, path + (j,))

    if root is not None:
        walk(root, ())
    return out


def _line_of(lines: Mapping[tuple, int] | None, loc: tuple) -> int | None:
    if not lines:
        return None
    for k in range(len(loc), 0, -1):
        if loc[:k] in lines:
            return lines[loc[:k]]
    return None


def _loc_text(loc: tuple) -> str:
    s = ""
    for p in loc:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else str(p))
    return s or "(top level)"


def _model_at(loc: tuple) -> type[BaseModel] | None:
    m: Any = Scenario
    for p in loc:
        if isinstance(p, int):
            continue
        f = m.model_fields.get(p) if isinstance(m, type) and issubclass(m, BaseModel) else None
        if f is None:
            return None
        ann = f.annotation
        for cand in (ann, *getattr(ann, "__args__", ())):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                m = cand
                break
            inner = getattr(cand, "__args__", ())
            hit = next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)), None)
            if hit is not None:
                m = hit
                break
        else:
            return None
    return m if isinstance(m, type) and issubclass(m, BaseModel) else None


_HINTS = {
    ("name",): 'give the scenario a name, e.g. name = "benefit-risk"',
    ("arms",): 'add at least one [[arms]] table with regimen = "..."',
}


_FIELD_OF = {"grid": "step", "names": "arms"}


def _describe(e: Mapping[str, Any]) -> tuple[tuple, str]:
    loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    typ, inp = e["type"], e.get("input")
    if typ == "missing":
        hint = _HINTS.get(loc, "")
        return loc, f"is missing{'; ' + hint if hint else ''}"
    if typ == "extra_forbidden":
        parent = _model_at(loc[:-1])
        allowed = sorted(parent.model_fields) if parent is not None else []
        return loc, (f"is not a scenario field; allowed here: {', '.join(allowed)}.{suggest(str(loc[-1]), allowed)}"
                     " (scenario files hold data only, never code)")
    if typ == "literal_error":
        return loc, f"must be {e['ctx']['expected']}; got {inp!r}"
    if typ in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        op = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}[typ]
        bound = next(iter(e.get("ctx", {}).values()), "")
        return loc, f"must be {op} {bound}; got {inp!r}"
    if typ in ("too_short",) and loc == ("arms",):
        return loc, "must list at least one arm; got none. Add an [[arms]] table with regimen = \"...\""
    if typ in ("int_parsing", "int_type", "int_from_float"):
        return loc, f"must be a whole number; got {inp!r}"
    if typ in ("float_parsing", "float_type"):
        return loc, f"must be a number; got {inp!r}"
    if typ in ("string_type",):
        return loc, f"must be text (a string); got {inp!r}"
    if typ in ("bool_parsing", "bool_type"):
        return loc, f"must be true or false; got {inp!r}"
    if typ in ("model_type", "model_attributes_type", "dict_type"):
        return loc, f"must be a table; got {inp!r}"
    if typ in ("tuple_type", "list_type"):
        return loc, f"must be an array; got {inp!r}"
    if typ == "string_too_short":
        return loc, "must be non-empty text"
    parent = _model_at(loc)
    field = _FIELD_OF.get(typ, typ)
    if parent is not None and field in parent.model_fields:
        loc = loc + (field,)
    msg = str(e["msg"])
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return loc, msg


def validate_document(doc: Any, where: str = "scenario", lines: Mapping[tuple, int] | None = None,
                      base_dir: str | None = None) -> Scenario:
    """Validate scenario data (a dict); errors name ``where``, the line (given ``lines``) and the field."""
    if not isinstance(doc, Mapping):
        raise ScenarioError(f"{where}: the top level must be a table of fields (name, end, step, population, "
                            f"arms ...); got {type(doc).__name__}.")
    try:
        return Scenario.model_validate(dict(doc), context={"base_dir": base_dir})
    except ValidationError as exc:
        msgs = []
        seen = set()
        errors = exc.errors(include_url=False)
        item_errors = any(len(e["loc"]) > 1 and e["loc"][0] == "arms" for e in errors)
        for e in errors:
            if item_errors and tuple(e["loc"]) == ("arms",) and e["type"] == "too_short":
                continue
            loc, text = _describe(e)
            key = (loc, text)
            if key in seen:
                continue
            seen.add(key)
            line = _line_of(lines, loc)
            at = f", line {line}" if line else ""
            text = text if text.endswith((".", "?")) else text + "."
            msgs.append(f"{where}{at}, {_loc_text(loc)}: {text}")
        raise ScenarioError("\n".join(msgs)) from None


def _parse_text(text: str, fmt: str, where: str) -> tuple[Any, dict[tuple, int]]:
    if fmt == "toml":
        try:
            return tomllib.loads(text), _toml_lines(text)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{where}: not valid TOML: {exc}.") from None
    if fmt == "yaml":
        import yaml

        try:
            return yaml.safe_load(text), _yaml_lines(text)  # safe_load: no tags, no objects, no code
        except yaml.YAMLError as exc:
            raise ScenarioError(f"{where}: not valid YAML: {exc}.".replace("\n", " ")) from None
    if fmt == "json":
        try:
            return json.loads(text), {}
        except json.JSONDecodeError as exc:
            raise ScenarioError(f"{where}, line {exc.lineno}: not valid JSON: {exc.msg}.") from None
    raise ScenarioError(f"{where}: format must be 'toml', 'yaml' or 'json'; got {fmt!r}.")


def _format_of(path: Path) -> str:
    ext = path.suffix.lower()
    fmts = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}
    if ext not in fmts:
        raise ScenarioError(f"scenario file {str(path)!r} must end in .toml, .yaml, .yml or .json; got {ext or 'no suffix'!r}.")
    return fmts[ext]


def loads(text: str, format: str = "toml", *, where: str = "scenario", overrides: Sequence[str] = (),
          base_dir: str | os.PathLike | None = None) -> Scenario:
    """Validate scenario text (TOML, YAML or JSON), with ``--set`` style overrides applied."""
    doc, lines = _parse_text(text, format, where)
    if overrides:
        doc = apply_overrides(doc, overrides)
    return validate_document(doc, where, lines, None if base_dir is None else str(base_dir))


def load(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Scenario:
    """Load and validate a scenario file (``.toml``, ``.yaml``/``.yml`` or ``.json``)."""
    p = Path(path)
    fmt = _format_of(p)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"scenario file {str(p)!r} does not exist.") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"scenario file {str(p)!r} cannot be read: {exc}.") from None
    return loads(text, fmt, where=str(p), overrides=overrides, base_dir=p.parent)


# ---------------------------------------------------------------------------
# --set overrides
# ---------------------------------------------------------------------------
def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(doc: Mapping[str, Any], sets: Sequence[str]) -> dict[str, Any]:
    """Apply ``a.b=c`` overrides to scenario data (a new dict; values read as TOML values, else text).

    ``arms.<name or index>.<field>`` addresses one arm.

    Examples
    --------
    >>> d = {"name": "x", "arms": [{"name": "a", "regimen": "10 mg iv"}]}
    >>> apply_overrides(d, ["population.n=5", "arms.a.dose=20 mg"])["arms"][0]["dose"]
    '20 mg'
    """
    import copy

    out = copy.deepcopy(dict(doc))
    for s in sets:
        if "=" not in s:
            raise ScenarioError(f"--set must be PATH=VALUE such as population.n=5000; got {s!r}.")
        path, value = s.split("=", 1)
        keys = [k.strip() for k in path.strip().split(".")]
        if not all(keys):
            raise ScenarioError(f"--set path must be dotted field names such as population.n; got {path!r}.")
        node: Any = out
        for j, k in enumerate(keys[:-1]):
            here = ".".join(keys[: j + 1])
            if isinstance(node, list):
                node = _pick_arm(node, k, here)
                continue
            if k not in node:
                node[k] = {}
            if not isinstance(node[k], (dict, list)):
                raise ScenarioError(f"--set {s}: {here} is a value ({node[k]!r}), not a table.")
            node = node[k]
        last = keys[-1]
        if isinstance(node, list):
            raise ScenarioError(f"--set {s}: {'.'.join(keys)} names an arm; set one of its fields, "
                                f"e.g. {'.'.join(keys)}.regimen=...")
        node[last] = _parse_value(value.strip())
    return out


def _pick_arm(arms: list, key: str, here: str) -> dict:
    if key.isdigit():
        i = int(key)
        if i >= len(arms):
            raise ScenarioError(f"--set: {here}: there are {len(arms)} arms (indices 0-{len(arms) - 1}); got {i}.")
        return arms[i]
    names = [str(a.get("name", a.get("regimen", a.get("nonmem", "")))) if isinstance(a, Mapping) else "" for a in arms]
    if key not in names:
        raise ScenarioError(f"--set: {here}: no arm named {key!r}; arms are {', '.join(map(repr, names))} "
                            f"(or use an index 0-{len(arms) - 1}).{suggest(key, names)}")
    return arms[names.index(key)]


# ---------------------------------------------------------------------------
# schema and examples
# ---------------------------------------------------------------------------
def json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario format (for editors and the web API)."""
    s = Scenario.model_json_schema()
    s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    s["title"] = "ketasim scenario"
    return s


def list_examples() -> list[tuple[str, str]]:
    """The example scenarios shipped with the package: ``[(name, one-line description)]``."""
    out = []
    for p in sorted(_EXAMPLES_DIR.glob("*.toml")):
        with open(p, "rb") as fh:
            doc = tomllib.load(fh)
        out.append((p.stem, str(doc.get("description", "")).split(". ")[0]))
    return out


def example_path(name: str) -> Path:
    """Path of a shipped example scenario."""
    names = [n for n, _ in list_examples()]
    if name not in names:
        raise ScenarioError(f"example must be one of {', '.join(map(repr, names))}; got {name!r}.{suggest(name, names)}")
    return _EXAMPLES_DIR / f"{name}.toml"


def example_text(name: str) -> str:
    """The text of a shipped example scenario."""
    return example_path(name).read_text(encoding="utf-8")


def load_example(name: str, overrides: Sequence[str] = ()) -> Scenario:
    """Load a shipped example scenario by name (``ketasim examples`` lists them)."""
    return load(example_path(name), overrides)

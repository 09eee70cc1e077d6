"""Parameter sets: published pharmacokinetic models as data, with their sources.

Each set is one YAML file in ``ketasim/data/parameters/``. A file reads like the
methods section of the paper it comes from: one entry per parameter with value,
unit, variability, covariate effects, citation and provenance tag, followed by
the model structure (compartments, first-order flows, and how each route puts a
dose in). Units are checked and converted to the canonical units (L, L/h, 1/h,
h, fraction) once, on load; values given per kg (``L/kg``, ``mL/min/kg``) are
multiplied by body weight when a subject is built.

Provenance tags (from the reference tables): V primary source, C transcribed
from public model code, S secondary source, D derived by arithmetic, U
unverified, A a modelling assumption of ketasim's (the ``note`` says why).

See ``docs/model.md`` for the schema and every set's equations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import yaml

from .errors import ParameterSetError, unknown
from .units import ureg

__all__ = [
    "Param",
    "Covariate",
    "ParameterSet",
    "ETA_ROLES",
    "list_parameter_sets",
    "get_parameter_set",
    "load_parameter_set",
    "route_library",
]

#: Names of the inter-individual random effects a population carries. A
#: parameter with variability draws its standard-normal deviate from the column
#: of its role (by default its own name), so one population can be simulated
#: under any parameter set and a subject keeps "its" clearance deviate.
ETA_ROLES: tuple[str, ...] = (
    "CL", "V1", "Q2", "V2", "Q3", "V3", "ka", "F", "ke0", "lag", "D",
    "CLm", "Vm", "Qm", "Vm2", "CLm2", "Vm3", "Qm2", "Vm4",
    "Qh", "Vh", "kel", "kmet", "FRn", "ka2", "F2", "MTT", "MTT2",
)
_ROLE_INDEX = {r: i for i, r in enumerate(ETA_ROLES)}

#: Canonical unit for each kind of parameter.
_KINDS = (
    ("volume", "L"),
    ("flow", "L/h"),
    ("rate", "1/h"),
    ("time", "h"),
    ("amount", "mg"),
    ("concentration", "ng/mL"),
)

COVARIATE_NAMES = ("weight", "age", "sex", "asian", "japanese", "cyp2b6")


def _convert(value: float, unit: str, where: str) -> tuple[float, str, bool]:
    """Return (value in canonical unit, kind, per_kg)."""
    u = (unit or "").strip()
    per_kg = False
    for suffix in ("/kg", "/ kg"):
        if u.endswith(suffix):
            u, per_kg = u[: -len(suffix)], True
    if "/kg/" in u:
        u, per_kg = u.replace("/kg/", "/"), True
    if u in ("", "fraction", "1", "ratio", "multiplier", "exponent"):
        return float(value), "dimensionless", per_kg
    if u in ("%", "percent"):
        return float(value) / 100.0, "dimensionless", per_kg
    try:
        q = ureg.Quantity(float(value), u)
    except Exception:
        raise ParameterSetError(f"{where}: unit {unit!r} is not a unit pint understands.") from None
    for kind, canon in _KINDS:
        if q.check(canon):
            return float(q.to(canon).magnitude), kind, per_kg
    raise ParameterSetError(
        f"{where}: unit {unit!r} is not a volume, flow, rate, time, amount or concentration."
    )


@dataclass(frozen=True, slots=True)
class Covariate:
    """One covariate effect on a parameter.

    ``kind`` is ``power`` (``(cov/reference)**exponent``), ``above``
    (``+ slope * max(0, cov - threshold)``, in the parameter's canonical unit),
    ``flag`` (multiplier when a boolean covariate is true) or ``categories``
    (multiplier by category, e.g. sex or CYP2B6 phenotype).
    """

    on: str
    kind: str
    exponent: float = 0.0
    reference: float = 1.0
    threshold: float = 0.0
    slope: float = 0.0
    multiplier: float = 1.0
    categories: Mapping[str, float] = field(default_factory=dict)
    source: str = ""

    def apply(self, value: np.ndarray, cov: Mapping[str, np.ndarray]) -> np.ndarray:
        x = cov[self.on]
        if self.kind == "power":
            return value * (np.asarray(x, float) / self.reference) ** self.exponent
        if self.kind == "above":
            return value + self.slope * np.maximum(0.0, np.asarray(x, float) - self.threshold)
        if self.kind == "flag":
            return value * np.where(np.asarray(x, bool), self.multiplier, 1.0)
        if self.kind == "categories":
            xs = np.asarray(x)
            mult = np.ones(xs.shape)
            for cat, m in self.categories.items():
                mult = np.where(xs == cat, m, mult)
            return value * mult
        raise AssertionError(self.kind)


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a set, in canonical units.

    ``iiv`` is the standard deviation of the log-normal (or, with
    ``iiv_scale='logit'``, logit-normal) random effect; 0 for none.
    """

    name: str
    value: float
    unit: str
    kind: str
    per_kg: bool = False
    iiv: float = 0.0
    iiv_scale: str = "log"
    eta: str = ""
    covariates: tuple[Covariate, ...] = ()
    elimination: bool = False
    tag: str = ""
    source: str = ""
    note: str = ""
    original: str = ""

    def typical(self, cov: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        v = np.full(n, self.value)
        if self.per_kg:
            v = v * np.asarray(cov["weight"], float)
        for c in self.covariates:
            v = c.apply(v, cov)
        return v


@dataclass(frozen=True)
class ParameterSet:
    """A published PK model: parameters with sources, and its structure.

    Use :func:`get_parameter_set` to load a shipped set by id, or
    :func:`load_parameter_set` for a YAML file of your own.
    """

    id: str
    title: str
    citation: str
    doi: str
    population: str
    species: str
    drug: str
    enantiomers: tuple[str, ...]
    sampling_site: str
    analytes: tuple[str, ...]
    params: Mapping[str, Param]
    compartments: Mapping[str, Mapping[str, Any]]
    flows: tuple[Mapping[str, Any], ...]
    routes: Mapping[str, Mapping[str, Any]]
    iiv_covariance: tuple[tuple[str, str, float], ...] = ()
    stereo_ratio: float = 1.0
    notes: tuple[str, ...] = ()
    age_range: tuple[float, float] = (18.0, 120.0)
    source_file: str = ""

    # -- queries --------------------------------------------------------------
    @property
    def central(self) -> str:
        for name, c in self.compartments.items():
            if c.get("role") == "central":
                return name
        raise ParameterSetError(f"parameter set {self.id!r} has no compartment with role: central")

    def metabolite_central(self, analyte: str) -> str | None:
        for name, c in self.compartments.items():
            if c.get("analyte") == analyte and c.get("role") == "central":
                return name
        return None

    @property
    def own_routes(self) -> tuple[str, ...]:
        return tuple(self.routes)

    def summary(self) -> dict[str, Any]:
        """A short description for listings (``ketasim parameters``)."""
        return {
            "id": self.id,
            "title": self.title,
            "citation": self.citation,
            "population": self.population,
            "species": self.species,
            "drug": self.drug,
            "sampling_site": self.sampling_site,
            "routes": ", ".join(self.own_routes),
            "analytes": ", ".join(self.analytes),
        }

    # -- individual parameters ------------------------------------------------
    def individual(self, cov: Mapping[str, np.ndarray], z: np.ndarray | None) -> dict[str, np.ndarray]:
        """Individual parameter values for N subjects (canonical units).

        Parameters
        ----------
        cov : mapping of covariate name to array (N,)
        z : ndarray (N, len(ETA_ROLES)) of standard-normal deviates, or None
            for typical values.
        """
        n = len(np.asarray(cov["weight"]))
        out = {name: p.typical(cov, n) for name, p in self.params.items()}
        if z is None:
            return out
        eta = self._etas(z)
        for name, p in self.params.items():
            if p.iiv <= 0:
                continue
            e = eta[name]
            if p.iiv_scale == "logit":
                v = np.clip(out[name], 1e-12, 1 - 1e-12)
                lv = np.log(v / (1 - v)) + e
                out[name] = 1.0 / (1.0 + np.exp(-lv))
            else:
                out[name] = out[name] * np.exp(e)
        return out

    def _etas(self, z: np.ndarray) -> dict[str, np.ndarray]:
        names = [n for n, p in self.params.items() if p.iiv > 0]
        if not names:
            return {}
        cols = [_ROLE_INDEX[self.params[n].eta or n] for n in names]
        zz = z[:, cols]
        cov = np.diag([self.params[n].iiv ** 2 for n in names])
        pos = {n: i for i, n in enumerate(names)}
        for a, b, c in self.iiv_covariance:
            cov[pos[a], pos[b]] = cov[pos[b], pos[a]] = c
        L = np.linalg.cholesky(cov)
        e = zz @ L.T
        return {n: e[:, i] for i, n in enumerate(names)}


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------
def _as_float(x: Any, where: str) -> float:
    if isinstance(x, bool):
        raise ParameterSetError(f"{where} must be a number; got {x!r}.")
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ParameterSetError(f"{where} must be a number; got {x!r}.") from None
    if not math.isfinite(v):
        raise ParameterSetError(f"{where} must be finite; got {x!r}.")
    return v


def _covariates(spec: Any, where: str, kind: str) -> tuple[Covariate, ...]:
    out = []
    for i, c in enumerate(spec or ()):
        w = f"{where}.covariates[{i}]"
        if not isinstance(c, dict) or "on" not in c:
            raise ParameterSetError(f"{w} must be a mapping with 'on'; got {c!r}.")
        on = c["on"]
        if on not in COVARIATE_NAMES:
            raise unknown(f"{w}.on", on, COVARIATE_NAMES)
        src = str(c.get("source", ""))
        if "exponent" in c:
            out.append(Covariate(on, "power", exponent=_as_float(c["exponent"], w + ".exponent"),
                                 reference=_as_float(c.get("reference", 70), w + ".reference"), source=src))
        elif "slope" in c:
            slope, skind, _ = _convert(_as_float(c["slope"], w + ".slope"), str(c.get("unit", "")), w)
            out.append(Covariate(on, "above", threshold=_as_float(c.get("above", 0), w + ".above"),
                                 slope=slope, source=src))
        elif "multiplier" in c:
            out.append(Covariate(on, "flag", multiplier=_as_float(c["multiplier"], w + ".multiplier"), source=src))
        elif "categories" in c:
            cats = {str(k): _as_float(v, f"{w}.categories.{k}") for k, v in dict(c["categories"]).items()}
            out.append(Covariate(on, "categories", categories=MappingProxyType(cats), source=src))
        else:
            raise ParameterSetError(f"{w} needs one of exponent, slope, multiplier, categories; got {c!r}.")
    return tuple(out)


def _param(name: str, spec: Any, where: str) -> Param:
    w = f"{where}.parameters.{name}"
    if not isinstance(spec, dict) or "value" not in spec:
        raise ParameterSetError(f"{w} must be a mapping with at least 'value' and 'unit'; got {spec!r}.")
    raw = _as_float(spec["value"], w + ".value")
    unit = str(spec.get("unit", ""))
    value, kind, per_kg = _convert(raw, unit, w)
    iiv, scale = 0.0, "log"
    iv = spec.get("iiv")
    if iv is not None:
        if not isinstance(iv, dict):
            raise ParameterSetError(f"{w}.iiv must be a mapping (cv_percent | omega2 | logit_sd); got {iv!r}.")
        if "cv_percent" in iv:
            cv = _as_float(iv["cv_percent"], w + ".iiv.cv_percent") / 100.0
            iiv = math.sqrt(math.log1p(cv * cv))
        elif "omega2" in iv:
            iiv = math.sqrt(_as_float(iv["omega2"], w + ".iiv.omega2"))
        elif "logit_sd" in iv:
            iiv, scale = _as_float(iv["logit_sd"], w + ".iiv.logit_sd"), "logit"
        else:
            raise ParameterSetError(f"{w}.iiv needs cv_percent, omega2 or logit_sd; got {iv!r}.")
    eta = str(spec.get("eta", name if iiv > 0 else ""))
    if iiv > 0 and eta not in _ROLE_INDEX:
        raise ParameterSetError(
            f"{w}.eta must name a population random-effect role ({', '.join(ETA_ROLES)}); got {eta!r}. "
            "Add eta: <role> to the parameter."
        )
    return Param(
        name=name, value=value, unit=unit, kind=kind, per_kg=per_kg, iiv=iiv, iiv_scale=scale, eta=eta,
        covariates=_covariates(spec.get("covariates"), w, kind), elimination=bool(spec.get("elimination", False)),
        tag=str(spec.get("tag", "")), source=str(spec.get("source", "")), note=str(spec.get("note", "")),
        original=f"{spec['value']} {unit}".strip(),
    )


_FLOW_KEYS = {"from", "to", "rate", "clearance", "mean_time", "fraction", "fraction_complement", "molar"}


def _check_ref(ps_params: Mapping[str, Param], name: Any, w: str, allow_number: bool = False) -> None:
    if allow_number and isinstance(name, (int, float)) and not isinstance(name, bool):
        return
    if name not in ps_params:
        raise ParameterSetError(f"{w} refers to parameter {name!r}, which the set does not define."
                                f" Defined: {', '.join(ps_params)}.")


def parse_parameter_set(doc: Mapping[str, Any], source_file: str = "") -> ParameterSet:
    """Build a :class:`ParameterSet` from a parsed YAML document, validating it."""
    if not isinstance(doc, dict):
        raise ParameterSetError(f"{source_file or 'parameter set'}: top level must be a mapping.")
    sid = str(doc.get("id", "")).strip()
    where = sid or source_file or "parameter set"
    for key in ("id", "citation", "parameters", "compartments", "flows", "routes"):
        if key not in doc:
            raise ParameterSetError(f"{where}: missing required key {key!r}.")
    params = {str(k): _param(str(k), v, where) for k, v in dict(doc["parameters"]).items()}
    comps = {}
    for cname, c in dict(doc["compartments"]).items():
        w = f"{where}.compartments.{cname}"
        if not isinstance(c, dict) or "analyte" not in c:
            raise ParameterSetError(f"{w} must be a mapping with 'analyte'; got {c!r}.")
        if c["analyte"] not in ("ketamine", "norketamine", "hnk", "dhnk"):
            raise unknown(f"{w}.analyte", c["analyte"], ("ketamine", "norketamine", "hnk", "dhnk"))
        if "volume" in c:
            _check_ref(params, c["volume"], w + ".volume")
        comps[str(cname)] = MappingProxyType(dict(c))
    names = set(comps) | {"out"}
    flows = []
    for i, f in enumerate(doc["flows"]):
        w = f"{where}.flows[{i}]"
        if not isinstance(f, dict):
            raise ParameterSetError(f"{w} must be a mapping; got {f!r}.")
        extra = set(f) - _FLOW_KEYS
        if extra:
            raise ParameterSetError(f"{w} has unknown keys {sorted(extra)}; allowed: {sorted(_FLOW_KEYS)}.")
        for end in ("from", "to"):
            if f.get(end) not in names:
                raise unknown(f"{w}.{end}", f.get(end), sorted(names))
        given = [k for k in ("rate", "clearance", "mean_time") if k in f]
        if len(given) != 1:
            raise ParameterSetError(
                f"{w} needs exactly one of 'rate' (1/h), 'clearance' (L/h) or 'mean_time' (h); got {dict(f)!r}."
            )
        _check_ref(params, f[given[0]], w)
        if "clearance" in f and "volume" not in comps[f["from"]]:
            raise ParameterSetError(f"{w}: a clearance flow needs a volume on compartment {f['from']!r}.")
        for k in ("fraction", "fraction_complement"):
            if k in f:
                _check_ref(params, f[k], f"{w}.{k}", allow_number=True)
        flows.append(MappingProxyType(dict(f)))
    routes = {}
    for rname, r in dict(doc["routes"]).items():
        w = f"{where}.routes.{rname}"
        routes[str(rname)] = _route(r, w, params, names)
    cov = []
    for i, item in enumerate(doc.get("iiv_covariance", ()) or ()):
        w = f"{where}.iiv_covariance[{i}]"
        if not (isinstance(item, (list, tuple)) and len(item) == 3):
            raise ParameterSetError(f"{w} must be [param_a, param_b, covariance]; got {item!r}.")
        a, b, c = item
        for p in (a, b):
            _check_ref(params, p, w)
            if params[p].iiv <= 0:
                raise ParameterSetError(f"{w}: {p!r} has no iiv, so it cannot have a covariance.")
        cov.append((str(a), str(b), _as_float(c, w)))
    central = [n for n, c in comps.items() if c.get("role") == "central" and c["analyte"] == "ketamine"]
    if len(central) != 1:
        raise ParameterSetError(f"{where}: exactly one ketamine compartment must have role: central; got {central}.")
    ens = tuple(doc.get("enantiomers", ["racemic"]))
    for e in ens:
        if e not in ("racemic", "S", "R"):
            raise unknown(f"{where}.enantiomers", e, ("racemic", "S", "R"))
    ps = ParameterSet(
        id=sid, title=str(doc.get("title", sid)), citation=str(doc["citation"]), doi=str(doc.get("doi", "")),
        population=str(doc.get("population", "")), species=str(doc.get("species", "human")),
        drug=str(doc.get("drug", "racemic")), enantiomers=ens,
        sampling_site=str(doc.get("sampling_site", "unknown")),
        analytes=tuple(sorted({c["analyte"] for c in comps.values()}, key=["ketamine", "norketamine", "hnk", "dhnk"].index)),
        params=MappingProxyType(params), compartments=MappingProxyType(comps), flows=tuple(flows),
        routes=MappingProxyType(routes), iiv_covariance=tuple(cov),
        stereo_ratio=_as_float(doc.get("stereo_ratio", 1.0), f"{where}.stereo_ratio"),
        notes=tuple(str(x) for x in doc.get("notes", ()) or ()),
        age_range=tuple(float(x) for x in doc.get("age_range", (18, 120))),  # type: ignore[arg-type]
        source_file=source_file,
    )
    return ps


_ROUTE_KEYS = {"inputs", "lag", "device_mg", "device_interval_min", "note", "source", "borrowed",
               "compartments", "flows", "parameters"}
_INPUT_KEYS = {"to", "fraction", "fraction_complement", "duration", "later_device_multiplier"}


def _route(r: Any, w: str, params: Mapping[str, Param], names: set[str]) -> Mapping[str, Any]:
    if not isinstance(r, dict) or "inputs" not in r:
        raise ParameterSetError(f"{w} must be a mapping with 'inputs'; got {r!r}.")
    extra = set(r) - _ROUTE_KEYS
    if extra:
        raise ParameterSetError(f"{w} has unknown keys {sorted(extra)}; allowed: {sorted(_ROUTE_KEYS)}.")
    for i, inp in enumerate(r["inputs"]):
        wi = f"{w}.inputs[{i}]"
        if not isinstance(inp, dict) or "to" not in inp:
            raise ParameterSetError(f"{wi} must be a mapping with 'to'; got {inp!r}.")
        extra = set(inp) - _INPUT_KEYS
        if extra:
            raise ParameterSetError(f"{wi} has unknown keys {sorted(extra)}; allowed: {sorted(_INPUT_KEYS)}.")
        if inp["to"] not in names - {"out"}:
            raise unknown(f"{wi}.to", inp["to"], sorted(names - {"out"}))
        for k in ("fraction", "fraction_complement", "duration", "later_device_multiplier"):
            if k in inp:
                _check_ref(params, inp[k], f"{wi}.{k}", allow_number=True)
    if "lag" in r:
        _check_ref(params, r["lag"], f"{w}.lag", allow_number=True)
    return MappingProxyType(dict(r))


def _merge_route_module(doc: dict, module: Mapping[str, Any], route: str) -> None:
    """Add a borrowed absorption module (route library) to a parameter-set document."""
    central = [n for n, c in doc["compartments"].items() if c.get("role") == "central" and c.get("analyte") == "ketamine"]
    nk = [n for n, c in doc["compartments"].items() if c.get("role") == "central" and c.get("analyte") == "norketamine"]

    def sub(x: Any) -> Any:
        if x == "$central":
            return central[0]
        if x == "$nk_central":
            return nk[0] if nk else "out"
        return x

    for pname, p in (module.get("parameters") or {}).items():
        if pname in doc["parameters"]:
            continue  # the set's own value wins
        doc["parameters"][pname] = dict(p)
    for cname, c in (module.get("compartments") or {}).items():
        doc["compartments"].setdefault(cname, dict(c))
    for f in module.get("flows") or ():
        doc["flows"].append({k: sub(v) for k, v in f.items()})
    r = {k: v for k, v in module.items() if k not in ("parameters", "compartments", "flows", "drugs", "species")}
    r["inputs"] = [{k: sub(v) for k, v in inp.items()} for inp in module["inputs"]]
    doc["routes"][route] = r


# ---------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------
def _data_dir() -> Path:
    return Path(str(resources.files("ketasim") / "data" / "parameters"))


@lru_cache(maxsize=None)
def _raw_docs() -> dict[str, tuple[dict, str]]:
    docs = {}
    for path in sorted(_data_dir().glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
        docs[str(doc["id"])] = (doc, path.name)
    return docs


@lru_cache(maxsize=None)
def route_library() -> Mapping[str, Any]:
    """The shared absorption modules used by sets that lack a route (``_routes.yaml``)."""
    with open(_data_dir() / "_routes.yaml", encoding="utf-8") as fh:
        return MappingProxyType(yaml.safe_load(fh))


@lru_cache(maxsize=None)
def metabolite_library() -> Mapping[str, Any]:
    """Shared metabolite-disposition modules for sets without their own (``_metabolites.yaml``)."""
    with open(_data_dir() / "_metabolites.yaml", encoding="utf-8") as fh:
        return MappingProxyType(yaml.safe_load(fh))


def _merge_metabolites(doc: dict, module_id: str) -> None:
    lib = metabolite_library()
    if module_id not in lib:
        raise unknown(f"{doc.get('id', 'parameter set')}.metabolites", module_id, sorted(lib))
    m = lib[module_id]
    for pname, p in (m.get("parameters") or {}).items():
        doc["parameters"].setdefault(pname, dict(p))
    for cname, c in (m.get("compartments") or {}).items():
        doc["compartments"].setdefault(cname, dict(c))
    doc["flows"].extend(dict(f) for f in m.get("flows") or ())
    doc.setdefault("notes", []).append(f"Metabolite disposition borrowed from module {module_id!r}: {m.get('source', '')}")


def list_parameter_sets() -> tuple[str, ...]:
    """Ids of the shipped parameter sets."""
    return tuple(sorted(_raw_docs()))


def _complete(doc: dict) -> dict:
    """Add borrowed absorption modules for every route the set lacks (documented in the set's routes)."""
    import copy

    doc = copy.deepcopy(doc)
    if doc.get("metabolites"):
        _merge_metabolites(doc, str(doc["metabolites"]))
    lib = route_library()
    species = doc.get("species", "human")
    for route, modules in lib.get("modules", {}).items():
        if route in doc["routes"]:
            continue
        for m in modules:
            if m.get("species", "human") == species:
                _merge_route_module(doc, m, route)
                doc["routes"][route]["borrowed"] = True  # type: ignore[index]
                break
    return doc


@lru_cache(maxsize=None)
def get_parameter_set(set_id: str) -> ParameterSet:
    """Load a shipped parameter set by id (see :func:`list_parameter_sets`).

    Routes the published model does not cover are added from the route
    library (``_routes.yaml``), each flagged ``borrowed`` with its source.

    Examples
    --------
    >>> ps = get_parameter_set("domino_tci_racemic")
    >>> round(ps.params["k10"].value, 4)  # 0.4381 /min in canonical 1/h
    26.286
    """
    docs = _raw_docs()
    if set_id not in docs:
        raise unknown("parameters", set_id, sorted(docs))
    doc, fname = docs[set_id]
    doc = _complete(doc)
    return parse_parameter_set(doc, fname)


def load_parameter_set(path: str | Path, *, borrow_routes: bool = True) -> ParameterSet:
    """Load a parameter set from a YAML file of your own (same schema as the shipped ones)."""
    p = Path(path)
    try:
        with open(p, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ParameterSetError(f"parameter file {str(p)!r} does not exist.") from None
    except yaml.YAMLError as exc:
        raise ParameterSetError(f"parameter file {str(p)!r} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ParameterSetError(f"parameter file {str(p)!r}: top level must be a mapping.")
    if borrow_routes and "routes" in doc and "compartments" in doc:
        doc = _complete(doc)
    return parse_parameter_set(doc, str(p))

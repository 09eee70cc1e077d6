"""Scenario files: what to simulate, as data (TOML; YAML and JSON accepted).

A scenario names arms (regimens), one sampled population, model choices, the
time span and grid, outputs and summaries, and report options. It is validated
with pydantic into frozen objects; no scenario field is ever evaluated as code.

.. code-block:: toml

    name = "benefit-risk"
    end = "28 d"                 # quantity strings, or bare numbers in canonical units (h, kg, mg)
    step = "10 min"
    [population]
    n = 1000
    seed = 1
    weight = "70 kg"             # or { mean = "75 kg", sd = "12 kg" }, { median = "70 kg", gsd = 0.2 }
    age = { low = 18, high = 65 }
    female_fraction = 0.5
    [model]
    circuit = "best"
    [[arms]]
    name = "iv-depression"       # optional: the default name is the regimen text
    regimen = "0.5 mg/kg iv over 40 min twice weekly for 4 weeks"

Every error names the file, the line (where it can be found) and the field, the
value given and what is allowed.

``--set`` overrides (:func:`apply_overrides`) take ``a.b=c`` paths; arms are
addressed by name or index (``arms.esketamine.dose=84 mg``). An arm's ``dose``
replaces every dose amount in its regimen text (one amount for all, or a list,
one per amount in order of appearance), see :func:`replace_doses`.

Examples
--------
>>> sc = loads('name = "x"\\nend = "1 d"\\n[[arms]]\\nregimen = "10 mg iv"\\n')
>>> sc.arms[0].name, sc.end_h, sc.population.n
('10 mg iv', 24.0, 1000)
>>> replace_doses("56 mg esketamine intranasal, then 84 mg esketamine intranasal at 1 d", "28 mg")
'28 mg esketamine intranasal, then 28 mg esketamine intranasal at 1 d'
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Sequence

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationInfo,
                      WithJsonSchema, field_validator, model_validator)
from pydantic_core import PydanticCustomError

from .errors import InputError, suggest
from .units import to_canonical, to_hours

__all__ = [
    "Scenario", "Arm", "PopulationSpec", "ModelSpec", "OutputSpec", "ReportSpec", "Distribution",
    "ScenarioError", "load", "loads", "dumps", "to_dict", "apply_overrides", "replace_doses",
    "json_schema", "list_examples", "example_text", "example_path", "load_example", "DEFAULT_QUANTILES",
    "MAX_TIME_POINTS", "validate_document",
]

#: Population quantiles kept over time (the report's bands need all five).
DEFAULT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: Most points of the output grid (end / step + 1).
MAX_TIME_POINTS = 200_000
_EXAMPLES_DIR = Path(__file__).resolve().parent / "data" / "examples"


class ScenarioError(InputError):
    """A scenario file or document is invalid; the message names file, line and field."""


def _err(kind: str, msg: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, msg, ctx)


# ---------------------------------------------------------------------------
# quantities and distributions
# ---------------------------------------------------------------------------
_KINDS = {"time": "h", "mass": "kg", "years": "years"}


def _quantity(value: Any, kind: str, field: str) -> float:
    if kind == "years":
        if isinstance(value, str):
            m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(y|yr|yrs|year|years)?\s*", value)
            if not m:
                raise _err("quantity", f"must be an age in years (a number, or text such as '40 y'); got {value!r}")
            value = m.group(1)
        try:
            x = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            raise _err("quantity", f"must be an age in years (a number); got {value!r}") from None
        if not math.isfinite(x):
            raise _err("quantity", f"must be a finite number of years; got {value!r}")
        return x
    try:
        return to_canonical(value, kind, field)
    except InputError:
        example = {"time": "'10 min', '28 d' or a number of hours", "mass": "'70 kg', '154 lb' or a number of kg"}[kind]
        raise _err("quantity", f"must be a quantity such as {example}; got {value!r}") from None


def _duration(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise _err("duration", f"must be a duration such as '28 d' or '10 min', or a number of hours; got {v!r}")
    h = _quantity(v, "time", "duration")
    if h <= 0:
        raise _err("duration", f"must be > 0 h; got {v!r}")
    return v


Duration = Annotated[
    Any, BeforeValidator(_duration),
    WithJsonSchema({"anyOf": [{"type": "string", "examples": ["28 d", "10 min"]}, {"type": "number", "exclusiveMinimum": 0}],
                    "description": "a duration: quantity text or a number of hours"}),
]


class Distribution(BaseModel):
    """A covariate distribution: ``{mean, sd}`` (normal), ``{median, gsd}`` (log-normal) or ``{low, high}`` (uniform)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mean: str | float | None = None
    sd: str | float | None = None
    median: str | float | None = None
    gsd: float | None = Field(None, description="geometric SD as a fraction (0.2 = 20%)")
    low: str | float | None = None
    high: str | float | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> "Distribution":
        given = {k for k in ("mean", "sd", "median", "gsd", "low", "high") if getattr(self, k) is not None}
        shapes = ({"mean", "sd"}, {"median", "gsd"}, {"low", "high"})
        if given not in shapes:
            raise _err("distribution", "a distribution must be {mean, sd} (normal), {median, gsd} (log-normal) or "
                       f"{{low, high}} (uniform); got {{{', '.join(sorted(given))}}}")
        return self

    @property
    def kind(self) -> str:
        return "normal" if self.mean is not None else "lognormal" if self.median is not None else "uniform"

    def canonical(self, kind: str, field: str) -> dict[str, float]:
        out = {}
        for k in ("mean", "sd", "median", "low", "high"):
            v = getattr(self, k)
            if v is not None:
                out[k] = _quantity(v, kind, f"{field}.{k}")
        if self.gsd is not None:
            out["gsd"] = float(self.gsd)
        return out


def _covariate(kind: str, lo: float, hi: float):
    unit = _KINDS[kind]

    def check(v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, Mapping):
            d = Distribution.model_validate(dict(v))
        elif isinstance(v, Distribution):
            d = v
        elif isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise _err("covariate", f"must be a value in {unit} (e.g. {lo * 2:g} or '{lo * 2:g} {unit}') or a "
                       "distribution {mean, sd} / {median, gsd} / {low, high}; got " + repr(v))
        else:
            x = _quantity(v, kind, "value")
            if not lo <= x <= hi:
                raise _err("range", f"must be between {lo:g} and {hi:g} {unit}; got {v!r}")
            return v
        c = d.canonical(kind, "value")
        for k in ("mean", "median", "low", "high"):
            if k in c and not lo <= c[k] <= hi:
                raise _err("range", f"{k} must be between {lo:g} and {hi:g} {unit}; got {getattr(d, k)!r}")
        if c.get("sd", 1.0) < 0 or c.get("gsd", 1.0) < 0:
            raise _err("range", "sd and gsd must be >= 0")
        if "low" in c and c["low"] > c["high"]:
            raise _err("range", f"low must be <= high; got low {d.low!r}, high {d.high!r}")
        return d

    schema = {"anyOf": [{"type": "number"}, {"type": "string"}, Distribution.model_json_schema()],
              "description": f"a value in {unit}, quantity text, or a distribution"}
    return Annotated[Any, BeforeValidator(check), WithJsonSchema(schema)]


Weight = _covariate("mass", 0.02, 400.0)
Age = _covariate("years", 0.0, 120.0)


# ---------------------------------------------------------------------------
# the parts of a scenario
# ---------------------------------------------------------------------------
class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False)


def _parameter_set_ids() -> list[str]:
    from .parameters import list_parameter_sets

    return list(list_parameter_sets())


def _check_set(v: str | None) -> str | None:
    if v is None:
        return v
    ids = _parameter_set_ids()
    if v not in ids:
        raise _err("unknown", f"must be a parameter-set id ({', '.join(ids)}); got {v!r}.{suggest(v, ids)}")
    return v


class PopulationSpec(_Frozen):
    """Who is simulated: ``n`` subjects drawn with ``numpy.random.default_rng(seed)``; the same subjects in every arm."""

    n: int = Field(1000, ge=1, le=10_000_000, description="subjects (the same in every arm)")
    seed: int = Field(1, ge=0, description="seed of numpy.random.default_rng")
    species: Literal["human", "rat"] = "human"
    weight: Weight = Field(None, description="body weight; default log-normal, median 70 kg (rat 0.3 kg), GSD 20%")
    age: Age = Field(None, description="age in years; default uniform over the parameter set's study range (18-65)")
    female_fraction: float = Field(0.5, ge=0.0, le=1.0, description="fraction of female subjects")
    parameters: str | None = Field(None, description="parameter-set id for every arm (default: by drug, route, age)")
    variability: bool = Field(True, description="false: typical subjects (no between-subject variability in the "
                                                "parameters, e.g. one typical person); covariates are still drawn or given")

    @field_validator("parameters")
    @classmethod
    def _set(cls, v: str | None) -> str | None:
        return _check_set(v)

    @field_validator("n", "seed", mode="before")
    @classmethod
    def _whole(cls, v: Any) -> Any:
        if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()) or not isinstance(v, (int, float)):
            raise _err("whole", f"must be a whole number; got {v!r}")
        return int(v)


def _circuit_variants() -> tuple[str, ...] | None:
    """Circuit variants the circuit layer registers, or None while there is no circuit layer."""
    try:
        import importlib

        mod = importlib.import_module("ketasim.layers.circuit")
    except ImportError:
        return None
    for attr in ("VARIANTS", "CIRCUIT_VARIANTS"):
        v = getattr(mod, attr, None)
        if v:
            return tuple(str(x) for x in v)
    fn = getattr(mod, "list_variants", None)
    return tuple(str(x) for x in fn()) if callable(fn) else None


class ModelSpec(_Frozen):
    """Model choices: the circuit variant (``"best"``: the best-fitting one) and the outcome layers."""

    circuit: str = Field("best", description="'best' or a named circuit variant; variants combine with '+'")
    outcomes: Literal["all"] | tuple[str, ...] = Field("all", description="outcome layers to run ('all' or names)")

    @field_validator("circuit")
    @classmethod
    def _circuit(cls, v: str) -> str:
        v = v.strip()
        variants = _circuit_variants()
        if v == "best":
            return v
        if variants is None:
            raise _err("unknown", f"must be 'best' (the circuit layer registers no named variants yet); got {v!r}")
        bad = [p for p in (x.strip() for x in v.split("+")) if p not in variants]
        if bad:
            raise _err("unknown", f"must be 'best' or one of {', '.join(map(repr, variants))} (combine with '+'); "
                       f"got {bad[0]!r}.{suggest(bad[0], variants)}")
        return v


_AMOUNT = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?|\.\d+)\s*(mg/kg|ug/kg|µg/kg|mcg/kg|mg|g|ug|µg|mcg)(?![\w/µ])",
                     re.IGNORECASE)


def replace_doses(regimen: str, dose: str | Sequence[str]) -> str:
    """Replace the dose amounts in regimen text: one amount for all, or one per amount in order.

    Rates (``mg/kg/h``) are not amounts and are left alone.

    Examples
    --------
    >>> replace_doses("56 mg esketamine intranasal twice weekly for 1 week", "84 mg")
    '84 mg esketamine intranasal twice weekly for 1 week'
    >>> replace_doses("0.5 mg/kg iv over 40 min + 25 mg oral at 2 h", ["1 mg/kg", "50 mg"])
    '1 mg/kg iv over 40 min + 50 mg oral at 2 h'
    """
    found = list(_AMOUNT.finditer(regimen))
    if not found:
        raise InputError(f"dose: the regimen {regimen!r} has no dose amount (mg, g, ug or per kg) to replace.")
    doses = [dose] * len(found) if isinstance(dose, str) else list(dose)
    if len(doses) != len(found):
        raise InputError(f"dose: the regimen {regimen!r} has {len(found)} dose amounts; got {len(doses)} doses. "
                         "Give one dose for all, or one per amount in order.")
    for d in doses:
        if not isinstance(d, str) or not _AMOUNT.fullmatch(d.strip()):
            raise InputError(f"dose must be an amount such as '84 mg' or '0.5 mg/kg'; got {d!r}.")
    out, last = [], 0
    for m, d in zip(found, doses):
        out += [regimen[last:m.start()], d.strip()]
        last = m.end()
    return "".join(out) + regimen[last:]


class Arm(_Frozen):
    """One arm: a regimen (text, or a NONMEM dose file) with optional per-arm overrides."""

    name: str = Field(None, description="arm name; default: the regimen text (or the NONMEM file's stem)")
    regimen: str | None = Field(None, description="regimen text, e.g. '0.5 mg/kg iv over 40 min twice weekly for 4 weeks'")
    nonmem: str | None = Field(None, description="a NONMEM-style dose file (CSV), relative to the scenario file")
    subject: str | None = Field(None, description="which ID of the NONMEM file (needed if it has several)")
    dose: str | tuple[str, ...] | None = Field(None, description="replace the regimen's dose amounts (one, or one per amount)")
    parameters: str | None = Field(None, description="parameter-set id for this arm (overrides population.parameters)")
    description: str = ""
    source: str = ""

    _nonmem_path: str | None = PrivateAttr(None)

    @field_validator("parameters")
    @classmethod
    def _set(cls, v: str | None) -> str | None:
        return _check_set(v)

    @model_validator(mode="after")
    def _one_regimen(self, info: ValidationInfo) -> "Arm":
        if (self.regimen is None) == (self.nonmem is None):
            raise _err("regimen", "each arm needs exactly one of regimen (text such as '0.5 mg/kg iv over 40 min') "
                       "or nonmem (a dose file); got " + ("both" if self.regimen is not None else "neither"))
        if self.regimen is not None and not self.regimen.strip():
            raise _err("regimen", "regimen must be non-empty text such as '0.5 mg/kg iv over 40 min'")
        if self.dose is not None:
            if self.nonmem is not None:
                raise _err("dose", "dose replaces amounts in regimen text; it cannot be used with a nonmem file")
            try:
                replace_doses(self.regimen, self.dose)
            except InputError as exc:
                raise _err("dose", str(exc).removeprefix("dose: ").rstrip(".")) from None
        if self.regimen is not None:
            from .regimen_text import parse_regimen

            try:
                parse_regimen(self.regimen_text)
            except InputError as exc:
                raise _err("regimen", str(exc).rstrip(".")) from None
        else:
            base = (info.context or {}).get("base_dir") if info is not None else None
            p = Path(self.nonmem)
            if base is not None and not p.is_absolute():
                p = Path(base) / p
            if not p.is_file():
                raise _err("nonmem", f"NONMEM file {self.nonmem!r} does not exist (paths are relative to the scenario "
                           f"file; looked for {str(p)!r})")
            self._nonmem_path = str(p)
            self._regimen_from_file()
        if self.name is None:
            object.__setattr__(self, "name", self.regimen_text if self.regimen is not None else Path(self.nonmem).stem)
        if not str(self.name).strip():
            raise _err("name", "arm name must be non-empty text")
        return self

    def _regimen_from_file(self):
        from .io import read_nonmem

        path = self._nonmem_path or self.nonmem
        regs = read_nonmem(path)
        if self.subject is None:
            if len(regs) != 1:
                raise _err("nonmem", f"the NONMEM file has {len(regs)} IDs ({', '.join(list(regs)[:8])}); "
                           "choose one with subject = \"<ID>\"")
            return next(iter(regs.values()))
        if self.subject not in regs:
            raise _err("nonmem", f"subject must be an ID of the NONMEM file ({', '.join(list(regs)[:8])}); "
                       f"got {self.subject!r}")
        return regs[self.subject]

    @property
    def regimen_text(self) -> str:
        """The regimen text as run (with ``dose`` applied), or the NONMEM doses written as text."""
        if self.regimen is not None:
            return replace_doses(self.regimen, self.dose) if self.dose is not None else self.regimen
        return self._regimen_from_file().to_text()

    def to_regimen(self):
        """The arm's :class:`~ketasim.dosing.Regimen`."""
        if self.regimen is not None:
            from .regimen_text import parse_regimen

            return parse_regimen(self.regimen_text)
        return self._regimen_from_file()


class OutputSpec(_Frozen):
    """What is kept: variables, full series for a sample of subjects, quantile bands, summary metrics."""

    variables: tuple[str, ...] | None = Field(None, description="variables to simulate (default: all that the layers offer)")
    series_subjects: int = Field(50, ge=0, description="subjects per arm whose full time series are written")
    quantiles: tuple[float, ...] = Field(DEFAULT_QUANTILES, description="population quantiles kept over time")
    summaries: tuple[str, ...] | None = Field(None, description="summary metrics (default: all), see `ketasim scenario schema`")

    @field_validator("quantiles")
    @classmethod
    def _q(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < q < 1 for q in v) or list(v) != sorted(set(v)):
            raise _err("quantiles", f"quantiles must be increasing numbers between 0 and 1; got {list(v)}")
        missing = [q for q in DEFAULT_QUANTILES if q not in v]
        if missing:
            raise _err("quantiles", f"quantiles must include {list(DEFAULT_QUANTILES)} (the report's bands); "
                       f"missing {missing}")
        return v


class ReportSpec(_Frozen):
    """Report options."""

    formats: tuple[Literal["html", "pdf"], ...] = Field(("html",), description="report formats written by `ketasim run`")
    title: str | None = Field(None, description="report title (default from the scenario name)")
    figures: bool = Field(True, description="write figures/*.png and put them in the report")


class Scenario(_Frozen):
    """A scenario: arms simulated in one sampled population over one time grid."""

    name: str = Field(..., min_length=1, description="scenario name")
    description: str = ""
    end: Duration = Field("28 d", description="simulated period")
    step: Duration = Field("10 min", description="output grid step")
    population: PopulationSpec = PopulationSpec()
    model: ModelSpec = ModelSpec()
    arms: tuple[Arm, ...] = Field(..., min_length=1, description="the arms ([[arms]] tables)")
    outputs: OutputSpec = OutputSpec()
    report: ReportSpec = ReportSpec()

    @model_validator(mode="after")
    def _grid_and_names(self) -> "Scenario":
        e, s = self.end_h, self.step_h
        if s > e:
            raise _err("grid", f"step ({self.step!r}) must be <= end ({self.end!r})")
        k = round(e / s)
        if not math.isclose(k * s, e, rel_tol=0, abs_tol=1e-9):
            raise _err("grid", f"end ({self.end!r}) must be a whole number of steps ({self.step!r})")
        if k + 1 > MAX_TIME_POINTS:
            raise _err("grid", f"end / step gives {k + 1} time points; at most {MAX_TIME_POINTS} are allowed. "
                       "Use a larger step")
        names = [a.name for a in self.arms]
        dup = sorted({x for x in names if names.count(x) > 1})
        if dup:
            raise _err("names", f"arm names must be unique; got {dup[0]!r} more than once. Give each arm a name")
        return self

    # --- derived values ------------------------------------------------------
    @property
    def end_h(self) -> float:
        return to_hours(self.end, "end")

    @property
    def step_h(self) -> float:
        return to_hours(self.step, "step")

    @property
    def n(self) -> int:
        return self.population.n

    @property
    def seed(self) -> int:
        return self.population.seed

    def times(self):
        """The output grid in hours, 0 to ``end`` inclusive."""
        import numpy as np

        return np.arange(int(round(self.end_h / self.step_h)) + 1) * self.step_h

    # --- text forms ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The scenario as the data of its file: the fields that were given (``loads(dumps(s)) == s``)."""
        from .scenario_files import to_dict

        return to_dict(self)

    def to_toml(self) -> str:
        """The scenario in the scenario-file format (TOML)."""
        from .scenario_files import dumps

        return dumps(self)

    @property
    def sha256(self) -> str:
        import hashlib

        return hashlib.sha256(self.to_toml().encode("utf-8")).hexdigest()

    def with_overrides(self, sets: Sequence[str], where: str = "") -> "Scenario":
        """A new scenario with ``a.b=c`` overrides applied (see :func:`apply_overrides`)."""
        from .scenario_files import apply_overrides, validate_document

        return validate_document(apply_overrides(self.to_dict(), sets), where or f"scenario {self.name!r} with --set")

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], where: str = "scenario") -> "Scenario":
        from .scenario_files import validate_document

        return validate_document(doc, where)


# the file side (re-exported here so that ketasim.scenario is the one place to import from)
from .scenario_files import (apply_overrides, dumps, example_path, example_text, json_schema, list_examples,  # noqa: E402
                             load, load_example, loads, to_dict, validate_document)

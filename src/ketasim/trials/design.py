"""Trial designs: a scenario's arms x one sampled population x chunks of subjects.

A :class:`TrialDesign` fixes everything a trial's numbers depend on: the
scenario (arms, period, output grid), the population size and seed, the
parameter set (or the per-subject default), the outputs simulated and the
population's sampling options. Every random number is drawn up front, by
:meth:`TrialDesign.population`, from ``numpy.random.default_rng(seed)``; a chunk
is only a range of subject indices into that population
(:meth:`ketasim.population.Population.take`), so the numbers do not depend on
the chunk size or on which executor or machine simulates a chunk.

Examples
--------
>>> from ketasim.flagship import FLAGSHIP
>>> d = TrialDesign(FLAGSHIP, n=2500, chunk_size=1000)
>>> [(c.start, c.stop) for c in d.chunks()]
[(0, 1000), (1000, 2000), (2000, 2500)]
>>> d.arm_names[:2]
('iv-depression', 'esketamine')
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import InputError
from ..flagship import OUTPUTS, Scenario, load_scenario
from ..parameters import ParameterSet
from ..population import Population
from . import _scenario as S

__all__ = ["TrialDesign", "Chunk", "design", "DEFAULT_CHUNK_SIZE"]

#: Subjects per chunk unless told otherwise (a flagship chunk with every layer: ~2 s and ~0.5 GB).
DEFAULT_CHUNK_SIZE = 250


@dataclass(frozen=True, slots=True)
class Chunk:
    """Subjects ``start`` (inclusive) to ``stop`` (exclusive) of a design's population."""

    index: int
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


def _whole(name: str, v: Any, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise InputError(f"{name} must be a whole number >= {lo}; got {v!r}.")
    return int(v)


@dataclass(frozen=True)
class TrialDesign:
    """What a virtual trial simulates; results depend on nothing else.

    Parameters
    ----------
    scenario : Scenario
        Arms, period and output grid (``ketasim.flagship.load_scenario``).
    n : int, optional
        Subjects (the same subjects in every arm); default the scenario's.
    seed : int, optional
        Population seed; default the scenario's.
    chunk_size : int
        Subjects simulated per task. Only memory and scheduling depend on it.
    parameters : str or ParameterSet, optional
        One parameter set for every arm; default the documented default per
        arm and subject.
    outputs : tuple of str, optional
        Variables simulated (any that :func:`ketasim.simulate` offers); default
        the scenario's ``outputs.variables``, else everything ``simulate``
        offers for the arm plus the flagship's PK outputs. Two names stand for
        groups: ``"default"`` (that default) and ``"outcomes"`` (every outcome
        variable of :mod:`ketasim.outcomes`: tolerance, drug_liking,
        depression_score, bladder_injury, p_dependence ...), so
        ``("default", "outcomes")`` is everything. Summary metrics
        (``peak_``, ``auc_``, ``final_`` per subject) are computed from the
        variables present.
    factors : dict, optional
        Scale factors, one for every subject, on receptor, circuit and dopamine
        parameters (:func:`ketasim.pd_parameters.pd_parameter_table`, e.g.
        ``{"Ki_NMDA": 1.5}``) and on outcome-layer parameters
        (:func:`ketasim.outcome_parameters.outcome_parameter_table`, e.g.
        ``{"harms.dependence.E50": 2.0}``); default none (the shipped values).
        ``ketasim sweep --vary "param.Ki_NMDA=0.5..2:5"`` varies them.
    """

    scenario: Scenario
    n: int | None = None
    seed: int | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    parameters: str | ParameterSet | None = None
    outputs: tuple[str, ...] | None = None
    factors: Any = ()

    def __post_init__(self) -> None:
        if not isinstance(self.scenario, Scenario):
            raise InputError(f"scenario must be a Scenario (ketasim.flagship.load_scenario); "
                             f"got {type(self.scenario).__name__}.")
        object.__setattr__(self, "n", _whole("n", self.scenario.n if self.n is None else self.n, 1))
        object.__setattr__(self, "seed", _whole("seed", self.scenario.seed if self.seed is None else self.seed, 0))
        object.__setattr__(self, "chunk_size", _whole("chunk_size", self.chunk_size, 1))
        if self.n > 10_000_000:
            raise InputError(f"n must be <= 10000000 subjects; got {self.n}.")
        # the scenario records the truth (its population.n and seed are the design's)
        object.__setattr__(self, "scenario", S.with_n_seed(self.scenario, self.n, self.seed))
        if self.outputs is not None:
            outs = (self.outputs,) if isinstance(self.outputs, str) else tuple(self.outputs)
            if not outs:
                raise InputError("outputs must name at least one variable; got none.")
            object.__setattr__(self, "outputs", outs)
        if self.parameters is not None and not isinstance(self.parameters, (str, ParameterSet)):
            raise InputError(f"parameters must be a parameter-set id or a ParameterSet; "
                             f"got {type(self.parameters).__name__}.")
        object.__setattr__(self, "factors", self._checked_factors())

    def _checked_factors(self) -> tuple[tuple[str, float], ...]:
        from ..outcome_parameters import outcome_parameter_table
        from ..pd_parameters import closest, factor_values, pd_parameter_table

        if not self.factors:
            return ()
        try:
            items = dict(self.factors)
        except (TypeError, ValueError):
            raise InputError(f"factors must map parameter names to scale factors; got {self.factors!r}.") from None
        circuit = S.circuit(self.scenario)
        valid = {**pd_parameter_table(circuit), **outcome_parameter_table(self.scenario.population.species)}
        for name, v in items.items():
            if name not in valid:
                raise InputError(f"factors: {name!r} is not a receptor, circuit, dopamine or outcome-layer parameter "
                                 f"(valid: {', '.join(valid)}).{closest(name, valid)}")
            factor_values(f"factors[{name!r}]", v, None)
            if np.ndim(v) != 0:
                raise InputError(f"factors[{name!r}] must be one number (the same for every subject); got {v!r}.")
        return tuple(sorted((k, float(v)) for k, v in items.items()))

    def factored(self, population: Population) -> Population:
        """``population`` carrying the design's factors (:func:`~ketasim.pd_parameters.with_pd_factors`,
        :func:`~ketasim.outcome_parameters.with_outcome_factors`); unchanged without factors."""
        if not self.factors:
            return population
        from ..outcome_parameters import with_outcome_factors
        from ..pd_parameters import with_pd_factors

        out = {k: v for k, v in self.factors if "." in k}        # outcome names are <layer>.<name>
        pd = {k: v for k, v in self.factors if "." not in k}
        if pd:
            population = with_pd_factors(population, pd, S.circuit(self.scenario))
        return with_outcome_factors(population, out) if out else population

    # -- what it contains ------------------------------------------------------
    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.scenario.arms)

    @property
    def n_chunks(self) -> int:
        return -(-self.n // self.chunk_size)

    def chunks(self) -> list[Chunk]:
        """The chunks of subjects, in order."""
        cs = self.chunk_size
        return [Chunk(i, s, min(s + cs, self.n)) for i, s in enumerate(range(0, self.n, cs))]

    def population(self) -> Population:
        """The trial's subjects, every random number drawn now from ``default_rng(seed)``."""
        return S.population(self.scenario)

    @cached_property
    def arm_outputs(self) -> tuple[tuple[str, ...], ...]:
        """The variables simulated in each arm (resolved once, on a typical subject)."""
        return tuple(_resolve_outputs(self.scenario, arm, S.arm_parameters(self.scenario, arm, self.parameters),
                                      self.outputs or S.requested_outputs(self.scenario))
                     for arm in self.scenario.arms)

    def with_(self, **changes: Any) -> "TrialDesign":
        """A new design with some fields replaced (``dataclasses.replace``)."""
        return replace(self, **changes)

    # -- identity --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        ps = self.parameters
        return {
            "scenario": self.scenario.to_dict(),
            "n": self.n,
            "seed": self.seed,
            "chunk_size": self.chunk_size,
            "parameters": None if ps is None else (ps if isinstance(ps, str) else _set_fingerprint(ps)),
            "outputs": [list(o) for o in self.arm_outputs],
            **({"factors": dict(self.factors)} if self.factors else {}),
        }

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of everything the numbers depend on (and of the chunking, which names the files)."""
        from .. import __version__

        doc = {"ketasim_version": __version__, **self.to_dict()}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


#: Names in ``outputs`` that stand for groups of variables.
OUTPUT_GROUPS = ("default", "outcomes")


def _resolve_outputs(sc, arm, parameters, requested) -> tuple[str, ...]:
    if requested:
        out: list[str] = []
        for name in requested:
            if name == "default":
                out += _resolve_outputs(sc, arm, parameters, None)
            elif name == "outcomes":
                from ..outcomes import outcome_variables

                out += list(outcome_variables())
            else:
                out.append(name)
        return tuple(dict.fromkeys(out))
    from ..errors import InputError as _IE
    from ..population import Subject
    from ..simulate import simulate

    species = getattr(getattr(sc, "population", None), "species", "human")
    subj = Subject(weight=0.3, age=0.25, species="rat") if species == "rat" else Subject()
    reg = S.regimen(arm)
    t = sc.times()[:3]
    res = simulate(reg, subj, t, parameters=parameters, **S.circuit_kw(sc))
    keep = [str(v) for v in res.data_vars if res[v].dims == ("subject", "time")]
    for o in OUTPUTS:
        if o not in keep:
            try:
                simulate(reg, subj, t, parameters=parameters, outputs=[o], **S.circuit_kw(sc))
            except _IE:
                continue
            keep.append(o)
    return tuple(keep)


def _set_fingerprint(ps: ParameterSet) -> str:
    vals = {n: [p.value, p.iiv, p.iiv_scale, p.eta] for n, p in ps.params.items()}
    h = hashlib.sha256(json.dumps(vals, sort_keys=True).encode()).hexdigest()[:16]
    return f"{ps.id}@{h}"


def design(scenario: Scenario | str | os.PathLike | None = None, *, n: int | None = None, seed: int | None = None,
           chunk_size: int = DEFAULT_CHUNK_SIZE, parameters: str | ParameterSet | None = None,
           outputs: tuple[str, ...] | None = None, end: str | None = None, step: str | None = None,
           factors=None) -> TrialDesign:
    """A :class:`TrialDesign` from a scenario (object, TOML path, or the embedded flagship).

    Examples
    --------
    >>> d = design(n=10, seed=3, end="1 d")
    >>> d.n, d.seed, d.scenario.end
    (10, 3, '1 d')
    """
    if scenario is None:
        from ..flagship import FLAGSHIP

        sc = FLAGSHIP
    elif isinstance(scenario, Scenario):
        sc = scenario
    else:
        sc = load_scenario(scenario)
    sets = [f"{k}={json.dumps(v)}" for k, v in (("end", end), ("step", step)) if v is not None]
    if sets:
        sc = S.with_overrides(sc, sets) if hasattr(sc, "with_overrides") else replace(
            sc, **{k: v for k, v in (("end", end), ("step", step)) if v is not None})
    return TrialDesign(sc, n=n, seed=seed, chunk_size=chunk_size, parameters=parameters,
                       outputs=None if outputs is None else tuple(outputs), factors=factors or ())

"""Subjects and populations: covariates and random effects, sampled up front.

A :class:`Population` holds, for N subjects, the covariates (weight, age, sex,
ancestry flags, CYP2B6 phenotype, species) and one standard-normal deviate per
random-effect role (:data:`ketasim.parameters.ETA_ROLES`). The parameter set
chosen at :func:`ketasim.simulate` time scales these deviates by its own
published variability, so the same population can be simulated under any set,
and because every random number is drawn here, once, from an explicit
``numpy.random.Generator``, results never depend on chunking or executors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Iterable, Mapping

import numpy as np

from .errors import InputError, unknown
from .parameters import ETA_ROLES
from .units import to_kg

__all__ = ["Subject", "Population", "sample_population", "as_population", "SPECIES", "SEXES", "CYP2B6"]

SPECIES = ("human", "rat")
SEXES = ("F", "M")
CYP2B6 = ("normal", "intermediate", "poor")

#: Plausibility limits (kg, years) per species: they catch unit slips, not patients.
_LIMITS = {"human": {"weight": (0.5, 400.0), "age": (0.0, 120.0)},
           "rat": {"weight": (0.02, 1.5), "age": (0.0, 4.0)}}


def _num(name: str, v: Any) -> float:
    if isinstance(v, bool):
        raise InputError(f"{name} must be a number; got {v!r}.")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number; got {v!r}.") from None
    if not math.isfinite(x):
        raise InputError(f"{name} must be finite; got {v!r}.")
    return x


@dataclass(frozen=True, slots=True)
class Subject:
    """One person (or animal).

    Parameters
    ----------
    weight : float or str
        Body weight, kg (or a quantity string such as ``"154 lb"``). Default 70 kg,
        the reference weight of the adult parameter sets.
    age : float
        Years. Default 40.
    sex : {"F", "M"}
    species : {"human", "rat"}
    asian, japanese : bool
        Ancestry covariates used by the Perez-Ruixo 2021 esketamine model.
    cyp2b6 : {"normal", "intermediate", "poor"}
        Metaboliser phenotype (no shipped set has a verified effect yet).
    baseline_madrs : float, optional
        MADRS total (0..60) before treatment, for the depression score; default the
        documented treatment-resistant value (``ketasim.layers.antidepressant.DEFAULT_BASELINE_MADRS``).
    baseline_sbp : float, optional
        Resting systolic blood pressure, mmHg, for the acute-safety layer.

    Examples
    --------
    >>> Subject(weight=70, age=35, sex="F").weight
    70.0
    """

    weight: float = 70.0
    age: float = 40.0
    sex: str = "M"
    species: str = "human"
    asian: bool = False
    japanese: bool = False
    cyp2b6: str = "normal"
    baseline_madrs: float | None = None
    baseline_sbp: float | None = None

    def __post_init__(self) -> None:
        if self.species not in SPECIES:
            raise unknown("species", self.species, SPECIES)
        w = to_kg(self.weight, "weight") if isinstance(self.weight, str) else _num("weight", self.weight)
        a = _num("age", self.age)
        lo, hi = _LIMITS[self.species]["weight"]
        if not lo <= w <= hi:
            raise InputError(f"weight must be between {lo:g} and {hi:g} kg for a {self.species}; got {w:g} kg.")
        lo, hi = _LIMITS[self.species]["age"]
        if not lo <= a <= hi:
            raise InputError(f"age must be between {lo:g} and {hi:g} years for a {self.species}; got {a:g}.")
        sex = str(self.sex).upper()[:1] if isinstance(self.sex, str) else self.sex
        if sex not in SEXES:
            raise unknown("sex", self.sex, SEXES)
        if self.cyp2b6 not in CYP2B6:
            raise unknown("cyp2b6", self.cyp2b6, CYP2B6)
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "age", a)
        object.__setattr__(self, "sex", sex)
        if self.baseline_madrs is not None:
            b = _num("baseline_madrs", self.baseline_madrs)
            if not 0.0 <= b <= 60.0:
                raise InputError(f"baseline_madrs must be between 0 and 60 (MADRS total score); got {b:g}.")
            object.__setattr__(self, "baseline_madrs", b)
        if self.baseline_sbp is not None:
            object.__setattr__(self, "baseline_sbp", _num("baseline_sbp", self.baseline_sbp))


_COV_FIELDS = ("weight", "age", "sex", "asian", "japanese", "cyp2b6")


@dataclass(frozen=True)
class Population:
    """N subjects: covariate arrays, random-effect deviates and ids.

    ``eta`` is ``None`` for a population of typical subjects (no variability),
    else an array (N, len(ETA_ROLES)) of standard-normal deviates.
    """

    covariates: Mapping[str, np.ndarray]
    eta: np.ndarray | None
    ids: np.ndarray
    species: str = "human"
    seed: int | None = None
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        for k, v in self.covariates.items():
            if len(v) != n:
                raise InputError(f"covariate {k!r} has {len(v)} values for {n} subjects.")
        if self.eta is not None and self.eta.shape != (n, len(ETA_ROLES)):
            raise InputError(f"eta must have shape ({n}, {len(ETA_ROLES)}); got {self.eta.shape}.")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n(self) -> int:
        return len(self.ids)

    def with_extra(self, prefix: str, arrays: Mapping[str, object]) -> "Population":
        """A copy whose ``extra`` entries named ``prefix + name`` are exactly ``arrays`` (one value for all
        subjects, or one per subject), the others kept; e.g. per-subject parameter scale factors."""
        extra = {k: v for k, v in self.extra.items() if not k.startswith(prefix)}
        for name, v in arrays.items():
            extra[prefix + name] = np.broadcast_to(np.asarray(v, float).reshape(-1), (self.n,)).astype(float)
        return replace(self, extra=MappingProxyType(extra))

    def extra_with(self, prefix: str) -> dict[str, np.ndarray]:
        """The ``extra`` entries named ``prefix + name``, as ``{name: array}``."""
        return {k[len(prefix):]: np.asarray(v, float) for k, v in self.extra.items() if k.startswith(prefix)}

    def take(self, idx: np.ndarray | slice) -> "Population":
        """A sub-population (same deviates for the same subjects)."""
        return Population(
            covariates=MappingProxyType({k: v[idx] for k, v in self.covariates.items()}),
            eta=None if self.eta is None else self.eta[idx],
            ids=self.ids[idx], species=self.species, seed=self.seed,
            extra=MappingProxyType({k: v[idx] for k, v in self.extra.items()}),
        )

    @classmethod
    def from_subjects(cls, subjects: Iterable[Subject], *, eta: np.ndarray | None = None) -> "Population":
        """A population of given subjects (typical values unless ``eta`` is given)."""
        subs = list(subjects)
        if not subs:
            raise InputError("population must have at least one subject; got none.")
        species = {s.species for s in subs}
        if len(species) > 1:
            raise InputError(f"all subjects of a population must be one species; got {sorted(species)}.")
        cov = {f: np.array([getattr(s, f) for s in subs]) for f in _COV_FIELDS}
        extra = {}
        for f in ("baseline_madrs", "baseline_sbp"):
            vals = [getattr(s, f) for s in subs]
            if any(v is not None for v in vals):
                extra[f] = np.array([np.nan if v is None else v for v in vals], float)
        return cls(MappingProxyType(cov), eta, np.arange(len(subs)), species=species.pop(),
                   extra=MappingProxyType(extra))

    def to_frame(self):
        """Covariates (and deviates) as a pandas DataFrame indexed by subject id."""
        import pandas as pd

        df = pd.DataFrame({k: v for k, v in self.covariates.items()}, index=pd.Index(self.ids, name="subject"))
        if self.eta is not None:
            for i, r in enumerate(ETA_ROLES):
                df[f"eta_{r}"] = self.eta[:, i]
        return df


def as_population(x: "Subject | Population") -> Population:
    """Accept a :class:`Subject` or a :class:`Population`."""
    if isinstance(x, Population):
        return x
    if isinstance(x, Subject):
        return Population.from_subjects([x])
    if isinstance(x, (list, tuple)) and x and all(isinstance(s, Subject) for s in x):
        return Population.from_subjects(x)
    raise InputError(f"population must be a Subject, a list of Subjects or a Population; got {type(x).__name__}.")


def sample_population(n: int, rng: np.random.Generator, parameters: str | None = None, *,
                      weight: tuple[float, float] | None = None, age: tuple[float, float] | None = None,
                      female_fraction: float = 0.5, asian_fraction: float = 0.0,
                      japanese_fraction: float = 0.0, species: str = "human") -> Population:
    """Sample covariates and random-effect deviates for ``n`` subjects.

    The covariate distributions are modelling assumptions (no shipped set
    publishes its covariate distribution in full): adult weight log-normal with
    median 70 kg (the reference weight of the adult sets) and geometric SD
    20%; age uniform over the age range of ``parameters``' study population
    (default 18-65 y); sex Bernoulli(``female_fraction``). For ``species="rat"``:
    weight log-normal median 0.3 kg, geometric SD 10%, age 0.25 y.

    Draw order (fixed, so a seed gives the same population forever): weight,
    age, sex, asian, japanese, then the deviates, subject by subject in blocks.

    Parameters
    ----------
    n : int
        Number of subjects (1 .. 10,000,000).
    rng : numpy.random.Generator
    parameters : str, optional
        Parameter-set id whose study age range to use.
    weight : (median_kg, geometric_sd) , optional
    age : (low, high), optional

    Examples
    --------
    >>> import numpy as np
    >>> pop = sample_population(3, np.random.default_rng(1))
    >>> len(pop), pop.eta.shape[0]
    (3, 3)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"n must be a whole number >= 1; got {n!r}.")
    if n > 10_000_000:
        raise InputError(f"n must be <= 10000000 subjects in one population; got {n}. Use ketasim trial for more.")
    if not isinstance(rng, np.random.Generator):
        raise InputError(
            f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(1)); got {type(rng).__name__}."
        )
    if species not in SPECIES:
        raise unknown("species", species, SPECIES)
    for name, f in (("female_fraction", female_fraction), ("asian_fraction", asian_fraction),
                    ("japanese_fraction", japanese_fraction)):
        if not 0.0 <= _num(name, f) <= 1.0:
            raise InputError(f"{name} must be between 0 and 1; got {f!r}.")
    if species == "rat":
        med, gsd = weight or (0.3, 0.10)
        age_lo, age_hi = age or (0.25, 0.25)
    else:
        med, gsd = weight or (70.0, 0.20)
        if age is None and parameters is not None:
            from .parameters import get_parameter_set

            age = get_parameter_set(parameters).age_range
        age_lo, age_hi = age or (18.0, 65.0)
        age_hi = min(age_hi, 90.0)
    w = med * np.exp(gsd * rng.standard_normal(n))
    lo, hi = _LIMITS[species]["weight"]
    w = np.clip(w, lo, hi)
    a = rng.uniform(age_lo, age_hi, n) if age_hi > age_lo else np.full(n, float(age_lo))
    sex = np.where(rng.random(n) < female_fraction, "F", "M")
    asian = rng.random(n) < asian_fraction
    japanese = asian & (rng.random(n) < (japanese_fraction / asian_fraction if asian_fraction > 0 else 0.0))
    eta = rng.standard_normal((n, len(ETA_ROLES)))
    cov = {"weight": w, "age": a, "sex": sex, "asian": asian, "japanese": japanese,
           "cyp2b6": np.full(n, "normal")}
    # The generator's seed entropy, recorded for provenance; it reproduces the population when
    # sample_population was the generator's first use (as in the documented examples).
    seq = getattr(rng.bit_generator, "seed_seq", None)
    ent = getattr(seq, "entropy", None)
    seed = int(ent) if isinstance(ent, (int, np.integer)) and not getattr(seq, "spawn_key", ()) else None
    return Population(MappingProxyType(cov), eta, np.arange(n), species=species, seed=seed)

"""The one entry point: :func:`simulate`."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import xarray as xr

from . import __version__
from .dosing import Regimen
from .errors import InputError, unknown
from .layers.pk import DEFAULT_PK_OUTPUTS, PK_OUTPUTS, pk_variables, run_pk
from .parameters import ParameterSet, get_parameter_set, list_parameter_sets
from .pd_chain import DEFAULT_PD_OUTPUTS, PD_OUTPUTS, circuit_label, pk_inputs_needed, run_pd
from .pd_parameters import pd_factors_of
from .population import Population, Subject, as_population

__all__ = ["simulate", "default_parameter_set", "DEFAULT_SETS", "MAX_CELLS", "OUTPUT_GROUPS"]

#: The documented default parameter set by species, age group and drug (docs/model.md, "Default sets").
DEFAULT_SETS = {
    ("rat", "any"): "rat_ketamine_pk",
    ("human_child", "any"): "herd_2007_racemic_paeds",
    ("human_adult", "esketamine"): "perez_ruixo_2021_esketamine",
    ("human_adult", "racemic"): "kamp_2020_racemic_meta",
    ("human_adult", "arketamine"): "kamp_2020_racemic_meta",
}

#: Largest result simulate() builds in memory (subjects x times x variables).
MAX_CELLS = 2_000_000_000


def default_parameter_set(regimen: Regimen, species: str = "human", age: float = 40.0) -> str:
    """The default parameter-set id for a regimen and a subject.

    Rats use the rat set; children (< 18 y) the paediatric allometric set
    (Herd 2007); adults given only esketamine the Perez-Ruixo 2021 esketamine
    model; every other adult regimen the Kamp 2020 meta-analytic racemic set.
    Routes a set lacks are served by the route library (``_routes.yaml``).

    Examples
    --------
    >>> from ketasim.dosing import Bolus, Regimen
    >>> default_parameter_set(Regimen((Bolus(0, 56, "intranasal", "esketamine"),)))
    'perez_ruixo_2021_esketamine'
    """
    if species == "rat":
        return DEFAULT_SETS[("rat", "any")]
    if age < 18:
        return DEFAULT_SETS[("human_child", "any")]
    drugs = set(regimen.drugs) or {"racemic"}
    if drugs == {"esketamine"}:
        return DEFAULT_SETS[("human_adult", "esketamine")]
    if drugs == {"arketamine"}:
        return DEFAULT_SETS[("human_adult", "arketamine")]
    return DEFAULT_SETS[("human_adult", "racemic")]


def _resolve_set(parameters: str | ParameterSet) -> ParameterSet:
    if isinstance(parameters, ParameterSet):
        return parameters
    if isinstance(parameters, str):
        return get_parameter_set(parameters)
    raise InputError(f"parameters must be a parameter-set id or a ParameterSet; got {type(parameters).__name__}.")


def _regimen(regimen) -> Regimen:
    if isinstance(regimen, Regimen):
        return regimen
    if isinstance(regimen, str):
        from .regimen_text import parse_regimen

        return parse_regimen(regimen)
    raise InputError(f"regimen must be a Regimen or regimen text; got {type(regimen).__name__}.")


def _times(times) -> np.ndarray:
    try:
        t = np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        raise InputError("times must be an array of numbers (hours).") from None
    t = np.atleast_1d(t)
    if t.ndim != 1 or t.size == 0:
        raise InputError(f"times must be a non-empty 1-D array of hours; got shape {t.shape}.")
    if not np.all(np.isfinite(t)):
        raise InputError("times must be finite numbers of hours; got NaN or infinity.")
    if np.any(t < 0):
        raise InputError(f"times must be >= 0 h; got a minimum of {t.min():g} h.")
    bad = np.flatnonzero(np.diff(t) <= 0)
    if bad.size:
        i = int(bad[0])
        raise InputError(f"times must be strictly increasing; got {t[i]:g} h then {t[i + 1]:g} h at positions {i} "
                         f"and {i + 1}. Sort the times and drop duplicates (numpy.unique).")
    return t


#: Names that ``outputs=`` accepts for groups of variables.
OUTPUT_GROUPS: dict[str, str] = {
    "default": "the default outputs: PK concentrations and amounts, occupancies, circuit rates, dopamine",
    "safety": "acute safety: blood pressure and heart-rate rises, sedation, dissociation",
    "outcomes": "acute effects (dissociation, sedation) and the outcome layers: drug liking, tolerance, memory, "
                "antidepressant, relapse, harms, dependence",
    "all": "default + safety + outcomes",
}


def _set_groups(reg: Regimen, pop: Population, parameters) -> tuple[list[ParameterSet], dict[str, np.ndarray]]:
    """The parameter sets used and, for each, the indices of its subjects."""
    if parameters is not None:
        ps = _resolve_set(parameters)
        return [ps], {ps.id: np.arange(pop.n)}
    ages = np.asarray(pop.covariates["age"], float)
    ids = np.array([default_parameter_set(reg, pop.species, a) for a in ages])
    groups = {sid: np.flatnonzero(ids == sid) for sid in dict.fromkeys(ids)}
    return [_resolve_set(sid) for sid in groups], groups


def _default_names(ps_all: Sequence[ParameterSet]) -> list[str]:
    """simulate()'s default outputs for these parameter sets."""
    return [o for o in DEFAULT_PK_OUTPUTS if all(o in pk_variables(ps) for ps in ps_all)] + list(DEFAULT_PD_OUTPUTS)


def _expand_groups(outputs, regimen, population, parameters):
    """Replace the group names of :data:`OUTPUT_GROUPS` in ``outputs`` by their variables (order kept)."""
    if outputs is None:
        return None
    names = [outputs] if isinstance(outputs, str) else outputs
    try:
        names = list(names)
    except TypeError:
        return outputs          # not a list of names: the validation below reports it
    if not any(isinstance(o, str) and o in OUTPUT_GROUPS for o in names):
        return names            # a list: a generator given as outputs is read once, here
    from .layers.acute_effects import ACUTE_OUTPUTS
    from .layers.safety import SAFETY_OUTPUTS
    from .outcomes import outcome_variables

    out: list[str] = []
    for o in names:
        if o in ("default", "all"):
            pop = as_population(population)
            out += _default_names(_set_groups(_regimen(regimen), pop, parameters)[0])
        if o in ("safety", "all"):
            out += list(SAFETY_OUTPUTS)
        if o in ("outcomes", "all"):        # the acute central effects are outcomes too (issue 4's list)
            out += list(ACUTE_OUTPUTS) + list(outcome_variables())
        if o not in OUTPUT_GROUPS:
            out.append(o)
    return list(dict.fromkeys(out))


def simulate(regimen: Regimen | str, population: Subject | Population | Sequence[Subject], times,
             *, parameters: str | ParameterSet | None = None, circuit: str | Sequence[str] | None = None,
             outputs: Iterable[str] | None = None, scenario: str = "") -> xr.Dataset:
    """Simulate a regimen in one subject or a population.

    Parameters
    ----------
    regimen : Regimen or str
        Doses, or regimen text such as ``"0.5 mg/kg iv over 40 min"``.
    population : Subject, list of Subject, or Population
    times : array_like
        Output times in hours (>= 0, strictly increasing). Dose times need not be on it.
    parameters : str or ParameterSet, optional
        Parameter-set id (see ``ketasim parameters``). Default: chosen per subject
        by :func:`default_parameter_set`.
    circuit : str or list of str, optional
        Circuit variant(s) of the receptor -> circuit -> dopamine chain:
        ``"trn_disinhibition"``, ``"cortical_disinhibition"``, ``"vta_local"``,
        ``"opioid"`` or a list of them; ``None`` or ``"best"`` is the best-scoring
        combination of ``ketasim hypotheses`` (docs/model.md).
    outputs : iterable of str, optional
        Variables to compute and keep (see ``ketasim variables``); default
        :data:`~ketasim.layers.pk.DEFAULT_PK_OUTPUTS` (those the set provides) and
        :data:`~ketasim.pd_chain.DEFAULT_PD_OUTPUTS` (occupancies, rates, dopamine).
        Only what is asked is computed: PK-only outputs never run the circuit; the
        acute-safety (``dissociation``, ``delta_SBP`` ...) and outcome variables
        (``drug_liking``, ``tolerance``, ``depression_score`` ...; :mod:`ketasim.outcomes`)
        are computed only when named here. Group names stand for several variables
        (:data:`OUTPUT_GROUPS`): ``"default"``, ``"safety"``, ``"outcomes"`` and
        ``"all"`` (all three), e.g. ``outputs="all"`` or ``["default", "drug_liking"]``.
    scenario : str
        Free-text name recorded in the result's attributes.

    Returns
    -------
    xarray.Dataset
        Dimensions ``subject`` x ``time``; each variable has ``units`` and
        ``long_name`` attributes; the Dataset records the ketasim version, the
        parameter sets with their citations, and the regimen.

    Examples
    --------
    >>> import numpy as np, ketasim as ks
    >>> res = ks.simulate("0.5 mg/kg iv over 40 min", ks.Subject(weight=70), np.arange(0, 4, 0.5))
    >>> res["C_plasma_ketamine"].attrs["units"]
    'ng/mL'
    """
    from .acute_safety import simulate_with_safety, wants_safety  # acute-safety outputs (issue 9)
    from .outcomes import simulate_with_outcomes, wants_outcomes  # outcome layers (issue 4)

    outputs = _expand_groups(outputs, regimen, population, parameters)

    if wants_outcomes(outputs):  # drug_liking, tolerance, depression_score ...: computed only when asked
        return simulate_with_outcomes(simulate, regimen, population, times, outputs=outputs, parameters=parameters,
                                      circuit=circuit, scenario=scenario)
    if wants_safety(outputs):  # delta_SBP/DBP/HR, sedation, dissociation: computed only when asked
        return simulate_with_safety(simulate, regimen, population, times, outputs=outputs, parameters=parameters,
                                    circuit=circuit, scenario=scenario)
    reg = _regimen(regimen)
    circ_label = circuit_label(circuit)
    pop = as_population(population)
    t = _times(times)
    ps_all, groups = _set_groups(reg, pop, parameters)
    for ps in ps_all:
        if ps.species != pop.species:
            raise InputError(f"parameter set {ps.id!r} is for {ps.species}s; the population is {pop.species}. "
                             "Choose a set of the same species.")
    if reg.needs_weight and "weight" not in pop.covariates:
        raise InputError("weight is needed for a dose in mg/kg; give Subject(weight=...).")
    if outputs is None:
        wanted = _default_names(ps_all)
    else:
        if isinstance(outputs, str):
            outputs = [outputs]
        wanted = list(dict.fromkeys(outputs))
        if not wanted:
            raise InputError("outputs must name at least one variable; got an empty list.")
        valid = set().union(*(pk_variables(ps) for ps in ps_all))
        for o in wanted:
            if o not in valid and o not in PK_OUTPUTS and o not in PD_OUTPUTS:
                from .layers.safety import SAFETY_OUTPUTS
                from .outcomes import outcome_variables

                names = valid | set(PD_OUTPUTS) | set(SAFETY_OUTPUTS) | set(outcome_variables()) | set(OUTPUT_GROUPS)
                raise unknown("outputs", o, sorted(names))
    cells = pop.n * t.size * len(wanted)
    if cells > MAX_CELLS:
        raise InputError(
            f"the result would hold {cells:.3g} values (subjects x times x outputs); at most {MAX_CELLS:.3g} "
            "fit in memory here. Use fewer outputs, a coarser time grid, or ketasim trial --summaries-only."
        )
    data: dict[str, np.ndarray] = {}
    for ps, (sid, idx) in zip(ps_all, groups.items()):
        sub = pop.take(idx)
        pk_wanted = [o for o in wanted if o not in PD_OUTPUTS]
        extra = [o for o in pk_inputs_needed(wanted, circuit) if o not in pk_wanted and o in pk_variables(ps)]
        res = run_pk(reg, sub.covariates, sub.eta, t, ps, pk_wanted + extra)
        res.update(run_pd(res, wanted, circuit, factors=pd_factors_of(sub)))
        for o in wanted:
            if len(groups) == 1:      # one parameter set: keep the layer's array, no copy
                data[o] = res[o]
            else:
                data.setdefault(o, np.zeros((pop.n, t.size)))[idx] = res[o]
    variables = {}
    for o in wanted:
        unit, long = next((pk_variables(ps)[o] for ps in ps_all if o in pk_variables(ps)),
                          PK_OUTPUTS.get(o) or PD_OUTPUTS.get(o, ("", o)))
        variables[o] = xr.Variable(("subject", "time"), data[o], attrs={"units": unit, "long_name": long})
    coords = {
        "subject": ("subject", pop.ids),
        "time": ("time", t, {"units": "h", "long_name": "time after the start of the regimen"}),
    }
    for k in ("weight", "age", "sex"):
        if k in pop.covariates:
            unit = {"weight": "kg", "age": "years", "sex": ""}[k]
            coords[k] = ("subject", np.asarray(pop.covariates[k]), {"units": unit})
    if parameters is None and len(ps_all) > 1:
        set_of = np.empty(pop.n, dtype=object)
        for sid, idx in groups.items():
            set_of[idx] = sid
        coords["parameter_set"] = ("subject", set_of.astype(str))
    ds = xr.Dataset(variables, coords=coords)
    ds.attrs.update({
        "title": "ketasim simulation",
        "ketasim_version": __version__,
        "regimen": reg.to_text(),
        "parameter_sets": ", ".join(ps.id for ps in ps_all),
        "citations": " | ".join(f"{ps.id}: {ps.citation}" for ps in ps_all),
        "population_seed": "" if pop.seed is None else str(pop.seed),
        "variability": "typical values" if pop.eta is None else "inter-individual variability",
        "scenario": scenario,
        "circuit": circ_label if any(o in PD_OUTPUTS for o in wanted) else "",
    })
    factors = pd_factors_of(pop)
    if factors and any(o in PD_OUTPUTS for o in wanted):
        ds.attrs["pd_factors"] = ", ".join(sorted(factors))   # scaled receptor/circuit/dopamine parameters
    return ds

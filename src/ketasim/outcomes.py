"""Outcome orchestrator: slow and acute outcome layers on an internal, dose-aware time grid.

:func:`ketasim.simulate` calls :func:`simulate_with_outcomes` when ``outputs=`` names
an outcome variable (:func:`outcome_variables`). The orchestrator

1. builds an internal grid (:func:`internal_grid`): the user's times, plus *base*
   points at fixed absolute positions — fine steps (:data:`FINE_STEP_H`) from each dose
   to :data:`FINE_WINDOW_H` after its input ends, medium steps (:data:`MEDIUM_STEP_H`)
   to :data:`MEDIUM_WINDOW_H` after the dose, and a coarse floor (:data:`COARSE_STEP_H`)
   everywhere else;
2. runs the PK layer (and the PD chain where a layer needs dopamine or occupancy) on it,
   subjects in chunks;
3. runs the outcome layers of :data:`OUTCOME_LAYERS` in order, each reading upstream
   variables and the outputs of the layers before it. Slow states are driven by exact
   exposure increments (differences of the PK layer's ``AUC_*`` cumulative integrals) and
   are carried only along the base points; a user time between base points is reached by
   one exact step from the base point before it. The base points do not depend on the
   user's times, so the values at any time do not depend on the output grid;
4. samples every outcome at the user's times.

Registry contract (issue 4): each module in :data:`OUTCOME_LAYERS` exposes
``OUTPUTS: dict[str, (unit, long name)]``, ``INPUTS: tuple[str, ...]`` (PK, PD, safety or
earlier outcome variables) and ``run(times, inputs, subjects, wanted) -> dict`` (arrays
subjects x times); ``run`` may also accept the keywords ``base`` (bool mask of base
points) and ``circuit`` (tuple of circuit variant names).
"""

from __future__ import annotations

import dataclasses
import inspect
from types import MappingProxyType
from typing import Callable, Iterable

import numpy as np
import xarray as xr

from .errors import InputError
from .layers import antidepressant, dissociation_scale, harms, liking, memory, tolerance
from .population import Population, as_population

__all__ = ["OUTCOME_LAYERS", "outcome_variables", "wants_outcomes", "internal_grid", "simulate_with_outcomes",
           "with_outcome_variability", "with_relapse_clock", "FINE_STEP_H", "FINE_WINDOW_H", "MEDIUM_STEP_H", "MEDIUM_WINDOW_H",
           "COARSE_STEP_H"]

#: Outcome layer modules, run in this order (a layer may read the outputs of those before it).
OUTCOME_LAYERS: list = [tolerance, liking, memory, dissociation_scale, antidepressant, harms]

#: Internal grid (h): fine steps from each dose to FINE_WINDOW_H after its input ends, then medium
#: steps to MEDIUM_WINDOW_H after the dose, and a coarse floor everywhere.
FINE_STEP_H = 2.0 / 60.0
FINE_WINDOW_H = 4.0
MEDIUM_STEP_H = 0.25
MEDIUM_WINDOW_H = 24.0
COARSE_STEP_H = 1.0
#: Largest number of internal-grid values held at once (subjects are processed in chunks).
_CHUNK_VALUES = 4e7


def outcome_variables() -> dict[str, tuple[str, str]]:
    """Every outcome variable: name -> (unit, long name)."""
    out: dict[str, tuple[str, str]] = {}
    for layer in OUTCOME_LAYERS:
        out.update(layer.OUTPUTS)
    return out


def wants_outcomes(outputs) -> bool:
    """Whether an ``outputs=`` argument names any outcome variable."""
    if outputs is None:
        return False
    if isinstance(outputs, str):
        outputs = [outputs]
    try:
        names = outcome_variables()
        return any(o in names for o in outputs)
    except TypeError:
        return False


def internal_grid(regimen, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The internal grid and its base-point mask for a regimen and the user's times.

    Base points sit at fixed absolute positions (dose time + multiples of the fine and
    medium steps, multiples of the coarse step), truncated at the last user time, so two
    output grids share the base points over their common range.

    Examples
    --------
    >>> from ketasim.dosing import Bolus, Regimen
    >>> g, base = internal_grid(Regimen((Bolus(0, 10, "iv", "racemic"),)), np.array([0.0, 0.05, 30.0]))
    >>> bool(base[0]), bool(base[np.searchsorted(g, 0.05)]), bool(np.isin(30.0, g))
    (True, False, True)
    """
    t = np.asarray(times, float)
    tmax = float(t[-1])
    pieces = [np.arange(0.0, tmax + 1e-12, COARSE_STEP_H)]
    for e in regimen.events:
        t0 = float(e.time)
        if t0 > tmax:
            continue
        t1 = t0 + float(getattr(e, "duration", 0.0)) + FINE_WINDOW_H
        pieces.append(t0 + FINE_STEP_H * np.arange(int(np.ceil((t1 - t0) / FINE_STEP_H)) + 1))
        t2 = max(t0 + MEDIUM_WINDOW_H, t1)
        pieces.append(t1 + MEDIUM_STEP_H * np.arange(int(np.ceil((t2 - t1) / MEDIUM_STEP_H)) + 1))
    base = np.unique(np.concatenate(pieces))
    base = base[base <= tmax + 1e-12]
    grid = np.union1d(base, t)
    return grid, np.isin(grid, base)


def _needed_layers(wanted: Iterable[str]) -> list:
    """Layers whose outputs are wanted, plus the outcome layers they read from (registry order)."""
    produced = {name: layer for layer in OUTCOME_LAYERS for name in layer.OUTPUTS}
    need: set = set()
    stack = [o for o in wanted if o in produced]
    while stack:
        layer = produced[stack.pop()]
        if layer in need:
            continue
        need.add(layer)
        stack += [i for i in layer.INPUTS if i in produced]
    return [layer for layer in OUTCOME_LAYERS if layer in need]


def _layer_wanted(layer, wanted: set, layers: list) -> list[str]:
    """Outputs of ``layer`` needed: those asked for, and those later layers read."""
    later_inputs = {i for lay in layers for i in lay.INPUTS}
    return [o for o in layer.OUTPUTS if o in wanted or o in later_inputs]


def _call(layer, t, inputs, sub, names, base, circuit):
    from .outcome_parameters import outcome_factors_of, overridden, scaled_layer_parameters

    params = inspect.signature(layer.run).parameters
    kw = {}
    if "base" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kw["base"] = base
    if "circuit" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kw["circuit"] = circuit
    key = layer.__name__.rsplit(".", 1)[-1]
    factors = outcome_factors_of(sub, key)
    if not factors:
        return layer.run(t, inputs, sub, names, **kw)
    # scaled outcome-layer parameters (sensitivity analysis): one subject at a time, each with its own values
    out: dict[str, np.ndarray] = {}
    for i in range(sub.n):
        p_i = scaled_layer_parameters(key, {k: v[i] for k, v in factors.items()}, sub.species)
        row = {k: (v[i:i + 1] if np.ndim(v) == 2 else v) for k, v in inputs.items()}
        with overridden({key: p_i}):
            part = layer.run(t, row, sub.take(slice(i, i + 1)), names, **kw)
        for k, v in part.items():
            out.setdefault(k, np.empty((sub.n, np.shape(v)[-1])))[i] = np.asarray(v)[0]
    return out


def _upstream_names(layers: list, available_pk: set) -> tuple[list[str], list[str]]:
    """(PK/PD/safety variables to simulate, of which PD) for the needed layers."""
    from .layers.safety import SAFETY_OUTPUTS
    from .pd_chain import PD_OUTPUTS

    produced = {name for layer in OUTCOME_LAYERS for name in layer.OUTPUTS}
    names = []
    for layer in layers:
        for i in layer.INPUTS:
            if i in produced or i in names:
                continue
            if i in PD_OUTPUTS or i in SAFETY_OUTPUTS or i in available_pk:
                names.append(i)
    return names, [n for n in names if n in PD_OUTPUTS]


def _available_pk(simulate_mod, reg, pop: Population, parameters) -> set:
    from .layers.pk import pk_variables

    if parameters is not None:
        sets = [simulate_mod._resolve_set(parameters)]
    else:
        ages = np.asarray(pop.covariates["age"], float)
        ids = {simulate_mod.default_parameter_set(reg, pop.species, a) for a in ages}
        sets = [simulate_mod._resolve_set(i) for i in ids]
    return set.intersection(*(set(pk_variables(ps)) for ps in sets))


def simulate_with_outcomes(simulate: Callable[..., xr.Dataset], regimen, population, times, *,
                           outputs, parameters=None, circuit=None, scenario: str = "") -> xr.Dataset:
    """:func:`ketasim.simulate` with outcome outputs (called by it; ``simulate`` is passed in).

    Non-outcome outputs are simulated as usual on ``times``; outcome variables are
    computed on :func:`internal_grid` and sampled at ``times``.
    """
    import importlib

    from .layers.circuit import resolve_circuit

    simulate_mod = importlib.import_module("ketasim.simulate")
    from .regimen_text import parse_regimen

    outs = [outputs] if isinstance(outputs, str) else list(dict.fromkeys(outputs))
    names = outcome_variables()
    want = [o for o in outs if o in names]
    rest = [o for o in outs if o not in names]
    reg = parse_regimen(regimen) if isinstance(regimen, str) else regimen
    pop = as_population(population)
    kw = {"parameters": parameters, "scenario": scenario}
    if circuit is not None:
        kw["circuit"] = circuit
    ds = simulate(reg, pop, times, outputs=rest or ["C_plasma_ketamine"], **kw)
    t = ds["time"].values
    grid, base = internal_grid(reg, t)
    idx = np.searchsorted(grid, t)
    layers = _needed_layers(want)
    upstream, pd_names = _upstream_names(layers, _available_pk(simulate_mod, reg, pop, parameters))
    circ = tuple(resolve_circuit(circuit))
    res = {o: np.empty((pop.n, t.size)) for o in want}
    chunk = max(1, int(_CHUNK_VALUES // (max(1, len(upstream) + 4) * grid.size)))
    wanted_set = set(want)
    for lo in range(0, pop.n, chunk):
        sub = pop.take(slice(lo, lo + chunk))
        up = simulate(reg, sub, grid, outputs=upstream, **{k: v for k, v in kw.items() if k != "scenario"})
        inputs = {k: up[k].values for k in upstream}
        del up
        for layer in layers:
            part = _call(layer, grid, inputs, sub, _layer_wanted(layer, wanted_set, layers), base, circ)
            inputs.update(part)
        for o in want:
            res[o][lo:lo + chunk] = inputs[o][:, idx]
    if not rest:
        ds = ds.drop_vars("C_plasma_ketamine")
    for o in want:
        unit, long = names[o]
        ds[o] = xr.Variable(("subject", "time"), res[o], attrs={"units": unit, "long_name": long, "layer": "outcomes"})
    if "baseline_madrs" in (pop.extra or {}):
        ds = ds.assign_coords(baseline_madrs=("subject", antidepressant.baseline_madrs(pop, pop.n), {"units": "MADRS"}))
    ds = ds[[o for o in outs if o in ds.data_vars]]
    ds.attrs["outcome_model"] = ("ketasim outcome layers (docs/model.md, 'Outcomes'); parameters with sources in "
                                 "ketasim/data/outcomes/*.yaml")
    if pd_names:
        ds.attrs["circuit"] = "+".join(circ)
    ds.attrs["outcome_variability"] = ("subject-level" if pop.extra and "eta_ad" in pop.extra
                                       else "typical values (no eta_ad in the population)")
    return ds


def with_outcome_variability(pop: Population, rng: np.random.Generator, *,
                             baseline_madrs: tuple[float, float] | None = None) -> Population:
    """A copy of ``pop`` with the outcome layers' random effects drawn from ``rng``.

    Adds a standard-normal ``eta_ad`` per subject (antidepressant sensitivity, scaled by
    ``omega_ad`` in the layer); ``baseline_madrs=(mean, sd)`` also draws normal baseline
    MADRS scores, clipped to 0..60. Draw order: ``eta_ad``, then the baselines.

    Examples
    --------
    >>> import numpy as np, ketasim as ks
    >>> pop = with_outcome_variability(ks.sample_population(3, np.random.default_rng(1)), np.random.default_rng(2))
    >>> sorted(pop.extra)
    ['eta_ad']
    """
    if not isinstance(rng, np.random.Generator):
        raise InputError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}.")
    n = pop.n
    extra = dict(pop.extra)
    extra["eta_ad"] = rng.standard_normal(n)
    if baseline_madrs is not None:
        try:
            m, s = (float(x) for x in baseline_madrs)
        except (TypeError, ValueError):
            raise InputError(f"baseline_madrs must be (mean, sd) in MADRS points; got {baseline_madrs!r}.") from None
        lo, hi = antidepressant.MADRS_RANGE
        if not (lo <= m <= hi and s >= 0):
            raise InputError(f"baseline_madrs mean must be in {lo:g}..{hi:g} and sd >= 0; got ({m:g}, {s:g}).")
        extra["baseline_madrs"] = np.clip(m + s * rng.standard_normal(n), lo, hi)
    return dataclasses.replace(pop, extra=MappingProxyType(extra))


def with_relapse_clock(population, start_h) -> Population:
    """A copy of ``population`` whose relapse clock (output ``p_relapse``) starts at ``start_h`` hours.

    ``start_h`` is when each subject is in stable remission or response (SUSTAIN-1:
    randomisation after 16 weeks of esketamine); a number or one value per subject.
    ``p_relapse`` is 0 before it.

    Examples
    --------
    >>> import ketasim as ks
    >>> pop = with_relapse_clock(ks.Subject(weight=70.0), 16 * 168)
    >>> float(pop.extra["relapse_from_h"][0])
    2688.0
    """
    pop = as_population(population)
    try:
        v = np.broadcast_to(np.asarray(start_h, float), (pop.n,)).copy()
    except (TypeError, ValueError):
        raise InputError(f"start_h must be a time in hours >= 0, or one per subject ({pop.n}); got {start_h!r}.") \
            from None
    extra = dict(pop.extra)
    extra["relapse_from_h"] = v
    out = dataclasses.replace(pop, extra=MappingProxyType(extra))
    antidepressant.relapse_start(out, out.n)          # validates
    return out

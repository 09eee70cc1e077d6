"""Global sensitivity analysis with SALib: Sobol indices (first order and total, with
confidence intervals) and Morris elementary effects.

The factors are parameters of a parameter set, varied as **scale factors on
their typical values** (default 0.5x to 2x, sampled uniformly on the log scale,
so 1x is the centre). For a fraction estimated on the logit scale (e.g.
bioavailability) the factor multiplies the odds, so the fraction stays in (0, 1).
Each sample is one typical subject (70 kg, 40 y, the documented covariates) of
one arm; samples are simulated together, vectorised, in chunks that an
executor runs (serial or Dask, :mod:`ketasim.trials.execute`).

How: the varied parameters get a unit log-normal "variability" on their own
random-effect column and every other parameter none, and each sample's
log-factors are its deviates. This is exact (``value * exp(log f) = value * f``)
and lets the whole sample be one population.

The samples and the model outputs are kept in the returned Dataset, labelled
(``factor`` over ``sample`` x ``parameter``), next to the indices. The same
sampling and analysis code is validated on SALib's known-answer functions
(:func:`analyse_function`: Ishigami, Sobol-G).

Examples
--------
>>> import numpy as np
>>> from SALib.test_functions import Ishigami
>>> ds = analyse_function(Ishigami.evaluate, ["x1", "x2", "x3"], [(-np.pi, np.pi)] * 3, n=1024, seed=1)
>>> [round(float(v), 1) for v in ds["S1"].values]
[0.3, 0.4, 0.0]
"""

from __future__ import annotations

import os
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import xarray as xr

from .. import __version__
from ..errors import InputError, unknown
from ..layers.circuit import get_model
from ..parameters import ETA_ROLES, ParameterSet, get_parameter_set
from ..outcome_parameters import outcome_parameter_table
from ..pd_parameters import closest, pd_parameter_table
from ..population import Population, Subject
from . import _scenario as S

__all__ = ["sensitivity", "analyse_function", "METHODS", "parameter_problem", "evaluate_samples",
           "plot_sensitivity"]

#: Methods by name.
METHODS = ("sobol", "morris")


# ---------------------------------------------------------------------------
# sampling and analysis (shared by the model and the known-answer checks)
# ---------------------------------------------------------------------------
def _problem(names: Sequence[str], bounds: Sequence[tuple[float, float]]) -> dict[str, Any]:
    return {"num_vars": len(names), "names": list(names), "bounds": [[float(a), float(b)] for a, b in bounds]}


def _sample(problem: Mapping[str, Any], method: str, n: int, seed: int, second_order: bool,
            num_levels: int) -> np.ndarray:
    if method == "sobol":
        from SALib.sample import sobol

        if n & (n - 1):
            raise InputError(f"n must be a power of 2 for Sobol sampling (e.g. 1024, 4096); got {n}.")
        return sobol.sample(dict(problem), n, calc_second_order=second_order, seed=seed)
    from SALib.sample import morris

    return morris.sample(dict(problem), n, num_levels=num_levels, seed=seed)


def _analyse(problem: Mapping[str, Any], method: str, x: np.ndarray, y: np.ndarray, seed: int,
             second_order: bool, num_levels: int) -> dict[str, np.ndarray]:
    if not np.all(np.isfinite(y)):
        bad = int(np.sum(~np.isfinite(y)))
        raise InputError(f"the output is not finite for {bad} of {y.size} samples; narrow the bounds.")
    if method == "sobol":
        from SALib.analyze import sobol

        si = sobol.analyze(dict(problem), y, calc_second_order=second_order, num_resamples=200, seed=seed)
        out = {k: np.asarray(si[k], float) for k in ("S1", "S1_conf", "ST", "ST_conf")}
        if second_order:
            out["S2"] = np.asarray(si["S2"], float)
            out["S2_conf"] = np.asarray(si["S2_conf"], float)
        return out
    from SALib.analyze import morris

    si = morris.analyze(dict(problem), x, y, num_levels=num_levels, num_resamples=200, seed=seed)
    return {k: np.asarray(si[k], float) for k in ("mu", "mu_star", "sigma", "mu_star_conf")}


_INDEX_ATTRS = {
    "S1": "first-order Sobol index", "S1_conf": "half-width of the 95% bootstrap CI of S1",
    "ST": "total-order Sobol index", "ST_conf": "half-width of the 95% bootstrap CI of ST",
    "S2": "second-order Sobol index", "S2_conf": "half-width of the 95% bootstrap CI of S2",
    "mu": "mean elementary effect", "mu_star": "mean absolute elementary effect",
    "sigma": "standard deviation of the elementary effects", "mu_star_conf": "half-width of the 95% CI of mu_star",
}


def _dataset(names, bounds, method, x, y, indices, *, y_name="y", y_units="", x_name="x",
             x_transform: Callable[[np.ndarray], np.ndarray] | None = None) -> xr.Dataset:
    data_vars: dict[str, Any] = {
        x_name: (("sample", "parameter"), x if x_transform is None else x_transform(x),
                 {"long_name": "sampled value of each factor"}),
        y_name: (("sample",), y, {"units": y_units, "long_name": "model output per sample"}),
        "lower": (("parameter",), np.array([b[0] for b in bounds], float)),
        "upper": (("parameter",), np.array([b[1] for b in bounds], float)),
    }
    for k, v in indices.items():
        dims = ("parameter", "parameter2") if v.ndim == 2 else ("parameter",)
        data_vars[k] = (dims, v, {"long_name": _INDEX_ATTRS[k]})
    coords = {"parameter": ("parameter", list(names)), "sample": ("sample", np.arange(len(y)))}
    if any(v.ndim == 2 for v in indices.values()):
        coords["parameter2"] = ("parameter2", list(names))
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs.update({"method": method, "output": y_name})
    return ds


def _check_method(method: str, n: int) -> None:
    if method not in METHODS:
        raise unknown("method", method, METHODS)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise InputError(f"n must be a whole number >= 2; got {n!r}.")


def analyse_function(func: Callable[[np.ndarray], np.ndarray], names: Sequence[str],
                     bounds: Sequence[tuple[float, float]], *, method: str = "sobol", n: int = 1024, seed: int = 1,
                     second_order: bool = False, num_levels: int = 4) -> xr.Dataset:
    """Sensitivity of any vectorised function ``func(X) -> Y`` (X: samples x factors).

    The wrapper :func:`sensitivity` uses for the model, exposed so that it can be
    checked on known-answer functions (SALib's Ishigami and Sobol-G).
    """
    _check_method(method, n)
    problem = _problem(names, bounds)
    x = _sample(problem, method, int(n), seed, second_order, num_levels)
    y = np.asarray(func(x), float)
    idx = _analyse(problem, method, x, y, seed, second_order, num_levels)
    ds = _dataset(names, bounds, method, x, y, idx)
    ds.attrs.update({"n": int(n), "seed": int(seed)})
    return ds


# ---------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------
def parameter_problem(ps: ParameterSet, names: Sequence[str]) -> ParameterSet:
    """A copy of ``ps`` whose parameters ``names`` carry a unit random effect each (own column) and no other
    parameter any: a population's deviates are then the log scale factors of those parameters."""
    if len(names) > len(ETA_ROLES):
        raise InputError(f"at most {len(ETA_ROLES)} parameters can be varied at once; got {len(names)}.")
    for nm in names:
        if nm not in ps.params:
            raise unknown("parameters", nm, sorted(ps.params))
    new = {}
    for name, p in ps.params.items():
        if name in names:
            new[name] = replace(p, iiv=1.0, eta=ETA_ROLES[list(names).index(name)])
        else:
            new[name] = replace(p, iiv=0.0)
    return replace(ps, params=MappingProxyType(new), iiv_covariance=())


#: Outcome variables that read neither the chain nor the NMDA-blockade integral (concentration-driven
#: dissociation and its CADSS conversion; the bladder states driven by the eliminated amount).
CHAIN_INDEPENDENT = frozenset({"dissociation_cadss", "bladder_injury", "p_urinary_symptoms"})


def _chain_dependent() -> set:
    """Variables that respond to receptor, circuit or dopamine parameters: the chain's and the outcomes reading it."""
    from ..outcomes import outcome_variables
    from ..pd_chain import PD_OUTPUTS

    return set(PD_OUTPUTS) | (set(outcome_variables()) - CHAIN_INDEPENDENT)


def _metric_variable(metric: str) -> tuple[str, ...]:
    from ..flagship import METRICS

    for pre in ("peak_", "auc_", "final_"):
        if metric.startswith(pre):
            return (metric[len(pre):],)
    if metric in METRICS:
        return ("C_plasma_ketamine", "C_plasma_norketamine") if "norketamine" in metric else ("C_plasma_ketamine",)
    raise InputError(f"output must be a summary metric: peak_<variable>, auc_<variable>, final_<variable> (see "
                     f"`ketasim variables`) or one of {', '.join(METRICS)}; got {metric!r}.")


def evaluate_samples(regimen, times: np.ndarray, ps: ParameterSet, log_factors: np.ndarray, species: str,
                     metric: str, pd_log_factors: Mapping[str, np.ndarray] | None = None,
                     circuit=None, outcome_log_factors: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """The metric for typical subjects whose varied parameters are scaled by ``exp(log_factors)``.

    ``log_factors`` (samples x PK parameters) are the deviates of ``ps`` from
    :func:`parameter_problem`; ``pd_log_factors`` maps receptor, circuit and dopamine
    parameters (:mod:`ketasim.pd_parameters`) to one log scale factor per sample;
    ``outcome_log_factors`` does the same for outcome-layer parameters
    (:mod:`ketasim.outcome_parameters`).
    """
    from ..simulate import simulate
    from .summaries import subject_metrics

    m = log_factors.shape[0]
    base = Population.from_subjects([Subject(weight=0.3, age=0.25, species="rat") if species == "rat" else Subject()])
    pop = base.take(np.zeros(m, dtype=np.int64))
    eta = np.zeros((m, len(ETA_ROLES)))
    eta[:, : log_factors.shape[1]] = log_factors
    pop = replace(pop, eta=eta, ids=np.arange(m))
    variables = _metric_variable(metric)
    kw = {} if circuit is None else {"circuit": circuit}
    if pd_log_factors:
        from ..pd_parameters import with_pd_factors

        # the factors travel with the subjects: simulate applies them to the chain wherever it runs,
        # also under the acute-safety and outcome layers
        pop = with_pd_factors(pop, {k: np.exp(np.asarray(v, float)) for k, v in pd_log_factors.items()}, circuit)
    if outcome_log_factors:
        from ..outcome_parameters import with_outcome_factors

        pop = with_outcome_factors(pop, {k: np.exp(np.asarray(v, float)) for k, v in outcome_log_factors.items()})
    res = simulate(regimen, pop, times, parameters=ps, outputs=list(variables), **kw)
    series = {v: np.maximum(res[v].values, 0.0) if v.startswith(("C_", "A_")) else res[v].values
              for v in variables}
    units = {v: res[v].attrs.get("units", "") for v in variables}
    vals, _ = subject_metrics(times, series, units, [e.time for e in regimen.events])
    if metric not in vals:
        raise InputError(f"output {metric!r} cannot be computed from {', '.join(variables)}.")
    return np.asarray(vals[metric], float)


def _pick_arm(sc, arm):
    names = [a.name for a in sc.arms]
    if arm is None:
        return sc.arms[0]
    if isinstance(arm, (int, np.integer)) and not isinstance(arm, bool):
        if not 0 <= arm < len(names):
            raise InputError(f"arm must be an arm name or index 0-{len(names) - 1}; got {arm}.")
        return sc.arms[int(arm)]
    if arm in names:
        return sc.arms[names.index(arm)]
    pref = [a for a in names if a.startswith(str(arm))]
    if len(pref) == 1:
        return sc.arms[names.index(pref[0])]
    raise unknown("arm", arm, names)


def sensitivity(scenario=None, *, parameters: Sequence[str] | Mapping[str, tuple[float, float]],
                output: str = "peak_C_plasma_ketamine", method: str = "sobol", n: int = 1024, arm: str | int | None = None,
                parameter_set: str | ParameterSet | None = None, bounds: tuple[float, float] = (0.5, 2.0),
                seed: int = 1, second_order: bool = False, num_levels: int = 4, executor: str = "serial",
                workers: int = 2, scheduler: str | None = None, chunk_size: int = 4096,
                progress: bool = False) -> xr.Dataset:
    """Global sensitivity of a summary metric of one arm to parameter-set parameters.

    Parameters
    ----------
    scenario : Scenario or path, optional
        Default: the flagship.
    parameters : list of str, or {name: (low, high)}
        Parameters of the arm's parameter set (``ketasim parameters <id>``) and of
        the receptor, circuit and dopamine layers (``Ki_NMDA``, ``gain``,
        ``strength_<variant>``, ``Vmax_NAc`` ...: :func:`ketasim.pd_parameters.pd_parameter_table`),
        with scale-factor bounds (default ``bounds`` for all).
    output : str
        A per-subject metric: ``peak_<variable>``, ``auc_<variable>``,
        ``final_<variable>`` or a flagship metric such as ``Cmax_ketamine``.
    method : {"sobol", "morris"}
    n : int
        Sobol: base samples (a power of 2; N x (D + 2) simulations). Morris:
        trajectories (N x (D + 1) simulations).
    arm : str or int, optional
        Arm name (or a unique prefix) or index; default the first.
    parameter_set : str or ParameterSet, optional
        Default: the arm's (scenario's) set, else the documented default.
    executor, workers, scheduler, chunk_size, progress
        How the samples are simulated (see :func:`ketasim.trials.execute.map_tasks`);
        the numbers do not depend on them.

    Returns
    -------
    xarray.Dataset
        ``factor`` (sample x parameter), the output per sample, and the indices
        per parameter (``S1``, ``S1_conf``, ``ST``, ``ST_conf`` or ``mu``,
        ``mu_star``, ``sigma``, ``mu_star_conf``).

    Examples
    --------
    >>> ds = sensitivity(parameters=["CL", "V1"], output="peak_C_plasma_ketamine", n=64, method="morris",
    ...                  arm="iv-depression")
    >>> ds["parameter"].values.tolist(), ds.attrs["method"]
    (['CL', 'V1'], 'morris')
    """
    from ..flagship import FLAGSHIP, Scenario, load_scenario
    from ..simulate import default_parameter_set
    from .execute import map_tasks

    _check_method(method, n)
    sc = FLAGSHIP if scenario is None else (scenario if isinstance(scenario, Scenario) else load_scenario(scenario))
    a = _pick_arm(sc, arm)
    reg = S.regimen(a)
    species = getattr(getattr(sc, "population", None), "species", "human")
    ps = S.arm_parameters(sc, a, parameter_set) or default_parameter_set(reg, species)
    ps = ps if isinstance(ps, ParameterSet) else get_parameter_set(ps)
    if isinstance(parameters, str):
        parameters = [p.strip() for p in parameters.split(",") if p.strip()]
    if isinstance(parameters, Mapping):
        names = list(parameters)
        fb = [tuple(map(float, parameters[k])) for k in names]
    else:
        names = list(parameters)
        fb = [tuple(map(float, bounds))] * len(names)
    if not names:
        raise InputError("parameters must name at least one parameter of the set; got none.")
    circuit = S.circuit(sc)
    pd_table = pd_parameter_table(circuit)
    out_table = outcome_parameter_table(species)
    for nm in names:
        if nm not in ps.params and nm not in pd_table and nm not in out_table:
            valid = [*ps.params, *pd_table, *out_table]
            raise InputError(f"parameters: {nm!r} is neither a parameter of set {ps.id!r} ({', '.join(ps.params)}) "
                             f"nor of the receptor, circuit and dopamine layers ({', '.join(pd_table)}) nor of the "
                             f"outcome layers ({', '.join(out_table)}).{closest(nm, valid)}")
    pk_names = [nm for nm in names if nm in ps.params]
    out_names = [nm for nm in names if nm not in ps.params and nm in out_table]
    pd_names = [nm for nm in names if nm not in ps.params and nm not in out_table]
    if len(set(names)) != len(names):
        raise InputError(f"parameters must be distinct; got {names}.")
    for nm, (lo, hi) in zip(names, fb):
        if not 0 < lo < hi:
            raise InputError(f"bounds of {nm!r} must be scale factors 0 < low < high; got ({lo:g}, {hi:g}).")
    variables = _metric_variable(output)
    if pd_names:
        free = [v for v in variables if v not in _chain_dependent()]
        if free:
            raise InputError(f"receptor, circuit and dopamine parameters ({', '.join(pd_names)}) do not act on output "
                             f"{output!r}: {free[0]} is computed from concentrations, amounts or the safety layer, not from "
                             f"the receptor -> circuit -> dopamine chain (docs/model.md), so its indices for them "
                             f"would be zero. Vary PK parameters for it, or choose an output of the chain "
                             f"(occupancy_*, rate_*, DA_*) or of the outcome layers that read it (tolerance, "
                             f"drug_liking, memory_impairment, depression_score, p_dependence ...).")
    if out_names:
        from ..outcomes import outcome_variables

        if not all(v in outcome_variables() for v in variables):
            raise InputError(f"outcome-layer parameters ({', '.join(out_names)}) act only on outcome outputs "
                             f"(peak_/auc_/final_ of {', '.join(outcome_variables())}); got output {output!r}.")
    ps_mod = parameter_problem(ps, pk_names)
    log_bounds = [(np.log(lo), np.log(hi)) for lo, hi in fb]
    problem = _problem(names, log_bounds)
    x = _sample(problem, method, int(n), seed, second_order, num_levels)
    t = sc.times()
    cs = max(1, int(chunk_size))
    pk_cols = [names.index(nm) for nm in pk_names]
    pd_cols = {nm: names.index(nm) for nm in pd_names}
    out_cols = {nm: names.index(nm) for nm in out_names}
    tasks = ((i, (reg, t, ps_mod, x[i:i + cs, pk_cols], species, output,
                  {nm: x[i:i + cs, j] for nm, j in pd_cols.items()}, circuit,
                  {nm: x[i:i + cs, j] for nm, j in out_cols.items()}))
             for i in range(0, x.shape[0], cs))
    y = np.empty(x.shape[0])
    for i, yi in map_tasks(evaluate_samples, tasks, total=-(-x.shape[0] // cs), executor=executor, workers=workers,
                           scheduler=scheduler, progress=progress, label=f"{method} samples"):
        y[i:i + yi.size] = yi
    idx = _analyse(problem, method, x, y, seed, second_order, num_levels)
    unit = _output_unit(reg, t, ps_mod, species, output, circuit)
    ds = _dataset(names, fb, method, x, y, idx, y_name=output, y_units=unit, x_name="factor", x_transform=np.exp)
    ds["factor"].attrs.update({"long_name": "scale factor on the parameter's typical value", "units": "1"})
    ds["lower"].attrs["long_name"] = "lowest scale factor"
    ds["upper"].attrs["long_name"] = "highest scale factor"
    def entry(nm):
        return out_table[nm] if nm in out_names else pd_table[nm]

    ds["layer"] = ("parameter", ["pk" if nm in ps.params else entry(nm).layer for nm in names])
    ds["typical"] = ("parameter", [float(ps.params[nm].value) if nm in ps.params else entry(nm).typical
                                   for nm in names], {"long_name": "typical value (scale factor 1)"})
    ds["unit"] = ("parameter", [ps.params[nm].unit if nm in ps.params else entry(nm).unit for nm in names])
    ds.attrs.update({
        "n": int(n), "seed": int(seed), "arm": a.name, "regimen": getattr(a, "regimen_text", getattr(a, "regimen", "")),
        "parameter_set": ps.id, "scenario": sc.name, "circuit": "+".join(get_model(circuit).variants),
        "sampling": "log-uniform scale factors on typical values (typical subject: 70 kg, 40 y); for logit-scale "
                    "fractions (PK fractions, fu_*, b0) the factor multiplies the odds",
        "simulations": int(x.shape[0]), "ketasim_version": __version__,
    })
    return ds


def _output_unit(reg, t, ps, species, metric, circuit=None) -> str:
    from ..simulate import simulate

    v = _metric_variable(metric)[0]
    from ..flagship import METRICS

    if metric in METRICS:
        return METRICS[metric][0]
    res = simulate(reg, Subject(weight=0.3, age=0.25, species="rat") if species == "rat" else Subject(), t[:2],
                   parameters=ps, outputs=[v], **({} if circuit is None else {"circuit": circuit}))
    u = res[v].attrs.get("units", "")
    return f"{u}*h" if metric.startswith("auc_") else u


def plot_sensitivity(ds: xr.Dataset, path: str | os.PathLike | None = None):
    """Bar chart of the indices with their confidence intervals (Sobol: S1 and ST; Morris: mu* and sigma)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [str(p) for p in ds["parameter"].values]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(names) + 2), 3.6), dpi=120)
    xs = np.arange(len(names))
    if ds.attrs["method"] == "sobol":
        ax.bar(xs - 0.2, ds["S1"], 0.4, yerr=ds["S1_conf"], capsize=3, label="first order (S1)")
        ax.bar(xs + 0.2, ds["ST"], 0.4, yerr=ds["ST_conf"], capsize=3, label="total (ST)")
        ax.set_ylabel("Sobol index (95% CI)")
    else:
        ax.bar(xs - 0.2, ds["mu_star"], 0.4, yerr=ds["mu_star_conf"], capsize=3, label="mu*")
        ax.bar(xs + 0.2, ds["sigma"], 0.4, label="sigma")
        ax.set_ylabel("elementary effect")
    ax.set_xticks(xs, names, rotation=45 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center")
    out = ds.attrs.get("output", "y")
    ax.set_title(f"{ds.attrs['method'].capitalize()} sensitivity of {out}"
                 + (f" ({ds.attrs['arm']})" if "arm" in ds.attrs else ""), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        from ..output import atomic_path

        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
    return fig

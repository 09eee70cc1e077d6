"""Parameter sweeps over scenario fields: Cartesian or paired, with dose-response plots.

A sweep varies one or more fields of a scenario, written as in ``ketasim run
--set`` (``arms.<arm>.dose``, ``population.weight``, ``population.n``,
``end`` ...), and runs the trial at every point, in the same sampled subjects
(the population seed is fixed, so points are compared on common random
numbers). The value syntax:

``"arms.iv.dose=0.25..1.0 mg/kg:7"``
    7 values evenly spaced from 0.25 to 1.0, each with the unit ``mg/kg``;
``"population.weight=50..110:4"``
    4 values, bare numbers (canonical units: kg, h, mg);
``"arms.esketamine.dose=28,56,84 mg"``
    a list;
``"param.Ki_NMDA=0.5..2:4"``, ``"param.harms.dependence.E50=0.5,1,2"``
    a model parameter: scale factors on its typical value, the same for every
    subject (receptor, circuit and dopamine parameters of
    :func:`ketasim.pd_parameters.pd_parameter_table`, outcome-layer parameters of
    :func:`ketasim.outcome_parameters.outcome_parameter_table`; see
    :class:`~ketasim.trials.TrialDesign` ``factors``).

An arm may be named by its name, its index or a unique prefix (``iv`` for
``iv-depression``). When every varied field belongs to one arm, only that arm
is simulated.

``mode="cartesian"`` (default) runs every combination: one dimension per field,
named by the field. ``mode="paired"`` zips the fields (equal lengths): one
dimension ``sweep`` with each field as a coordinate along it.

Examples
--------
>>> parse_vary("arms.iv.dose=0.25..1.0 mg/kg:4")
Vary(path='arms.iv.dose', values=(0.25, 0.5, 0.75, 1.0), unit='mg/kg')
>>> parse_vary("population.weight=50,70").values
(50.0, 70.0)
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from . import _scenario as S
from .design import DEFAULT_CHUNK_SIZE, TrialDesign

__all__ = ["Vary", "parse_vary", "sweep", "plot_sweep", "MODES"]

MODES = ("cartesian", "paired")
#: Prefix of a swept model parameter (scale factors), e.g. ``param.Ki_NMDA``, and the unit shown for them.
PARAM = "param."
FACTOR_UNIT = "x typical"


def _is_param(v: "Vary") -> bool:
    return v.path.startswith(PARAM)

_RANGE = re.compile(r"^\s*([-+0-9.eE]+)\s*\.\.\s*([-+0-9.eE]+)\s*([^:]*?)\s*:\s*(\d+)\s*$")
_NUM = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class Vary:
    """One varied field: a dotted path, its values and their unit ('' for canonical units)."""

    path: str
    values: tuple[float, ...]
    unit: str = ""

    def __post_init__(self) -> None:
        if not self.values:
            raise InputError(f"--vary {self.path}: give at least one value.")

    def setting(self, value: float) -> str:
        """The ``path=value`` override for one point."""
        v = f"{value:.10g}"
        return f"{self.path}={json.dumps(f'{v} {self.unit}') if self.unit else v}"

    @property
    def label(self) -> str:
        return f"{self.path} ({self.unit})" if self.unit else self.path


def parse_vary(text: str) -> Vary:
    """Parse ``PATH=LO..HI [UNIT]:K`` or ``PATH=V1,V2,... [UNIT]``."""
    if "=" not in text:
        raise InputError(f"--vary must be PATH=LO..HI[ UNIT]:K or PATH=V1,V2,...[ UNIT], e.g. "
                         f"\"arms.iv.dose=0.25..1.0 mg/kg:7\"; got {text!r}.")
    path, spec = (s.strip() for s in text.split("=", 1))
    if not path or not all(path.split(".")):
        raise InputError(f"--vary path must be dotted field names such as population.weight; got {path!r}.")
    m = _RANGE.match(spec)
    if m:
        try:
            lo, hi = float(m.group(1)), float(m.group(2))
        except ValueError:
            raise InputError(f"--vary {path}: the range bounds must be numbers; got {spec!r}.") from None
        k = int(m.group(4))
        if k < 1:
            raise InputError(f"--vary {path}: the number of values must be >= 1; got {k}.")
        vals = tuple(float(v) for v in np.linspace(lo, hi, k)) if k > 1 else (lo,)
        return Vary(path, tuple(round(v, 12) for v in vals), m.group(3).strip())
    vals, units = [], set()
    for part in spec.split(","):
        mm = _NUM.match(part)
        if not mm:
            raise InputError(f"--vary {path}: {part.strip()!r} is not a number (with an optional unit). Use "
                             "LO..HI UNIT:K or V1,V2,... UNIT.")
        vals.append(float(mm.group(1)))
        if mm.group(2):
            units.add(mm.group(2))
    if len(units) > 1:
        raise InputError(f"--vary {path}: give one unit for all values; got {sorted(units)}.")
    return Vary(path, tuple(vals), units.pop() if units else "")


def _resolve_paths(sc, varies: Sequence[Vary]) -> tuple[list[Vary], list[str] | None]:
    """Arm paths with full arm names, and the arms to simulate (None = all)."""
    out, arms = [], set()
    all_arm_fields = True
    for v in varies:
        parts = v.path.split(".")
        if parts[0] == "arms" and len(parts) >= 3:
            name = S.resolve_arm(sc, parts[1])
            arms.add(name)
            idx = [a.name for a in sc.arms].index(name)
            out.append(Vary(".".join(["arms", str(idx), *parts[2:]]), v.values, v.unit))
        else:
            all_arm_fields = False
            out.append(v)
    return out, (sorted(arms, key=[a.name for a in sc.arms].index) if all_arm_fields and len(arms) == 1 else None)


def sweep(scenario=None, vary: Sequence[str | Vary] = (), *, mode: str = "cartesian", n: int | None = None,
          seed: int | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE, parameters=None, outputs=None,
          end: str | None = None, step: str | None = None, executor: str = "serial", workers: int = 2, scheduler: str | None = None,
          progress: bool = False) -> xr.Dataset:
    """Run the trial at every point of a sweep; returns a Dataset with the sweep dims, ``arm`` and ``subject``.

    Parameters
    ----------
    scenario : Scenario or path, optional
        Default: the flagship.
    vary : list of str or Vary
        Fields and values (see the module docstring).
    mode : {"cartesian", "paired"}
    n, seed, chunk_size, parameters, outputs
        As for :class:`ketasim.trials.TrialDesign`.
    end, step : str, optional
        Override the scenario's period and output grid.
    executor, workers, scheduler, progress
        As for :func:`ketasim.trials.run`; all (point, chunk) tasks are run together.

    Examples
    --------
    >>> ds = sweep(vary=["arms.iv.dose=0.25,0.5 mg/kg"], n=3, chunk_size=3)
    >>> dict(ds["Cmax_ketamine"].sizes)
    {'arms.iv.dose': 2, 'arm': 1, 'subject': 3}
    """
    from ..flagship import FLAGSHIP, Scenario, load_scenario
    from .execute import _population_tasks, _to_dataset, map_tasks
    from .summaries import metric_units, run_chunk

    if mode not in MODES:
        from ..errors import unknown

        raise unknown("mode", mode, MODES)
    sc = FLAGSHIP if scenario is None else (scenario if isinstance(scenario, Scenario) else load_scenario(scenario))
    grid = [f"{k}={json.dumps(v)}" for k, v in (("end", end), ("step", step)) if v is not None]
    sc = S.with_overrides(sc, grid)
    given = [v if isinstance(v, Vary) else parse_vary(v) for v in vary]
    for v in given:
        if _is_param(v) and v.unit not in ("", FACTOR_UNIT):
            raise InputError(f"--vary {v.path}: a model parameter is varied by scale factors on its typical value "
                             f"(bare numbers, e.g. {v.path}=0.5..2:5); got the unit {v.unit!r}.")
    given = [Vary(v.path, v.values, FACTOR_UNIT) if _is_param(v) else v for v in given]
    if not given:
        raise InputError("vary must name at least one field, e.g. \"arms.iv.dose=0.25..1.0 mg/kg:7\".")
    paths = [v.path for v in given]
    if len(set(paths)) != len(paths):
        raise InputError(f"each field may be varied once; got {paths}.")
    resolved, arms = _resolve_paths(sc, given)
    if arms is not None:
        sc = S.only_arms(sc, arms)
        resolved = [Vary(".".join(["arms", "0", *v.path.split(".")[2:]]), v.values, v.unit)
                    if v.path.startswith("arms.") else v for v in resolved]
    if mode == "paired":
        lens = {len(v.values) for v in given}
        if len(lens) != 1:
            raise InputError(f"a paired sweep needs the same number of values for every field; got "
                             f"{', '.join(f'{v.path}: {len(v.values)}' for v in given)}.")
        points = list(zip(*(v.values for v in given)))
    else:
        points = list(itertools.product(*(v.values for v in given)))
    designs = []
    for pt in points:
        try:
            sc_pt = S.with_overrides(sc, [r.setting(x) for r, x in zip(resolved, pt) if not _is_param(r)])
            designs.append(TrialDesign(sc_pt, n=n, seed=seed, chunk_size=chunk_size, parameters=parameters,
                                       outputs=outputs,
                                       factors={r.path[len(PARAM):]: x for r, x in zip(resolved, pt) if _is_param(r)}))
        except InputError as exc:
            raise InputError(f"sweep point {dict(zip(paths, pt))}: {exc}") from None

    def tasks():
        for j, d in enumerate(designs):
            for idx, args in _population_tasks(d, d.chunks()):
                yield (j, idx), args

    total = sum(d.n_chunks for d in designs)
    frames: dict[tuple[int, int], pd.DataFrame] = {}
    for key, df in map_tasks(run_chunk, tasks(), total=total, executor=executor, workers=workers,
                             scheduler=scheduler, progress=progress, label="sweep chunks"):
        frames[key] = df
    parts = []
    for j, d in enumerate(designs):
        fs = [frames[(j, c.index)] for c in d.chunks()]
        units: dict[str, str] = {}
        for f in fs:
            units.update(metric_units(f))
        parts.append(_to_dataset(d.scenario, pd.concat(fs, ignore_index=True), units, d))
    attrs = dict(parts[0].attrs)
    for p in parts:
        p.attrs = {}
    ds = xr.concat(parts, dim="point",
                   coords="different", compat="equals", join="outer")
    for v in given:
        ds = ds.assign_coords({v.path: ("point", [pt[paths.index(v.path)] for pt in points], {"units": v.unit})})
    if mode == "paired":
        ds = ds.rename({"point": "sweep"})
    else:
        ds = ds.set_index(point=paths).unstack("point") if len(paths) > 1 else ds.swap_dims({"point": paths[0]})
        for v in given:
            ds[v.path].attrs["units"] = v.unit
        ds = ds.transpose(*paths, "arm", "subject", ...)
    attrs.pop("scenario", None)
    attrs.update({"title": f"ketasim sweep: {sc.name}", "sweep_mode": mode,
                  "sweep": json.dumps([{"field": v.path, "values": list(v.values), "unit": v.unit} for v in given]),
                  "scenario": sc.to_toml()})
    ds.attrs = attrs
    return ds


def plot_sweep(ds: xr.Dataset, metric: str = "Cmax_ketamine", path: str | os.PathLike | None = None):
    """Dose-response style plot: median and 5-95% band of ``metric`` over subjects against the first swept field,
    one line per arm (and per value of any other swept field)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if metric not in ds:
        raise InputError(f"metric {metric!r} is not in the sweep; choose one of "
                         f"{', '.join(v for v in ds.data_vars if ds[v].dtype.kind == 'f')}.")
    fields = [f["field"] for f in json.loads(ds.attrs["sweep"])]
    da = ds[metric]
    xdim = "sweep" if "sweep" in da.dims else fields[0]
    xvals = ds[fields[0]].values
    others = [d for d in da.dims if d not in (xdim, "arm", "subject")]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    q = da.quantile([0.05, 0.5, 0.95], dim="subject")
    combos = list(itertools.product(*(range(da.sizes[o]) for o in others))) or [()]
    for arm in da["arm"].values:
        for combo in combos:
            qq = q.sel(arm=arm).isel({o: i for o, i in zip(others, combo)})
            label = str(arm) + "".join(f", {o}={ds[o].values[i]:g}" for o, i in zip(others, combo))
            line, = ax.plot(xvals, qq.sel(quantile=0.5).values, marker="o", label=label)
            ax.fill_between(xvals, qq.sel(quantile=0.05).values, qq.sel(quantile=0.95).values, alpha=0.2,
                            color=line.get_color())
    unit = ds[fields[0]].attrs.get("units", "")
    ax.set_xlabel(fields[0] + (f" ({unit})" if unit else ""))
    ax.set_ylabel(f"{metric} ({da.attrs.get('units', '')})")
    ax.set_title("median and 5-95% of subjects", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        from ..output import atomic_path

        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
    return fig

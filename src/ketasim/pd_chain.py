"""The pharmacodynamic chain below simulate(): receptors -> circuit -> dopamine.

Works out which layers an ``outputs=`` list needs (and which PK variables they
read), then runs only those, each a pure function of the variables upstream.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Mapping, Sequence

import numpy as np

from .errors import InputError
from .layers.circuit import (CIRCUIT_OUTPUTS, POPULATIONS, get_model, grid_tables, interp_tables, quasi_steady,
                             quasi_steady_batch, quasi_steady_path_batch, resolve_circuit, run_circuit)
from .layers.dopamine import DA_OUTPUTS, run_dopamine
from .layers.receptors import RECEPTOR_INPUTS, RECEPTOR_OUTPUTS, run_receptors

__all__ = ["PD_OUTPUTS", "DEFAULT_PD_OUTPUTS", "pk_inputs_needed", "run_pd", "circuit_label"]

#: name -> (unit, long name) of every variable below the PK layer.
PD_OUTPUTS: dict[str, tuple[str, str]] = {**RECEPTOR_OUTPUTS, **CIRCUIT_OUTPUTS, **DA_OUTPUTS}
#: Added to simulate()'s default outputs.
DEFAULT_PD_OUTPUTS = ("occupancy_NMDA", "occupancy_mu", "occupancy_kappa",
                      *(f"rate_{p}" for p in POPULATIONS), "DA_NAc", "DA_PFC", "DA_NAc_pct", "DA_PFC_pct")


def circuit_label(circuit) -> str:
    """The Dataset attribute text for a circuit choice, e.g. ``'cortical_disinhibition+opioid'``."""
    return "+".join(resolve_circuit(circuit))


def _closure(wanted: Iterable[str], circuit) -> tuple[set, set, set]:
    """(receptor, circuit, dopamine) variables that must be computed for ``wanted``."""
    wanted = set(wanted)
    da = {o for o in wanted if o in DA_OUTPUTS}
    circ = {o for o in wanted if o in CIRCUIT_OUTPUTS}
    if da:
        circ |= {"rate_VTA_DA", "burst_fraction_VTA_DA"}
    rec = {o for o in wanted if o in RECEPTOR_OUTPUTS}
    if circ:
        rec.add("occupancy_NMDA")
        if "opioid" in resolve_circuit(circuit):
            rec |= {"occupancy_mu", "occupancy_kappa"}
    return rec, circ, da


def pk_inputs_needed(wanted: Iterable[str], circuit=None) -> list[str]:
    """PK variables the downstream layers need for ``wanted`` (empty if none is downstream)."""
    rec, _, _ = _closure(wanted, circuit)
    return list(RECEPTOR_INPUTS) if rec else []


_TABLES: dict = {}


def _chain_tables(model, names: Sequence[str]):
    """Circuit and dopamine outputs tabulated on the quasi-steady grid (cached per model).

    The dopamine layer is itself quasi-steady, so the chain below the occupancies is one
    function of occupancy: evaluating the dopamine layer on the circuit's table and looking
    up once gives the same result as looking up the rates and then running the layer (to the
    table's resolution; tested), at a fraction of the cost. Returns (grid, {name: table}).
    """
    if model not in _TABLES:
        occ_grid, sop_grid, tabs = grid_tables(model)
        tabs = dict(tabs)
        j = POPULATIONS.index("VTA_DA")
        tabs.update(run_dopamine(tabs, tuple(DA_OUTPUTS), rate0=model.r0[j], burst0=min(1.0, model.b0)))
        if len(_TABLES) > 32:
            _TABLES.clear()
        _TABLES[model] = ((occ_grid, sop_grid), tabs)
    grid, tabs = _TABLES[model]
    return grid, {n: tabs[n] for n in names}


def _threads() -> int:
    return int(os.environ.get("KETASIM_THREADS", 0)) or min(4, os.cpu_count() or 1)


def run_pd(pk: Mapping[str, np.ndarray], wanted: Sequence[str], circuit=None, *,
           fused: bool = True, threads: int | None = None,
           factors: Mapping[str, object] | None = None) -> dict[str, np.ndarray]:
    """Run the layers ``wanted`` needs on PK arrays ``pk``; returns every computed variable.

    ``fused=False`` runs the circuit and dopamine layers one after the other on the
    interpolated rates (the reference path of the tests); the default looks up the
    chain's tabulated outputs directly. 2-D inputs (subjects x times) of 64 subjects or
    more are split over ``threads`` (default ``KETASIM_THREADS`` or the CPUs, at most 4)
    like the PK engine; every operation is elementwise, so results do not depend on it.

    ``factors`` scales named receptor, circuit and dopamine parameters, one factor for
    all or one per subject (row): ``{"Ki_NMDA": 1.5, "gain": array}``; names and rules in
    :mod:`ketasim.pd_parameters`. Without it, or with factors that are all exactly 1, the
    default tables are used unchanged (the same numbers as no factors).
    """
    rec, circ, da = _closure(wanted, circuit)
    if not rec:
        return {}
    missing = [v for v in RECEPTOR_INPUTS[:2] if v not in pk]
    if missing:
        raise InputError(f"the receptor layer needs {', '.join(missing)} from the PK layer.")
    if factors:
        from .pd_parameters import check_factors

        n0 = np.asarray(pk[RECEPTOR_INPUTS[0]])
        checked = check_factors(factors, circuit, n0.shape[0] if n0.ndim == 2 else 1)
        factors = {k: v for k, v in factors.items() if not np.all(checked[k] == 1.0)}  # 1: the default tables
    if factors:
        arrays = {k: np.asarray(v, float) for k, v in pk.items() if k in RECEPTOR_INPUTS}
        return _run_factored(arrays, rec, circ, da, circuit, factors)
    model = get_model(circuit) if circ else None
    arrays = {k: np.asarray(v, float) for k, v in pk.items() if k in RECEPTOR_INPUTS}
    first = arrays[RECEPTOR_INPUTS[0]]
    threads = _threads() if threads is None else int(threads)
    n = first.shape[0] if first.ndim == 2 else 0
    if threads <= 1 or n < 64:
        return _run_block(arrays, wanted, rec, circ, da, model, fused)
    step = -(-n // threads)
    slices = [slice(s0, min(n, s0 + step)) for s0 in range(0, n, step)]
    names = [o for o in dict.fromkeys([*rec, *circ, *da])]
    dest = {k: np.empty(first.shape) for k in names}      # each thread writes its rows in place
    with ThreadPoolExecutor(max_workers=len(slices)) as pool:
        parts = list(pool.map(lambda sl: _run_block({k: v[sl] for k, v in arrays.items()}, wanted, rec, circ, da,
                                                    model, fused, {k: v[sl] for k, v in dest.items()}), slices))
    for k in parts[0]:
        if k not in dest:
            dest[k] = np.concatenate([p[k] for p in parts], axis=0)
        else:
            for sl, p in zip(slices, parts):
                if p[k].base is None or not np.shares_memory(p[k], dest[k]):
                    dest[k][sl] = p[k]
    return dest


def _run_block(pk, wanted, rec, circ, da, model, fused, dest=None) -> dict[str, np.ndarray]:
    out = dict(run_receptors(pk, tuple(rec), out=dest))
    if not circ:
        return out
    sop = out["occupancy_mu"] + out["occupancy_kappa"] if model.uses_opioid else None
    if fused:
        names = [o for o in wanted if o in CIRCUIT_OUTPUTS or o in DA_OUTPUTS]
        grid, tabs = _chain_tables(model, names)
        out.update(interp_tables(model, grid, tabs, out["occupancy_NMDA"], sop, out=dest))
        return out
    out.update(run_circuit(out, outputs=tuple(circ), model=model))
    if da:
        j = POPULATIONS.index("VTA_DA")
        out.update(run_dopamine(out, tuple(da), rate0=model.r0[j], burst0=min(1.0, model.b0)))
    return out


def _run_factored(pk, rec, circ, da, circuit, factors) -> dict[str, np.ndarray]:
    """The chain with scale factors on its parameters (unfused: rates, then dopamine per subject)."""
    from .pd_parameters import check_factors, circuit_factors, scaled_dopamine_parameters, scaled_receptor_parameters

    first = pk[RECEPTOR_INPUTS[0]]
    f = check_factors(factors, circuit, first.shape[0] if first.ndim == 2 else 1)
    out = dict(run_receptors(pk, tuple(rec), parameters=scaled_receptor_parameters(f)))
    if not circ:
        return out
    model = get_model(circuit)
    cf = circuit_factors(f)
    pops = [o[5:] for o in circ if o.startswith("rate_")]
    want_burst = "burst_fraction_VTA_DA" in circ
    if cf and model.uses_opioid:     # a two-dimensional map: follow each subject's path instead
        sop = out["occupancy_mu"] + out["occupancy_kappa"]
        out.update(quasi_steady_path_batch(model, cf, out["occupancy_NMDA"], sop, pops, want_burst))
    elif cf:
        out.update(quasi_steady_batch(model, cf, out["occupancy_NMDA"], pops, want_burst))
    else:
        sop = out["occupancy_mu"] + out["occupancy_kappa"] if model.uses_opioid else None
        out.update(quasi_steady(model, out["occupancy_NMDA"], sop, pops, want_burst))
    if da:
        j = POPULATIONS.index("VTA_DA")
        b0 = model.b0
        if "b0" in f:
            b0 = b0 * f["b0"] / (1.0 - b0 + b0 * f["b0"])
        out.update(run_dopamine(out, tuple(da), rate0=model.r0[j], burst0=np.minimum(1.0, b0),
                                parameters=scaled_dopamine_parameters(f)))
    return out

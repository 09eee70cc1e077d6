"""The pharmacodynamic chain below simulate(): receptors -> circuit -> dopamine.

Works out which layers an ``outputs=`` list needs (and which PK variables they
read), then runs only those, each a pure function of the variables upstream.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

from .errors import InputError
from .layers.circuit import CIRCUIT_OUTPUTS, POPULATIONS, get_model, resolve_circuit, run_circuit
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


def run_pd(pk: Mapping[str, np.ndarray], wanted: Sequence[str], circuit=None) -> dict[str, np.ndarray]:
    """Run the layers ``wanted`` needs on PK arrays ``pk``; returns every computed variable."""
    rec, circ, da = _closure(wanted, circuit)
    out: dict[str, np.ndarray] = {}
    if not rec:
        return out
    missing = [v for v in RECEPTOR_INPUTS[:2] if v not in pk]
    if missing:
        raise InputError(f"the receptor layer needs {', '.join(missing)} from the PK layer.")
    out.update(run_receptors(pk, tuple(rec)))
    if circ:
        model = get_model(circuit)
        out.update(run_circuit(out, outputs=tuple(circ), model=model))
        if da:
            j = POPULATIONS.index("VTA_DA")
            out.update(run_dopamine(out, tuple(da), rate0=model.r0[j], burst0=min(1.0, model.b0)))
    return out

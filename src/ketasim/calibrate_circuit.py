"""Fit the free circuit parameters of every variant combination to the calibration facts.

Reproducible: ``python -m ketasim.calibrate_circuit`` (deterministic Nelder-Mead from
fixed starting points) rewrites ``src/ketasim/data/circuit/calibration.yaml`` with the
fitted values and their fit quality (weighted RMS residual, per-fact predictions).

Free parameters per combination: the strength ``s`` of each NMDA variant (scales its
NMDA-dependent fractions; bounds [0, 1.25]) and, with ``opioid``, the opioid weight
(bounds [0, 3]). Everything else is fixed at the values in ``circuit.yaml`` /
``dopamine.yaml``. The objective is the sum of the weighted squared residuals of the
``calibration`` facts (see :mod:`ketasim.hypotheses`) plus a small pull (1e-4) of each
parameter towards 1, which picks one solution where the residuals are flat.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import minimize

from . import __version__
from .hypotheses import COMBINATIONS, FACTS, predict_fact
from .layers.circuit import combo_key, fixed_point_map, get_model

__all__ = ["fit_combination", "main"]

_BOUNDS = {"strength": (0.0, 1.25), "opioid_weight": (0.0, 3.0)}


def _names(variants):
    names = [f"strength_{v}" for v in variants if v != "opioid"]
    if "opioid" in variants:
        names.append("opioid_weight")
    return names


def fit_combination(variants, maxiter: int = 150) -> dict:
    """Fit one combination; returns values, fit quality and per-fact predictions."""
    names = _names(variants)
    cal = [f for f in FACTS if f.kind == "calibration"]
    bounds = [_BOUNDS["opioid_weight" if n == "opioid_weight" else "strength"] for n in names]

    def model_of(x):
        return get_model(list(variants), **dict(zip(names, map(float, x))))

    def objective(x):
        m = model_of(x)
        try:
            fixed_point_map(m)
        except RuntimeError:
            return 1e6
        r = np.array([f.residual(predict_fact(f, m)) for f in cal])
        w = np.array([f.weight for f in cal])
        return float(np.sum(w * r * r) + 1e-4 * np.sum((np.asarray(x) - 1.0) ** 2))

    x0 = np.ones(len(names))
    res = minimize(objective, x0, method="Nelder-Mead", bounds=bounds,
                   options={"maxiter": maxiter, "xatol": 1e-3, "fatol": 1e-6, "initial_simplex":
                            np.vstack([x0, x0 - 0.3 * np.eye(len(names))])})
    m = model_of(res.x)
    rows = {}
    for f in cal:
        p = predict_fact(f, m)
        rows[f.id] = {"prediction": round(float(p), 4), "residual": round(f.residual(p), 4),
                      "interval": [f.lo, f.hi]}
    rr = np.array([v["residual"] for v in rows.values()])
    ww = np.array([f.weight for f in cal])
    return {"values": {n: round(float(v), 4) for n, v in zip(names, res.x)},
            "fit": {"rms_residual": round(float(np.sqrt(np.sum(ww * rr ** 2) / ww.sum())), 4),
                    "facts_satisfied": int(np.sum(rr == 0)), "n_facts": len(cal),
                    "evaluations": int(res.nfev), "per_fact": rows}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "circuit" / "calibration.yaml")
    args = ap.parse_args(argv)
    fits = {}
    for combo in COMBINATIONS:
        key = combo_key(combo)
        fits[key] = fit_combination(combo)
        print(f"{key:70s} rms {fits[key]['fit']['rms_residual']:.3f}  {fits[key]['values']}")
    doc = {
        "generated_by": "python -m ketasim.calibrate_circuit",
        "ketasim_version": __version__,
        "method": "Nelder-Mead on the weighted squared residuals of the calibration facts (ketasim.hypotheses); "
                  "fixed starting point 1.0; bounds strength [0, 1.25], opioid_weight [0, 3]",
        "calibration_facts": [f.id for f in FACTS if f.kind == "calibration"],
        "fits": fits,
    }
    args.out.write_text("# Generated: do not edit by hand (python -m ketasim.calibrate_circuit).\n"
                        + yaml.safe_dump(doc, sort_keys=False, width=110))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

#!/usr/bin/env python3
"""Whole-chain benchmark: PK -> occupancy -> circuit -> dopamine vs the PK layer alone.

Task (issue 3): 1,000 subjects (sampled with seed 2026 from the default adult set),
"0.5 mg/kg iv over 40 min every 24 h x 7", 7 days on a 6-minute grid (1,681 points),
circuit in quasi-steady mode (the default combination).

Measured in one process and one run:

* ``pk``: ``simulate(..., outputs=[the PK variables the chain reads])``;
* ``chain``: ``simulate(..., outputs=[those + every occupancy, rate and dopamine output])``,
  cold (first call in the process: builds and caches the fixed-point map) and warm (best of
  ``--repeat``); the ratio chain / pk (target <= 2);
* ``dynamic``: the cost of integrating the full rate ODE (RK4, 0.5 ms steps) for the same
  subjects, measured on a short stretch and *extrapolated* to 7 days (running it would
  take days); the ratio dynamic / quasi-steady chain.

Benchmarks report; they do not fail. ``--quick`` runs a small version for the smoke test.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "out" / "chain.json"
REGIMEN = "0.5 mg/kg iv over 40 min every 24 h x 7"
PK_IN = ["C_effect_S_ketamine", "C_effect_R_ketamine", "C_plasma_norketamine"]


def _best(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--step-min", type=float, default=6.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dynamic-seconds", type=float, default=0.25, help="simulated seconds of the dynamic sample")
    ap.add_argument("--quick", action="store_true", help="50 subjects, 1 day, 1 repeat")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    a = ap.parse_args(argv)
    if a.quick:
        a.n, a.days, a.repeat, a.dynamic_seconds = 50, 1.0, 1, 0.05

    import ketasim as ks
    from ketasim import pd_chain
    from ketasim.layers import circuit as _circuit
    from ketasim.layers.circuit import get_model, integrate_dynamic
    from ketasim.pd_chain import DEFAULT_PD_OUTPUTS, circuit_label

    pop = ks.sample_population(a.n, np.random.default_rng(2026), "kamp_2020_racemic_meta")
    n_t = int(round(a.days * 24 * 60 / a.step_min)) + 1
    times = np.round(np.arange(n_t) * a.step_min / 60.0, 10)
    regimen = REGIMEN if a.days >= 7 else "0.5 mg/kg iv over 40 min"
    chain_out = PK_IN + list(DEFAULT_PD_OUTPUTS)

    def pk():
        return ks.simulate(regimen, pop, times, outputs=PK_IN)

    def chain():
        return ks.simulate(regimen, pop, times, outputs=chain_out)

    from ketasim.layers.pk import DEFAULT_PK_OUTPUTS

    def pk_default():      # what a PK-only user gets: the PK layer's default outputs
        return ks.simulate(regimen, pop, times, outputs=list(DEFAULT_PK_OUTPUTS))

    def everything():      # simulate()'s default outputs: PK defaults + every occupancy, rate and DA output
        return ks.simulate(regimen, pop, times)

    pk()  # warm imports and PK caches for both
    for cache in (_circuit._MAPS, _circuit._TABS, pd_chain._TABLES):   # cold: rebuild the map and tables
        cache.clear()
    t0 = time.perf_counter()
    chain()
    chain_cold = time.perf_counter() - t0
    # interleave so both see the same machine state
    t_pk, t_chain, t_pkd, t_all = [], [], [], []
    for _ in range(a.repeat):
        t_pk.append(_best(pk, 1)[0])
        t_chain.append(_best(chain, 1)[0])
        t_pkd.append(_best(pk_default, 1)[0])
        t_all.append(_best(everything, 1)[0])
    t_pk, t_chain, t_pkd, t_all = min(t_pk), min(t_chain), min(t_pkd), min(t_all)
    res = chain()
    # the downstream layers alone, on the PK result
    from ketasim.pd_chain import run_pd

    pkres = pk()
    arrays = {k: pkres[k].values for k in PK_IN}
    t_pd, _ = _best(lambda: run_pd(arrays, list(DEFAULT_PD_OUTPUTS)), a.repeat)

    # dynamic mode: cost per simulated second for all subjects, extrapolated to the whole window
    m = get_model(None)
    occ = res["occupancy_NMDA"].values[:, n_t // 2]
    sop = (res["occupancy_mu"].values + res["occupancy_kappa"].values)[:, n_t // 2]
    ts = np.linspace(0.0, a.dynamic_seconds, 2)
    t0 = time.perf_counter()
    integrate_dynamic(m, ts, occ, sop if m.uses_opioid else None, dt_s=5e-4)
    t_dyn_sample = time.perf_counter() - t0
    window_s = a.days * 24 * 3600.0
    t_dyn = t_dyn_sample * window_s / a.dynamic_seconds

    out = {
        "benchmark": "chain",
        "mode": "quick" if a.quick else "full",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                    "ketasim": ks.__version__},
        "task": {"n_subjects": a.n, "regimen": regimen, "days": a.days, "step_min": a.step_min, "n_times": n_t,
                 "circuit": circuit_label(None), "mode": "quasi_steady", "outputs": chain_out},
        "threads": os.environ.get("KETASIM_THREADS", "default (CPUs, at most 4)"),
        "seconds": {"pk_alone": t_pk, "chain_warm": t_chain, "chain_cold": chain_cold,
                    "pk_default_outputs": t_pkd, "simulate_default_outputs": t_all,
                    "downstream_layers_only": t_pd, "dynamic_sample": t_dyn_sample,
                    "dynamic_sample_simulated_s": a.dynamic_seconds, "dynamic_extrapolated": t_dyn},
        "ratios": {"chain_over_pk": t_chain / t_pk, "chain_cold_over_pk": chain_cold / t_pk,
                   "default_outputs_over_pk_default": t_all / t_pkd,
                   "dynamic_over_chain": t_dyn / t_chain},
        "target": {"chain_over_pk_max": 2.0},
    }
    out["pass"] = out["ratios"]["chain_over_pk"] <= 2.0
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1))
    print(f"{a.n} subjects x {n_t} times ({a.days:g} d, {a.step_min:g}-min grid), circuit {out['task']['circuit']}")
    print(f"  PK alone                 {t_pk:8.3f} s")
    print(f"  whole chain (warm)       {t_chain:8.3f} s   ratio {t_chain / t_pk:.2f}  "
          f"[{'PASS' if out['pass'] else 'FAIL'}: target <= 2]")
    print(f"  whole chain (cold, map)  {chain_cold:8.3f} s   ratio {chain_cold / t_pk:.2f}")
    print(f"  downstream layers only   {t_pd:8.3f} s")
    print(f"  PK default outputs       {t_pkd:8.3f} s;  simulate() default outputs (PK + chain) {t_all:.3f} s, "
          f"ratio {t_all / t_pkd:.2f}")
    print(f"  dynamic ODE (extrap.)    {t_dyn:8.3g} s   = {t_dyn / t_chain:.3g} x the quasi-steady chain "
          f"(measured {t_dyn_sample:.3f} s for {a.dynamic_seconds:g} simulated s)")
    print(f"wrote {a.out}")
    return out


if __name__ == "__main__":
    main()

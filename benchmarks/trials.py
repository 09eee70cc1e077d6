#!/usr/bin/env python3
"""Virtual-trial benchmarks (issue 6): throughput, scaling, Dask speed-up, memory, Sobol cost.

All ratios are measured in the same run, on the same machine:

1. **Serial throughput and scaling** - the flagship scenario (4 arms, 28 d every
   10 min) as a summaries-only trial (``ketasim trial --summaries-only``: per-chunk
   Parquet files and a manifest) at each of ``--sizes`` subjects; subjects/s per
   size and a least-squares line time = a + b * n (the slope b, s per subject, and
   R^2): the cost is linear when R^2 ~ 1 and the subjects/s is flat.
2. **Local Dask, 2 workers, vs serial** on ``--dask-n`` subjects: the ratio of
   wall times (target >= 1.6x on a 2-core machine).
3. **Peak memory** of a ``--memory-n``-subject summaries-only trial, run in a
   fresh child process (peak RSS of that process, ``ru_maxrss``; target < 2 GiB).
4. **Sobol** on 10 parameters (``--sobol-set``: ``pd``, the default, varies PK, receptor, circuit and
   dopamine parameters for peak NAc dopamine; ``pk`` PK parameters for peak plasma ketamine) with
   ``--sobol-n`` base samples (N x 12 typical-subject
   simulations of the IV arm), timed relative to one flagship run
   (``run_flagship(n=1000, report=False)``).

``--outputs pk`` restricts the simulation to the flagship's PK outputs (plasma
and effect-site concentrations); ``--outputs all`` (default) simulates every
variable the layers offer (occupancy, circuit rates, dopamine ...), as
``ketasim trial`` does. ``--end``/``--step`` change the grid (e.g. to fit a
million subjects into a short session); the output says which were used.

Benchmarks report; they do not test: the exit code is 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: Sobol factor sets: PK only (output peak plasma ketamine), or across the cascade as in the issue's example
#: (PK, receptor, circuit and dopamine parameters; output peak NAc dopamine).
SOBOL_SETS = {
    "pk": (["CL", "V1", "V2", "V3", "Q2", "Q3", "fm_nk", "MTT_nk", "VN1", "CLN1"], "peak_C_plasma_ketamine"),
    "pd": (["CL", "V1", "V2", "Q2", "Q3", "Ki_NMDA", "fu_ketamine", "gain", "strength_cortical_disinhibition",
            "kappa_burst"], "peak_DA_NAc"),
}
SOBOL_PARAMETERS = SOBOL_SETS["pk"][0]


def _design(n: int, args, chunk_size: int | None = None):
    import ketasim as ks
    from ketasim.flagship import OUTPUTS

    return ks.trials.design(n=n, end=args.end, step=args.step, chunk_size=chunk_size or args.chunk_size,
                            outputs=OUTPUTS if args.outputs == "pk" else None)


def _timed_trial(n: int, args, executor: str = "serial") -> float:
    import ketasim as ks

    d = _design(n, args)
    d.arm_outputs  # resolve the outputs (a few tiny probe simulations) outside the timing
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ks.trials.run(d, executor=executor, workers=2, out=tmp, load=False)
        return time.perf_counter() - t0


def _memory_child(n: int, args) -> None:
    import ketasim as ks

    d = _design(n, args)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ks.trials.run(d, out=tmp, load=False)
        summ = ks.trials.trial_summary(tmp)
        elapsed = time.perf_counter() - t0
    print(json.dumps({"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "elapsed_s": elapsed, "summary_rows": len(summ)}))


def _load() -> dict:
    """The machine's load averages (1, 5, 15 min) now: other processes share the cores."""
    one, five, fifteen = os.getloadavg()
    return {"load_1min": round(one, 2), "load_5min": round(five, 2), "load_15min": round(fifteen, 2),
            "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,10000,100000", help="serial trial sizes (subjects)")
    p.add_argument("--dask-n", type=int, default=100_000, help="subjects for Dask (2 workers) vs serial")
    p.add_argument("--memory-n", type=int, default=1_000_000, help="subjects of the memory run")
    p.add_argument("--sobol-n", type=int, default=4096, help="Sobol base samples (power of 2)")
    p.add_argument("--sobol-set", choices=tuple(SOBOL_SETS), default="pd",
                   help="Sobol factors: pk (10 PK parameters, peak plasma ketamine) or pd (5 PK + receptor, "
                        "circuit, dopamine parameters, peak NAc dopamine)")
    p.add_argument("--outputs", choices=("all", "pk"), default="all")
    p.add_argument("--end", default=None, help="override the scenario's period (default 28 d)")
    p.add_argument("--step", default=None, help="override the output step (default 10 min)")
    p.add_argument("--memory-end", default=None, help="period for the memory run only (default --end)")
    p.add_argument("--memory-step", default=None, help="step for the memory run only (default --step)")
    p.add_argument("--chunk-size", type=int, default=250)
    p.add_argument("--flagship-n", type=int, default=1000, help="subjects of the reference flagship run (Sobol)")
    p.add_argument("--dask-serial-from-scaling", action="store_true",
                   help="take the serial time of the Dask comparison from the scaling run of the same n "
                        "(measured just before the Dask run, in this process) instead of running it again")
    p.add_argument("--skip", default="", help="comma-separated parts to skip: scaling,dask,memory,sobol")
    p.add_argument("--out", default=str(HERE / "out" / "trials.json"))
    p.add_argument("--_memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._memory_child is not None:
        _memory_child(args._memory_child, args)
        return {}
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    res: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                             "python": platform.python_version()},
                 "settings": {"outputs": args.outputs, "end": args.end or "28 d", "step": args.step or "10 min",
                              "chunk_size": args.chunk_size}, "load": {"start": _load()}}
    print(f"ketasim trials benchmark: outputs={args.outputs}, grid {res['settings']['end']} every "
          f"{res['settings']['step']}, chunks of {args.chunk_size}, {os.cpu_count()} CPUs")

    if "scaling" not in skip:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        rows = []
        for n in sizes:
            t = _timed_trial(n, args)
            rows.append({"n": n, "seconds": t, "subjects_per_s": n / t})
            print(f"  serial {n:>9,} subjects: {t:8.1f} s  {n / t:8.0f} subjects/s")
        ns = np.array([r["n"] for r in rows], float)
        ts = np.array([r["seconds"] for r in rows])
        if len(rows) >= 2:
            b, a = np.polyfit(ns, ts, 1)
            r2 = 1 - np.sum((ts - (a + b * ns)) ** 2) / max(np.sum((ts - ts.mean()) ** 2), 1e-300)
            print(f"  linear fit: time = {a:.2f} s + {b * 1e3:.3f} ms x n  (R^2 = {r2:.5f}); "
                  f"{1 / b:.0f} subjects/s at the margin")
            res["scaling"] = {"runs": rows, "slope_s_per_subject": b, "intercept_s": a, "r2": r2}
        else:
            res["scaling"] = {"runs": rows}
        res["load"]["after_scaling"] = _load()

    if "dask" not in skip:
        n = args.dask_n
        reuse = args.dask_serial_from_scaling and n in {r["n"] for r in res.get("scaling", {}).get("runs", [])}
        ts = (next(r["seconds"] for r in res["scaling"]["runs"] if r["n"] == n) if reuse else _timed_trial(n, args))
        res["load"]["before_dask"] = _load()
        td = _timed_trial(n, args, executor="dask")
        res["load"]["after_dask"] = _load()
        res["dask"] = {"n": n, "serial_s": ts, "dask_2_workers_s": td, "speedup": ts / td,
                       "serial_from": "scaling run of the same n" if reuse else "own run"}
        print(f"  {n:,} subjects: serial {ts:.1f} s, local Dask 2 workers {td:.1f} s (incl. cluster start): "
              f"speed-up {ts / td:.2f}x (target >= 1.6x) {'PASS' if ts / td >= 1.6 else 'FAIL'}")

    if "memory" not in skip:
        n = args.memory_n
        cmd = [sys.executable, __file__, "--_memory-child", str(n), "--outputs", args.outputs,
               "--chunk-size", str(args.chunk_size)]
        for flag, v in (("--end", args.memory_end or args.end), ("--step", args.memory_step or args.step)):
            if v:
                cmd += [flag, v]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        m = json.loads(out.stdout.strip().splitlines()[-1])
        m.update({"n": n, "end": args.memory_end or args.end or "28 d", "step": args.memory_step or args.step or "10 min"})
        res["memory"] = m
        res["load"]["after_memory"] = _load()
        gib = m["peak_rss_bytes"] / 2**30
        print(f"  {n:,}-subject summaries-only trial (grid {m['end']} every {m['step']}): peak RSS {gib:.2f} GiB "
              f"in {m['elapsed_s']:.0f} s (target < 2 GiB) {'PASS' if gib < 2 else 'FAIL'}")

    if "sobol" not in skip:
        import ketasim as ks
        from ketasim.flagship import run_flagship

        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run_flagship(tmp, n=args.flagship_n, report=False, quiet=True, progress=False)
            t_flag = time.perf_counter() - t0
        t0 = time.perf_counter()
        params, output = SOBOL_SETS[args.sobol_set]
        res["load"]["before_sobol"] = _load()
        ds = ks.trials.sensitivity(parameters=params, output=output, method="sobol",
                                   n=args.sobol_n, arm="iv-depression")
        t_sob = time.perf_counter() - t0
        top = sorted(zip(ds["ST"].values, ds["parameter"].values.tolist()), reverse=True)[:3]
        res["sobol"] = {"parameters": params, "output": output, "n": args.sobol_n, "simulations": ds.attrs["simulations"],
                        "flagship_n": args.flagship_n,
                        "seconds": t_sob, "flagship_run_s": t_flag, "relative_to_flagship": t_sob / t_flag,
                        "top_ST": [[name, float(v)] for v, name in top]}
        print(f"  Sobol, {len(params)} parameters ({args.sobol_set}: {output}), N = {args.sobol_n} ({ds.attrs['simulations']:,} simulations): {t_sob:.1f} s "
              f"= {t_sob / t_flag:.2f} x one flagship run ({t_flag:.1f} s, n = {args.flagship_n}, no report); "
              f"largest ST: {', '.join(f'{n_} {v:.2f}' for v, n_ in top)}")

    res["load"]["end"] = _load()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1, default=float) + "\n")
    print(f"wrote {args.out}")
    return res


if __name__ == "__main__":
    main()
    sys.exit(0)

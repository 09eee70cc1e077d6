#!/usr/bin/env python3
"""Population PK benchmark: ketasim's exact linear engine vs a plain odeint loop.

The task is the project's reference benchmark (see ``benchmarks/README.md``):
a linear 3-compartment model with a one-compartment metabolite, 35 mg IV over
40 min every 84 h x 8, outputs CP and CM every 0.1 h over 0-672 h (6,721
points), for the first 1,000 and all 10,000 subjects of
``benchmarks/data/params_10000.csv``.

What it measures, all in one process and one run:

* the baseline: a per-subject ``scipy.integrate.odeint`` loop (rtol = atol =
  1e-8) restarted at every event boundary, timed on a subset of subjects; the
  10,000-subject baseline time is *extrapolated* from that rate;
* ``ketasim.engine.solve_linear`` on 1,000 and 10,000 subjects (cold run and
  best of ``--repeat``), its speed-up over the baseline measured in the same
  run, and a *derived* comparison with the mrgsolve figure of the reference
  README;
* accuracy against the baseline, and against a tight ``solve_ivp`` reference
  on a few subjects to show whose error the residual is;
* memory (result size, peak RSS, tracemalloc peak);
* event times off the output grid, and a non-uniform output grid.

Run ``python benchmarks/pk_population.py --help``. Benchmarks report; they do
not fail: the exit code is 0 whatever the PASS/FAIL lines say.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import scipy
from scipy.integrate import odeint, solve_ivp

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_PARAMS = HERE / "data" / "params_10000.csv"
DEFAULT_OUT = HERE / "out" / "pk_population.json"

# --- the reference task (benchmarks/README.md) --------------------------------
V2, V3 = 50.0, 150.0          # L
Q2, Q3 = 130.0, 40.0          # L/h
FM, VM, CLM = 0.8, 100.0, 40.0  # fraction, L, L/h
DOSE = 35.0                   # mg per dose
T_INF = 40.0 / 60.0           # h (52.5 mg/h)
TAU = 84.0                    # h
N_DOSES = 8
T_END = 672.0                 # h
N_TIMES = 6721                # 0 .. 672 h step 0.1 h
OUTPUTS = ("CP", "CM")
POPULATIONS = (1_000, 10_000)

# --- figures quoted by the reference README (subjects/s, 2-core machine) -----
README_ODEINT_SUBJ_S = 45.0
README_TOOLS_10K_SUBJ_S = {
    "libroadrunner 2.10 (CVODE)": 53.0,
    "R deSolve lsoda, compiled C RHS": 161.0,
    "mrgsolve 2.0.2": 385.0,
    "batched matrix exponential in NumPy (naive)": 1952.0,
}
MRGSOLVE = "mrgsolve 2.0.2"

TARGET_RATIO = 400.0          # x the odeint loop, 10,000 subjects
TARGET_REL_ERR = 1e-6         # max |y_ks - y_ode| / Cmax

ODE_RTOL = ODE_ATOL = 1e-8
TIGHT_RTOL, TIGHT_ATOL = 1e-11, 1e-14


def _import_engine():
    """Import ketasim's engine (falling back to the source tree); returns (Inputs, solve_linear, seconds)."""
    t0 = time.perf_counter()
    try:
        from ketasim.engine import Inputs, solve_linear
    except ImportError:  # not installed: use the checkout's src/
        sys.path.insert(0, str(REPO / "src"))
        from ketasim.engine import Inputs, solve_linear
    return Inputs, solve_linear, time.perf_counter() - t0


# =============================================================================
# Task construction
# =============================================================================

def load_params(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ID, CL, V1) from the population CSV."""
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return data[:, 0].astype(int), data[:, 1].copy(), data[:, 2].copy()


def output_grid() -> np.ndarray:
    return np.linspace(0.0, T_END, N_TIMES)


def dose_starts(shift: float = 0.0) -> np.ndarray:
    return shift + TAU * np.arange(N_DOSES)


def rate_matrices(CL: np.ndarray, V1: np.ndarray) -> np.ndarray:
    """A (N, 4, 4), states (A1, A2, A3, AM) in mg; A[s, i, j] = rate from j to i."""
    N = CL.shape[0]
    A = np.zeros((N, 4, 4))
    A[:, 0, 0] = -(CL + Q2 + Q3) / V1
    A[:, 0, 1] = Q2 / V2
    A[:, 0, 2] = Q3 / V3
    A[:, 1, 0] = Q2 / V1
    A[:, 1, 1] = -Q2 / V2
    A[:, 2, 0] = Q3 / V1
    A[:, 2, 2] = -Q3 / V3
    A[:, 3, 0] = FM * CL / V1      # fm of the parent's elimination flux CL*A1/V1
    A[:, 3, 3] = -CLM / VM
    return A


def output_matrices(V1: np.ndarray) -> np.ndarray:
    """C (N, 2, 4): CP = A1/V1, CM = AM/Vm (mg/L)."""
    C = np.zeros((V1.shape[0], 2, 4))
    C[:, 0, 0] = 1.0 / V1
    C[:, 1, 3] = 1.0 / VM
    return C


#: threads for solve_linear (None: the engine's default, min(4, CPUs)); set by --threads.
THREADS = None


def ketasim_population(Inputs, solve_linear, CL, V1, times, shift=0.0):
    """Everything ketasim needs for the population, from parameters to the (N, 2, T) result."""
    N = CL.shape[0]
    A = rate_matrices(CL, V1)
    C = output_matrices(V1)
    vec = np.zeros((N, 1, 4))
    vec[:, 0, 0] = 1.0                                   # doses go into A1
    inputs = Inputs(
        start=dose_starts(shift),
        duration=np.full(N_DOSES, T_INF),
        kind=np.zeros(N_DOSES, dtype=int),
        amount=np.full((N, N_DOSES), DOSE),
        vectors=vec,
    )
    return solve_linear(A, C, inputs, times, threads=THREADS)


# =============================================================================
# Numerical baselines (per subject, piecewise between events)
# =============================================================================

def segments(times: np.ndarray, shift: float = 0.0):
    """Event-free intervals covering ``times``: list of (a, b, rate, grid_idx, t_eval, pos).

    On [a, b) the infusion rate into A1 is constant. ``grid_idx`` are the grid
    points in [a, b) ([a, b] for the last interval); ``t_eval`` is strictly
    increasing, starts at ``a`` and ends at ``b`` (so the state at ``b`` is
    carried to the next interval); ``pos`` maps the grid points into it.
    """
    starts = dose_starts(shift)
    ends = starts + T_INF
    # the system is at rest (zero state) until the first dose: integrate from the
    # first dose or the first output time, whichever comes first
    t0, t1 = min(float(times[0]), float(starts[0])), float(times[-1])
    bps = np.unique(np.concatenate([[t0, t1], starts, ends]))
    bps = bps[(bps >= t0) & (bps <= t1)]
    out = []
    for k in range(bps.size - 1):
        a, b = float(bps[k]), float(bps[k + 1])
        last = k == bps.size - 2
        sel = np.flatnonzero((times >= a) & ((times <= b) if last else (times < b)))
        rate = DOSE / T_INF * np.count_nonzero((starts <= a) & (a < ends))
        t_eval = np.unique(np.concatenate([[a], times[sel], [b]]))
        out.append((a, b, rate, sel, t_eval, np.searchsorted(t_eval, times[sel])))
    return out


def _rhs_odeint(x, t, A, r):
    return A @ x + r


def odeint_subject(A: np.ndarray, V1: float, segs, n_times: int) -> np.ndarray:
    """The plain baseline for one subject: odeint restarted at every event; returns (2, T)."""
    X = np.zeros((n_times, 4))
    x = np.zeros(4)
    r = np.zeros(4)
    for a, b, rate, sel, t_eval, pos in segs:
        r[0] = rate
        sol = odeint(_rhs_odeint, x, t_eval, args=(A, r.copy()), rtol=ODE_RTOL, atol=ODE_ATOL)
        X[sel] = sol[pos]
        x = sol[-1]
    return np.stack([X[:, 0] / V1, X[:, 3] / VM])


def tight_subject(A: np.ndarray, V1: float, segs, n_times: int, method: str) -> np.ndarray:
    """Tight reference for one subject: solve_ivp, rtol 1e-11, atol 1e-14, exact Jacobian."""
    X = np.zeros((n_times, 4))
    x = np.zeros(4)
    jac = lambda t, y: A  # noqa: E731
    for a, b, rate, sel, t_eval, pos in segs:
        r = np.array([rate, 0.0, 0.0, 0.0])
        sol = solve_ivp(lambda t, y: A @ y + r, (a, b), x, method=method, t_eval=t_eval,
                        rtol=TIGHT_RTOL, atol=TIGHT_ATOL, jac=jac)
        if not sol.success:
            raise RuntimeError(f"solve_ivp failed: {sol.message}")
        X[sel] = sol.y.T[pos]
        x = sol.y[:, -1]
    return np.stack([X[:, 0] / V1, X[:, 3] / VM])


def per_subject(fn, CL, V1, times, shift=0.0, **kw) -> tuple[np.ndarray, float]:
    """Run a per-subject solver over subjects; returns ((n, 2, T), wall seconds)."""
    t0 = time.perf_counter()
    A = rate_matrices(CL, V1)
    segs = segments(times, shift)
    Y = np.empty((CL.shape[0], 2, times.size))
    for s in range(CL.shape[0]):
        Y[s] = fn(A[s], float(V1[s]), segs, times.size, **kw)
    return Y, time.perf_counter() - t0


def rel_err(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(n, 2): max_t |y - ref| / max_t |ref| per subject and output."""
    return np.abs(y - ref).max(axis=-1) / np.abs(ref).max(axis=-1)


def err_summary(y, ref) -> dict:
    e = rel_err(y, ref)
    d = {"n_subjects": int(e.shape[0])}
    for j, name in enumerate(OUTPUTS):
        d[f"max_rel_err_{name.lower()}"] = float(e[:, j].max())
        d[f"median_rel_err_{name.lower()}"] = float(np.median(e[:, j]))
    d["max_rel_err"] = float(e.max())
    return d


# =============================================================================
# Machine and memory
# =============================================================================

def peak_rss_bytes() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r if sys.platform == "darwin" else r * 1024)   # bytes on macOS, KiB on Linux


def cpu_snapshot() -> tuple[float, float | None, float]:
    """(wall s, machine-wide busy CPU s or None, this process's CPU s) for :func:`others_cpu_share`."""
    busy = None
    try:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait
        busy = (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    t = os.times()
    return time.perf_counter(), busy, t.user + t.system


def others_cpu_share(a, b) -> float | None:
    """Share of the machine's CPU time used by *other* processes between two snapshots (0..1)."""
    if a[1] is None or b[1] is None or b[0] <= a[0]:
        return None
    n = os.cpu_count() or 1
    other = (b[1] - a[1]) - (b[2] - a[2])
    return float(min(1.0, max(0.0, other / ((b[0] - a[0]) * n))))


def machine_info() -> dict:
    info = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["memory_total_bytes"] = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        info["blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older numpy, or a build without the dict mode
        pass
    try:
        info["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        pass
    info["thread_env"] = {k: os.environ[k] for k in
                          ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
    try:
        import ketasim
        info["ketasim"] = getattr(ketasim, "__version__", "?")
    except Exception:
        pass
    try:
        info["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                            capture_output=True, text=True, timeout=5).stdout.strip() or None
    except Exception:
        info["git_commit"] = None
    return info


def write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# =============================================================================
# Reporting
# =============================================================================

def _table(headers, rows, indent="  ") -> str:
    cells = [list(map(str, headers))] + [[str(c) for c in r] for r in rows]
    w = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: indent + "  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(r))  # noqa: E731
    return "\n".join([line(cells[0]), indent + "  ".join("-" * x for x in w)] + [line(r) for r in cells[1:]])


def _mb(b: float) -> str:
    return f"{b / 1e6:,.1f} MB"


def _s(t: float) -> str:
    return f"{t:.3f}" if t < 100 else f"{t:,.0f}"


def _timed_runs(fn, repeat: int) -> list[float]:
    """Wall times of ``repeat`` runs of fn(); the previous result is freed before each run."""
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        y = fn()
        times.append(time.perf_counter() - t0)
        del y
    return times


# =============================================================================
# main
# =============================================================================

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline-n", type=int, default=None,
                   help="subjects for the odeint baseline (default 100; the rest is extrapolated)")
    p.add_argument("--full-baseline", action="store_true",
                   help="run the odeint baseline on all 1,000 subjects of the small population (~15-25 s)")
    p.add_argument("--repeat", type=int, default=None, help="timed ketasim runs per population (default 3)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 100 baseline subjects, 1,000-subject population only, 1 repeat")
    p.add_argument("--tight-n", type=int, default=5, help="subjects for the tight solve_ivp reference (default 5)")
    p.add_argument("--tight-method", default="LSODA", choices=["LSODA", "Radau"],
                   help="solve_ivp method of the tight reference (default LSODA; Radau is ~40x slower)")
    p.add_argument("--shift", type=float, default=0.037, help="event shift (h) for the off-grid run (default 0.037)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the non-uniform grid")
    p.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="population CSV (ID,CL,V1)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    p.add_argument("--threads", type=int, default=None,
                   help="threads inside solve_linear (default: the engine's, min(4, CPUs); 1 = single thread)")
    a = p.parse_args(argv)
    global THREADS
    THREADS = a.threads
    if a.full_baseline:
        a.baseline_n = POPULATIONS[0]
    if a.baseline_n is None:
        a.baseline_n = 100
    if a.repeat is None:
        a.repeat = 1 if a.quick else 3
    if a.baseline_n < 1 or a.repeat < 1 or a.tight_n < 0:
        p.error("--baseline-n and --repeat must be >= 1, --tight-n >= 0")
    return a


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    snap0 = cpu_snapshot()
    Inputs, solve_linear, import_s = _import_engine()
    say = lambda *a: print(*a, flush=True)  # noqa: E731

    ids, CL_all, V1_all = load_params(args.params)
    pops = [n for n in (POPULATIONS[:1] if args.quick else POPULATIONS)]
    if CL_all.shape[0] < max(pops):
        raise SystemExit(f"{args.params} holds {CL_all.shape[0]} subjects; need {max(pops)}")
    n_base = min(args.baseline_n, max(pops))
    n_tight = min(args.tight_n, n_base)
    times = output_grid()
    big = max(pops)
    mach = machine_info()
    res: dict = {
        "benchmark": "pk_population",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "argv": list(argv) if argv is not None else sys.argv[1:],
        "machine": mach,
        "task": {
            "model": "3-compartment linear, IV into central, + 1-compartment metabolite",
            "V1_L": "individual", "CL_L_per_h": "individual", "V2_L": V2, "V3_L": V3,
            "Q2_L_per_h": Q2, "Q3_L_per_h": Q3, "fm": FM, "Vm_L": VM, "CLm_L_per_h": CLM,
            "dose_mg": DOSE, "infusion_h": T_INF, "interval_h": TAU, "n_doses": N_DOSES,
            "grid": {"start_h": 0.0, "end_h": T_END, "n_times": N_TIMES, "step_h": T_END / (N_TIMES - 1)},
            "outputs": list(OUTPUTS), "populations": pops,
            "params_file": os.path.relpath(args.params, REPO) if args.params.is_absolute() else str(args.params),
        },
        "ketasim_import_s": import_s,
    }

    say("ketasim population PK benchmark -- reference task of benchmarks/README.md"
        + ("  [QUICK MODE]" if args.quick else ""))
    say(f"machine: {mach.get('cpu_model', mach['processor'] or mach['machine'])}, "
        f"{mach['cpu_count']} CPUs; {mach['platform']}")
    say(f"         Python {mach['python']}, numpy {mach['numpy']}, scipy {mach['scipy']}"
        + (f", BLAS {mach['blas']}" if mach.get("blas") else ""))
    say(f"task:    3-cmt IV + metabolite, {DOSE:g} mg over {T_INF * 60:.0f} min q{TAU:g}h x{N_DOSES}, "
        f"{N_TIMES:,} points 0-{T_END:g} h, outputs CP, CM; populations {', '.join(f'{n:,}' for n in pops)}")
    say(f"         import ketasim.engine: {import_s * 1e3:.0f} ms (no compile step)")
    say("")

    # --- 1. baseline: plain odeint loop ----------------------------------------
    say(f"[1/5] odeint baseline on {n_base:,} subjects ...")
    sa = cpu_snapshot()
    y_ode, t_ode = per_subject(odeint_subject, CL_all[:n_base], V1_all[:n_base], times)
    ode_rate = n_base / t_ode
    contention = {"baseline_odeint": others_cpu_share(sa, cpu_snapshot())}
    res["baseline_odeint"] = {
        "solver": "scipy.integrate.odeint (LSODA), per subject, restarted at each event boundary",
        "rtol": ODE_RTOL, "atol": ODE_ATOL,
        "n_subjects": n_base, "wall_s": t_ode, "subjects_per_s": ode_rate,
        "extrapolated_s": {str(n): n / ode_rate for n in pops},
        "extrapolated_note": f"times for populations larger than {n_base} are extrapolated from the "
                             f"{n_base}-subject rate, not measured",
    }
    rss_after_baseline = peak_rss_bytes()

    # --- 2. ketasim on the populations ------------------------------------------
    res["ketasim"] = {}
    y_acc = None
    mrg_ratio = README_TOOLS_10K_SUBJ_S[MRGSOLVE] / README_ODEINT_SUBJ_S
    for n in pops:
        say(f"[2/5] ketasim.solve_linear on {n:,} subjects, {args.repeat} run(s) ...")
        CL, V1 = CL_all[:n], V1_all[:n]
        sa = cpu_snapshot()
        if y_acc is None and n >= n_base:
            # the first population that holds the baseline subjects: keep their rows for the accuracy check
            t0 = time.perf_counter()
            y = ketasim_population(Inputs, solve_linear, CL, V1, times)
            runs = [time.perf_counter() - t0]
            y_acc = y[:n_base].copy()
            del y
            runs += _timed_runs(lambda: ketasim_population(Inputs, solve_linear, CL, V1, times), args.repeat - 1)
        else:
            runs = _timed_runs(lambda: ketasim_population(Inputs, solve_linear, CL, V1, times), args.repeat)
        contention[f"ketasim_{n}"] = others_cpu_share(sa, cpu_snapshot())
        best = min(runs)
        rate = n / best
        res["ketasim"][str(n)] = {
            "runs_s": runs, "cold_s": runs[0], "best_s": best, "median_s": float(np.median(runs)),
            "subjects_per_s": rate,
            "ratio_vs_odeint_measured": rate / ode_rate,
            "ratio_vs_mrgsolve_derived": (rate / ode_rate) / mrg_ratio,
            "ratio_vs_readme_odeint_derived": rate / README_ODEINT_SUBJ_S,
            "result_bytes": n * len(OUTPUTS) * N_TIMES * 8,
            "peak_rss_bytes_after": peak_rss_bytes(),
        }

    # --- 3. accuracy ------------------------------------------------------------
    say(f"[3/5] accuracy vs odeint ({n_base:,} subjects) and vs solve_ivp {args.tight_method} ({n_tight}) ...")
    acc = err_summary(y_acc, y_ode)
    acc["reference"] = "odeint baseline (rtol = atol = 1e-8)"
    acc["metric"] = "max over subjects of max_t |y_ketasim - y_ref| / max_t |y_ref|, per output"
    if n_tight:
        y_tight, t_tight = per_subject(tight_subject, CL_all[:n_tight], V1_all[:n_tight], times,
                                       method=args.tight_method)
        acc["tight"] = {
            "solver": f"scipy.integrate.solve_ivp({args.tight_method}, rtol={TIGHT_RTOL:g}, atol={TIGHT_ATOL:g}, "
                      "exact jac), restarted at each event boundary",
            "n_subjects": n_tight, "wall_s": t_tight,
            "ketasim_vs_tight": err_summary(y_acc[:n_tight], y_tight),
            "odeint_vs_tight": err_summary(y_ode[:n_tight], y_tight),
            "ketasim_vs_odeint_same_subjects": err_summary(y_acc[:n_tight], y_ode[:n_tight]),
        }
    res["accuracy"] = acc
    del y_acc

    # --- 4. off-grid events and a non-uniform grid ------------------------------
    say(f"[4/5] off-grid events (+{args.shift:g} h) and a non-uniform grid, {big:,} subjects ...")
    CL, V1 = CL_all[:big], V1_all[:big]
    rng = np.random.default_rng(args.seed)
    t_rand = np.sort(rng.uniform(0.0, T_END, N_TIMES))
    n_chk = min(5, n_base)
    variants = {}
    for key, label, grid, shift in (
        ("shifted_events", f"events shifted by +{args.shift:g} h (off the 0.1-h grid)", times, args.shift),
        ("nonuniform_grid", f"non-uniform grid: {N_TIMES:,} sorted uniform-random times (seed {args.seed})",
         t_rand, 0.0),
    ):
        runs = _timed_runs(lambda: ketasim_population(Inputs, solve_linear, CL, V1, grid, shift), args.repeat)
        y_chk = ketasim_population(Inputs, solve_linear, CL[:n_chk], V1[:n_chk], grid, shift)
        y_ref, _ = per_subject(odeint_subject, CL[:n_chk], V1[:n_chk], grid, shift)
        variants[key] = {
            "label": label, "n_subjects": big, "runs_s": runs, "best_s": min(runs),
            "subjects_per_s": big / min(runs),
            "relative_to_aligned_uniform": min(runs) / res["ketasim"][str(big)]["best_s"],
            "accuracy_vs_odeint": err_summary(y_chk, y_ref),
        }
    res["variants"] = variants

    # --- 5. memory: tracemalloc in a separate, untimed-for-headline run ----------
    say(f"[5/5] tracemalloc peak of one {big:,}-subject run (separate run) ...")
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    t0 = time.perf_counter()
    y = ketasim_population(Inputs, solve_linear, CL, V1, times)
    t_tm = time.perf_counter() - t0
    _, tm_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result_bytes = int(y.nbytes)
    del y
    res["memory"] = {
        "population": big,
        "result_shape": [big, len(OUTPUTS), N_TIMES],
        "result_bytes": result_bytes,
        "peak_rss_bytes": peak_rss_bytes(),
        "peak_rss_note": "process-lifetime peak (getrusage ru_maxrss), includes the interpreter, "
                         "numpy/scipy and the baseline",
        "peak_rss_bytes_after_baseline": rss_after_baseline,
        "tracemalloc_peak_bytes": int(tm_peak),
        "tracemalloc_working_bytes_beyond_result": int(tm_peak - result_bytes),
        "tracemalloc_run_wall_s": t_tm,
        "tracemalloc_note": "measured in a separate run (not one of the timed runs) so that it cannot "
                            "distort the headline times; its wall time is shown for comparison",
    }

    # --- targets -----------------------------------------------------------------
    ratio_big = res["ketasim"][str(big)]["ratio_vs_odeint_measured"]
    speed_ok = ratio_big >= TARGET_RATIO if big == POPULATIONS[-1] else None
    acc_ok = acc["max_rel_err"] <= TARGET_REL_ERR
    res["targets"] = {
        "speed": {"target": f">= {TARGET_RATIO:g}x the odeint loop on {POPULATIONS[-1]:,} subjects",
                  "value": ratio_big if speed_ok is not None else None, "pass": speed_ok},
        "accuracy": {"target": f"max relative error <= {TARGET_REL_ERR:g}", "value": acc["max_rel_err"],
                     "pass": bool(acc_ok)},
    }
    res["readme_reference"] = {
        "note": "figures quoted by the reference README (2-core machine); comparisons with them are derived "
                "as ratios of ratios to the odeint loop, not measured here",
        "odeint_loop_subjects_per_s": README_ODEINT_SUBJ_S,
        "tools_10000_subjects_per_s": README_TOOLS_10K_SUBJ_S,
        "tools_ratio_vs_odeint": {k: v / README_ODEINT_SUBJ_S for k, v in README_TOOLS_10K_SUBJ_S.items()},
        "ketasim_vs_tools_derived": {k: ratio_big / (v / README_ODEINT_SUBJ_S)
                                     for k, v in README_TOOLS_10K_SUBJ_S.items()},
    }

    try:
        mach["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        pass
    contention["whole_run"] = others_cpu_share(snap0, cpu_snapshot())
    res["contention"] = {
        "others_cpu_share": contention,
        "note": "share of the machine's CPU time (all cores) used by other processes during each phase, "
                "from /proc/stat minus this process's CPU time; None where unavailable",
    }
    _report(res, args, pops, n_base, ode_rate, mrg_ratio)
    write_json_atomic(args.out, res)
    say(f"\nwrote {args.out}")
    return res


def _report(res, args, pops, n_base, ode_rate, mrg_ratio) -> None:
    say = lambda *a: print(*a, flush=True)  # noqa: E731
    b = res["baseline_odeint"]
    big = max(pops)
    say("")
    say("=" * 78)
    say(f"Baseline: per-subject scipy odeint loop, rtol = atol = {ODE_RTOL:g}, restarted at each of the "
        f"{2 * N_DOSES} dose events")
    say(f"  measured: {n_base:,} subjects in {b['wall_s']:.2f} s = {ode_rate:.1f} subjects/s "
        f"(reference README: ~{README_ODEINT_SUBJ_S:g} subjects/s)")
    for n in pops:
        if n > n_base:
            say(f"  {n:,} subjects: {b['extrapolated_s'][str(n)]:,.0f} s  "
                f"** EXTRAPOLATED from the {n_base:,}-subject rate, not run **")
    say("")
    say("ketasim.engine.solve_linear (exact modal solution; times include building A, C, inputs and the "
        "result array)")
    rows = []
    for n in pops:
        k = res["ketasim"][str(n)]
        rows.append([f"{n:,}", _s(k["cold_s"]), _s(k["best_s"]), f"{k['subjects_per_s']:,.0f}",
                     f"{k['ratio_vs_odeint_measured']:,.0f}x", f"{k['ratio_vs_mrgsolve_derived']:,.1f}x"])
    say(_table(["subjects", "cold run (s)", f"best of {args.repeat} (s)", "subjects/s",
                "vs odeint (measured)", "vs mrgsolve (DERIVED)"], rows))
    say(f"  'vs mrgsolve' is derived, not measured: (ketasim/odeint measured here) / (mrgsolve/odeint "
        f"= {README_TOOLS_10K_SUBJ_S[MRGSOLVE]:g}/{README_ODEINT_SUBJ_S:g} = {mrg_ratio:.2f}x, README figures).")
    kb = res["ketasim"][str(big)]
    say(f"  The odeint loop runs {ode_rate / README_ODEINT_SUBJ_S:.2f}x the README's {README_ODEINT_SUBJ_S:g} subjects/s "
        f"here; against that README figure ketasim's {big:,}-subject rate would be "
        f"{kb['ratio_vs_readme_odeint_derived']:,.0f}x (DERIVED, cross-machine).")
    say("  The cold run is the first in this process to touch the result's memory; on VMs that back guest "
        "memory lazily it is dominated by page faults (see benchmarks/README.md).")
    say("")
    a = res["accuracy"]
    say(f"Accuracy, relative to each subject's Cmax of the output: max_t |y_ks - y_ref| / max_t |y_ref|")
    rows = [[f"ketasim vs odeint ({a['n_subjects']:,} subj)", f"{a['max_rel_err_cp']:.2e}",
             f"{a['max_rel_err_cm']:.2e}", f"{a['median_rel_err_cp']:.1e} / {a['median_rel_err_cm']:.1e}"]]
    if "tight" in a:
        t = a["tight"]
        m = args.tight_method
        for lab, key in ((f"ketasim vs {m} 1e-11 ({t['n_subjects']} subj)", "ketasim_vs_tight"),
                         (f"odeint  vs {m} 1e-11 ({t['n_subjects']} subj)", "odeint_vs_tight"),
                         (f"ketasim vs odeint   ({t['n_subjects']} subj)", "ketasim_vs_odeint_same_subjects")):
            e = t[key]
            rows.append([lab, f"{e['max_rel_err_cp']:.2e}", f"{e['max_rel_err_cm']:.2e}",
                         f"{e['median_rel_err_cp']:.1e} / {e['median_rel_err_cm']:.1e}"])
    say(_table(["comparison", "max CP", "max CM", "median CP / CM"], rows))
    if "tight" in a:
        t = a["tight"]
        ks_t, od_t = t["ketasim_vs_tight"]["max_rel_err"], t["odeint_vs_tight"]["max_rel_err"]
        whose = "odeint's" if ks_t < 0.1 * od_t else "not clearly odeint's"
        say(f"  -> ketasim is {od_t / max(ks_t, 1e-300):,.0f}x closer to the tight solution than odeint is: "
            f"the ketasim-odeint residual is {whose} error. (tight reference took {t['wall_s']:.1f} s)")
    say("")
    n_chk = next(iter(res["variants"].values()))["accuracy_vs_odeint"]["n_subjects"]
    say(f"Event alignment and grid ({big:,} subjects, best of {args.repeat})")
    rows = [["aligned events, uniform 0.1-h grid", _s(res["ketasim"][str(big)]["best_s"]), "1.00", "(above)"]]
    for v in res["variants"].values():
        rows.append([v["label"], _s(v["best_s"]), f"{v['relative_to_aligned_uniform']:.2f}",
                     f"{v['accuracy_vs_odeint']['max_rel_err']:.1e}"])
    say(_table(["case", "time (s)", "x aligned", f"max err vs odeint ({n_chk} subj)"], rows))
    say("")
    m = res["memory"]
    say(f"Memory ({big:,} subjects)")
    say(f"  result array {big:,} x {len(OUTPUTS)} x {N_TIMES:,} float64: {_mb(m['result_bytes'])}")
    say(f"  process peak RSS (ru_maxrss, whole run): {_mb(m['peak_rss_bytes'])} "
        f"(after the baseline: {_mb(m['peak_rss_bytes_after_baseline'])})")
    say(f"  tracemalloc peak during one solve (separate run, {m['tracemalloc_run_wall_s']:.3f} s vs best "
        f"{res['ketasim'][str(big)]['best_s']:.3f} s untraced): {_mb(m['tracemalloc_peak_bytes'])} = result + "
        f"{_mb(m['tracemalloc_working_bytes_beyond_result'])} working memory")
    say("")
    oc = res["contention"]["others_cpu_share"]
    shares = {k: v for k, v in oc.items() if v is not None}
    if shares:
        worst = max(shares, key=shares.get)
        desc = ", ".join(f"{k} {v:.0%}" for k, v in shares.items())
        say(f"Other processes' share of the machine's CPU: {desc}")
        if shares[worst] > 0.10:
            say(f"NOTE: other processes used {shares[worst]:.0%} of the CPU during {worst}: timings and ratios "
                "are disturbed; rerun on an idle machine.")
        say("")
    tg = res["targets"]
    if tg["speed"]["pass"] is None:
        r1 = res["ketasim"][str(big)]["ratio_vs_odeint_measured"]
        say(f"SPEED     SKIP  no {POPULATIONS[-1]:,}-subject run in --quick mode "
            f"({big:,} subjects: {r1:,.0f}x the odeint loop; target {TARGET_RATIO:g}x is for 10,000)")
    else:
        say(f"SPEED     {'PASS' if tg['speed']['pass'] else 'FAIL'}  {tg['speed']['value']:,.0f}x the odeint "
            f"loop on {POPULATIONS[-1]:,} subjects (target >= {TARGET_RATIO:g}x)")
    say(f"ACCURACY  {'PASS' if tg['accuracy']['pass'] else 'FAIL'}  max relative error "
        f"{tg['accuracy']['value']:.2e} (target <= {TARGET_REL_ERR:g})")
    say("(a benchmark reports; the exit code is 0 whatever these lines say)")


if __name__ == "__main__":
    main()
    sys.exit(0)

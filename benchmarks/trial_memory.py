#!/usr/bin/env python3
"""Peak memory of a large summaries-only trial, run as a user runs it, and resumable (issue 6).

Runs ``ketasim trial SCENARIO --n N --summaries-only --out DIR`` (or ``--resume DIR``
when DIR already holds a manifest: an interrupted measurement continues where it
stopped) in a child process and samples, every ``--every`` seconds, the child's peak
resident set (``VmHWM`` from ``/proc/PID/status``), its current resident set, the
number of finished chunk files and the load average. At the end it adds the child's
own ``ru_maxrss`` (``resource.getrusage(RUSAGE_CHILDREN)``), the wall time and the
trial's size, and writes everything as JSON.

The target (issue 6): a 1,000,000-subject summaries-only trial on the flagship grid
(28 d every 10 min) stays under 2 GiB. The trial's own numbers do not depend on the
chunk size; its memory does (one chunk's simulation is the largest transient), so
the chunk size is recorded. A resumed measurement reports the peak of the last
process only (VmHWM of earlier ones is in their samples in the JSON, if it was
written).

Benchmarks report; they do not test: the exit code is the trial's.

Example::

    python benchmarks/trial_memory.py --n 1000000 --chunk-size 250 --dir big/ \
        --out benchmarks/out/trial_memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                out[k] = int(v.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default=str(ROOT / "examples" / "benefit-risk.toml"))
    p.add_argument("--n", type=int, default=1_000_000, help="subjects per arm")
    p.add_argument("--chunk-size", type=int, default=250)
    p.add_argument("--end", default=None, help="override the period (default: the scenario's, 28 d)")
    p.add_argument("--step", default=None, help="override the step (default: the scenario's, 10 min)")
    p.add_argument("--dir", default=str(HERE / "out" / "trial_memory"), help="trial folder (kept: resumable)")
    p.add_argument("--every", type=float, default=30.0, help="sampling interval, s")
    p.add_argument("--out", default=str(HERE / "out" / "trial_memory.json"))
    args = p.parse_args(argv)

    folder = Path(args.dir)
    resumed = (folder / "manifest.json").exists()
    cmd = [sys.executable, "-m", "ketasim", "trial", "--quiet", "--no-report"]
    if resumed:
        cmd += ["--resume", str(folder)]
    else:
        cmd += [args.scenario, "--n", str(args.n), "--summaries-only", "--out", str(folder),
                "--chunk-size", str(args.chunk_size)]
        cmd += [x for flag, v in (("--end", args.end), ("--step", args.step)) if v for x in (flag, v)]
    print(("resuming: " if resumed else "") + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd)
    samples = []
    while True:
        try:
            rc = child.wait(timeout=args.every)
            break
        except subprocess.TimeoutExpired:
            st = _status(child.pid)
            chunks = len(list((folder / "chunks").glob("chunk-*.parquet"))) if (folder / "chunks").exists() else 0
            s = {"t_s": round(time.perf_counter() - t0, 1), "peak_rss_bytes": st.get("VmHWM"),
                 "rss_bytes": st.get("VmRSS"), "chunks_done": chunks, "load_1min": round(os.getloadavg()[0], 2)}
            samples.append(s)
            print(f"  {s['t_s']:8.0f} s  peak {s['peak_rss_bytes'] or 0:>12,} B  chunks {chunks}", flush=True)
    elapsed = time.perf_counter() - t0
    maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    man = json.loads((folder / "manifest.json").read_text()) if (folder / "manifest.json").exists() else {}
    res = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
           "command": cmd, "resumed": resumed, "exit_code": rc, "elapsed_s": elapsed,
           "peak_rss_bytes": maxrss, "peak_rss_gib": maxrss / 2**30,
           "n_subjects": man.get("n_subjects"), "n_chunks": man.get("n_chunks"),
           "chunks_done": man.get("chunks_done"), "complete": man.get("complete"),
           "chunk_size": (man.get("design") or {}).get("chunk_size"), "samples": samples}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(f"{man.get('n_subjects', '?'):,} subjects, {man.get('chunks_done')} of {man.get('n_chunks')} chunks: peak RSS "
          f"{maxrss / 2**30:.2f} GiB in {elapsed:.0f} s (target < 2 GiB) "
          f"{'PASS' if maxrss < 2 * 2**30 and man.get('complete') else 'FAIL'}; {args.out}")
    return res


if __name__ == "__main__":
    main()

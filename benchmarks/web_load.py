"""Load test of the web API on loopback: many single-subject POST /api/simulate requests at once.

Starts ``ketasim serve`` (uvicorn) on 127.0.0.1 and a free port with the rate limit raised
(``--rate-limit``, default 1,000,000 requests per window: the limiter still counts every request
in the store, as in production, but does not refuse the benchmark's),
warms it up, then sends ``--requests`` requests (default 2,000) from ``--concurrency``
(default 20) concurrent clients, each a one-person, one-regimen, one-day scenario at 10-min
steps (145 time points). Reports throughput, latency percentiles, errors and the server's
resident memory (its process and children) after the warm-up and after the load.

Targets (issue 7): 0 errors, p99 under 10 x p50, memory growth under 10%.

    .venv/bin/python benchmarks/web_load.py                       # 2,000 requests, 20 clients
    .venv/bin/python benchmarks/web_load.py --requests 50 --concurrency 5 --out /tmp/x.json   # smoke

Writes JSON (default ``benchmarks/out/web_load.json``, ignored by git). The exit code is 0
whatever the numbers: a benchmark reports; it does not test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

HERE = Path(__file__).resolve().parent
SCENARIO = {"name": "load", "end": "1 d", "step": "10 min",
            "population": {"n": 1, "weight": 70, "age": 40, "female_fraction": 0, "variability": False},
            "arms": [{"regimen": "0.5 mg/kg iv over 40 min"}]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    p = psutil.Process(pid)
    procs = [p, *p.children(recursive=True)]
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def start_server(data_dir: Path, workers: int, rate_limit: int = 1_000_000) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-c", "import sys; from ketasim.cli import main; sys.exit(main(sys.argv[1:]))", "serve",
           "--port", str(port), "--data-dir", str(data_dir), "--rate-limit", str(rate_limit), "--workers", str(workers),
           "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    t_end = time.monotonic() + 120
    while time.monotonic() < t_end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("server did not start")


async def _load(url: str, n: int, concurrency: int) -> tuple[list[float], dict[str, int], float]:
    lat: list[float] = []
    errors: dict[str, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        async def worker() -> None:
            while True:
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                try:
                    r = await client.post("/api/simulate", json=SCENARIO)
                    ok = r.status_code == 200 and "variables" in r.json()
                    key = None if ok else f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                lat.append(time.perf_counter() - t0)
                if key:
                    errors[key] = errors.get(key, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return lat, errors, wall


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=40, help="requests before memory is first measured")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--rate-limit", type=int, default=1_000_000,
                    help="server's per-client limit (raised, not off: each request is still counted); 0 = off")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "web_load.json")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="ketasim-web-load-") as tmp:
        proc, url = start_server(Path(tmp), args.workers, args.rate_limit)
        try:
            rss_start = _rss_mb(proc.pid)
            asyncio.run(_load(url, args.warmup, min(args.concurrency, args.warmup)))
            rss_before = _rss_mb(proc.pid)
            lat, errors, wall = asyncio.run(_load(url, args.requests, args.concurrency))
            rss_after = _rss_mb(proc.pid)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    ms = np.asarray(lat) * 1000.0
    p50, p90, p99 = (float(np.percentile(ms, q)) for q in (50, 90, 99))
    res = {
        "benchmark": "web_load",
        "requests": args.requests, "concurrency": args.concurrency, "uvicorn_workers": args.workers, "rate_limit": args.rate_limit,
        "scenario": SCENARIO,
        "wall_s": round(wall, 3),
        "throughput_rps": round(args.requests / wall, 2),
        "latency_ms": {"p50": round(p50, 1), "p90": round(p90, 1), "p99": round(p99, 1),
                       "max": round(float(ms.max()), 1), "mean": round(float(ms.mean()), 1)},
        "p99_over_p50": round(p99 / p50, 2),
        "errors": sum(errors.values()), "error_kinds": errors,
        "server_rss_mb": {"at_start": round(rss_start, 1), "after_warmup": round(rss_before, 1),
                          "after_load": round(rss_after, 1)},
        "memory_growth_pct": round(100.0 * (rss_after - rss_before) / rss_before, 2),
        "targets": {"errors": 0, "p99_over_p50_below": 10, "memory_growth_pct_below": 10},
        "host": {"machine": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count(),
                 "load_avg_1min_at_end": round(os.getloadavg()[0], 2)},
    }
    res["targets_met"] = (res["errors"] == 0 and res["p99_over_p50"] < 10 and res["memory_growth_pct"] < 10)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()

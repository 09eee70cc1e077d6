"""The store on a real PostgreSQL server (``--db postgresql+psycopg://...``).

A throwaway server is created for the module with the Debian ``postgresql`` package's own
``initdb`` and ``pg_ctl`` (``make postgres`` installs it) in a temporary folder, listening on
127.0.0.1 and a free port, trust authentication, no data kept. PostgreSQL refuses to run as
root, so when the tests run as root the server runs as the ``postgres`` system user (or
``nobody``) through ``runuser``. A missing PostgreSQL is a failure, never a skip.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from ketasim.scenario import Scenario

from .conftest import PERSON, free_port

SMALL_RUN = {"name": "pg-run", "end": "1 d", "step": "1 h", "population": {"n": 5, "seed": 3},
             "arms": [{"regimen": "0.5 mg/kg iv over 40 min"}], "report": {"figures": False}}


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    w = shutil.which("initdb")
    if w:
        return Path(w).resolve().parent
    raise AssertionError("PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin "
                         "or on PATH: run `make postgres` (installs Debian's postgresql package)")


def _as_user() -> tuple[list[str], str | None]:
    """Command prefix and user name to run the server as (root: a system user; otherwise ourselves)."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", name, "--"], name
    raise AssertionError("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


@pytest.fixture(scope="module")
def pg_url():
    """URL of a fresh PostgreSQL server on 127.0.0.1 (stopped and deleted after the module)."""
    import psycopg  # noqa: F401 - the driver ketasim's URL names

    bindir = _pg_bin()
    prefix, user = _as_user()
    root = Path(tempfile.mkdtemp(prefix="ketasim-pg-"))
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(root, pw.pw_uid, pw.pw_gid)
    data, log = root / "data", root / "server.log"
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}

    def run(*cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
        res = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=timeout, env=env, cwd=root)
        if res.returncode != 0:
            extra = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise AssertionError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stdout}{res.stderr}{extra}")
        return res

    run(str(bindir / "initdb"), "-D", str(data), "-U", "ketasim", "--auth=trust", "-E", "UTF8", "--no-sync")
    port = free_port()
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start")
    try:
        yield f"postgresql+psycopg://ketasim@127.0.0.1:{port}/postgres"
    finally:
        try:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(root, ignore_errors=True)


def test_postgres_store_migrates_saves_and_survives_an_app_restart(pg_url, tmp_path):
    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from ketasim.web import Settings, create_app
    from ketasim.web.jobs import execute_run
    from ketasim.web.store import MIGRATIONS, SCHEMA_VERSION, Store

    # migrations: all applied once, in order, recorded; a second open applies none
    s = Store.open(pg_url, migrate=False)
    assert s.engine.dialect.name == "postgresql" and s.version() == 0
    assert s.migrate() == [m[0] for m in MIGRATIONS]
    assert s.version() == SCHEMA_VERSION
    assert Store.open(pg_url).migrate() == []
    with s.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert {"schema_version", "scenarios", "runs"} <= tables
    s.engine.dispose()

    settings = Settings(data_dir=str(tmp_path / "web"), db_url=pg_url, rate_limit=0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        h = c.get("/api/health").json()
        assert h["database"] == "postgresql" and h["schema_version"] == SCHEMA_VERSION
        saved = c.post("/api/scenarios", json=PERSON)
        assert saved.status_code == 201 and saved.json()["new"] is True
        sid = saved.json()["id"]
        assert sid == Scenario.from_dict(PERSON).sha256
        assert c.post("/api/scenarios", json=PERSON).json()["new"] is False  # same content, same row
        # a run record, run by the worker's own function against PostgreSQL
        store = c.app.state.store
        sc = Scenario.from_dict(SMALL_RUN)
        store.save_scenario(sc.sha256, sc.name, sc.to_toml(), sc.to_dict())
        rid = store.create_run(sc.sha256, cost=5 * 25, owner_pid=os.getpid())
        assert execute_run(pg_url, rid, sc.to_dict(), str(c.app.state.pool.run_dir(rid)), 300) == "done"
        # a run of a server that died (pid beyond pid_max): failed at the next start
        dead = store.create_run(sc.sha256, cost=1, owner_pid=2 ** 22 + 4321)
        before = c.get(f"/api/runs/{rid}").json()
        assert before["status"] == "done" and before["progress"] == 1.0
        assert set(before["files"]) == {"summary.csv", "results.nc", "report.html"}

    # a new app on the same database: everything is still there
    with TestClient(create_app(settings), raise_server_exceptions=False) as c2:
        got = c2.get(f"/api/scenarios/{sid}")
        assert got.status_code == 200
        assert got.json()["scenario"] == Scenario.from_dict(PERSON).to_dict()
        assert got.json()["toml"] == Scenario.from_dict(PERSON).to_toml()
        after = c2.get(f"/api/runs/{rid}").json()
        assert {k: after[k] for k in ("status", "progress", "cost", "scenario_id", "created_at", "finished_at")} == \
               {k: before[k] for k in ("status", "progress", "cost", "scenario_id", "created_at", "finished_at")}
        assert after["cost"] == 125 and after["scenario_id"] == sc.sha256
        summary = c2.get(after["files"]["summary.csv"])
        assert summary.status_code == 200 and "Cmax_ketamine" in summary.text
        gone = c2.get(f"/api/runs/{dead}").json()
        assert gone["status"] == "failed" and gone["message"].startswith("interrupted: the server stopped")
        # the run list (join with the scenarios, newest first) on PostgreSQL
        listed = c2.get("/api/runs").json()["runs"]
        assert [r["id"] for r in listed] == [dead, rid] and listed[1]["scenario_name"] == sc.name
        assert [r["id"] for r in c2.get("/api/runs", params={"status": "done"}).json()["runs"]] == [rid]


def test_postgres_rate_limit_is_shared_by_two_apps(pg_url, tmp_path):
    from fastapi.testclient import TestClient

    from ketasim.web import Settings, create_app

    s = [Settings(data_dir=str(tmp_path / f"w{i}"), db_url=pg_url, rate_limit=3, rate_window_s=60) for i in (1, 2)]
    with TestClient(create_app(s[0]), raise_server_exceptions=False) as a, \
         TestClient(create_app(s[1]), raise_server_exceptions=False) as b:
        a.app.state.store.rate_forget(0.0)  # counts of other tests on this server
        codes = [(a if i % 2 == 0 else b).get("/api/health").status_code for i in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        t0 = 2_000_000.0
        assert a.app.state.store.rate_hit("192.0.2.7", 10.0, now=t0) == (1, t0)
        assert b.app.state.store.rate_hit("192.0.2.7", 10.0, now=t0 + 9.0) == (2, t0)
        assert a.app.state.store.rate_hit("192.0.2.7", 10.0, now=t0 + 10.0) == (1, t0 + 10.0)

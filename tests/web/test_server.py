"""A real ``ketasim serve`` (uvicorn) on 127.0.0.1: serves, keeps saved scenarios across a kill -9 and a restart."""

from __future__ import annotations

import os
import signal
import sqlite3

import httpx
import pytest

import ketasim as ks

from .conftest import PERSON, Server


@pytest.mark.slow
def test_restart_keeps_saved_scenarios_and_marks_interrupted_runs(tmp_path):
    data = tmp_path / "web"
    data.mkdir()
    s = Server(data).start()
    try:
        h = httpx.get(s.url + "/api/health", timeout=10)
        assert h.headers["x-ketasim-version"] == ks.__version__
        saved = httpx.post(s.url + "/api/scenarios", json=PERSON, timeout=30).json()
        sim = httpx.post(s.url + "/api/simulate", json=PERSON, timeout=60)
        assert sim.status_code == 200
        big = {**PERSON, "name": "interrupted", "population": {"n": 20_000}, "end": "2 d",
               "arms": [{"regimen": "10 mg iv"}], "report": {"figures": False}}
        run = httpx.post(s.url + "/api/runs", json=big, timeout=30).json()
        assert run["status"] in ("queued", "running")
    finally:
        s.stop(signal.SIGKILL)  # no clean shutdown

    # the database is consistent after the kill (WAL, every write a transaction)
    db = data / "ketasim-web.sqlite"
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    s2 = Server(data).start()
    try:
        got = httpx.get(f"{s2.url}/api/scenarios/{saved['id']}", timeout=10)
        assert got.status_code == 200 and got.json()["scenario"]["name"] == PERSON["name"]
        again = httpx.post(s2.url + "/api/simulate", json=got.json()["scenario"], timeout=60).json()
        assert again["variables"]["C_plasma_ketamine"] == sim.json()["variables"]["C_plasma_ketamine"]
        r = httpx.get(f"{s2.url}/api/runs/{run['id']}", timeout=10).json()
        assert r["status"] in ("failed", "done")
        if r["status"] == "failed":
            assert r["message"].startswith("interrupted: the server stopped")
        page = httpx.get(f"{s2.url}/s/{saved['id']}", timeout=10)
        assert page.status_code == 200 and "/static/app.js" in page.text
    finally:
        s2.stop()


def test_serve_binds_loopback_by_default_and_checks_its_options():
    from typer.testing import CliRunner

    from ketasim.cli import app

    res = CliRunner().invoke(app, ["serve", "--help"])
    assert res.exit_code == 0 and "127.0.0.1" in res.output
    res = CliRunner().invoke(app, ["serve", "--port", "70000"])
    assert res.exit_code == 1 and "--port must be between 1 and 65535; got 70000" in res.output


def test_serve_says_when_the_database_cannot_be_opened(tmp_path):
    from typer.testing import CliRunner

    from ketasim.cli import app

    res = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path), "--db", "nosuchdb://x"])
    assert res.exit_code == 1 and "--db: cannot open the database 'nosuchdb://x'" in res.output
    res = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path), "--db", "sqlite:////nonexistent/dir/x.db"])
    assert res.exit_code == 1 and "--db: cannot open the database" in res.output


def test_store_migrations_are_versioned_and_idempotent(tmp_path):
    from ketasim.web.store import MIGRATIONS, SCHEMA_VERSION, Store

    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    s = Store.open(url)
    assert s.version() == SCHEMA_VERSION == MIGRATIONS[-1][0]
    assert Store.open(url).migrate() == []  # nothing left to apply
    with sqlite3.connect(tmp_path / "x.sqlite") as con:
        rows = con.execute("SELECT version FROM schema_version").fetchall()
        assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"scenarios", "runs", "schema_version"} <= tables
    assert s.save_scenario("a" * 64, "x", "toml", {"name": "x"}) is True
    assert s.save_scenario("a" * 64, "x", "toml", {"name": "x"}) is False
    assert s.get_scenario("a" * 64)["document"] == {"name": "x"}


def test_interrupted_runs_of_a_dead_server_are_failed(tmp_path):
    from ketasim.web.jobs import recover_interrupted
    from ketasim.web.store import Store

    s = Store.open(f"sqlite:///{tmp_path / 'x.sqlite'}")
    s.save_scenario("b" * 64, "x", "toml", {})
    dead = s.create_run("b" * 64, 10, owner_pid=2 ** 22 + 12345)  # beyond pid_max: never alive
    mine = s.create_run("b" * 64, 10, owner_pid=os.getpid())
    assert recover_interrupted(s) == 1
    assert s.get_run(dead)["status"] == "failed" and s.get_run(mine)["status"] == "queued"

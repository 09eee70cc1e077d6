"""Background runs: a worker process runs the scenario, reports progress, can be cancelled; results download."""

from __future__ import annotations

import io
import time

import pandas as pd
import pytest
import xarray as xr

from ketasim.scenario import Scenario

SMALL = {"name": "run-small", "end": "1 d", "step": "30 min", "population": {"n": 20, "seed": 2},
         "arms": [{"regimen": "0.5 mg/kg iv over 40 min"}], "report": {"figures": False}}
LONG = {"name": "run-long", "end": "2 d", "step": "10 min", "population": {"n": 10_000, "seed": 4},
        "arms": [{"regimen": "0.5 mg/kg iv over 40 min"}], "report": {"figures": False}}


def _wait(client, rid, until, timeout=180.0):
    seen = []
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        r = client.get(f"/api/runs/{rid}").json()
        seen.append((r["status"], r["progress"]))
        if until(r):
            return r, seen
        time.sleep(0.1)
    raise AssertionError(f"run {rid} did not reach the state in {timeout} s; last {seen[-3:]}")


@pytest.mark.slow
def test_run_finishes_with_progress_and_files(client):
    r = client.post("/api/runs", json=SMALL)
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["status"] in ("queued", "running") and run["cost"] == 20 * 49 * 1
    assert run["scenario_id"] == Scenario.from_dict(SMALL).sha256
    done, seen = _wait(client, run["id"], lambda x: x["status"] in ("done", "failed", "cancelled"))
    assert done["status"] == "done", done
    assert done["progress"] == 1.0 and done["finished_at"] >= done["started_at"] >= done["created_at"]
    progress = [p for _, p in seen]
    assert progress == sorted(progress)  # never goes back
    assert set(done["files"]) == {"summary.csv", "results.nc", "report.html"}
    s = pd.read_csv(io.StringIO(client.get(done["files"]["summary.csv"]).text))
    cmax = s[s.metric == "Cmax_ketamine"].iloc[0]
    nc = client.get(done["files"]["results.nc"])
    ds = xr.open_dataset(io.BytesIO(nc.content), engine="h5netcdf")
    # the file's per-subject metrics give the summary's median
    assert float(ds["Cmax_ketamine"].median()) == pytest.approx(cmax["median"], rel=1e-9)
    assert ds.attrs["n_subjects"] == 20
    html = client.get(done["files"]["report.html"])
    assert html.status_code == 200 and "<html" in html.text[:300].lower()
    # the same scenario was saved: its permalink works
    assert client.get(f"/api/scenarios/{run['scenario_id']}").status_code == 200


@pytest.mark.slow
def test_cancel_running_and_queued_runs(client):
    a = client.post("/api/runs", json=LONG).json()
    b = client.post("/api/runs", json={**LONG, "name": "run-long-2"}).json()  # one worker: b waits
    running, _ = _wait(client, a["id"], lambda x: x["status"] == "running" and x["progress"] > 0)
    assert 0 < running["progress"] < 1
    assert client.get(f"/api/runs/{b['id']}").json()["status"] == "queued"
    cb = client.post(f"/api/runs/{b['id']}/cancel").json()
    assert cb["status"] == "cancelled" and cb["message"] == "cancelled before it started"
    ca = client.post(f"/api/runs/{a['id']}/cancel").json()
    assert ca["status"] in ("cancelling", "cancelled")
    end, _ = _wait(client, a["id"], lambda x: x["status"] not in ("running", "cancelling"), timeout=60)
    assert end["status"] == "cancelled" and end["progress"] < 1 and end["files"] == {}
    r = client.get(f"/api/runs/{a['id']}/files/summary.csv")
    assert r.status_code == 409 and "cancelled" in r.json()["message"]
    pool = client.app.state.pool
    assert not pool.run_dir(a["id"]).exists()  # partial results removed
    # b never started
    assert client.get(f"/api/runs/{b['id']}").json()["started_at"] is None


def test_failed_run_records_the_reason(client, tmp_path):
    """A run that fails inside the worker says why (here: run directly, as the worker does)."""
    from ketasim.web.jobs import execute_run

    store = client.app.state.store
    sc = Scenario.from_dict(SMALL)
    store.save_scenario(sc.sha256, sc.name, sc.to_toml(), sc.to_dict())
    rid = store.create_run(sc.sha256, 1, 0)
    doc = {**sc.to_dict(), "outputs": {"variables": ["C_plasma_kettle"]}}
    status = execute_run(client.app.state.settings.database_url, rid, doc, str(tmp_path / "out"), 60)
    assert status == "failed"
    r = client.get(f"/api/runs/{rid}").json()
    assert r["status"] == "failed" and "C_plasma_kettle" in r["message"]


def test_run_that_outlives_its_limit_is_stopped(client, tmp_path):
    from ketasim.web.jobs import execute_run

    store = client.app.state.store
    sc = Scenario.from_dict(SMALL)
    store.save_scenario(sc.sha256, sc.name, sc.to_toml(), sc.to_dict())
    rid = store.create_run(sc.sha256, 1, 0)
    status = execute_run(client.app.state.settings.database_url, rid, sc.to_dict(), str(tmp_path / "out"), 1e-9)
    assert status == "failed"
    assert "longer than the server's limit" in client.get(f"/api/runs/{rid}").json()["message"]


@pytest.mark.slow
def test_list_runs_newest_first_with_pages_and_filters(client):
    ids = []
    for seed in (11, 12, 13):
        sc = SMALL | {"name": f"listed-{seed}", "population": {"n": 5, "seed": seed}}
        ids.append(client.post("/api/runs", json=sc).json()["id"])
    for rid in ids:
        _wait(client, rid, lambda x: x["status"] in ("done", "failed", "cancelled"))
    r = client.get("/api/runs", params={"limit": 2})
    assert r.status_code == 200
    page = r.json()
    assert [x["id"] for x in page["runs"]] == ids[::-1][:2]
    assert [x["scenario_name"] for x in page["runs"]] == ["listed-13", "listed-12"]
    assert page["runs"][0]["files"]["summary.csv"] == f"/api/runs/{ids[2]}/files/summary.csv"
    nxt = client.get("/api/runs", params={"limit": 2, "before": page["next_before"]}).json()
    assert [x["id"] for x in nxt["runs"]] == [ids[0]] and nxt["next_before"] is None
    assert {x["id"] for x in client.get("/api/runs", params={"status": "done"}).json()["runs"]} == set(ids)
    assert client.get("/api/runs", params={"status": "failed"}).json()["runs"] == []
    bad = client.get("/api/runs", params={"limit": 0})
    assert bad.status_code == 422 and "limit" in bad.text
    assert client.get("/api/runs", params={"status": "finished"}).status_code == 422

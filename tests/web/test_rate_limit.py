"""The rate limit is counted in the shared store, so it holds across server processes (``--workers N``)."""

from __future__ import annotations

import threading
import time

import pytest


def test_two_apps_on_one_sqlite_file_share_the_limit(make_client, tmp_path):
    data = str(tmp_path / "shared")
    a = make_client(data_dir=data, rate_limit=4, rate_window_s=60)
    b = make_client(data_dir=data, rate_limit=4, rate_window_s=60)
    assert a.app.state.store is not b.app.state.store  # two engines, like two uvicorn workers
    codes = [(a if i % 2 == 0 else b).get("/api/health").status_code for i in range(6)]
    assert codes == [200, 200, 200, 200, 429, 429]  # 4 in all, not 4 each
    r = b.get("/api/health")
    assert r.status_code == 429 and "4 requests in 60 s" in r.json()["message"]
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # a process with its own database keeps its own count
    c = make_client(data_dir=str(tmp_path / "other"), rate_limit=4, rate_window_s=60)
    assert c.get("/api/health").status_code == 200


def test_window_reopens_after_its_length(make_client, tmp_path):
    c = make_client(data_dir=str(tmp_path / "w"), rate_limit=2, rate_window_s=0.6)
    assert [c.get("/api/health").status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(0.65)
    assert [c.get("/api/health").status_code for _ in range(3)] == [200, 200, 429]


def test_store_counts_are_exact_under_concurrent_writers(tmp_path):
    """Closed form: n threads x k hits through two engines = n*k counted, none lost."""
    from ketasim.web.store import Store

    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    stores = [Store.open(url), Store.open(url)]
    t0 = 1_000_000.0
    n, k = 4, 25

    def hammer(i):
        for _ in range(k):
            stores[i % 2].rate_hit("10.0.0.1", 60.0, now=t0 + 1.0)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stores[0].rate_hit("10.0.0.1", 60.0, now=t0 + 2.0) == (n * k + 1, t0 + 1.0)
    assert stores[1].rate_hit("10.0.0.2", 60.0, now=t0 + 2.0) == (1, t0 + 2.0)  # per client
    # the window ends 60 s after its first request: a new one opens
    assert stores[0].rate_hit("10.0.0.1", 60.0, now=t0 + 61.0) == (1, t0 + 61.0)
    # ended windows are forgotten: 10.0.0.2's (opened at t0+2) has ended at t0+62.5, 10.0.0.1's has not
    assert stores[1].rate_forget(60.0, now=t0 + 62.5) == 1
    assert stores[1].rate_hit("10.0.0.2", 60.0, now=t0 + 63.0) == (1, t0 + 63.0)


def test_limit_zero_writes_nothing(make_client, tmp_path):
    import sqlalchemy as sa

    c = make_client(data_dir=str(tmp_path / "z"), rate_limit=0)
    for _ in range(3):
        assert c.get("/api/health").status_code == 200
    with c.app.state.store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM rate_counts")).scalar() == 0


@pytest.mark.parametrize("limit", [1, 3])
def test_in_process_counting_without_a_store(limit):
    """The store-less fallback counts the same windows (used when no database is given)."""
    from ketasim.web.guards import RateLimit

    rl = RateLimit(None, limit=limit, window_s=60)
    waits = [rl._take("x") for _ in range(limit + 2)]
    assert waits[:limit] == [0.0] * limit and all(55 < w <= 60 for w in waits[limit:])

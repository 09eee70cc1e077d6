"""Saved scenarios and run records: SQLite by default, any SQLAlchemy URL (PostgreSQL) otherwise.

Migrations are a small versioned list (:data:`MIGRATIONS`) applied in order at start-up,
each in its own transaction, with the applied versions recorded in ``schema_version``.
Alembic was not used: two tables, migrations written by hand anyway (no ORM models to
autogenerate from), and the server must migrate itself at start-up without a separate
command or an ``alembic.ini`` — a dozen lines do that.

Durability: every write is one transaction. SQLite runs in WAL mode with
``synchronous=FULL``, so a server killed mid-write loses at most the transaction in flight
and never leaves a half-written row.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = ["Store", "MIGRATIONS", "SCHEMA_VERSION", "RUN_STATES"]

RUN_STATES = ("queued", "running", "cancelling", "cancelled", "done", "failed")

metadata = sa.MetaData()
schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.Float, nullable=False),
)
scenarios = sa.Table(
    "scenarios", metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # sha256 of the scenario's TOML
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("toml", sa.Text, nullable=False),
    sa.Column("document", sa.Text, nullable=False),  # the scenario as JSON (the fields given)
    sa.Column("created_at", sa.Float, nullable=False),
)
runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("scenario_id", sa.String(64), sa.ForeignKey("scenarios.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("cost", sa.BigInteger, nullable=False),
    sa.Column("owner_pid", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
)


rate_counts = sa.Table(
    "rate_counts", metadata,
    sa.Column("client", sa.String(64), primary_key=True),  # the client's address
    sa.Column("window_start", sa.Float, nullable=False),  # wall-clock time of the window's first request
    sa.Column("count", sa.Integer, nullable=False),  # requests in that window so far
)

#: One statement (no read-then-write race between processes): open a new window, or count in the current one.
_RATE_HIT = sa.text(
    "INSERT INTO rate_counts (client, window_start, count) VALUES (:client, :now, 1) "
    "ON CONFLICT (client) DO UPDATE SET "
    "count = CASE WHEN rate_counts.window_start + :window <= :now THEN 1 ELSE rate_counts.count + 1 END, "
    "window_start = CASE WHEN rate_counts.window_start + :window <= :now THEN :now "
    "ELSE rate_counts.window_start END "
    "RETURNING count, window_start")


def _v1(conn: sa.Connection) -> None:
    """Version 1: scenarios and runs."""
    for t in (scenarios, runs):
        t.create(conn, checkfirst=True)
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_runs_status ON runs (status)"))


def _v2(conn: sa.Connection) -> None:
    """Version 2: request counts of the rate limit, shared by all server processes."""
    rate_counts.create(conn, checkfirst=True)


#: (version, what it does, function applying it) in order.
MIGRATIONS: tuple[tuple[int, str, Callable[[sa.Connection], None]], ...] = (
    (1, "scenarios and runs tables", _v1),
    (2, "rate-limit counts per client", _v2),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class Store:
    """The server's records. Create with :meth:`open`, which migrates the database.

    Examples
    --------
    >>> s = Store.open("sqlite://")       # in memory
    >>> s.version()
    2
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> "Store":
        kw: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            kw["connect_args"] = {"check_same_thread": False, "timeout": 10}
            if url in ("sqlite://", "sqlite:///:memory:"):
                from sqlalchemy.pool import StaticPool

                kw["poolclass"] = StaticPool
        engine = sa.create_engine(url, **kw)
        if url.startswith("sqlite"):
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    # --- migrations ---------------------------------------------------------
    def version(self) -> int:
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("schema_version"):
                return 0
            return int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0)

    def migrate(self) -> list[int]:
        """Apply the migrations not yet applied, each in one transaction; return their versions."""
        with self.engine.begin() as conn:
            schema_version.create(conn, checkfirst=True)
        done = []
        for version, _what, apply in MIGRATIONS:
            with self.engine.begin() as conn:
                have = conn.execute(sa.select(schema_version.c.version)
                                    .where(schema_version.c.version == version)).first()
                if have:
                    continue
                apply(conn)
                conn.execute(schema_version.insert().values(version=version, applied_at=time.time()))
                done.append(version)
        return done

    # --- scenarios ----------------------------------------------------------
    def save_scenario(self, sid: str, name: str, toml: str, document: dict) -> bool:
        """Store a scenario under its content hash; False if it was already there."""
        with self.engine.begin() as conn:
            if conn.execute(sa.select(scenarios.c.id).where(scenarios.c.id == sid)).first():
                return False
            conn.execute(scenarios.insert().values(id=sid, name=name, toml=toml,
                                                   document=json.dumps(document, sort_keys=True),
                                                   created_at=time.time()))
        return True

    def get_scenario(self, sid: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(scenarios).where(scenarios.c.id == sid)).mappings().first()
        if row is None:
            return None
        return {"id": row["id"], "name": row["name"], "toml": row["toml"],
                "document": json.loads(row["document"]), "created_at": row["created_at"]}

    # --- runs ---------------------------------------------------------------
    def create_run(self, scenario_id: str, cost: int, owner_pid: int) -> str:
        rid = uuid.uuid4().hex
        with self.engine.begin() as conn:
            conn.execute(runs.insert().values(id=rid, scenario_id=scenario_id, status="queued", progress=0.0,
                                              message="waiting for a worker", cost=int(cost), owner_pid=owner_pid,
                                              created_at=time.time()))
        return rid

    def get_run(self, rid: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == rid)).mappings().first()
        return dict(row) if row is not None else None

    def update_run(self, rid: str, *, only_if: tuple[str, ...] | None = None, **values: Any) -> bool:
        """Update a run (in one transaction); with ``only_if``, only while its status is one of those."""
        with self.engine.begin() as conn:
            q = runs.update().where(runs.c.id == rid)
            if only_if is not None:
                q = q.where(runs.c.status.in_(only_if))
            return conn.execute(q.values(**values)).rowcount > 0

    def list_runs(self, limit: int = 20, status: str | None = None, before: float | None = None) -> list[dict]:
        """Runs newest first (at most ``limit``), with their scenario's name; only ``status`` ones if given, and
        only those created before ``before`` (a ``created_at`` value: the next page)."""
        q = (sa.select(runs, scenarios.c.name.label("scenario_name"))
             .join(scenarios, scenarios.c.id == runs.c.scenario_id)
             .order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(int(limit)))
        if status is not None:
            q = q.where(runs.c.status == status)
        if before is not None:
            q = q.where(runs.c.created_at < float(before))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def run_status(self, rid: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(runs.c.status).where(runs.c.id == rid)).scalar()

    # --- rate limit ---------------------------------------------------------
    def rate_hit(self, client: str, window_s: float, now: float | None = None) -> tuple[int, float]:
        """Count one request of ``client``; return (requests in its current window, the window's start).

        A window opens at a client's first request and lasts ``window_s`` seconds; the next
        request after it opens a new one. All server processes on this database share the counts.
        """
        now = time.time() if now is None else float(now)
        with self.engine.begin() as conn:
            count, start = conn.execute(_RATE_HIT, {"client": client[:64], "now": now,
                                                    "window": float(window_s)}).one()
        return int(count), float(start)

    def rate_forget(self, window_s: float, now: float | None = None) -> int:
        """Delete the counts of windows that have ended; returns how many."""
        now = time.time() if now is None else float(now)
        with self.engine.begin() as conn:
            return conn.execute(rate_counts.delete().where(rate_counts.c.window_start + float(window_s) <= now)).rowcount

    def unfinished_runs(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(runs).where(runs.c.status.in_(("queued", "running", "cancelling"))))
            return [dict(r) for r in rows.mappings()]

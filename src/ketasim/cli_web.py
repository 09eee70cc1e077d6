"""``ketasim serve``: the dashboard and HTTP API (see ``ketasim.web``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .cli import _guard, app


@app.command()
@_guard
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind; 127.0.0.1 (this machine only) by default. "
                                              "0.0.0.0 exposes the server to the network."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, help="uvicorn worker processes (each with its own run pool; the rate limit is counted in the shared database)."),
    db: Optional[str] = typer.Option(None, "--db", help="SQLAlchemy database URL (default: SQLite file in --data-dir), "
                                                        "e.g. postgresql+psycopg://user:pass@host/ketasim."),
    data_dir: Path = typer.Option(Path("ketasim-web"), help="Folder for the SQLite database and run results."),
    run_workers: int = typer.Option(1, help="Processes running background runs at once (per uvicorn worker)."),
    rate_limit: int = typer.Option(600, help="Requests per client per --rate-window to /api (0 = off)."),
    rate_window: float = typer.Option(60.0, help="Rate-limit window, seconds."),
    max_sim_cost: int = typer.Option(2_000_000, help="Cap on subjects x time points x arms of POST /api/simulate."),
    max_run_cost: int = typer.Option(50_000_000, help="Cap on subjects x time points x arms of POST /api/runs."),
    max_body: int = typer.Option(1_000_000, help="Largest request body, bytes."),
    cors: Optional[list[str]] = typer.Option(None, "--cors", help="Allow this origin to call the API from its pages "
                                                                 "(repeatable); CORS is off by default."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
):
    """Serve the dashboard (http://HOST:PORT/) and the HTTP API (/api, docs at /api/docs)."""
    import os

    import uvicorn

    from .errors import InputError
    from .web.config import SETTINGS_ENV, Settings

    if not 1 <= port <= 65535:
        raise InputError(f"--port must be between 1 and 65535; got {port}.")
    if workers < 1:
        raise InputError(f"--workers must be >= 1; got {workers}.")
    settings = Settings(data_dir=str(data_dir), db_url=db, max_body_bytes=max_body, max_sim_cost=max_sim_cost,
                        max_run_cost=max_run_cost, rate_limit=rate_limit, rate_window_s=rate_window,
                        cors_origins=tuple(cors or ()), run_workers=run_workers)
    settings.data_path.mkdir(parents=True, exist_ok=True)
    _check_database(settings.database_url)
    os.environ[SETTINGS_ENV] = settings.to_env()
    typer.echo(f"ketasim dashboard: http://{host}:{port}/  (API docs: http://{host}:{port}/api/docs)", err=True)
    uvicorn.run("ketasim.web.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, proxy_headers=False, server_header=False,
                # a worker imports numpy, xarray and the model before it answers the supervisor's
                # health check: uvicorn's default 5 s kills and restarts it forever on a busy machine
                timeout_worker_healthcheck=120)


def _check_database(url: str) -> None:
    """Open and migrate the database once, here, so that a bad --db fails with one line, not in every worker."""
    from .errors import InputError
    from .web.store import Store

    try:
        store = Store.open(url)
    except ImportError as exc:
        raise InputError(f"--db: no driver for {url.split(':', 1)[0]!r} ({exc}). For PostgreSQL install one "
                         "(pip install 'psycopg[binary]') and give postgresql+psycopg://user:password@host/db.") from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's URL and connection errors, said in one line
        raise InputError(f"--db: cannot open the database {url!r}: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    store.engine.dispose()

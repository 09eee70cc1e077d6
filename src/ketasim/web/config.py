"""Settings of the web server: where it keeps its records and the limits it enforces.

The limits are engineering guards against one client exhausting the server,
not model numbers; each default says why it is what it is.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ..errors import InputError

__all__ = ["Settings", "SETTINGS_ENV"]

#: Environment variable through which ``ketasim serve`` hands settings to uvicorn's worker processes.
SETTINGS_ENV = "KETASIM_WEB_SETTINGS"


@dataclass(frozen=True, slots=True)
class Settings:
    """Configuration of :func:`ketasim.web.create_app`.

    Parameters
    ----------
    data_dir : path
        Folder for the SQLite database (``ketasim-web.sqlite``) and run results (``runs/<id>/``).
    db_url : str, optional
        SQLAlchemy URL; default ``sqlite:///<data_dir>/ketasim-web.sqlite``. PostgreSQL:
        ``postgresql+psycopg://user:pass@host/db`` (needs a PostgreSQL driver installed).
    max_body_bytes : int
        Largest request body accepted (413 above it). 1 MB holds a scenario hundreds of times
        larger than any example.
    max_sim_cost : int
        Largest subjects x time points x arms of ``POST /api/simulate`` and of a saved
        scenario's downloads (answered while the client waits). 2 000 000 is about 100
        subjects over 7 days at 10-min steps with 2 arms, a few seconds on one core.
    max_run_cost : int
        Largest subjects x time points x arms of ``POST /api/runs`` (background). The runner
        keeps every subject's series of one arm in memory for the quantile bands (about 20
        float32 variables), so 50 000 000 per arm needs ~4 GB; the default caps the total.
    rate_limit : int
        Requests per client (IP address) per ``rate_window_s`` to ``/api/*``; 0 turns the
        limit off. The default (600 a minute) is ample for one person on the dashboard, which
        asks once per change after a 250-ms pause.
        Counted in the database, so all server processes on it share one count per client.
    rate_window_s : float
        Window of the rate limit, seconds.
    cors_origins : tuple of str
        Origins allowed to call the API from other sites' pages; empty (the default) = CORS off.
    run_workers : int
        Processes simulating background runs at once (each uvicorn worker has its own pool).
    run_timeout_s : float
        A background run still going after this long is stopped and marked failed.
    """

    data_dir: str = "ketasim-web"
    db_url: str | None = None
    max_body_bytes: int = 1_000_000
    max_sim_cost: int = 2_000_000
    max_run_cost: int = 50_000_000
    rate_limit: int = 600
    rate_window_s: float = 60.0
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    run_workers: int = 1
    run_timeout_s: float = 3600.0

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_sim_cost", "max_run_cost", "run_workers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"{name} must be a whole number >= 1; got {v!r}.")
        if isinstance(self.rate_limit, bool) or not isinstance(self.rate_limit, int) or self.rate_limit < 0:
            raise InputError(f"rate_limit must be a whole number >= 0 (0 = off); got {self.rate_limit!r}.")
        for name in ("rate_window_s", "run_timeout_s"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
                raise InputError(f"{name} must be a number of seconds > 0; got {v!r}.")
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_path / 'ketasim-web.sqlite'}"

    def to_env(self) -> str:
        """JSON for :data:`SETTINGS_ENV` (read back by :meth:`from_env`)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> "Settings":
        """Settings from :data:`SETTINGS_ENV`, or the defaults."""
        text = os.environ.get(SETTINGS_ENV)
        if not text:
            return cls()
        d = json.loads(text)
        names = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if k == "cors_origins" else v) for k, v in d.items() if k in names})

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

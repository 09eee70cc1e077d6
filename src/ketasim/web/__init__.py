"""HTTP API and dashboard page of ketasim (``ketasim serve``).

The only package that imports FastAPI, uvicorn and SQLAlchemy. See
``docs/user-guide.md`` ("Web dashboard and API").

Examples
--------
>>> import tempfile
>>> from ketasim.web import create_app, Settings
>>> app = create_app(Settings(data_dir=tempfile.mkdtemp(), rate_limit=0))
>>> sorted({r.path for r in app.routes if getattr(r, "path", "").startswith("/api/runs")})[:2]
['/api/runs', '/api/runs/{rid}']
"""

from .app import ScenarioRequest, app_from_env, create_app
from .config import Settings

__all__ = ["create_app", "app_from_env", "Settings", "ScenarioRequest"]

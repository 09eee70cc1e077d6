"""The FastAPI application: the HTTP API under ``/api`` and the dashboard page at ``/``.

Request bodies are scenarios in the scenario-file schema (:class:`ketasim.scenario.Scenario`;
:class:`ScenarioRequest` only forbids NONMEM file paths, which name files on the server).
No field is ever evaluated as code. Input errors are 422 with the field, the value and what is
allowed; nothing answers with a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import InputError
from ..scenario import Scenario
from . import catalog
from .config import Settings
from .guards import BodyLimit, RateLimit, VersionHeaders
from .jobs import JobPool, recover_interrupted
from .results import CostError, check_cost, provenance_header, results_json, write_downloads
from .store import SCHEMA_VERSION, Store

__all__ = ["create_app", "app_from_env", "ScenarioRequest"]

log = logging.getLogger("ketasim.web")
STATIC = Path(__file__).resolve().parent / "static"
_SHA = r"^[0-9a-f]{64}$"
_RUN_ID = r"^[0-9a-f]{32}$"
DOWNLOADS = {"curves.csv": "text/csv", "summary.csv": "text/csv", "results.nc": "application/x-netcdf",
             "report.html": "text/html"}
RUN_FILES = {"summary.csv": "text/csv", "results.nc": "application/x-netcdf", "report.html": "text/html"}
_ON_DISK = {"results.nc": "flagship.nc"}
#: The dashboard loads only its own files and talks only to its own server.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
#: Reports are self-contained (inline CSS, data: images) and need no script.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


class ScenarioRequest(Scenario):
    """A scenario (the scenario-file schema, see ``ketasim scenario schema``) sent over HTTP.

    Arms give their regimen as text: ``nonmem`` dose files are refused, because a path
    in a request would name a file on the server, not the client's.
    """

    model_config = ConfigDict(title="Scenario")

    @model_validator(mode="before")
    @classmethod
    def _no_server_files(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("arms"), (list, tuple)):
            for i, arm in enumerate(data["arms"]):
                if isinstance(arm, dict) and arm.get("nonmem") is not None:
                    raise PydanticCustomError(
                        "nonmem", "arms[{i}].nonmem: NONMEM dose files cannot be used over HTTP (a path would name "
                        "a file on the server); give the arm's regimen as text", {"i": i})
        return data

    def plain(self) -> Scenario:
        """The same scenario as a :class:`Scenario` (what is hashed, stored and run)."""
        return Scenario.from_dict(self.to_dict(), where="request")


class ErrorDetail(BaseModel):
    field: str = Field(description="the field, as a path: population.n, arms[0].regimen ('body' for the whole)")
    message: str
    type: str = ""
    input: Any = None


class ErrorBody(BaseModel):
    """Every error answer: what went wrong, for which field, and what is allowed."""

    error: str = Field(description="'invalid input', 'simulation cost over the limit', 'rate limit', 'not found' ...")
    message: str
    detail: list[ErrorDetail] = []
    ketasim_version: str
    cost: int | None = None
    limit: int | None = None


def _field(loc) -> str:
    parts = [p for p in loc if p not in ("body",)]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or "body"


def _safe_input(v: Any) -> Any:
    try:
        text = json.dumps(v)
    except (TypeError, ValueError):
        return repr(v)[:200]
    return v if len(text) <= 200 else text[:200] + "..."


def _error(status: int, error: str, message: str, detail: list | None = None, **extra: Any) -> JSONResponse:
    body = {"error": error, "message": message, "detail": detail or [], "ketasim_version": __version__, **extra}
    return JSONResponse(body, status_code=status)


def _input_error(exc: InputError) -> JSONResponse:
    msg = str(exc)
    field = msg.split(":", 1)[0] if ":" in msg[:60] else msg.split(" ", 1)[0]
    if isinstance(exc, CostError):
        field = "population.n, end, step, arms"
    extra = {"cost": exc.cost, "limit": exc.limit} if isinstance(exc, CostError) else {}
    kind = "simulation cost over the limit" if isinstance(exc, CostError) else "invalid input"
    return _error(422, kind, msg, [{"field": field, "message": msg}], **extra)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The web application (dashboard + API) for these settings.

    Examples
    --------
    >>> import tempfile
    >>> app = create_app(Settings(data_dir=tempfile.mkdtemp()))
    >>> app.title
    'ketasim'
    """
    settings = settings or Settings()
    data = settings.data_path
    data.mkdir(parents=True, exist_ok=True)
    store = Store.open(settings.database_url)
    pool = JobPool(store, settings.database_url, data / "runs", settings.run_workers, settings.run_timeout_s)
    locks: dict[str, threading.Lock] = {}
    locks_guard = threading.Lock()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        n = recover_interrupted(store)
        if n:
            log.warning("marked %d interrupted run(s) as failed", n)
        yield
        pool.shutdown()
        store.engine.dispose()

    app = FastAPI(title="ketasim", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json",
                  description="HTTP API of ketasim: simulate ketamine regimens from dose to blood and brain levels, "
                              "receptor occupancy, circuit, dopamine and outcomes. Request bodies use the scenario-file "
                              "schema. Every response carries `X-Ketasim-Version` and `X-Ketasim-Provenance`.")
    app.state.settings, app.state.store, app.state.pool = settings, store, pool
    err = {422: {"model": ErrorBody, "description": "invalid input (the field, the value and what is allowed), "
                                                     "or a simulation cost over the limit"},
           429: {"model": ErrorBody, "description": "rate limit"},
           413: {"model": ErrorBody, "description": "request body too large"}}

    # --- errors: never a traceback ------------------------------------------
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        detail = []
        errors = exc.errors()
        fields = [_field(e.get("loc", ())) for e in errors]
        for e, field in zip(errors, fields):
            msg = str(e.get("msg", "invalid"))
            msg = msg.removeprefix("Value error, ")
            if e.get("type") == "too_short" and any(f != field and f.startswith(field) for f in fields):
                continue  # an item failed: its own error says why
            m = re.match(r"^(arms\[\d+\]\.\w+): (.*)$", msg)
            if field == "body" and m:
                field, msg = m.group(1), m.group(2)
            d = {"field": field, "message": msg, "type": e.get("type", "")}
            if "input" in e and e.get("type") != "missing":
                d["input"] = _safe_input(e["input"])
            detail.append(d)
        message = "; ".join(f"{d['field']}: {d['message']}" for d in detail[:5]) or "invalid input"
        return _error(422, "invalid input", message, detail)

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError):
        return _input_error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, "http error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(500, "internal error", "internal error; the server log has details")

    # --- catalogue ----------------------------------------------------------
    @app.get("/api/health", tags=["about"])
    def health() -> dict[str, Any]:
        """Liveness, version and database schema version."""
        return {"status": "ok", "ketasim_version": __version__, "schema_version": store.version(),
                "database": store.engine.dialect.name,
                "limits": {"max_sim_cost": settings.max_sim_cost, "max_run_cost": settings.max_run_cost,
                           "max_body_bytes": settings.max_body_bytes, "rate_limit": settings.rate_limit,
                           "rate_window_s": settings.rate_window_s, "max_arms_dashboard": 4}}

    @app.get("/api/variables", tags=["about"])
    def variables_() -> dict[str, Any]:
        """Output variables offered by the package, with units, meaning, layer and dashboard group."""
        return {"ketasim_version": __version__, "variables": list(catalog.variables()),
                "provenance": "the *_OUTPUTS tables of the ketasim layer modules"}

    @app.get("/api/parameters", tags=["about"])
    def parameters_() -> dict[str, Any]:
        """The parameter sets with citation, population, routes and analytes."""
        return {"ketasim_version": __version__, "parameter_sets": list(catalog.parameter_sets()),
                "provenance": "ketasim/data/parameters/*.yaml (each set's citation; every parameter's source at "
                              "/api/parameters/{id})"}

    @app.get("/api/parameters/{set_id}", tags=["about"], responses={404: {"description": "unknown set"}})
    def parameter_set_(set_id: str) -> dict[str, Any]:
        """One parameter set in full: every parameter with value, unit, variability, tag and source."""
        ids = [s["id"] for s in catalog.parameter_sets()]
        if set_id not in ids:
            from ..errors import suggest

            return _error(404, "not found", f"no parameter set {set_id!r}; known: {', '.join(ids)}.{suggest(set_id, ids)}")
        return {"ketasim_version": __version__, **catalog.parameter_set(set_id)}

    @app.get("/api/hypotheses", tags=["about"])
    def hypotheses_() -> dict[str, Any]:
        """Circuit hypotheses (``model.circuit``; combine with '+')."""
        return {"ketasim_version": __version__, "hypotheses": catalog.hypotheses(),
                "provenance": "ketasim.layers.circuit (docs/model.md)"}

    @app.get("/api/examples", tags=["about"])
    def examples_() -> dict[str, Any]:
        """The example scenarios shipped with the package (documents ready for POST /api/simulate or /api/runs)."""
        return {"ketasim_version": __version__, "examples": catalog.examples(),
                "provenance": "ketasim/data/examples/*.toml"}

    @app.get("/api/schema/scenario", tags=["about"])
    def scenario_schema() -> dict[str, Any]:
        """JSON Schema of the scenario format (the request body of the simulate, scenarios and runs endpoints)."""
        from ..scenario import json_schema

        return json_schema()

    # --- simulate -----------------------------------------------------------
    def _simulate(sc: Scenario, limit: int, where: str, tables: bool = True):
        from ..runner import simulate_scenario

        check_cost(sc, limit, where)
        return simulate_scenario(sc, tables=tables)

    @app.post("/api/simulate", tags=["simulate"], responses=err)
    def simulate(scenario: ScenarioRequest, response: Response,
                 tables: bool = Query(True, description="also compute the per-arm acute-safety and benefit-and-harm "
                                                        "tables (false: curves and per-subject metrics only, faster)"),
                 ) -> dict[str, Any]:
        """Simulate a scenario while the client waits (cost capped): curves, summary, per-arm tables, provenance.

        Curves are population quantiles (5th, 50th, 95th percentile) per arm over the time grid;
        for one person (``population.n = 1``) the three are equal. ``safety`` is the acute-safety
        table of the first day; ``outcomes`` the benefit-and-harm table (antidepressant response,
        drug liking, tolerance, memory, urinary and dependence risk) over the first
        ``outcome_subjects`` subjects.
        """
        sc = scenario.plain()
        ds, summary = _simulate(sc, settings.max_sim_cost, "POST /api/simulate", tables)
        response.headers["X-Ketasim-Provenance"] = provenance_header(ds)
        return results_json(sc, ds, summary)

    # --- saved scenarios (permalinks) --------------------------------------
    @app.post("/api/scenarios", tags=["scenarios"], responses=err, status_code=201)
    def save_scenario(scenario: ScenarioRequest, request: Request) -> dict[str, Any]:
        """Save a scenario; its id is the sha256 of its TOML text, so the same scenario always gets the same permalink."""
        sc = scenario.plain()
        sid = sc.sha256
        new = store.save_scenario(sid, sc.name, sc.to_toml(), sc.to_dict())
        base = str(request.base_url).rstrip("/")
        return {"id": sid, "new": new, "permalink": f"{base}/s/{sid}", "api": f"/api/scenarios/{sid}",
                "ketasim_version": __version__}

    def _saved(sid: str) -> dict | JSONResponse:
        row = store.get_scenario(sid)
        if row is None:
            return _error(404, "not found", f"no saved scenario {sid!r}")
        return row

    @app.get("/api/scenarios/{sid}", tags=["scenarios"], responses={404: {"description": "no such scenario"}})
    def get_scenario(sid: str = PathParam(pattern=_SHA)) -> Any:
        """A saved scenario: its document (JSON), its TOML text and its id (content hash)."""
        row = _saved(sid)
        if isinstance(row, JSONResponse):
            return row
        return {"id": row["id"], "name": row["name"], "scenario": row["document"], "toml": row["toml"],
                "ketasim_version": __version__}

    @app.get("/api/scenarios/{sid}/download/{name}", tags=["scenarios"],
             responses={**err, 404: {"description": "no such scenario"}})
    def download(sid: str = PathParam(pattern=_SHA), *, name: Literal["curves.csv", "summary.csv", "results.nc", "report.html"]) -> Any:
        """Results of a saved scenario as a file (computed once, then kept): curves CSV, summary CSV, NetCDF, HTML report."""
        row = _saved(sid)
        if isinstance(row, JSONResponse):
            return row
        folder = data / "scenarios" / sid
        target = folder / _ON_DISK.get(name, name)
        with locks_guard:
            lock = locks.setdefault(sid, threading.Lock())
        with lock:
            if not target.is_file():
                sc = Scenario.from_dict(row["document"], where=f"saved scenario {sid}")
                ds, summary = _simulate(sc, settings.max_sim_cost, "downloads of a saved scenario")
                write_downloads(sc, ds, summary, folder, report=name == "report.html")
        fname = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{row['name']}-{name}")
        headers = {"X-Ketasim-Provenance": f"saved scenario sha256 {sid}"}
        if name == "report.html":
            headers["Content-Security-Policy"] = REPORT_CSP
        return FileResponse(target, media_type=DOWNLOADS[name], filename=fname, headers=headers)

    # --- background runs ----------------------------------------------------
    def _run_view(r: dict) -> dict[str, Any]:
        out = {k: r[k] for k in ("id", "scenario_id", "status", "progress", "message", "cost", "created_at",
                                 "started_at", "finished_at")}
        out["files"] = ({n: f"/api/runs/{r['id']}/files/{n}" for n in RUN_FILES} if r["status"] == "done" else {})
        out["ketasim_version"] = __version__
        return out

    @app.post("/api/runs", tags=["runs"], responses=err, status_code=202)
    def create_run(scenario: ScenarioRequest) -> dict[str, Any]:
        """Start a background run (larger cost cap); poll ``GET /api/runs/{id}`` for status and progress."""
        sc = scenario.plain()
        cost = check_cost(sc, settings.max_run_cost, "POST /api/runs")
        store.save_scenario(sc.sha256, sc.name, sc.to_toml(), sc.to_dict())
        rid = store.create_run(sc.sha256, cost, os.getpid())
        pool.submit(rid, sc.to_dict())
        return _run_view(store.get_run(rid))

    @app.get("/api/runs", tags=["runs"])
    def list_runs(limit: int = Query(20, ge=1, le=200, description="at most this many runs, newest first"),
                  status: Literal["queued", "running", "cancelling", "cancelled", "done", "failed"] | None = Query(
                      None, description="only runs in this state"),
                  before: float | None = Query(None, ge=0, description="only runs created before this "
                                                  "created_at (the last one of the previous page)")) -> dict[str, Any]:
        """Background runs of this server, newest first, with status, progress and file links (every client of
        the server sees them, as it can open any saved scenario by its permalink)."""
        rows = store.list_runs(limit, status, before)
        return {"runs": [_run_view(r) | {"scenario_name": r["scenario_name"]} for r in rows],
                "next_before": rows[-1]["created_at"] if len(rows) == limit else None}

    def _get_run(rid: str) -> dict | JSONResponse:
        r = store.get_run(rid)
        return r if r is not None else _error(404, "not found", f"no run {rid!r}")

    @app.get("/api/runs/{rid}", tags=["runs"], responses={404: {"description": "no such run"}})
    def get_run(rid: str = PathParam(pattern=_RUN_ID)) -> Any:
        """Status (queued, running, cancelling, cancelled, done, failed), progress 0-1, message, file links."""
        r = _get_run(rid)
        return r if isinstance(r, JSONResponse) else _run_view(r)

    @app.post("/api/runs/{rid}/cancel", tags=["runs"], responses={404: {"description": "no such run"}})
    def cancel_run(rid: str = PathParam(pattern=_RUN_ID)) -> Any:
        """Cancel a queued or running run (a finished one is left as it is)."""
        r = _get_run(rid)
        if isinstance(r, JSONResponse):
            return r
        pool.cancel(rid)
        return _run_view(store.get_run(rid))

    @app.get("/api/runs/{rid}/files/{name}", tags=["runs"],
             responses={404: {"description": "no such run"}, 409: {"description": "run not finished"}})
    def run_file(rid: str = PathParam(pattern=_RUN_ID), *, name: Literal["summary.csv", "results.nc", "report.html"]) -> Any:
        """A finished run's results: summary CSV, NetCDF (all series, bands and per-subject metrics), HTML report."""
        r = _get_run(rid)
        if isinstance(r, JSONResponse):
            return r
        if r["status"] != "done":
            return _error(409, "not finished", f"run {rid} is {r['status']}; files exist once it is done")
        path = pool.run_dir(rid) / _ON_DISK.get(name, name)
        if not path.is_file():
            return _error(404, "not found", f"run {rid} has no {name}")
        headers = {"X-Ketasim-Provenance": f"run {rid}; scenario sha256 {r['scenario_id']}"}
        if name == "report.html":
            headers["Content-Security-Policy"] = REPORT_CSP
        return FileResponse(path, media_type=RUN_FILES[name], filename=f"{rid}-{name}", headers=headers)

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI, served from the package (swagger-ui-dist 5.35.0, Apache-2.0): works offline."""
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url="/api/openapi.json", title="ketasim API",
                                   swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url="data:,")

    # --- the page -----------------------------------------------------------
    index = (STATIC / "index.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(index, headers={"Content-Security-Policy": PAGE_CSP})

    @app.get("/s/{sid}", include_in_schema=False)
    def permalink(sid: str) -> HTMLResponse:
        return HTMLResponse(index, headers={"Content-Security-Policy": PAGE_CSP})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # outermost last: headers on everything, then size cap, then rate limit
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["content-type"], expose_headers=["x-ketasim-version", "x-ketasim-provenance"])
    app.add_middleware(RateLimit, limit=settings.rate_limit, window_s=settings.rate_window_s, store=store)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(VersionHeaders)
    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn (``ketasim serve``): settings from :data:`ketasim.web.config.SETTINGS_ENV`."""
    return create_app(Settings.from_env())


"""FastAPI app factory: thin routers over the ledger service; nothing served without login."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError

from callcenter.accounts import Principal
from callcenter.qa.jobs import ScoringJobs
from callcenter.web.deps import WebServices, WebState
from callcenter.web.edge import LOGIN_MAX_BYTES, BodyLimit, SecurityHeaders
from callcenter.web.estate_scope import guard_estate_paths  # noqa: E402  (after the routers: no cycle)
from callcenter.web.guards import refuse_nul
from callcenter.web.presence import EditingPresence
from callcenter.web.ratelimit import LoginLimiter
from callcenter.web.routers import (
    callers,
    calls,
    drafting,
    entries,
    events,
    meta,
    qa,
    residents,
    session,
    staff,
    workflow,
)
from callcenter.web.routers import reports as reports_routes
from callcenter.web.schemas import refusals
from callcenter.web.security import CSRF_COOKIE, SESSION_COOKIE, current_principal
from callcenter.web.sessions import LiveConnections, load_or_create_secret

__all__ = ["WebServices", "create_app"]

DB_BUSY = "数据库忙，请稍后重试 / the database is busy, please retry"


def _is_busy(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text or "lock timeout" in text


# The panel's files: package data (callcenter/panel, in the source tree a link to web/).
PANEL_DIR = (Path(__file__).resolve().parents[1] / "panel").resolve()


def create_app(services: WebServices) -> FastAPI:
    settings = services.settings
    live = LiveConnections()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        services.bus.bind_loop(asyncio.get_running_loop())
        yield
        live.end_all()  # open websockets must not hold the shutdown (SIGTERM) up
        if app.state.web.scoring is not None:
            app.state.web.scoring.shutdown()

    app = FastAPI(title="callcenter 物业客服热线", version="0.1.0", docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan, dependencies=[Depends(refuse_nul)])
    # the one thing kept on the app's state; routers read it through web/deps.py
    load_or_create_secret(settings.secret_file)  # the site's key, created owner-only on first start
    app.state.web = WebState(services, LoginLimiter(settings.login_attempts_per_address,
                                                    settings.login_failures_per_user,
                                                    settings.login_failures_per_account), live,
                             EditingPresence(), ScoringJobs(services.qa) if services.qa is not None else None)
    app.add_middleware(BodyLimit, default_bytes=settings.max_body_bytes,  # type: ignore[arg-type]
                       limits={"/api/auth/login": LOGIN_MAX_BYTES, "/api/residents/import": settings.max_import_bytes})
    app.add_middleware(SecurityHeaders, hsts=settings.secure_cookies)  # type: ignore[arg-type]

    @app.exception_handler(OperationalError)
    async def database_busy(_: Request, exc: OperationalError) -> JSONResponse:
        """A locked (SQLite) or lock-waiting database: nothing was written; say so at once and let
        the panel retry (x-db-busy), instead of a 500 「Internal Server Error」."""
        if not _is_busy(exc):
            raise exc
        return JSONResponse(status_code=503, content={"detail": DB_BUSY},
                            headers={"Retry-After": "1", "x-db-busy": "1"})
    # meta before residents: /api/residents/units is a GET beside the admin-only import
    # Routes that name an entry, call, work order or callback by id answer 404 for one of an
    # estate outside the user's (web/estate_scope.py).
    in_scope = [Depends(guard_estate_paths)]
    for r in (session.router, calls.router, callers.router, entries.router, meta.router, residents.router,
              events.router, workflow.router, drafting.router, reports_routes.router, staff.router):
        # meta and drafting before reports: /api/reports/draft-accuracy[/weekly] are theirs
        app.include_router(r, dependencies=in_scope if r in (calls.router, entries.router, workflow.router, staff.router)
                           else None)
    app.include_router(qa.router, dependencies=in_scope)  # answers 503 where QA is not configured

    app.openapi = _with_security(app)  # type: ignore[method-assign]

    # The schema and its browser are behind login too: they describe personal-data routes.
    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_: Principal = Depends(current_principal)) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(_: Principal = Depends(current_principal)) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="callcenter API")

    if (PANEL_DIR / "static").is_dir():
        app.mount("/static", StaticFiles(directory=PANEL_DIR / "static"), name="static")

    @app.get("/", include_in_schema=False)
    def panel() -> FileResponse:
        # The page itself holds no data; it logs in and then reads the API.
        return FileResponse(PANEL_DIR / "index.html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(PANEL_DIR / "static" / "favicon.svg", media_type="image/svg+xml")

    return app


# How a client proves who it is: a bearer token (scripts), or the session cookie from
# /api/auth/login (the panel), which must echo the CSRF cookie in X-CSRF-Token to change anything.
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "token": {"type": "http", "scheme": "bearer", "description": "API token (`callcenter token create`)"},
    "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
    "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
             "description": f"the value of the {CSRF_COOKIE} cookie; cookie sessions, unsafe methods only"},
}
_OPEN = {("post", "/api/auth/login")}  # the one route that needs no login


def _with_security(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's schema plus what every route does alike: the authentication it enforces
    (security.current_principal), so clients and fuzzers know how to authenticate, the 400 for a
    body that cannot be parsed at all, and the 422 of the app-wide input guards."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if "requestBody" in operation:  # FastAPI's answer to a body it cannot parse (not UTF-8 JSON)
                    operation["responses"].update(refusals(400))
                for code, answer in refusals(422).items():  # guards.refuse_nul guards every route
                    operation["responses"].setdefault(str(code), answer)
                if (method, path) in _OPEN:
                    operation["security"] = []
                elif method in ("get", "head", "options"):
                    operation["security"] = [{"token": []}, {"session": []}]
                else:
                    operation["security"] = [{"token": []}, {"session": [], "csrf": []}]
        return schema

    return openapi

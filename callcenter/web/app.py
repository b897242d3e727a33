"""FastAPI app factory: thin routers over the ledger service; nothing served without login."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from callcenter.accounts import Accounts, Principal
from callcenter.audio.interface import RecordingStore
from callcenter.events import EventBus
from callcenter.ledger.service import LedgerService
from callcenter.qa.service import QaService
from callcenter.web.ratelimit import LoginLimiter
from callcenter.web.routers import callers, calls, entries, events, meta, qa, residents, session, workflow
from callcenter.web.routers import reports as reports_routes
from callcenter.web.security import SessionSigner, current_principal, load_or_create_secret
from callcenter.web.settings import WebSettings
from callcenter.workflow.cases import CaseWorkflow

PANEL_DIR = Path(__file__).resolve().parents[2] / "web"


@dataclass
class WebServices:
    ledger: LedgerService
    accounts: Accounts
    bus: EventBus
    recordings: RecordingStore
    normalize_unit: Callable[[str], str | None]
    settings: WebSettings
    qa: QaService | None = None  # 质检 (issue 5); without it no /api/qa routes
    workflow: CaseWorkflow | None = None  # work orders, callbacks, clocks; 503 without it
    dialer: Any = None  # places callbacks through the SIP agent (calls.callback_dialer)


def create_app(services: WebServices) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        services.bus.bind_loop(asyncio.get_running_loop())
        yield

    app = FastAPI(title="callcenter 物业客服热线", version="0.1.0", docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan)
    st = app.state
    st.ledger, st.accounts, st.bus = services.ledger, services.accounts, services.bus
    st.recordings, st.normalize_unit, st.web_settings = (services.recordings, services.normalize_unit,
                                                          services.settings)
    st.signer = SessionSigner(load_or_create_secret(services.settings.secret_file),
                              services.settings.session_max_age_s)
    st.login_limiter = LoginLimiter()
    st.qa = services.qa
    st.workflow, st.dialer = services.workflow, services.dialer
    # meta before residents: /api/residents/units is a GET beside the admin-only import
    for r in (session.router, calls.router, callers.router, entries.router, meta.router, residents.router,
              events.router, workflow.router, reports_routes.router):  # reports after meta: /api/reports/draft-accuracy
        app.include_router(r)
    app.include_router(qa.router)  # answers 503 where QA is not configured

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

    return app

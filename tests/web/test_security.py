"""Every route, walked from the app's own route table: state-changing routes refuse a cookie
session without the CSRF token, QA reaches no route that changes the ledger, clerks no admin route."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.web.test_api import _all_routes

_SAFE = {"GET", "HEAD", "OPTIONS"}
_OPEN = {("POST", "/api/auth/login"), ("POST", "/api/auth/logout")}


def _changing_routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    out = []
    for route in _all_routes(app.routes):
        if isinstance(route, APIRoute):
            path = re.sub(r"\{[a-z_]+_id\}", "1", route.path)
            out.extend((m, path) for m in route.methods - _SAFE if (m, route.path) not in _OPEN)
    return out


def test_cookie_sessions_need_csrf_on_every_changing_route(parts) -> None:  # type: ignore[no-untyped-def]
    app = parts[0]
    client = TestClient(app)
    client.post("/api/auth/login", json={"username": "admin", "password": "admin-password"})
    routes = _changing_routes(app)
    assert len(routes) >= 6
    for method, path in routes:
        r = client.request(method, path, json={})
        assert r.status_code == 403 and "CSRF" in r.json()["detail"], (method, path, r.status_code)
        r = client.request(method, path, json={}, headers={"X-CSRF-Token": "forged"})
        assert r.status_code == 403, (method, path)


def test_qa_changes_nothing_and_clerks_reach_no_admin_route(parts) -> None:  # type: ignore[no-untyped-def]
    app, _, accounts, _ = parts
    qa = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('qa1')}"})
    for method, path in _changing_routes(app):
        if path.startswith("/api/qa/"):
            continue  # scoring calls and building training sets is QA's own work (tests/web/test_qa_api.py)
        assert qa.request(method, path, json={}).status_code == 403, (method, path)
    clerk = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('clerk1')}"})
    assert clerk.post("/api/residents/import", files={"file": ("r.csv", "unit,name,phones\n")}).status_code == 403
    assert clerk.get("/api/reports/draft-accuracy").status_code == 403


def test_expired_or_forged_sessions_are_refused(parts, clock) -> None:  # type: ignore[no-untyped-def]
    app = parts[0]
    client = TestClient(app)
    client.post("/api/auth/login", json={"username": "clerk1", "password": "clerk-password"})
    assert client.get("/api/meta").status_code == 200
    clock.advance(hours=8, seconds=1)  # the shift is over
    assert client.get("/api/meta").status_code == 401
    client.cookies.set("cc_session", "eyJ1aWQiOjF9.forged.sig")
    assert client.get("/api/meta").status_code == 401

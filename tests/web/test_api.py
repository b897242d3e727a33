"""The JSON API through real HTTP semantics (TestClient): authentication on every route, roles,
CSRF on cookie sessions, recordings by id only, corrections with unit normalisation."""

from __future__ import annotations

import wave
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.web.conftest import recorded_call


def _all_routes(routes):  # type: ignore[no-untyped-def]
    """Flatten included routers (FastAPI >= 0.160 keeps them as lazy wrappers)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            prefix = getattr(route, "include_context", None)
            assert prefix is None or not getattr(prefix, "prefix", "")  # our routers carry their prefix
            yield from _all_routes(inner.routes)
        else:
            yield route


def test_every_route_requires_authentication(parts) -> None:  # type: ignore[no-untyped-def]
    app = parts[0]
    client = TestClient(app)
    checked = 0
    for route in _all_routes(app.routes):
        if isinstance(route, APIRoute) and route.path not in ("/api/auth/login", "/", "/favicon.ico"):
            path = route.path.replace("{call_id}", "1").replace("{entry_id}", "1")
            for method in route.methods - {"HEAD"}:
                r = client.request(method, path)
                assert r.status_code == 401, (method, path, r.status_code)
                checked += 1
        elif isinstance(route, APIWebSocketRoute):
            with pytest.raises(WebSocketDisconnect), client.websocket_connect(route.path) as ws:
                ws.receive_json()
            checked += 1
    assert checked >= 12
    assert client.get("/openapi.json").status_code == 401
    assert client.get("/docs").status_code == 401


def test_token_reads_calls_entries_and_recording(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, store = parts
    pk = recorded_call(ledger, store)
    client = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('qa1')}"})
    calls = client.get("/api/calls").json()
    assert calls[0]["id"] == pk and calls[0]["recording_url"] == f"/api/calls/{pk}/recording"
    entry = client.get(f"/api/entries/{calls[0]['entry_id']}").json()
    for field in ("caller_number", "unit", "category", "department", "urgent", "summary", "transcript",
                  "status", "recording_url"):
        assert field in entry
    audio = client.get(f"/api/calls/{pk}/recording")
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    tmp = Path(store.path_of(ledger.get_call(pk).recording_key))
    assert audio.content == tmp.read_bytes()
    with wave.open(str(tmp)) as w:
        assert (w.getnchannels(), w.getframerate()) == (2, 8000)
    assert client.get("/openapi.json").json()["info"]["title"].startswith("callcenter")
    bad = TestClient(app, headers={"Authorization": "Bearer cc_not-a-token"})
    assert bad.get("/api/calls").status_code == 401


def test_recording_ids_are_not_paths(parts) -> None:  # type: ignore[no-untyped-def]
    app, _, accounts, _ = parts
    client = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('admin')}"})
    for bad in ("../../etc/passwd", "..%2F..%2Fconfig.yaml", "1;DROP TABLE call", "%00"):
        assert client.get(f"/api/calls/{bad}/recording").status_code in (404, 422)
    assert client.get("/api/calls/424242/recording").status_code == 404


def test_cookie_session_needs_csrf_for_changes(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, _, store = parts
    pk = recorded_call(ledger, store)
    entry_id = ledger.get_call(pk).entry_id
    client = TestClient(app)
    assert client.post("/api/auth/login", json={"username": "clerk1", "password": "wrong-pass"}).status_code == 401
    csrf = client.post("/api/auth/login", json={"username": "clerk1", "password": "clerk-password"}).json()["csrf"]
    assert client.get("/api/auth/me").json() == {"username": "clerk1", "role": "clerk"}
    assert client.patch(f"/api/entries/{entry_id}", json={"category": "投诉"}).status_code == 403
    r = client.patch(f"/api/entries/{entry_id}", json={"category": "投诉", "unit": "四栋两单元三零一"},
                     headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    assert r.json()["unit"] == "4-2-301" and r.json()["category"] == "投诉"
    audit = client.get(f"/api/entries/{entry_id}/audit").json()
    assert any(a["actor"] == "clerk1" and a["field"] == "category" and a["new"] == "投诉" for a in audit)
    bad = client.patch(f"/api/entries/{entry_id}", json={"unit": "随便"}, headers={"X-CSRF-Token": csrf})
    assert bad.status_code == 422 and "房号" in bad.json()["detail"]
    bad = client.patch(f"/api/entries/{entry_id}", json={"department": "食堂"}, headers={"X-CSRF-Token": csrf})
    assert bad.status_code == 422
    bad = client.patch(f"/api/entries/{entry_id}", json={"created_at": "x"}, headers={"X-CSRF-Token": csrf})
    assert bad.status_code == 422


def test_roles(parts) -> None:  # type: ignore[no-untyped-def]
    app, _, accounts, _ = parts
    csv_body = "unit,name,phones,key_customer\n4栋2单元301,王建国,13800138000,是\n9-9,李四,abc,否\n"
    qa = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('qa1')}"})
    assert qa.patch("/api/entries/1", json={"category": "投诉"}).status_code == 403
    assert qa.post("/api/residents/import", files={"file": ("r.csv", csv_body)}).status_code == 403
    admin = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('admin')}"})
    r = admin.post("/api/residents/import", files={"file": ("r.csv", csv_body.encode("gb18030"))})
    assert r.status_code == 200
    assert r.json()["imported"] == 1 and len(r.json()["errors"]) == 1 and "第3行" in r.json()["errors"][0]


def test_websocket_streams_events(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    token = accounts.create_token("clerk1")
    with TestClient(app) as client, client.websocket_connect(f"/api/events?token={token}") as ws:
        ledger.call_ringing("ws-1", "13900000000", "", "hotline", datetime(2026, 1, 5, tzinfo=UTC))
        event = ws.receive_json()
        assert event["type"] == "call.ringing" and event["data"]["caller_number"] == "13900000000"

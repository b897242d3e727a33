"""Sessions that can be ended (issue 16): a copied cookie stops working at logout, a password
change ends the old cookie and the old API tokens, a disabled user is out everywhere, a revoked
token is refused; the live-events websocket closes when its session ends, re-checks itself,
refuses other origins; cookie writes from another origin are refused."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from callcenter.accounts import AccountError
from callcenter.events import CallRinging, PartialTranscript

ORIGIN = {"Origin": "http://testserver"}


def _login(app, user: str = "clerk1", password: str = "clerk-password") -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    r = client.post("/api/auth/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf"]
    return client


def test_a_copied_cookie_stops_working_at_logout(parts) -> None:  # type: ignore[no-untyped-def]
    app = parts[0]
    clerk = _login(app)
    stolen = TestClient(app, cookies={"cc_session": clerk.cookies["cc_session"]},
                        headers={"X-CSRF-Token": clerk.headers["X-CSRF-Token"]})
    assert stolen.get("/api/auth/me").status_code == 200
    assert clerk.post("/api/auth/logout").status_code == 200
    assert stolen.get("/api/auth/me").status_code == 401
    assert stolen.post("/api/entries", json={"source": "walk_in", "summary": "x"}).status_code == 401


def test_a_password_change_ends_old_sessions_and_tokens(parts) -> None:  # type: ignore[no-untyped-def]
    app, _, accounts, _ = parts
    clerk = _login(app)
    token = accounts.create_token("clerk1")
    bearer = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    assert bearer.get("/api/auth/me").status_code == 200
    accounts.set_password("clerk1", "a-new-password-2026")
    assert clerk.get("/api/auth/me").status_code == 401
    assert bearer.get("/api/auth/me").status_code == 401
    assert _login(app, "clerk1", "a-new-password-2026").get("/api/auth/me").status_code == 200


def test_disabled_users_and_revoked_tokens_are_refused(parts) -> None:  # type: ignore[no-untyped-def]
    app, _, accounts, _ = parts
    clerk = _login(app)
    token = accounts.create_token("qa1", "script")
    other = accounts.create_token("qa1", "other")
    assert accounts.disable_user("clerk1") == 1
    assert clerk.get("/api/auth/me").status_code == 401
    r = TestClient(app).post("/api/auth/login", json={"username": "clerk1", "password": "clerk-password"})
    assert r.status_code == 401
    tid = next(t[0] for t in accounts.tokens() if t[2] == "script")
    accounts.revoke_token(str(tid))
    assert TestClient(app, headers={"Authorization": f"Bearer {token}"}).get("/api/auth/me").status_code == 401
    assert TestClient(app, headers={"Authorization": f"Bearer {other}"}).get("/api/auth/me").status_code == 200
    accounts.revoke_token(other)  # by the token itself
    assert TestClient(app, headers={"Authorization": f"Bearer {other}"}).get("/api/auth/me").status_code == 401
    with pytest.raises(AccountError):
        accounts.revoke_token("999")


def test_password_policy(parts) -> None:  # type: ignore[no-untyped-def]
    accounts = parts[2]
    with pytest.raises(AccountError, match="10"):
        accounts.set_password("clerk1", "short-pw1")  # 9 characters
    accounts.set_password("clerk1", "long-enough")


def test_cookie_writes_from_another_origin_are_refused(parts) -> None:  # type: ignore[no-untyped-def]
    app = parts[0]
    clerk = _login(app)
    body = {"source": "walk_in", "summary": "楼道灯不亮"}
    r = clerk.post("/api/entries", json=body, headers={"Origin": "http://127.0.0.1:9999"})
    assert r.status_code == 403 and "来源" in r.json()["detail"]
    assert clerk.post("/api/entries", json=body, headers=ORIGIN).status_code == 201
    assert clerk.post("/api/entries", json=body).status_code == 201  # no Origin: not a cross-site browser request


def _ringing() -> CallRinging:
    return CallRinging(call_id=1, caller_number="13912345678", resident=None, unit=None, open_entries=[])


def _ws_ringing(ws) -> dict:  # type: ignore[no-untyped-def]
    msg = ws.receive_json()
    assert msg["type"] == "call.ringing", msg
    return msg


def test_the_websocket_refuses_other_origins(parts) -> None:  # type: ignore[no-untyped-def]
    app = parts[0]
    clerk = _login(app)
    with pytest.raises(WebSocketDisconnect) as refused, \
            clerk.websocket_connect("/api/events", headers={"Origin": "http://evil.example:8001"}):
        pass
    assert refused.value.code == 1008
    with clerk.websocket_connect("/api/events", headers=ORIGIN):
        pass


def test_logout_closes_the_live_events_at_once(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, _, _ = parts
    clerk = _login(app)
    with clerk, clerk.websocket_connect("/api/events", headers=ORIGIN) as ws:
        ledger.bus.publish(_ringing())
        assert _ws_ringing(ws)["data"]["caller_number"] == "13912345678"
        assert clerk.post("/api/auth/logout").status_code == 200
        with pytest.raises(WebSocketDisconnect) as ended:
            ws.receive_json()
        assert ended.value.code == 4401


def test_a_session_ended_elsewhere_is_noticed_by_the_periodic_check(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    object.__setattr__(app.state.web.services.settings, "session_check_s", 0.2)  # frozen settings; a test value
    clerk = _login(app)
    with clerk, clerk.websocket_connect("/api/events", headers=ORIGIN) as ws:
        accounts.disable_user("clerk1")  # as `callcenter users disable` from another process: no wake-up
        ledger.bus.publish(_ringing())
        with pytest.raises(WebSocketDisconnect) as ended:
            for _ in range(5):  # at most the event that was already in flight, then the close
                ws.receive_json()
        assert ended.value.code == 4401


def test_masking_follows_the_role_at_send_time(parts) -> None:  # type: ignore[no-untyped-def]
    """A QA reviewer's connection gets masked numbers, also inside free text and formatted."""
    app, ledger, _, _ = parts
    qa = _login(app, "qa1", "qa-password")
    with qa, qa.websocket_connect("/api/events", headers=ORIGIN) as ws:
        ledger.bus.publish(_ringing())
        assert _ws_ringing(ws)["data"]["caller_number"] == "139****5678"
        ledger.bus.publish(PartialTranscript(call_id=1, text="我的电话是 +86 139-1234-5678，请回电"))
        text = ws.receive_json()["data"]["text"]
        assert "1234" not in text and "139****5678" in text, text

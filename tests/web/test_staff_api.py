"""/api/staff (extensions and 在岗/离开/通话中) and 「接听」 (POST /api/calls/{id}/take) through the
real app: who may set what, bad input refused with a clear message, a take-over reaching the
desk of the process that holds the call."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from callcenter.accounts import Accounts
from callcenter.calls.desk import StaffDesk
from callcenter.calls.understanding import Understanding
from callcenter.drafting.rules import DraftingRules
from callcenter.events import EventBus
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.staffing.lines import StaffLines
from callcenter.staffing.settings import TransferSettings
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from callcenter.workflow.settings import WorkflowSettings

pytestmark = pytest.mark.both_dbs


@pytest.fixture
def staffed(engine: Engine, clock, tmp_path: Path):  # type: ignore[no-untyped-def]
    bus = EventBus()
    ledger = LedgerService(engine, clock, bus)
    accounts = Accounts(engine, clock)
    desk = StaffDesk(Understanding(DraftingRules.load()), TransferSettings(), WorkflowSettings(),
                     StaffLines(engine, clock))
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=bus,
                                 recordings=WavRecordingStore(RecordingSettings(root=tmp_path / "rec")),
                                 settings=WebSettings(secret_file=tmp_path / "secret.key"),
                                 staff=desk.staff, takeover=desk))
    accounts.add_user("admin", "admin", "admin-password")
    accounts.add_user("clerk1", "clerk", "clerk-password")
    accounts.add_user("qa1", "qa", "qa-password")

    def client(user: str) -> TestClient:
        return TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token(user)}"})

    return SimpleNamespace(app=app, ledger=ledger, accounts=accounts, desk=desk, client=client)


def test_a_clerk_sets_extension_and_presence(staffed) -> None:  # type: ignore[no-untyped-def]
    c = staffed.client("clerk1")
    assert c.get("/api/staff/me").json()["presence"] == "away"
    r = c.put("/api/staff/me", json={"presence": "on_duty"})
    assert r.status_code == 400 and "分机号" in r.json()["detail"]
    assert c.put("/api/staff/me", json={"extension": "8101", "presence": "on_duty"}).json()["presence"] == "on_duty"
    assert staffed.desk.staff.on_duty_extensions() == ["8101"]
    r = c.put("/api/staff/me", json={"presence": "asleep"})
    assert r.status_code == 400 and "在岗" in r.json()["detail"]
    r = c.put("/api/staff/me", json={"extension": "81 01'; DROP TABLE user; --"})
    assert r.status_code in (400, 422)
    lines = {x["username"]: x for x in c.get("/api/staff/lines").json()}
    assert lines["clerk1"]["extension"] == "8101" and lines["admin"]["extension"] == ""


def test_only_an_admin_assigns_other_users_extensions(staffed) -> None:  # type: ignore[no-untyped-def]
    clerk_id = next(x["user_id"] for x in staffed.client("admin").get("/api/staff/lines").json()
                    if x["username"] == "clerk1")
    assert staffed.client("clerk1").put(f"/api/staff/lines/{clerk_id}", json={"extension": "8"}).status_code == 403
    assert staffed.client("qa1").put("/api/staff/me", json={"extension": "8"}).status_code == 403
    assert staffed.client("admin").put(f"/api/staff/lines/{clerk_id}", json={"extension": "8102"}).status_code == 200
    r = staffed.client("admin").put("/api/staff/me", json={"extension": "8102"})
    assert r.status_code == 400 and "已分配" in r.json()["detail"]
    assert TestClient(staffed.app).get("/api/staff/lines").status_code == 401


def test_take_over_reaches_the_desk_holding_the_live_call(staffed) -> None:  # type: ignore[no-untyped-def]
    ledger = staffed.ledger
    pk = ledger.call_ringing("sip-live-1", "13800138000", "", "hotline", datetime(2026, 1, 5, 1, 0, tzinfo=UTC))
    ledger.call_answered("sip-live-1")
    c = staffed.client("clerk1")
    r = c.post(f"/api/calls/{pk}/take", json={})
    assert r.status_code == 400 and "分机" in r.json()["detail"]  # no extension of my own yet
    c.put("/api/staff/me", json={"extension": "8101"})
    r = c.post(f"/api/calls/{pk}/take", json={})
    assert r.status_code == 409  # answered in the ledger, but not a live call of this process
    live = SimpleNamespace(info=SimpleNamespace(call_id="sip-live-1"))
    staffed.desk.open(None, live, None, None, live=True, known_unit=None, entry_id=None)
    r = c.post(f"/api/calls/{pk}/take", json={})
    assert r.status_code == 202 and r.json()["extension"] == "8101"
    assert staffed.desk.takeover_for("sip-live-1", pop=False) == "8101"
    assert staffed.client("qa1").post(f"/api/calls/{pk}/take", json={}).status_code == 403
    assert c.post("/api/calls/999999/take", json={}).status_code == 404


def test_meta_serves_presence_and_intake_paths(staffed) -> None:  # type: ignore[no-untyped-def]
    vocab = staffed.client("clerk1").get("/api/meta").json()["vocab"]
    assert {t["code"]: t["label"] for t in vocab["presence"]} == {"on_duty": "在岗", "away": "离开",
                                                                  "on_call": "通话中"}
    assert {t["code"] for t in vocab["intake_paths"]} == {"speech", "keypad"}


def test_only_supervisors_listen_in(staffed) -> None:  # type: ignore[no-untyped-def]
    from tests.doubles import DialerDouble, PhoneDouble

    ledger = staffed.ledger
    staffed.accounts.add_user("boss", "supervisor", "boss-password")
    pk = ledger.call_ringing("sip-live-2", "13800138000", "", "hotline", datetime(2026, 1, 5, 1, 0, tzinfo=UTC))
    ledger.call_answered("sip-live-2")
    staffed.desk.agent = DialerDouble({"8200": PhoneDouble(fails="busy")})
    live = SimpleNamespace(info=SimpleNamespace(call_id="sip-live-2"), end_reason=lambda: "")
    staffed.desk.open(None, live, None, None, live=True, known_unit=None, entry_id=None)
    c = staffed.client("clerk1")
    c.put("/api/staff/me", json={"extension": "8101"})
    r = c.post(f"/api/calls/{pk}/listen", json={})
    assert r.status_code == 403 and "主管" in r.json()["detail"]
    boss = staffed.client("boss")
    assert boss.post(f"/api/calls/{pk}/listen", json={}).status_code == 400  # no extension yet
    r = boss.post(f"/api/calls/{pk}/listen", json={"extension": "8200"})
    assert r.status_code == 202 and r.json()["extension"] == "8200"
    deadline = time.monotonic() + 5
    while not staffed.desk.agent.dialled and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [n for n, _ in staffed.desk.agent.dialled] == ["8200"]  # the supervisor's phone was rung
    staffed.desk.close("sip-live-2")
    assert boss.post(f"/api/calls/{pk}/listen", json={"extension": "8200"}).status_code == 409

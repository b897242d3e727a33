"""A clerk of estate A cannot see estate B through the API or the live events; a company-level
supervisor sees both; the company roll-up adds up to the company's figures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from callcenter.accounts import Accounts
from callcenter.estates.scope import assign_estates
from callcenter.qa.scorecard import load_scorecard
from callcenter.qa.service import QaService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from callcenter.workflow.cases import CaseWorkflow
from callcenter.workflow.notices import NoticeBoard
from callcenter.workflow.settings import WorkflowSettings
from tests.estates.conftest import A_NUMBER, B_DIALLED, TwoEstates

pytestmark = pytest.mark.both_dbs
CALLER = "13800138000"


def _recorded(t: TwoEstates, store: WavRecordingStore, key: str, called: str, at: datetime,
              caller: str = CALLER) -> tuple[int, int]:
    """(call id, entry id) of an answered, recorded call to `called` at `at`."""
    pk = t.ledger.call_ringing(key, caller, "", called, at)
    entry = t.ledger.call_answered(key, at).entry_id
    rec = store.open(key, at)
    rec.write_caller(b"\x10\x00" * 800, 0)
    t.ledger.call_ended(key, "caller_hangup", rec.close(), at)
    return pk, entry


@pytest.fixture
def site(two_estates: TwoEstates, tmp_path: Path):  # type: ignore[no-untyped-def]
    t = two_estates
    accounts = Accounts(t.engine, t.clock)
    store = WavRecordingStore(RecordingSettings(root=tmp_path / "rec"), background_flush=False)
    qa = QaService(t.engine, t.clock, store, load_scorecard(None))
    workflow = CaseWorkflow(t.ledger, t.clock, WorkflowSettings(), NoticeBoard(t.engine, t.clock, t.bus), inline=True)
    app = create_app(WebServices(ledger=t.ledger, accounts=accounts, bus=t.bus, recordings=store, qa=qa,
                                 workflow=workflow,
                                 settings=WebSettings(secret_file=tmp_path / "secret.key"), estates=t.estates))
    for name, role in (("clerk_a", "clerk"), ("clerk_new", "clerk"), ("sup_b", "supervisor"), ("boss", "supervisor"),
                       ("qa_b", "qa")):
        accounts.add_user(name, role, f"{name}-password")
    assign_estates(t.engine, t.estates, "clerk_a", ["xfjy"])
    assign_estates(t.engine, t.estates, "sup_b", ["hyhf"])
    assign_estates(t.engine, t.estates, "qa_b", ["hyhf"])
    nov = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
    calls = {"a": _recorded(t, store, "a1", A_NUMBER, nov), "b": _recorded(t, store, "b1", B_DIALLED, nov)}
    t.ledger.call_ringing("a2", "13911112222", "", A_NUMBER, nov)
    t.ledger.call_missed("a2", "cancelled", nov)
    t.ledger.call_ringing("b2", "13911113333", "", B_DIALLED, nov)
    t.ledger.call_missed("b2", "cancelled", nov)
    _recorded(t, store, "b3", B_DIALLED, nov, caller="13722223333")

    def client(user: str) -> TestClient:
        return TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token(user)}"})

    yield t, client, calls
    store.shutdown()


def test_a_clerk_of_estate_a_cannot_see_estate_b(site) -> None:  # type: ignore[no-untyped-def]
    t, client, calls = site
    (_, a_entry), (b_call, b_entry) = calls["a"], calls["b"]
    clerk = client("clerk_a")
    entries = clerk.get("/api/entries").json()["items"]
    assert entries and {e["estate_id"] for e in entries} == {t.a.id}
    assert {c["estate_id"] for c in clerk.get("/api/calls").json()} == {t.a.id}
    assert clerk.get(f"/api/entries/{a_entry}").status_code == 200
    for path in (f"/api/entries/{b_entry}", f"/api/entries/{b_entry}/audit", f"/api/calls/{b_call}",
                 f"/api/calls/{b_call}/recording"):
        assert clerk.get(path).status_code == 404, path  # as if it did not exist
    assert clerk.patch(f"/api/entries/{b_entry}", json={"summary": "改"}).status_code == 404
    assert clerk.post(f"/api/calls/{b_call}/link", json={"entry_id": a_entry}).status_code == 404
    # 「接听」 and 「监听」 name a call too: another estate's live call is not there for this clerk
    assert clerk.post(f"/api/calls/{b_call}/take", json={"extension": "8001"}).status_code == 404
    assert clerk.get("/api/entries", params={"estate": t.b.id}).status_code == 403
    assert clerk.get("/api/entries/export.csv", params={"estate": t.b.id}).status_code == 403
    csv = clerk.get("/api/entries/export.csv").text
    assert csv.count("\n") - 1 == len(entries)
    history = clerk.get("/api/callers/history", params={"number": CALLER}).json()
    assert {e["id"] for e in history["caller_recent"]} == {a_entry}
    refused = clerk.post("/api/entries", json={"source": "walk_in", "summary": "路灯不亮", "estate_id": t.b.id})
    assert refused.status_code == 403
    made = clerk.post("/api/entries", json={"source": "walk_in", "summary": "路灯不亮"}).json()
    assert made["estate_id"] == t.a.id
    meta = clerk.get("/api/meta").json()
    assert [e["code"] for e in meta["estates"]] == ["xfjy"] and meta["all_estates"] == 2

    # a clerk assigned to nothing sees the default estate only; a supervisor without an
    # assignment is company-level and sees both
    assert {e["estate_id"] for e in client("clerk_new").get("/api/entries").json()["items"]} == {t.a.id}
    boss = client("boss")
    assert {e["estate_id"] for e in boss.get("/api/entries").json()["items"]} == {t.a.id, t.b.id}
    assert boss.get(f"/api/entries/{b_entry}").status_code == 200
    assert [e["code"] for e in boss.get("/api/meta").json()["estates"]] == ["xfjy", "hyhf"]
    only_b = boss.get("/api/entries", params={"estate": t.b.id}).json()["items"]
    assert only_b and {e["estate_id"] for e in only_b} == {t.b.id}
    # QA staff of estate B search and score B's recordings only
    qa = client("qa_b")
    found = qa.get("/api/qa/calls").json()
    assert found["total"] == 2 and {c["id"] for c in found["items"]} >= {b_call}
    assert qa.get(f"/api/qa/calls/{calls['a'][0]}").status_code == 404
    assert len(boss.get("/api/qa/calls").json()["items"]) == 3
    # ...nor collect another estate's call into a training set, nor fetch its clip
    set_id = boss.post("/api/qa/training-sets", json={"name": "典型案例"}).json()["id"]
    a_call = calls["a"][0]
    assert qa.post(f"/api/qa/training-sets/{set_id}/items", json={"call_id": a_call}).status_code == 404
    item = boss.post(f"/api/qa/training-sets/{set_id}/items", json={"call_id": a_call})
    assert item.status_code == 201, item.text
    assert qa.get(f"/api/qa/training-items/{item.json()['id']}/clip.zip").status_code == 404
    assert boss.get(f"/api/qa/training-items/{item.json()['id']}/clip.zip").status_code == 200


def test_notices_about_another_estate_are_not_listed(site) -> None:  # type: ignore[no-untyped-def]
    t, client, calls = site
    board = client("boss").app.state.web.services.workflow.notices
    board.post("overdue", "幸福家园 登记超时", entry_id=calls["a"][1], audience=("clerk", "supervisor"))
    board.post("overdue", "和园华府 登记超时", entry_id=calls["b"][1], audience=("clerk", "supervisor"))
    board.post("overdue", "录音磁盘空间不足", audience=("clerk", "supervisor"))
    titles = {n["title"] for n in client("clerk_a").get("/api/notifications").json()}
    assert titles == {"幸福家园 登记超时", "录音磁盘空间不足"}
    sup = {n["title"] for n in client("sup_b").get("/api/notifications", params={"all": "true"}).json()}
    assert sup == {"和园华府 登记超时", "录音磁盘空间不足"}


def test_live_events_of_another_estate_are_not_sent(site) -> None:  # type: ignore[no-untyped-def]
    t, client, _ = site
    token = client("clerk_a").headers["Authorization"].split()[1]
    at = datetime(2026, 11, 11, 3, 0, tzinfo=UTC)
    with TestClient(client("clerk_a").app) as c, c.websocket_connect(f"/api/events?token={token}") as ws:
        t.ledger.call_ringing("live-b", "13955556666", "", B_DIALLED, at)  # 和园华府's: not for clerk_a
        t.ledger.call_answered("live-b", at)
        t.ledger.call_ringing("live-a", "13944445555", "", A_NUMBER, at)
        first = ws.receive_json()
        assert first["type"] == "call.ringing" and first["data"]["caller_number"] == "13944445555"
    token = client("boss").headers["Authorization"].split()[1]
    with TestClient(client("boss").app) as c, c.websocket_connect(f"/api/events?token={token}") as ws:
        t.ledger.call_ringing("live-b2", "13955557777", "", B_DIALLED, at)
        assert ws.receive_json()["data"]["caller_number"] == "13955557777"


def test_reports_per_estate_and_the_company_roll_up_adds_up(site) -> None:  # type: ignore[no-untyped-def]
    t, client, _ = site
    boss = client("boss")
    assert "estates" in [k["kind"] for k in boss.get("/api/reports").json()]
    rollup = boss.get("/api/reports/estates", params={"period": "2026-11"})
    assert rollup.status_code == 200, rollup.text
    rows = rollup.json()["data"]["rows"]
    assert [r["code"] for r in rows] == ["xfjy", "hyhf", ""] and rows[-1]["name"] == "合计"
    keys = [c["key"] for c in rollup.json()["data"]["columns"]]
    assert len(keys) >= 10 and rollup.json()["sections"][0]["rows"][-1][0] == "合计"
    xlsx = boss.get("/api/reports/estates.xlsx", params={"period": "2026-11"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    for key in keys:
        assert rows[0][key] + rows[1][key] == rows[2][key], key
    a, b, total = rows
    assert (a["calls_received"], b["calls_received"], total["calls_received"]) == (2, 3, 5)
    assert (a["calls_missed"], b["calls_missed"]) == (1, 1)
    assert (a["entries"], b["entries"]) == (2, 3)
    # the company total is the company's monthly report; each estate's is that estate's
    company = boss.get("/api/reports/monthly", params={"period": "2026-11"}).json()["data"]
    assert company["total"] == total["entries"] and company["calls_received"] == total["calls_received"]
    one = boss.get("/api/reports/monthly", params={"period": "2026-11", "estate": t.b.id}).json()["data"]
    assert one["total"] == b["entries"] and one["calls_received"] == b["calls_received"]
    # a supervisor of estate B gets B's figures only, and no one else's by asking
    sup = client("sup_b")
    mine = sup.get("/api/reports/estates", params={"period": "2026-11"}).json()["data"]["rows"]
    assert [r["code"] for r in mine] == ["hyhf", ""] and mine[0]["entries"] == mine[1]["entries"] == 3
    assert sup.get("/api/reports/monthly", params={"period": "2026-11"}).json()["data"]["total"] == 3
    assert sup.get("/api/reports/monthly", params={"period": "2026-11", "estate": t.a.id}).status_code == 403
    assert client("clerk_a").get("/api/reports/estates").status_code == 403  # clerks have no reports


def test_a_clerks_page_of_work_orders_is_full_of_her_estates(site) -> None:  # type: ignore[no-untyped-def]
    """The estate filter applies before the page's limit: estate B's newer orders do not push
    estate A's off a clerk's page (it used to come back empty)."""
    _t, client, calls = site
    (_, a_entry), (_, b_entry) = calls["a"], calls["b"]
    boss = client("boss")
    for entry in (a_entry, b_entry):
        confirmed = boss.post(f"/api/entries/{entry}/confirm",
                              json={"category": "报修", "department": "工程", "summary": "水管漏水"})
        assert confirmed.status_code == 200, confirmed.text
    a_order = boss.post(f"/api/entries/{a_entry}/work-orders", json={"assignee": "李师傅"})
    assert a_order.status_code == 201, a_order.text
    for _ in range(3):  # newer, and of the other estate
        assert boss.post(f"/api/entries/{b_entry}/work-orders", json={"assignee": "王师傅"}).status_code == 201
    page = client("clerk_a").get("/api/work-orders", params={"limit": 1}).json()
    assert [o["id"] for o in page] == [a_order.json()["id"]]
    assert len(boss.get("/api/work-orders", params={"limit": 10}).json()) == 4

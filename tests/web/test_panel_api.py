"""The clerk panel's API on SQLite and PostgreSQL: the screen pop and linking a repeat call (seed
002), confirming a draft with corrections kept per field, manual entries, the ledger's filters and
exports, masking for QA, login rate limiting."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from callcenter.clock import ManualClock
from tests.web.conftest import recorded_call


@dataclass(frozen=True)
class Ev:
    text: str
    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Guess:
    value: object
    confidence: float
    evidence: tuple[Ev, ...] = ()


@dataclass(frozen=True)
class Draft:  # the shape of drafting.Draft that the ledger stores
    unit: Guess
    category: Guess
    department: Guess
    urgent: Guess
    summary: Guess
    caller_name: Guess
    transcript: str


TRANSCRIPT = "我家四栋二单元三零一停电了"


def power_cut_draft(unit: str = "4-2-301", confidence: float = 0.4) -> Draft:
    return Draft(unit=Guess(unit, confidence, (Ev("四栋二单元三零一", 2, 10, "unit"),)),
                 category=Guess("报修", 0.9, (Ev("停电", 10, 12, "keyword"),)),
                 department=Guess("工程", 0.9), urgent=Guess(True, 0.8, (Ev("停电", 10, 12, "urgent"),)),
                 summary=Guess("4-2-301停电", 0.7), caller_name=Guess(None, 0.0), transcript=TRANSCRIPT)


def login(client: TestClient, user: str, password: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return {"X-CSRF-Token": r.json()["csrf"]}


def test_second_clerk_sees_the_first_call_and_links_the_repeat(parts, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    """Seed 002: 17:00 a power cut is reported and confirmed by clerk1; 18:00 the same resident
    calls again and the second clerk sees the open entry at once and links the call to it."""
    app, ledger, accounts, store = parts
    accounts.add_user("clerk2", "clerk", "clerk2-password")
    ledger.upsert_resident("4-2-301", "王建国", ["13800138000"], key_customer=False)
    first = recorded_call(ledger, store, "c-17h")
    ledger.apply_draft("c-17h", power_cut_draft())
    first_entry = ledger.get_call(first).entry_id
    c1 = TestClient(app)
    ledger.confirm_entry(first_entry, {}, "clerk1", next(u[0] for u in accounts.users() if u[1] == "clerk1"))

    clock.advance(hours=1)
    second = recorded_call(ledger, store, "c-18h")  # ringing + answered: its own draft entry exists
    own_entry = ledger.get_call(second).entry_id
    c2 = TestClient(app)
    csrf = login(c2, "clerk2", "clerk2-password")
    pop = c2.get("/api/callers/history", params={"number": "13800138000"}).json()
    assert pop["resident"]["name"] == "王建国" and pop["unit"] == "4-2-301"
    open_ids = [e["id"] for e in pop["open_entries"]]
    assert first_entry in open_ids and own_entry in open_ids
    first_row = next(e for e in pop["open_entries"] if e["id"] == first_entry)
    assert first_row["summary"] == "4-2-301停电" and first_row["owner_id"] is not None
    # by unit alone (said any way a resident says it), from another phone
    by_unit = c2.get("/api/callers/history", params={"number": "13900000000", "unit": "四栋两单元三零一"}).json()
    assert first_entry in [e["id"] for e in by_unit["open_entries"]]
    assert [e["id"] for e in by_unit["caller_recent"]] == []
    assert first_entry in [e["id"] for e in by_unit["unit_recent"]]

    assert c2.post(f"/api/calls/{second}/link", json={"entry_id": first_entry}).status_code == 403  # no CSRF
    r = c2.post(f"/api/calls/{second}/link", json={"entry_id": first_entry}, headers=csrf)
    assert r.status_code == 200, r.text
    linked = r.json()
    assert linked["id"] == first_entry and linked["repeat_count"] == 1 and linked["category"] == "投诉"
    assert sorted(c["id"] for c in linked["calls"]) == sorted([first, second])
    assert ledger.get_entry(own_entry).status == "merged" and ledger.get_entry(own_entry).merged_into_id == first_entry
    audit = c2.get(f"/api/entries/{first_entry}/audit").json()
    assert any(a["actor"] == "clerk2" and a["action"] == "linked_call" and a["new"] == str(second) for a in audit)
    # the draft of the linked call arrives later: it documents the merged entry, the linked one keeps its fields
    assert ledger.apply_draft("c-18h", power_cut_draft()) == first_entry
    assert ledger.get_call(second).entry_id == first_entry
    assert ledger.get_entry(own_entry).draft is not None
    assert ledger.get_entry(first_entry).category == "投诉"
    # the screen pop now shows one open entry, not the merged one
    pop = c2.get("/api/callers/history", params={"number": "13800138000"}).json()
    assert [e["id"] for e in pop["open_entries"]] == [first_entry]
    # linking to an entry no longer open (cancelled), or a second time elsewhere, is refused with a reason
    assert c1.post(f"/api/calls/{second}/link", json={"entry_id": 999}).status_code == 401
    third = recorded_call(ledger, store, "c-19h")
    ledger.update_entry(first_entry, {"status": "cancelled"}, "clerk1")
    r = c2.post(f"/api/calls/{third}/link", json={"entry_id": first_entry}, headers=csrf)
    assert r.status_code == 409 and "open" in r.json()["detail"]


def test_confirm_keeps_corrections_and_makes_the_clerk_first_contact_owner(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, store = parts
    pk = recorded_call(ledger, store)
    ledger.apply_draft("call-1", power_cut_draft(unit="4-2-310", confidence=0.4))
    entry_id = ledger.get_call(pk).entry_id
    client = TestClient(app)
    csrf = login(client, "clerk1", "clerk-password")
    detail = client.get(f"/api/entries/{entry_id}").json()
    assert detail["draft"]["unit"]["confidence"] == 0.4
    assert detail["draft"]["unit"]["evidence"][0] == {"text": "四栋二单元三零一", "start": 2, "end": 10, "label": "unit"}
    assert detail["calls"][0]["recording_url"] == f"/api/calls/{pk}/recording"
    assert "transcript_words" in detail["calls"][0]

    r = client.post(f"/api/entries/{entry_id}/confirm", json={"unit": "4栋2单元301", "category": "报修"},
                    headers=csrf)
    assert r.status_code == 200, r.text
    e = r.json()
    clerk_id = next(u for u in accounts.users() if u[1] == "clerk1")[0]
    assert (e["status"], e["unit"], e["owner_id"]) == ("registered", "4-2-301", clerk_id)
    assert e["confirmed_at"] is not None
    corrections = {c["field"]: c for c in client.get(f"/api/entries/{entry_id}/corrections").json()}
    assert corrections["unit"] == {**corrections["unit"], "draft_value": "4-2-310", "confirmed_value": "4-2-301",
                                   "changed": True, "confidence": 0.4, "actor": "clerk1"}
    assert corrections["category"]["changed"] is False and corrections["urgent"]["confirmed_value"] == "true"
    audit = client.get(f"/api/entries/{entry_id}/audit").json()
    assert any(a["action"] == "confirm" and a["field"] == "unit" and a["old"] == "4-2-310" for a in audit)
    assert any(a["action"] == "confirm" and a["field"] == "owner" and a["new"] == "clerk1" for a in audit)
    # a second confirmation by someone else is refused naming the first clerk (issue 16), and
    # changes neither the entry, the owner nor the accuracy statistics
    admin = TestClient(app)
    admin_csrf = login(admin, "admin", "admin-password")
    r = admin.post(f"/api/entries/{entry_id}/confirm", json={"summary": "停电，已派电工"}, headers=admin_csrf)
    assert r.status_code == 409 and "clerk1" in r.json()["detail"] and "重复确认" in r.json()["detail"]
    after = client.get(f"/api/entries/{entry_id}").json()
    assert after["owner_id"] == clerk_id and after["summary"] != "停电，已派电工"
    stats = {s["field"]: s for s in admin.get("/api/reports/draft-accuracy").json()}
    assert stats["unit"] == {"field": "unit", "confirmed": 1, "corrected": 1, "accuracy": 0.0}
    assert stats["department"]["accuracy"] == 1.0
    assert client.get("/api/reports/draft-accuracy").status_code == 403  # clerks do not read reports
    assert client.post(f"/api/entries/{entry_id}/acknowledge", headers=csrf).status_code == 204
    audit = client.get(f"/api/entries/{entry_id}/audit").json()
    assert any(a["action"] == "urgent_ack" and a["actor"] == "clerk1" for a in audit)
    bad = client.post(f"/api/entries/{entry_id}/confirm", json={"unit": "随便"}, headers=csrf)
    assert bad.status_code == 422 and "房号" in bad.json()["detail"]
    bad = client.post(f"/api/entries/{entry_id}/confirm", json={"status": "closed"}, headers=csrf)
    assert bad.status_code == 422


def test_manual_entry_for_a_walk_in(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    ledger.upsert_resident("4-2-301", "王建国", ["13800138000"], key_customer=True)
    client = TestClient(app)
    csrf = login(client, "clerk1", "clerk-password")
    body = {"source": "walk_in", "caller_number": "138-0013-8000", "unit": "四号楼二单元三零一",
            "category": "投诉", "department": "保洁", "summary": "楼道垃圾三天没清"}
    r = client.post("/api/entries", json=body, headers=csrf)
    assert r.status_code == 201, r.text
    e = r.json()
    assert (e["kind"], e["source"], e["status"], e["unit"], e["caller_number"], e["caller_name"]) == (
        "manual", "walk_in", "registered", "4-2-301", "13800138000", "王建国")
    assert e["recording_url"] is None and e["calls"] == [] and e["owner_id"] is not None
    assert client.post("/api/entries", json={**body, "source": "phone"}, headers=csrf).status_code == 422
    assert client.post("/api/entries", json={**body, "summary": ""}, headers=csrf).status_code == 422
    assert client.post("/api/entries", json={**body, "category": "闲聊"}, headers=csrf).status_code == 422


def test_ledger_filters_pagination_and_exports(parts, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, store = parts
    clerk_id = next(u for u in accounts.users() if u[1] == "clerk1")[0]
    for i in range(7):
        ledger.create_manual_entry({"unit": f"1-1-10{i}", "category": "报修" if i % 2 else "咨询",
                                    "department": "工程" if i % 2 else "客服", "urgent": i == 3,
                                    "summary": "=SUM(A1) 水管" if i == 5 else f"第{i}条"},
                                   "walk_in", "clerk1", clerk_id)
        clock.advance(hours=1)
    pk = recorded_call(ledger, store, "c-x", number="13911112222")
    ledger.set_transcript("c-x", type("T", (), {"text": "电梯困人了快来", "words": [], "engine": "test"})(), "done")
    client = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('clerk1')}"})
    page = client.get("/api/entries", params={"limit": 3}).json()
    assert page["total"] == 8 and len(page["items"]) == 3
    page2 = client.get("/api/entries", params={"limit": 3, "offset": 3}).json()
    assert not {e["id"] for e in page["items"]} & {e["id"] for e in page2["items"]}
    assert client.get("/api/entries", params={"category": "报修"}).json()["total"] == 3
    assert client.get("/api/entries", params={"urgent": "true"}).json()["items"][0]["unit"] == "1-1-103"
    assert client.get("/api/entries", params={"owner": clerk_id}).json()["total"] == 7
    assert client.get("/api/entries", params={"unit": "1-1-102"}).json()["total"] == 1
    assert client.get("/api/entries", params={"caller": "13911112222"}).json()["total"] == 1
    assert client.get("/api/entries", params={"q": "电梯困人"}).json()["items"][0]["id"] == ledger.get_call(pk).entry_id
    times = sorted(e["created_at"] for e in client.get("/api/entries").json()["items"])
    since = datetime.fromisoformat(times[2])
    assert client.get("/api/entries", params={"since": since.isoformat()}).json()["total"] == 6

    r = client.get("/api/entries/export.csv", params={"department": "工程"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["编号", "登记时间", "来源", "状态"] and len(rows) == 4
    assert any(row[10].startswith("'=SUM") for row in rows)  # formula injection defused
    assert all(row[2] == "前台来访" and row[12] == "clerk1" for row in rows[1:])
    x = client.get("/api/entries/export.xlsx")
    assert x.status_code == 200
    ws = load_workbook(io.BytesIO(x.content)).active
    assert ws.max_row == 9 and ws.cell(1, 7).value == "房号"


def test_qa_sees_masked_numbers_and_cannot_edit(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, store = parts
    pk = recorded_call(ledger, store)
    entry_id = ledger.get_call(pk).entry_id
    qa = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('qa1')}"})
    clerk = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('clerk1')}"})
    assert qa.get(f"/api/entries/{entry_id}").json()["caller_number"] == "138****8000"
    assert qa.get(f"/api/entries/{entry_id}").json()["calls"][0]["caller_number"] == "138****8000"
    assert qa.get("/api/calls").json()[0]["caller_number"] == "138****8000"
    assert qa.get(f"/api/calls/{pk}").json()["caller_number"] == "138****8000"
    assert qa.get("/api/callers/history", params={"number": "13800138000"}).json()["number"] == "138****8000"
    assert "13800138000" not in qa.get("/api/entries/export.csv").content.decode("utf-8-sig")
    assert clerk.get(f"/api/entries/{entry_id}").json()["caller_number"] == "13800138000"
    assert qa.get(f"/api/calls/{pk}/recording").status_code == 200  # QA replays recordings
    said = "我的身份证号是110101199003071234"
    words = [{"text": "我的身份证号是", "start_s": 0.0, "end_s": 1.0, "confidence": 1.0}] + [
        {"text": d, "start_s": 1.0 + i / 4, "end_s": 1.2 + i / 4, "confidence": 1.0}
        for i, d in enumerate("110101199003071234")]
    transcript = type("T", (), {"text": said, "words": words, "engine": "test"})()
    ledger.set_transcript("call-1", transcript, "done")
    qa_call = qa.get(f"/api/calls/{pk}").json()
    assert qa_call["transcript"] == "我的身份证号是110101********1234"
    assert "".join(w["text"] for w in qa_call["transcript_words"]) == qa_call["transcript"]
    assert "110101199003071234" not in qa.get(f"/api/entries/{entry_id}").text
    assert clerk.get(f"/api/calls/{pk}").json()["transcript"] == said
    for method, path, body in (("POST", f"/api/entries/{entry_id}/confirm", {}),
                               ("PATCH", f"/api/entries/{entry_id}", {"summary": "x"}),
                               ("POST", "/api/entries", {"source": "walk_in", "summary": "x"}),
                               ("POST", f"/api/calls/{pk}/link", {"entry_id": entry_id})):
        assert qa.request(method, path, json=body).status_code == 403, path
    assert ledger.get_entry(entry_id).status == "draft"
    with TestClient(app) as c, c.websocket_connect(f"/api/events?token={accounts.create_token('qa1')}") as ws:
        ledger.call_ringing("ws-qa", "13912345678", "", "hotline", datetime(2026, 1, 5, tzinfo=UTC))
        assert ws.receive_json()["data"]["caller_number"] == "139****5678"
        ledger.partial_transcript(1, "身份证110101199003071234")
        assert ws.receive_json()["data"]["text"] == "身份证110101********1234"


def test_login_is_rate_limited(parts) -> None:  # type: ignore[no-untyped-def]
    app = parts[0]
    client = TestClient(app)
    for _ in range(5):
        assert client.post("/api/auth/login", json={"username": "clerk1", "password": "guess-guess"}).status_code == 401
    r = client.post("/api/auth/login", json={"username": "clerk1", "password": "clerk-password"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and "频繁" in r.json()["detail"]
    # another user from the same address is not locked out by clerk1's failures
    assert client.post("/api/auth/login", json={"username": "qa1", "password": "qa-password"}).status_code == 200


def test_units_completion_and_meta(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    ledger.upsert_resident("4-2-301", "王建国", [], key_customer=False)
    ledger.upsert_resident("4-2-302", "李娟", [], key_customer=False)
    ledger.upsert_resident("5-1-101", "赵强", [], key_customer=False)
    client = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('clerk1')}"})
    assert [u["unit"] for u in client.get("/api/residents/units", params={"prefix": "4-2"}).json()] == [
        "4-2-301", "4-2-302"]
    assert client.get("/api/residents/units", params={"prefix": "四栋两单元三零一"}).json() == [
        {"unit": "4-2-301", "name": "王建国"}]
    meta = client.get("/api/meta").json()
    assert meta["role"] == "clerk" and "edit_entries" in meta["permissions"]
    assert "walk_in" in meta["sources"] and "报修" in meta["categories"]
    assert {u["username"] for u in meta["users"]} >= {"clerk1", "qa1", "admin"}


# The groups of /api/meta's vocab, as agreed between the backend and the panel.
CODE_LABEL_GROUPS = ("entry_statuses", "entry_kinds", "categories", "departments", "complaint_subjects", "sources",
                     "end_reasons", "missed_reasons", "entry_fields", "audit_actions", "work_order_kinds",
                     "work_order_statuses", "work_order_moves", "task_kinds", "task_statuses", "callback_outcomes",
                     "satisfactions", "severities", "qa_verdicts", "clock_kinds", "period_hints")


def test_meta_serves_the_vocabulary(parts) -> None:  # type: ignore[no-untyped-def]
    """The panel reads every code and its label from /api/meta's vocab, in display order."""
    app, _, accounts, _ = parts
    client = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('clerk1')}"})
    meta = client.get("/api/meta").json()
    vocab = meta["vocab"]
    for group in CODE_LABEL_GROUPS:
        assert vocab[group] and all(set(x) == {"code", "label"} and x["label"] for x in vocab[group]), group
        codes = [x["code"] for x in vocab[group]]
        assert len(codes) == len(set(codes)), group
    label = {g: {x["code"]: x["label"] for x in vocab[g]} for g in CODE_LABEL_GROUPS}
    assert [x["code"] for x in vocab["entry_statuses"]] == meta["statuses"]  # the lifecycle, in order
    assert label["entry_statuses"]["dispatched"] == "已派工" and label["entry_statuses"]["draft"] == "待确认"
    assert label["work_order_kinds"]["dispatch"] == "维修调度单"
    assert [x["code"] for x in vocab["satisfactions"]] == ["满意", "基本满意", "不满意"]
    assert [x["code"] for x in vocab["categories"]] == meta["categories"]
    assert [x["code"] for x in vocab["departments"]] == meta["departments"]
    assert label["sources"] == meta["sources"]
    assert vocab["open_statuses"] == ["draft", "registered", "dispatched", "in_progress", "completed"]
    assert vocab["reopened_from"] == ["completed", "called_back", "closed"]
    moves = vocab["work_order_transitions"]
    assert moves["open"] == ["accepted", "in_progress", "done", "cancelled"] and moves["done"] == []
    assert all(m in label["work_order_moves"] for targets in moves.values() for m in targets)
    assert all(s in label["entry_statuses"] for s in vocab["open_statuses"] + vocab["reopened_from"])
    assert vocab["entry_defaults"]["category"] in label["categories"]
    assert vocab["entry_defaults"]["department"] in label["departments"]


def test_a_ringing_call_cannot_be_linked_yet(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    clerk_id = next(u for u in accounts.users() if u[1] == "clerk1")[0]
    target = ledger.create_manual_entry({"summary": "停电"}, "walk_in", "clerk1", clerk_id)
    pk = ledger.call_ringing("r-1", "13800138000", "", "hotline", datetime(2026, 1, 5, tzinfo=UTC))
    client = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('clerk1')}"})
    r = client.post(f"/api/calls/{pk}/link", json={"entry_id": target.id})
    assert r.status_code == 409 and "not answered" in r.json()["detail"]
    assert client.post(f"/api/calls/{pk}/link", json={"entry_id": 4242}).status_code == 404
    assert client.post("/api/calls/4242/link", json={"entry_id": target.id}).status_code == 404

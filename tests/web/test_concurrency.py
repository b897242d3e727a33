"""Two clerks, one entry (issue 16): a stale save is refused (409) naming who changed it and with
the entry as it is now; confirming one draft twice (also at the same instant) is refused naming
the first clerk; work orders and callback results alike. SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from callcenter.ledger.service import LedgerService

pytestmark = pytest.mark.both_dbs


def _clerk(app, accounts, name: str, display: str) -> TestClient:  # type: ignore[no-untyped-def]
    accounts.add_user(name, "clerk", f"{name}-password", display)
    client = TestClient(app)
    r = client.post("/api/auth/login", json={"username": name, "password": f"{name}-password"})
    client.headers["X-CSRF-Token"] = r.json()["csrf"]
    return client


def _draft(ledger: LedgerService, sip_id: str = "c1") -> int:
    ledger.call_ringing(sip_id, "13800138000", "", "hotline", ledger.clock.now())
    entry_id = ledger.call_answered(sip_id).entry_id
    ledger.call_ended(sip_id, "caller_hangup", None)
    assert entry_id is not None
    return entry_id


def test_a_stale_save_is_refused_with_who_and_what(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    wang, li = _clerk(app, accounts, "wang", "王芳"), _clerk(app, accounts, "li", "李强")
    entry_id = _draft(ledger)
    assert wang.post(f"/api/entries/{entry_id}/confirm", json={"summary": "楼道灯坏了"}).status_code == 200
    seen = li.get(f"/api/entries/{entry_id}").json()  # 李强 opens the entry
    r = wang.patch(f"/api/entries/{entry_id}", json={"summary": "3栋楼道灯坏了，已报电工", "version": seen["version"]})
    assert r.status_code == 200 and r.json()["version"] == seen["version"] + 1
    stale = li.patch(f"/api/entries/{entry_id}", json={"summary": "楼道灯", "urgent": True, "version": seen["version"]})
    assert stale.status_code == 409
    body = stale.json()
    assert "王芳" in body["detail"] and body["conflict"]["changed_by"] == "王芳"
    assert body["conflict"]["entry"]["summary"] == "3栋楼道灯坏了，已报电工"
    now = li.get(f"/api/entries/{entry_id}").json()
    assert now["summary"] == "3栋楼道灯坏了，已报电工" and now["urgent"] is False  # nothing of the stale save
    # merged on the current version, it goes through
    assert li.patch(f"/api/entries/{entry_id}", json={"urgent": True, "version": now["version"]}).status_code == 200


def test_a_system_write_also_makes_the_form_stale(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    wang = _clerk(app, accounts, "wang", "王芳")
    entry_id = _draft(ledger)
    seen = wang.get(f"/api/entries/{entry_id}").json()
    ledger.update_entry(entry_id, {"summary": "系统补全"}, "system")
    r = wang.post(f"/api/entries/{entry_id}/confirm", json={"summary": "x", "version": seen["version"]})
    assert r.status_code == 409 and "系统" in r.json()["detail"]


def test_confirming_twice_names_the_first_clerk(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    wang, li = _clerk(app, accounts, "wang", "王芳"), _clerk(app, accounts, "li", "李强")
    entry_id = _draft(ledger)
    version = wang.get(f"/api/entries/{entry_id}").json()["version"]
    assert wang.post(f"/api/entries/{entry_id}/confirm", json={"category": "报修", "version": version}).status_code == 200
    r = li.post(f"/api/entries/{entry_id}/confirm", json={"category": "投诉", "version": version})
    assert r.status_code == 409 and "王芳" in r.json()["detail"] and "确认" in r.json()["detail"]
    r = li.post(f"/api/entries/{entry_id}/confirm", json={"category": "投诉"})  # without a version: the same
    assert r.status_code == 409 and "王芳" in r.json()["detail"]
    e = ledger.get_entry(entry_id)
    assert e.category == "报修" and e.owner_id == accounts.users()[[u[1] for u in accounts.users()].index("wang")][0]


def test_two_clerks_confirming_at_the_same_instant(parts) -> None:  # type: ignore[no-untyped-def]
    """No version sent (an API script): the claim inside the transaction still lets one through."""
    app, ledger, accounts, _ = parts
    clerks = [_clerk(app, accounts, f"c{i}", f"客服{i}") for i in range(4)]
    for round_ in range(3):
        entry_id = _draft(ledger, f"race-{round_}")
        start = threading.Barrier(len(clerks))
        answers: list[tuple[int, str]] = []

        def confirm(client: TestClient, i: int, entry_id: int, start: threading.Barrier,
                    answers: list[tuple[int, str]]) -> None:
            start.wait()
            r = client.post(f"/api/entries/{entry_id}/confirm", json={"summary": f"客服{i}的摘要"})
            answers.append((r.status_code, r.text))

        threads = [threading.Thread(target=confirm, args=(c, i, entry_id, start, answers))
                   for i, c in enumerate(clerks)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        codes = sorted(code for code, _ in answers)
        assert codes == [200, 409, 409, 409], answers
        winner = ledger.get_entry(entry_id)
        owner = next(d for uid, _, d in accounts.users() if uid == winner.owner_id)
        assert winner.summary == f"{owner}的摘要"
        assert all(owner in text for code, text in answers if code == 409), (owner, answers)


def test_work_orders_and_callback_results_refuse_stale_writes(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    wang, li = _clerk(app, accounts, "wang", "王芳"), _clerk(app, accounts, "li", "李强")
    entry_id = _draft(ledger)
    wang.post(f"/api/entries/{entry_id}/confirm", json={"category": "报修", "department": "工程"})
    order = wang.post(f"/api/entries/{entry_id}/work-orders", json={"department": "工程", "description": "换灯"})
    assert order.status_code == 201, order.text
    o = order.json()
    assert wang.patch(f"/api/work-orders/{o['id']}", json={"assignee": "张师傅", "version": o["version"]}).status_code == 200
    r = li.patch(f"/api/work-orders/{o['id']}", json={"assignee": "刘师傅", "version": o["version"]})
    assert r.status_code == 409 and "修改" in r.json()["detail"]
    assert wang.get("/api/work-orders?status=open").json()[0]["assignee"] == "张师傅"


def test_a_version_at_the_integer_edge_is_stale_not_a_500(parts) -> None:  # type: ignore[no-untyped-def]
    """Found by the fuzzer on PostgreSQL: version 2**31-1 made the bump overflow the column."""
    app, ledger, accounts, _ = parts
    wang = _clerk(app, accounts, "wang", "王芳")
    entry_id = _draft(ledger)
    r = wang.patch(f"/api/entries/{entry_id}", json={"summary": "x", "version": 2**31 - 1})
    assert r.status_code == 409, r.text

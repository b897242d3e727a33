"""The case workflow over HTTP: a complaint from registration through its work order, the
printable slip, completion, the callback and closing; refusals; roles; notices; handover."""

from __future__ import annotations

from fastapi.testclient import TestClient

from callcenter.ledger.service import LedgerService


def _client(app, accounts, user: str) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token(user)}"})


def _registered_complaint(ledger: LedgerService, clerk: TestClient) -> int:
    ledger.call_ringing("api-1", "13800138000", "", "8001", ledger.clock.now())
    entry_id = ledger.call_answered("api-1").entry_id
    r = clerk.post(f"/api/entries/{entry_id}/confirm", json={"category": "投诉", "department": "工程",
                                                            "unit": "4栋2单元301", "summary": "楼道灯坏了一周"})
    assert r.status_code == 200, r.text
    return entry_id


def test_complaint_from_dispatch_to_closed(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    clerk = _client(app, accounts, "clerk1")
    entry_id = _registered_complaint(ledger, clerk)

    flow = clerk.get(f"/api/entries/{entry_id}/workflow").json()
    assert flow["status"] == "registered" and [c["clock"] for c in flow["clocks"]] == ["dispatch"]
    assert {"status": "dispatched", "label": "已派工"} in flow["allowed"]

    r = clerk.post(f"/api/entries/{entry_id}/work-orders", json={"assignee": "李师傅"})
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["department"] == "工程" and order["location"] == "4-2-301" and order["kind_label"] == "维修调度单"
    slip = clerk.get(f"/api/work-orders/{order['id']}/slip")
    assert slip.status_code == 200 and "维修调度单" in slip.text and order["number"] in slip.text

    r = clerk.patch(f"/api/work-orders/{order['id']}", json={"status": "done", "result": "换灯泡"})
    assert r.status_code == 200 and r.json()["status_label"] == "已完成"
    flow = clerk.get(f"/api/entries/{entry_id}/workflow").json()
    assert flow["status"] == "completed"
    [task] = flow["callbacks"]
    assert task["kind"] == "callback" and task["state"] == "ok" and task["left_s"] == 7200
    assert [c["clock"] for c in flow["clocks"]] == ["callback"]

    refused = clerk.post(f"/api/entries/{entry_id}/transition", json={"to_status": "closed"})
    assert refused.status_code == 422 and "投诉必须回访" in refused.json()["detail"]
    r = clerk.post(f"/api/callbacks/{task['id']}/log", json={"outcome": "connected"})
    assert r.status_code == 422 and "satisfaction" in r.json()["detail"]
    r = clerk.post(f"/api/callbacks/{task['id']}/log", json={"outcome": "connected", "satisfaction": "满意",
                                                          "notes": "灯已亮"})
    assert r.status_code == 200 and r.json()["status"] == "done"
    r = clerk.post(f"/api/entries/{entry_id}/transition", json={"to_status": "closed"})
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert clerk.get("/api/callbacks").json() == []


def test_outside_the_rules_and_roles(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    clerk, qa = _client(app, accounts, "clerk1"), _client(app, accounts, "qa1")
    entry_id = _registered_complaint(ledger, clerk)
    assert qa.get(f"/api/entries/{entry_id}/workflow").status_code == 200  # QA may read
    assert qa.post(f"/api/entries/{entry_id}/work-orders", json={}).status_code == 403
    assert clerk.post(f"/api/entries/{entry_id}/work-orders", json={"department": "财务"}).status_code == 422
    assert clerk.post(f"/api/entries/{entry_id}/work-orders", json={"kind": "invoice"}).status_code == 422
    assert clerk.post(f"/api/entries/{entry_id}/transition", json={"to_status": "teleported"}).status_code == 422
    assert clerk.get("/api/work-orders/999/slip").status_code == 404
    assert clerk.post("/api/callbacks/999/log", json={"outcome": "busy"}).status_code == 404
    # no SIP agent in this process: dialling says so instead of pretending
    ledger.call_ringing("api-m", "13900139000", "", "8001", ledger.clock.now())
    ledger.call_missed("api-m", "cancelled")
    [task] = clerk.get("/api/callbacks").json()
    assert task["kind"] == "missed_call"
    assert clerk.post(f"/api/callbacks/{task['id']}/dial", json={"extension": "8001"}).status_code == 503
    assert clerk.post(f"/api/callbacks/{task['id']}/dial", json={"extension": "80 01;x"}).status_code == 422
    # QA sees the task with the phone number masked
    assert qa.get("/api/callbacks").json()[0]["number"] == "139****9000"


def test_notices_reach_the_right_roles_and_handover_is_acknowledged(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    accounts.add_user("boss", "supervisor", "boss-password")
    clerk, boss, qa = (_client(app, accounts, u) for u in ("clerk1", "boss", "qa1"))
    wf = app.state.web.services.workflow
    wf.notices.post("overdue", "派工超时：台账 1", "请处理", severity="warning", audience=("clerk", "supervisor"))
    wf.notices.post("escalation", "升级：台账 1", "督办", severity="critical", audience=("supervisor", "project_head"))
    assert [n["kind"] for n in clerk.get("/api/notifications").json()] == ["overdue"]
    assert [n["kind"] for n in boss.get("/api/notifications").json()] == ["escalation", "overdue"]
    assert qa.get("/api/notifications").json() == []
    escalation = boss.get("/api/notifications").json()[0]
    assert clerk.post(f"/api/notifications/{escalation['id']}/acknowledge").status_code == 404  # not theirs
    assert boss.post(f"/api/notifications/{escalation['id']}/acknowledge").json()["acknowledged_by"] == "boss"
    assert [n["kind"] for n in boss.get("/api/notifications").json()] == ["overdue"]

    record = wf.handovers.compile()
    latest = clerk.get("/api/handovers/latest").json()
    assert latest["id"] == record.id and latest["acknowledged_at"] is None
    r = clerk.post(f"/api/handovers/{record.id}/acknowledge", json={"note": "已接班"})
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "clerk1"
    assert clerk.post(f"/api/handovers/{record.id}/acknowledge", json={}).status_code == 422


def test_moves_with_their_own_route_are_refused_here_and_callbacks_keep_one_record(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    clerk = _client(app, accounts, "clerk1")
    ledger.call_ringing("api-d", "13800138001", "", "8001", ledger.clock.now())
    draft_id = ledger.call_answered("api-d").entry_id
    allowed = [a["status"] for a in clerk.get(f"/api/entries/{draft_id}/workflow").json()["allowed"]]
    assert "registered" not in allowed and "merged" not in allowed and "cancelled" in allowed
    r = clerk.post(f"/api/entries/{draft_id}/transition", json={"to_status": "registered"})
    assert r.status_code == 422 and "confirm" in r.json()["detail"]

    entry_id = _registered_complaint(ledger, clerk)
    for to in ("dispatched", "completed"):
        assert clerk.post(f"/api/entries/{entry_id}/transition", json={"to_status": to}).status_code == 200
    r = clerk.post(f"/api/entries/{entry_id}/transition",
                   json={"to_status": "called_back", "satisfaction": "基本满意", "note": "电话回访"})
    assert r.status_code == 200 and r.json()["status"] == "called_back"
    [task] = r.json()["callbacks"]  # the entry's callback task carries the result, not just the status
    assert (task["status"], task["outcome"], task["satisfaction"], task["attempts"]) == ("done", "connected",
                                                                                         "基本满意", 1)

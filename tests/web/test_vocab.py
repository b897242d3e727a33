"""One vocabulary: GET /api/meta serves every code the panel shows with its label (the shape of
web/schemas.py Vocab), the site's categories and departments come from its rules file, and the
exports, reports and API messages use the same labels as the lifecycle."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from callcenter.clock import ManualClock
from callcenter.ledger.lifecycle import LABELS
from callcenter.notify.message import SEVERITY_LABELS, Notice
from callcenter.reports import documents, render
from callcenter.reports.periods import month
from callcenter.reports.statistics import monthly_statistics

GROUPS = ("entry_statuses", "open_statuses", "reopened_from", "entry_kinds", "categories", "departments",
          "complaint_subjects", "sources", "end_reasons", "missed_reasons", "entry_fields", "audit_actions",
          "work_order_kinds", "work_order_statuses", "work_order_moves", "work_order_fields", "work_order_transitions", "task_kinds",
          "callback_reasons", "task_statuses", "callback_outcomes", "satisfactions", "severities", "qa_verdicts", "clock_kinds",
          "period_hints", "roles", "transcript_statuses", "evidence_kinds", "presence", "intake_paths",
          "person_steps",
          "entry_defaults")
CODE_LISTS = ("open_statuses", "reopened_from")


def _client(parts, user: str = "clerk1") -> TestClient:  # type: ignore[no-untyped-def]
    app, _, accounts, _ = parts
    return TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token(user)}"})


def _labels(group: list[dict[str, str]]) -> dict[str, str]:
    return {t["code"]: t["label"] for t in group}


def test_meta_serves_the_vocabulary_in_the_contracts_shape(parts) -> None:  # type: ignore[no-untyped-def]
    meta = _client(parts).get("/api/meta").json()
    vocab = meta["vocab"]
    assert tuple(vocab) == GROUPS
    for name in GROUPS:
        if name in CODE_LISTS:
            assert all(isinstance(c, str) for c in vocab[name]), name
        elif name == "work_order_transitions":
            assert all(isinstance(v, list) for v in vocab[name].values())
        elif name == "entry_defaults":
            assert vocab[name] == {"category": "其他", "department": "客服"}
        else:
            assert vocab[name] and all(set(t) == {"code", "label"} and t["label"] for t in vocab[name]), name
    assert list(_labels(vocab["entry_statuses"]).items()) == list(LABELS.items())  # lifecycle order
    assert _labels(vocab["entry_statuses"])["dispatched"] == "已派工"
    assert _labels(vocab["entry_statuses"])["closed"] == "已结案"
    assert vocab["open_statuses"] == ["draft", "registered", "dispatched", "in_progress", "completed"]
    assert vocab["reopened_from"] == ["completed", "called_back", "closed"]
    assert [t["code"] for t in vocab["categories"]] == ["报修", "投诉", "咨询", "求助", "建议", "其他"]
    assert [t["code"] for t in vocab["departments"]] == ["工程", "安保", "保洁", "绿化", "客服", "项目负责人"]
    assert "员工服务态度" in _labels(vocab["complaint_subjects"])
    assert _labels(vocab["severities"]) == {"info": "通知", "warning": "提醒", "critical": "紧急"}
    assert _labels(vocab["work_order_moves"])["accepted"] == "接单"
    assert _labels(vocab["work_order_fields"])["assignee"] == "维修人员"
    assert vocab["work_order_transitions"]["open"] == ["accepted", "in_progress", "done", "cancelled"]
    assert vocab["work_order_transitions"]["done"] == []
    assert _labels(vocab["qa_verdicts"])["unknown"] == "待人工"
    assert _labels(vocab["period_hints"])["week"] == "2026-W45"
    assert _labels(vocab["missed_reasons"])["cancelled"] == "振铃时挂断"
    assert _labels(vocab["audit_actions"])["linked_away"] == "并入他单"
    # the older fields stay, from the same definitions
    assert meta["categories"] == [t["code"] for t in vocab["categories"]]
    assert meta["statuses"] == [t["code"] for t in vocab["entry_statuses"]]
    assert meta["sources"] == _labels(vocab["sources"])


def test_exports_reports_and_messages_use_the_lifecycles_labels(parts, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    _, ledger, accounts, _ = parts
    clerk_id = next(u for u in accounts.users() if u[1] == "clerk1")[0]
    dispatched = ledger.create_manual_entry({"summary": "楼道灯不亮", "category": "报修", "department": "工程"},
                                            "walk_in", "clerk1", clerk_id)
    ledger.transition(dispatched.id, "dispatched", "clerk1")
    ledger.call_ringing("c-1", "13800138000", "", "hotline", clock.now())
    ledger.call_answered("c-1")  # a draft
    client = _client(parts)

    rows = list(csv.reader(io.StringIO(client.get("/api/entries/export.csv").content.decode("utf-8-sig"))))
    assert sorted(r[3] for r in rows[1:]) == sorted(["已派工", "待确认"])

    period = month(2026, 1)  # the clock starts on 2026-01-05
    by_status = {item: value for sec, item, value in render.rows(monthly_statistics(ledger.engine, period))
                 if sec == "处理状态"}
    assert by_status["已派工"] == "1" and by_status["待确认"] == "1"
    doc = documents.build("monthly", ledger.engine, period, clock.now())
    [status_section] = [s for s in doc.sections if s.title == "处理状态"]
    assert {r[0] for r in status_section.rows} == {"已派工", "待确认"}

    # the API's refusals name the status as the panel does
    r = client.post(f"/api/entries/{dispatched.id}/work-orders", json={})
    assert r.status_code == 201
    draft_id = ledger.list_entries(status="draft")[1][0].id
    r = client.post(f"/api/entries/{draft_id}/work-orders", json={})
    assert r.status_code == 422 and "为待确认" in r.json()["detail"]


def test_notices_use_the_panels_severity_labels() -> None:
    assert SEVERITY_LABELS == {"info": "通知", "warning": "提醒", "critical": "紧急"}
    notice = Notice(kind="overdue", severity="warning", title="超时", body="", entry_id=None, audience=("clerk",))
    assert notice.severity_label == "提醒"

"""Typed events: one payload dataclass per kind of event. The JSON the panel reads over the
websocket (and other processes over NOTIFY) is byte for byte what the publishers sent as keyword
arguments before: the same keys, in the same order, absent where they were absent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callcenter.events import (
    UNSET,
    AsrLoad,
    CallAnswered,
    CallbackUpdated,
    CallEnded,
    CallMissed,
    CallRinging,
    DatabaseAlarm,
    DiskAlarm,
    DraftReady,
    EntryUpdated,
    Event,
    HandoverCreated,
    NoticeAcknowledged,
    NoticePosted,
    PartialTranscript,
    Payload,
    WorkOrderUpdated,
)

# (payload, the data as the old `publish(type, **kwargs)` calls wrote it)
CASES: list[tuple[Payload, str, dict[str, Any]]] = [
    (CallRinging(call_id=1, caller_number="13800138000", resident="王建国", unit="4-2-301", open_entries=[3]),
     "call.ringing", {"call_id": 1, "caller_number": "13800138000", "resident": "王建国", "unit": "4-2-301",
                      "open_entries": [3]}),
    (CallAnswered(call_id=1, entry_id=2, caller_number="138", unit=""),
     "call.answered", {"call_id": 1, "entry_id": 2, "caller_number": "138", "unit": ""}),
    (CallMissed(call_id=1, entry_id=2, caller_number="138", reason="cancelled"),
     "call.missed", {"call_id": 1, "entry_id": 2, "caller_number": "138", "reason": "cancelled"}),
    (CallEnded(call_id=1, entry_id=None, reason="caller_hangup", duration_ms=1500),
     "call.ended", {"call_id": 1, "entry_id": None, "reason": "caller_hangup", "duration_ms": 1500}),
    (PartialTranscript(call_id=1, text="电梯"), "call.partial_transcript", {"call_id": 1, "text": "电梯"}),
    (DraftReady(call_id=1, entry_id=2, unit="4-2-301", category="报修", department="工程", urgent=False,
                summary="电梯坏了", repeat_of=None),
     "entry.draft_ready", {"call_id": 1, "entry_id": 2, "unit": "4-2-301", "category": "报修", "department": "工程",
                           "urgent": False, "summary": "电梯坏了", "repeat_of": None}),
    # entry.updated, as each of the ledger's writes sent it
    (EntryUpdated(entry_id=2, fields=["unit"], status="draft", old_status="draft", actor="wang"),
     "entry.updated", {"entry_id": 2, "fields": ["unit"], "status": "draft", "old_status": "draft", "actor": "wang"}),
    (EntryUpdated(entry_id=2, fields=["unit"], action="confirmed", status="registered", actor="wang"),
     "entry.updated", {"entry_id": 2, "fields": ["unit"], "action": "confirmed", "status": "registered",
                       "actor": "wang"}),
    (EntryUpdated(entry_id=2, fields=["status"], action="transition", status="closed", old_status="completed",
                  satisfaction=None, actor="wang"),
     "entry.updated", {"entry_id": 2, "fields": ["status"], "action": "transition", "status": "closed",
                       "old_status": "completed", "satisfaction": None, "actor": "wang"}),
    (EntryUpdated(entry_id=2, fields=[], action="urgent_acknowledged", actor="wang"),
     "entry.updated", {"entry_id": 2, "fields": [], "action": "urgent_acknowledged", "actor": "wang"}),
    (EntryUpdated(entry_id=2, fields=["calls", "category"], action="linked", call_id=5, merged_entry_id=4,
                  actor="wang"),
     "entry.updated", {"entry_id": 2, "fields": ["calls", "category"], "action": "linked", "call_id": 5,
                       "merged_entry_id": 4, "actor": "wang"}),
    (DatabaseAlarm(state="unavailable", message="数据库不可用", pending=3, op="call_answered"),
     "system.alarm", {"kind": "database", "state": "unavailable", "message": "数据库不可用", "pending": 3,
                      "op": "call_answered"}),
    (DatabaseAlarm(state="recovered", message="数据库已恢复", pending=0),
     "system.alarm", {"kind": "database", "state": "recovered", "message": "数据库已恢复", "pending": 0}),
    (DiskAlarm(disk="录音磁盘", path="/rec", level="low", previous="ok", free_mb=12.5, min_free_mb=500,
               title="录音磁盘空间不足"),
     "system.alarm", {"kind": "disk_space", "disk": "录音磁盘", "path": "/rec", "level": "low", "previous": "ok",
                      "free_mb": 12.5, "min_free_mb": 500, "title": "录音磁盘空间不足"}),
    (AsrLoad(node="h:1", live=1, live_max=4, files=0, line="8001"),
     "system.asr_load", {"node": "h:1", "live": 1, "live_max": 4, "files": 0, "line": "8001"}),
    (NoticePosted(id=7, kind="urgent", severity="critical", title="紧急", body="", entry_id=2, audience=["clerk"]),
     "notification", {"id": 7, "kind": "urgent", "severity": "critical", "title": "紧急", "body": "",
                      "entry_id": 2, "audience": ["clerk"]}),
    (NoticeAcknowledged(id=7, acknowledged_by="wang"), "notification", {"id": 7, "acknowledged_by": "wang"}),
    (WorkOrderUpdated(id=3, entry_id=2, status="open", department="工程", actor="wang"),
     "work_order.updated", {"id": 3, "entry_id": 2, "status": "open", "department": "工程", "actor": "wang"}),
    (CallbackUpdated(id=4, entry_id=2, kind="callback", status="open", due_at="2026-01-05T03:00:00+00:00"),
     "callback.updated", {"id": 4, "entry_id": 2, "kind": "callback", "status": "open",
                          "due_at": "2026-01-05T03:00:00+00:00"}),
    (HandoverCreated(id=1, open_count=4), "handover.created", {"id": 1, "open_count": 4}),
]


@pytest.mark.parametrize(("payload", "type_", "old"), CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_the_wire_form_is_what_the_panel_read_before(payload: Payload, type_: str, old: dict[str, Any]) -> None:
    event = Event.of(payload)
    assert event.type == type_
    wire = json.dumps(event.to_json(), ensure_ascii=False)
    before = json.dumps(Event(type_, old, event.at).to_json(), ensure_ascii=False)  # type: ignore[arg-type]
    assert wire == before
    # and back: a listener (also across processes) reads the typed payload
    assert Event(type_, json.loads(wire)["data"]).payload == payload  # type: ignore[arg-type]


def test_payloads_of_one_type_are_told_apart_and_foreign_data_is_none() -> None:
    assert isinstance(Event("system.alarm", DiskAlarm(disk="d", path="/", level="ok", previous="low", free_mb=1.0,
                                                      min_free_mb=1, title="t").data()).payload, DiskAlarm)
    assert isinstance(Event("notification", {"id": 1, "acknowledged_by": "li"}).payload, NoticeAcknowledged)
    assert Event("call.answered", {"call_id": 1}).payload is None  # not what a CallAnswered carries
    assert EntryUpdated(entry_id=1, fields=[], actor="x").action is UNSET

"""The ledger's one write path, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from callcenter.clock import ManualClock
from callcenter.ledger.service import LedgerError, LedgerService, NotFound


@dataclass(frozen=True)
class Guess:
    value: object
    confidence: float = 0.9


@dataclass(frozen=True)
class FakeDraft:  # the shape of drafting.Draft that the ledger reads
    unit: Guess
    category: Guess
    department: Guess
    urgent: Guess
    summary: Guess
    caller_name: Guess = Guess("")


@dataclass(frozen=True)
class Rec:
    call_id: str
    key: str = "2026/01/05/x.wav"
    duration_ms: int = 61_000
    size_bytes: int = 976_044
    sha256: str = "ab" * 32
    sample_rate_hz: int = 8000
    channels: int = 2
    interrupted: bool = False


T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def ring(ledger: LedgerService, call_id: str = "c1", number: str = "138-0013-8000") -> int:
    return ledger.call_ringing(call_id, number, "", "hotline", T0)


def test_answered_call_is_registered_at_once(ledger: LedgerService, clock: ManualClock) -> None:
    pk = ring(ledger)
    assert ring(ledger) == pk  # idempotent: a retransmitted INVITE is one call
    clock.advance(seconds=5)
    answered = ledger.call_answered("c1")
    entry = ledger.get_entry(answered.entry_id)
    assert entry.status == "draft" and entry.kind == "call"
    assert entry.caller_number == "13800138000"
    assert (entry.created_at - T0).total_seconds() <= 60  # registered within one minute
    ledger.call_ended("c1", "caller_hangup", Rec("c1"))
    call = ledger.get_call(pk)
    assert call.status == "ended" and call.recording_sha256 == "ab" * 32
    assert call.recording_duration_ms == 61_000 and call.entry_id == entry.id


def test_missed_call_gets_a_callback_entry(ledger: LedgerService) -> None:
    ring(ledger, "m1")
    entry_id = ledger.call_missed("m1", "cancelled")
    entry = ledger.get_entry(entry_id)
    assert entry.kind == "missed_call" and "回拨" in entry.summary
    assert ledger.call_missed("m1", "cancelled") == entry_id  # once only


def test_draft_fills_entry_and_keeps_what_it_said(ledger: LedgerService) -> None:
    ring(ledger)
    answered = ledger.call_answered("c1")
    draft = FakeDraft(Guess("4-2-301"), Guess("报修"), Guess("工程"), Guess(True), Guess("厨房水管爆了"))
    assert ledger.apply_draft("c1", draft) == answered.entry_id
    entry = ledger.get_entry(answered.entry_id)
    assert (entry.unit, entry.category, entry.department, entry.urgent) == ("4-2-301", "报修", "工程", True)
    assert entry.draft is not None and entry.draft["unit"]["value"] == "4-2-301"
    assert entry.draft_ready_at is not None


def test_repeat_call_links_to_open_entry_and_upgrades_it(ledger: LedgerService) -> None:
    ring(ledger, "first")
    first = ledger.call_answered("first")
    ledger.apply_draft("first", FakeDraft(Guess("4-2-301"), Guess("报修"), Guess("工程"), Guess(True),
                                          Guess("停电")))
    ring(ledger, "again")
    second = ledger.call_answered("again")
    target = ledger.apply_draft("again", FakeDraft(Guess("4-2-301"), Guess("报修"), Guess("工程"),
                                                   Guess(True), Guess("还是停电")),
                                repeat_of=first.entry_id, repeat_reason="same unit, topic 停电")
    assert target == first.entry_id
    merged = ledger.get_entry(second.entry_id)
    assert merged.status == "merged" and merged.merged_into_id == first.entry_id
    upgraded = ledger.get_entry(first.entry_id)
    assert upgraded.category == "投诉" and upgraded.repeat_count == 1
    assert {c.sip_call_id for c in ledger.calls_of_entry(first.entry_id)} == {"first", "again"}
    assert any(a.action == "repeat_call" for a in ledger.audit_of_entry(first.entry_id))
    assert [e.id for e in ledger.open_entries("", "4-2-301")] == [first.entry_id]


def test_clerk_correction_is_audited_and_validated(ledger: LedgerService) -> None:
    ring(ledger)
    entry_id = ledger.call_answered("c1").entry_id
    ledger.update_entry(entry_id, {"category": "投诉", "unit": "7-1-502"}, "wang")
    trail = [(a.actor, a.field, a.old, a.new) for a in ledger.audit_of_entry(entry_id) if a.action == "update"]
    assert ("wang", "category", "", "投诉") in trail and ("wang", "unit", "", "7-1-502") in trail
    with pytest.raises(LedgerError, match="category"):
        ledger.update_entry(entry_id, {"category": "闲聊"}, "wang")
    with pytest.raises(LedgerError, match="cannot be changed"):
        ledger.update_entry(entry_id, {"created_at": "x"}, "wang")
    with pytest.raises(NotFound):
        ledger.update_entry(9999, {"category": "投诉"}, "wang")


def test_recovery_marks_interrupted_and_attaches_recording(ledger: LedgerService) -> None:
    ring(ledger, "cut")
    ledger.call_answered("cut")
    ring(ledger, "ringing-only")
    count = ledger.recover_interrupted([Rec("cut", interrupted=True), Rec("unknown-to-db", key="k2")])
    assert count == 3
    calls = {c.sip_call_id: c for c in ledger.list_calls(limit=10)}
    assert calls["cut"].status == "interrupted" and calls["cut"].recording_interrupted
    assert calls["unknown-to-db"].entry_id is not None  # no call goes unlogged
    assert calls["ringing-only"].entry_id is not None
    assert ledger.get_entry(calls["cut"].entry_id).interrupted


def test_directory_lookup_by_number(ledger: LedgerService) -> None:
    ledger.upsert_resident("4-2-301", "王建国", ["138 0013 8000", "0755-1234567"], True)
    assert ledger.resident_for_number("13800138000").unit == "4-2-301"
    assert ledger.resident_for_number("075512345 67").name == "王建国"
    assert ledger.resident_for_number("139") is None


def test_list_filters_and_search(ledger: LedgerService, clock: ManualClock) -> None:
    for i, (cat, unit) in enumerate([("报修", "1-1-101"), ("投诉", "1-1-101"), ("咨询", "2-1-201")]):
        ring(ledger, f"l{i}")
        eid = ledger.call_answered(f"l{i}").entry_id
        ledger.update_entry(eid, {"category": cat, "unit": unit, "summary": f"问题{i} 电梯"}, "clerk")
        clock.advance(minutes=1)
    total, rows = ledger.list_entries(unit="1-1-101")
    assert total == 2 and all(r.unit == "1-1-101" for r in rows)
    total, rows = ledger.list_entries(category="咨询")
    assert total == 1 and rows[0].unit == "2-1-201"
    total, rows = ledger.list_entries(text="问题1")
    assert total == 1
    total, rows = ledger.list_entries(limit=2)
    assert total == 3 and len(rows) == 2 and rows[0].created_at >= rows[1].created_at


@pytest.mark.parametrize("way", ["drafting", "clerk"])
def test_a_repeat_joins_the_open_entry_the_same_way_drafted_or_linked(ledger: LedgerService, way: str) -> None:
    ring(ledger, "first")
    first = ledger.call_answered("first")
    ledger.apply_draft("first", FakeDraft(Guess("4-2-301"), Guess("报修"), Guess("工程"), Guess(False),
                                          Guess("停电")))
    pk = ring(ledger, "again")
    second = ledger.call_answered("again")
    if way == "drafting":
        ledger.apply_draft("again", FakeDraft(Guess("4-2-301"), Guess("报修"), Guess("工程"), Guess(False),
                                              Guess("还是停电")), repeat_of=first.entry_id, repeat_reason="同一房号")
    else:
        ledger.link_call(pk, first.entry_id, "wang")
    merged, target = ledger.get_entry(second.entry_id), ledger.get_entry(first.entry_id)
    assert (merged.status, merged.merged_into_id) == ("merged", first.entry_id)
    assert (target.category, target.repeat_count) == ("投诉", 1)
    assert ledger.get_call(pk).entry_id == first.entry_id
    own = [(a.action, a.field, a.old, a.new) for a in ledger.audit_of_entry(second.entry_id)
           if a.field == "status"]
    joined = [(a.action, a.field, a.old, a.new) for a in ledger.audit_of_entry(first.entry_id)
              if a.action in ("repeat_call", "linked_call", "repeat_reason")]
    if way == "drafting":  # the trails the panel has always shown for each way
        assert own == [("merged", "status", "draft", "merged")]
        assert joined == [("repeat_call", "category", "报修", "投诉"), ("repeat_reason", "", "", "同一房号")]
    else:
        assert own == [("linked_away", "status", "draft", "merged")]
        assert joined == [("linked_call", "call", "", str(pk)), ("linked_call", "category", "报修", "投诉")]

"""A resident whose call was cut off is called back: each way a call can end before the resident
was surely served (vocabulary.CUT_OFF_END_REASONS, and the caller gone while being transferred)
opens one task on the missed-call clock with its reason and one notice to the clerks; a call that
finished opens none. Recovery run twice, an outbox replay, a task a clerk closed since: still one.
On SQLite and PostgreSQL (tests/workflow is in BOTH_DB_PATHS)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from callcenter.ledger.models import CallbackTask, Notification
from callcenter.ledger.vocabulary import CALLBACK_REASONS, CUT_OFF_END_REASONS, END_REASONS
from callcenter.recordings.interface import RecordingInfo
from callcenter.reports import documents
from callcenter.reports.figures import owed_calls_in
from callcenter.reports.periods import month
from tests.workflow.conftest import Desk

MISSED_CALL_CLOCK = timedelta(minutes=30)  # WorkflowSettings.missed_call_within_s


def tasks_of(desk: Desk, entry_id: int) -> list[CallbackTask]:
    with Session(desk.ledger.engine) as s:
        return list(s.exec(select(CallbackTask).where(CallbackTask.entry_id == entry_id)
                           .order_by(CallbackTask.id)).all())  # type: ignore[arg-type]


def notices_of(desk: Desk, entry_id: int) -> list[Notification]:
    with Session(desk.ledger.engine) as s:
        return list(s.exec(select(Notification).where(Notification.entry_id == entry_id,
                                                      Notification.kind == "missed_call")).all())


def recording(sip_id: str) -> RecordingInfo:
    return RecordingInfo(call_id=sip_id, key=f"2026/01/05/{sip_id}.wav", duration_ms=4000, size_bytes=64044,
                         sha256="0" * 64, sample_rate_hz=8000, channels=2, interrupted=True)


def test_every_cut_off_reason_has_a_label_and_is_an_end_reason() -> None:
    for reason in CUT_OFF_END_REASONS:
        assert reason in END_REASONS and CALLBACK_REASONS[reason], reason
    assert "caller_hangup" not in CUT_OFF_END_REASONS and "agent_hangup" not in CUT_OFF_END_REASONS


@pytest.mark.parametrize("reason", CUT_OFF_END_REASONS)
def test_a_cut_off_call_is_called_back_on_the_missed_call_clock(desk: Desk, reason: str) -> None:
    entry_id = desk.answered(f"cut-{reason}", number="13900139000")
    desk.clock.advance(seconds=40)
    desk.ledger.call_ended(f"cut-{reason}", reason, recording(f"cut-{reason}"))
    [task] = tasks_of(desk, entry_id)
    assert (task.kind, task.reason, task.status, task.number) == ("missed_call", reason, "open", "13900139000")
    # the missed-call clock runs from the entry's start (the answer), as for a missed call
    assert task.due_at == desk.ledger.get_entry(entry_id).created_at + MISSED_CALL_CLOCK
    [notice] = notices_of(desk, entry_id)
    assert notice.title == f"{CALLBACK_REASONS[reason]}，请回拨：13900139000"
    assert "前回拨" in notice.body and notice.audience == "clerk"


@pytest.mark.parametrize("reason", ["caller_hangup", "agent_hangup", "clerk_hangup"])
def test_a_call_that_finished_owes_nothing(desk: Desk, reason: str) -> None:
    entry_id = desk.answered(f"fin-{reason}")
    desk.ledger.call_ended(f"fin-{reason}", reason, recording(f"fin-{reason}"))
    assert tasks_of(desk, entry_id) == [] and notices_of(desk, entry_id) == []


def test_recovering_the_same_call_twice_opens_one_task(desk: Desk) -> None:
    entry_id = desk.answered("crash-1")
    rec = recording("crash-1")
    assert desk.ledger.recover_interrupted([rec]) == 1
    assert desk.ledger.recover_interrupted([rec]) == 1  # a second recovery finds the same recording
    [task] = tasks_of(desk, entry_id)
    assert task.reason == "interrupted"
    assert len(notices_of(desk, entry_id)) == 1
    # the clerk returns the call; a replay of the end (outbox) or a third recovery still opens none
    desk.wf.callbacks.log_result(task.id or 0, "connected", "wang", notes="已回拨，业户已说明问题")
    desk.ledger.call_ended("crash-1", "interrupted", rec)
    desk.ledger.recover_interrupted([rec])
    assert [(t.reason, t.status) for t in tasks_of(desk, entry_id)] == [("interrupted", "done")]
    assert len(notices_of(desk, entry_id)) == 1


def test_a_call_caught_ringing_by_a_crash_is_called_back(desk: Desk) -> None:
    desk.ledger.call_ringing("ring-1", "13700137000", "", "8001", desk.clock.now())
    assert desk.ledger.recover_interrupted([]) == 1
    call = desk.ledger.call_by_key("ring-1")
    assert call.entry_id is not None and call.status == "interrupted"
    [task] = tasks_of(desk, call.entry_id)
    assert (task.kind, task.reason, task.number) == ("missed_call", "interrupted", "13700137000")


def test_the_caller_gone_while_transferred_is_called_back_once(desk: Desk) -> None:
    entry_id = desk.answered("gone-1")
    desk.ledger.call_person("gone-1", "caller_gone", "caller", at=desk.clock.now())
    desk.ledger.call_person("gone-1", "caller_gone", "caller", at=desk.clock.now())  # outbox replay
    desk.ledger.call_ended("gone-1", "caller_hangup", recording("gone-1"))
    [task] = tasks_of(desk, entry_id)
    assert task.reason == "caller_gone"
    [notice] = notices_of(desk, entry_id)
    assert notice.title.startswith("转接中来电人挂断，请回拨")


def test_a_call_already_owed_gets_no_second_task(desk: Desk) -> None:
    """转人工 went unanswered (a task), then the line went dead: the resident is owed one call."""
    entry_id = desk.answered("owed-1")
    desk.ledger.call_person("owed-1", "unanswered", "caller", at=desk.clock.now())
    desk.ledger.call_ended("owed-1", "rtp_timeout", recording("owed-1"))
    assert [(t.kind, t.reason) for t in tasks_of(desk, entry_id)] == [("missed_call", "person_unanswered")]
    assert len(notices_of(desk, entry_id)) == 1


def test_a_clerks_own_callback_cut_off_opens_nothing_new(desk: Desk) -> None:
    """An outbound callback a clerk placed that a crash cut: the clerk's task is still open."""
    entry_id = desk.registered("in-1")
    desk.ledger.outbound_call("out-1", "13800138000", entry_id, None, "wang", desk.clock.now())
    desk.ledger.outbound_answered("out-1", desk.clock.now())
    desk.ledger.call_ended("in-1", "caller_hangup", recording("in-1"))
    desk.ledger.recover_interrupted([])
    assert desk.ledger.call_by_key("out-1").status == "interrupted"
    assert tasks_of(desk, entry_id) == []


def test_the_callback_report_counts_owed_calls_by_reason(desk: Desk) -> None:
    desk.ledger.call_ringing("r-miss", "13900000001", "", "8001", desk.clock.now())
    desk.ledger.call_missed("r-miss", "cancelled")
    desk.answered("r-person")
    desk.ledger.call_person("r-person", "nobody", "caller", at=desk.clock.now())
    cut = desk.answered("r-cut")
    desk.ledger.call_ended("r-cut", "rtp_timeout", recording("r-cut"))
    desk.answered("r-crash")
    desk.ledger.recover_interrupted([recording("r-crash")])
    [returned] = tasks_of(desk, cut)
    desk.clock.advance(minutes=10)
    desk.wf.callbacks.log_result(returned.id or 0, "connected", "wang", notes="已回拨")
    period = month(2026, 1)
    with Session(desk.ledger.engine) as s:
        owed = owed_calls_in(s, period)
    assert owed.by_reason == {"missed": (1, 0, 0), "person_nobody": (1, 0, 0), "interrupted": (1, 0, 0),
                              "rtp_timeout": (1, 1, 1)}
    assert (owed.owed, owed.returned, owed.in_time) == (4, 1, 1)
    doc = documents.callbacks(desk.ledger.engine, period, desk.clock.now())
    [section] = [x for x in doc.sections if x.title == "回拨任务（按原因）"]
    assert section.rows[0][:3] == ("未接来电", 1, 0)
    assert ("通话中断（线路无声）", 1, 1, "100.0%", 1, "100.0%") in section.rows
    assert section.rows[-1][:3] == ("合计", 4, 1)

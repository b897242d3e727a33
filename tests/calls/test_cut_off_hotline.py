"""Each way a call ends, through the real hotline handler, conversation, desk, ledger and case
workflow, at full speed (the in-process call double, tests/doubles.py): the ends that may leave
the resident unserved — the media lost, a hold that timed out, the agent stopping, the call
failing midway, the caller hanging up while the phones rang for 转人工 or a clerk's 「接听」 —
open one callback task on the missed-call clock with its reason; a call that finished opens none.
The workflow's part is tested on both databases in tests/workflow/test_cut_off_calls.py; a real
kill -9 in tests/calls/test_crash_recovery.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import Session, select

from callcenter.ledger.models import AuditLog, CallbackTask
from callcenter.staffing.settings import TransferSettings
from tests.calls.conftest import HotlineDouble
from tests.calls.test_person_on_the_line import clerk, workflow_on
from tests.doubles import (
    Act,
    CallDouble,
    CallerAction,
    HangUp,
    Keys,
    PhoneDouble,
    Say,
    ScriptedFactoryDouble,
    Silence,
)

PROBLEM = "楼道灯坏了"


def owed(h: HotlineDouble, call: CallDouble) -> list[tuple[str, str]]:
    entry_id = h.logged(call).entry_id
    with Session(h.ledger.engine) as s:
        return [(t.kind, t.reason) for t in s.exec(select(CallbackTask).where(CallbackTask.entry_id == entry_id))]


def person_steps(h: HotlineDouble, call: CallDouble) -> list[tuple[str, str]]:
    with Session(h.ledger.engine) as s:
        return [(a.action, a.new) for a in s.exec(select(AuditLog).where(
            AuditLog.call_id == h.logged(call).id, AuditLog.action.startswith("person_")))]  # type: ignore[union-attr]


def call_with(h: HotlineDouble, script: Callable[[CallDouble], dict[str, list[list[CallerAction]]]]) -> CallDouble:
    """One whole call whose script may act on the call itself (end it as the telephony would)."""
    info = h.info()
    h.handler.on_ringing(info)
    call = CallDouble(info, h.prompts, {}, h.clock)
    call.script = {key: list(turns) for key, turns in script(call).items()}
    h.handler.on_call(call)
    return call


def test_a_call_that_finished_owes_nothing(hotline_double, speak) -> None:
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([PROBLEM]))
    workflow_on(h)
    finished = h.call({"ask_problem": [[Say(speak(PROBLEM))]]})
    assert finished.heard[-1] == "thanks" and h.logged(finished).end_reason == "agent_hangup"
    left = h.call({"ask_problem": [[Say(speak(PROBLEM))]], "anything_else": [[HangUp()]]})
    assert "readback" in left.heard and h.logged(left).end_reason == "caller_hangup"  # the message was taken
    assert owed(h, finished) == [] and owed(h, left) == []


@pytest.mark.parametrize("reason", ["rtp_timeout", "hold_timeout", "agent_stopped"])
def test_a_call_the_telephony_cut_is_called_back(hotline_double, speak, reason: str) -> None:
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([PROBLEM]))
    workflow_on(h)
    call = call_with(h, lambda c: {"ask_unit": [[Act(lambda: setattr(c, "reason", reason))]]})
    assert "readback" not in call.heard
    assert h.logged(call).end_reason == reason
    assert owed(h, call) == [("missed_call", reason)]


def test_a_call_that_failed_midway_is_called_back(hotline_double) -> None:
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([PROBLEM]))
    workflow_on(h)

    def fail() -> None:
        raise RuntimeError("the conversation broke (test)")

    call = h.call({"ask_unit": [[Act(fail)]]})
    logged = h.logged(call)
    assert (logged.end_reason, logged.status) == ("error", "failed")
    assert owed(h, call) == [("missed_call", "error")]


def test_caller_who_hangs_up_while_the_clerks_ring_is_called_back(hotline_double) -> None:
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([PROBLEM]),
                                      phones={"8101": PhoneDouble(answer_after_s=None)},
                                      transfer=TransferSettings(ring_timeout_s=3))
    workflow_on(h)
    clerk(h, "wang", "8101")
    call = h.call({"ask_unit": [[Keys("0")]], "transfer_wait": [[HangUp()]]})
    assert h.dialer is not None and h.dialer.cancelled == ["8101"]  # the phone stopped ringing
    assert person_steps(h, call) == [("person_caller_gone", "caller")]
    assert h.logged(call).end_reason == "caller_hangup"
    assert owed(h, call) == [("missed_call", "caller_gone")]


def test_caller_who_hangs_up_while_the_clerks_own_phone_rings_is_called_back(hotline_double) -> None:
    """「接听」 in the panel: the agent rings the clerk's extension; the caller leaves first."""
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([PROBLEM]),
                                      phones={"8301": PhoneDouble(answer_after_s=None)},
                                      transfer=TransferSettings(ring_timeout_s=3))
    workflow_on(h)
    assert h.desk is not None
    desk = h.desk
    call = h.call({"ask_problem": [[Act(lambda: desk.request_takeover(desk.live_calls()[0], "8301")),
                                    Silence(1000)]],
                   "transfer_wait": [[HangUp()]]})
    assert h.dialer is not None and h.dialer.cancelled == ["8301"]
    assert person_steps(h, call) == [("person_caller_gone", "takeover")]
    assert owed(h, call) == [("missed_call", "caller_gone")]


def test_unanswered_then_cut_off_is_owed_one_call(hotline_double) -> None:
    """Nobody took 转人工 (a task), then the line went dead: one call owed, with the first reason."""
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([PROBLEM]),
                                      phones={"8101": PhoneDouble(fails="busy")})
    workflow_on(h)
    clerk(h, "wang", "8101")
    call = call_with(h, lambda c: {"ask_unit": [[Keys("0")]],
                                   "transfer_failed": [[Act(lambda: setattr(c, "reason", "rtp_timeout"))]]})
    assert h.logged(call).end_reason == "rtp_timeout"
    assert owed(h, call) == [("missed_call", "person_unanswered")]

"""One complaint from the resident's call to the closed case, on real peers: a SIPp caller
through kamailio, the clerk's confirmation, a work order, completion, the callback placed
by the agent (clerk and resident are SIPp phones registered at kamailio) and recorded on
the same entry, the satisfaction, closing. Clocks and notices run as in production (the
workflow's own thread)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from callcenter.accounts import Accounts
from callcenter.calls.callback_dialer import CallbackDialer
from callcenter.clock import SystemClock
from callcenter.notify.base import Dispatcher, RecordingNotifier
from callcenter.workflow.cases import CaseWorkflow
from callcenter.workflow.notices import NoticeBoard
from callcenter.workflow.settings import WorkflowSettings
from callcenter.workflow.work_orders import NewWorkOrder
from tests.calls.callers import caller_scenario
from tests.calls.conftest import Pipeline
from tests.calls.test_bridge import RESIDENT_HZ, loud, new_number, sipp_party
from tests.doubles import ScriptedFactoryDouble
from tests.sipbench import audio
from tests.sipbench.sipp import finish

pytestmark = [pytest.mark.sip, pytest.mark.both_dbs]

COMPLAINT = "我是4栋2单元301的业主，楼道灯坏了一个星期了，一直没人来修，我要投诉"
# Around the clock, so the test does not depend on the hour it runs at.
ALWAYS_OPEN = WorkflowSettings(business_open="00:00", business_close="23:59")


def test_complaint_call_to_closed_case_with_a_recorded_callback(pipeline_factory, speak, kamailio,
                                                                 tmp_path: Path) -> None:
    resident_number = new_number("1391234")
    p: Pipeline = pipeline_factory(recognizer=ScriptedFactoryDouble([COMPLAINT]))
    clock = SystemClock()
    outside = RecordingNotifier("group-chat")
    dispatcher = Dispatcher()
    dispatcher.add(outside)
    workflow = CaseWorkflow(p.ledger, clock, ALWAYS_OPEN, NoticeBoard(p.ledger.engine, clock, p.ledger.bus,
                                                                       dispatcher))
    workflow.attach(p.ledger.bus)
    clerk_id = Accounts(p.ledger.engine, clock).add_user("wang", "clerk")
    try:
        # 1. the resident calls; the agent answers, records, transcribes and drafts
        speech = speak(COMPLAINT)
        scenario = caller_scenario(tmp_path / "complaint.xml", [("speak", speech), ("pause", len(speech) // 16 + 1500)],
                                   caller=resident_number)
        result = p.call(scenario)
        assert result.returncode == 0, result.explain()
        [call] = p.wait_drafted(1)
        entry_id = call.entry_id
        assert entry_id is not None
        entry = p.ledger.get_entry(entry_id)
        assert (entry.status, entry.unit, entry.category) == ("draft", "4-2-301", "投诉")

        # 2. the clerk confirms: registered, owned; the dispatch clock starts
        p.ledger.confirm_entry(entry_id, {"department": "工程"}, "wang", clerk_id)
        workflow.drain()
        assert [r.clock for r in workflow.clocks.running(entry_id)] == ["dispatch"]

        # 3. dispatched with a work order, done by engineering: completed, callback due (complaints 100 %)
        order = workflow.work_orders.create(entry_id, NewWorkOrder(assignee="李师傅"), "wang")
        workflow.work_orders.update(order.id or 0, {"status": "done", "result": "更换灯具"}, "li")
        workflow.drain()
        assert p.ledger.get_entry(entry_id).status == "completed"
        [task] = workflow.callbacks.list(entry_id=entry_id)
        assert task.kind == "callback" and task.number == resident_number

        # 4. the clerk places the callback from the panel: the agent rings the clerk, then the resident
        clerk_ext = new_number("80")
        clerk = sipp_party("uas_answer_wait_bye.xml", kamailio, tmp_path / "clerk", clerk_ext, 1100)
        resident = sipp_party("uas_answer_bye.xml", kamailio, tmp_path / "resident", resident_number,
                              RESIDENT_HZ, tone_s=3.0, duration_ms=4000)
        try:
            dialer = CallbackDialer(p.agent, p.ledger, p.store, workflow.callbacks, clock, ring_timeout_s=10)
            dialer.place(task.id or 0, clerk_ext, "wang", clerk_id).join(60)
        finally:
            rc_resident, out_resident = finish(resident)
            finish(clerk)
        assert rc_resident == 0, out_resident
        workflow.drain()
        dialled = workflow.callbacks.get(task.id or 0)
        assert (dialled.status, dialled.method, dialled.outcome, dialled.attempts) == ("open", "sip", "connected", 1)

        # the callback is a second call on the same entry, recorded: the resident on the left channel
        calls = p.ledger.calls_of_entry(entry_id)
        assert [c.direction for c in calls] == ["inbound", "outbound"]
        callback_call = calls[1]
        assert dialled.call_id == callback_call.id and callback_call.user_id == clerk_id
        assert callback_call.status == "ended" and callback_call.answered_at is not None
        with wave.open(p.store.path_of(callback_call.recording_key)) as w:
            frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2).astype(float)
        assert audio.tone_fraction(loud(frames[:, 0]), RESIDENT_HZ) > 0.9

        # 5. the clerk logs what the resident said; the case closes
        workflow.callbacks.log_result(task.id or 0, "connected", "wang", satisfaction="满意", notes="灯已修好")
        p.ledger.transition(entry_id, "closed", "wang")
        workflow.drain()
        entry = p.ledger.get_entry(entry_id)
        assert (entry.status, entry.satisfaction) == ("closed", "满意")
        assert workflow.callbacks.get(task.id or 0).attempts == 1  # the placed call was the attempt
        assert workflow.clocks.running(entry_id) == []
        trail = [(a.action, a.new) for a in p.ledger.audit_of_entry(entry_id)]
        assert ("transition", "dispatched") in trail
        assert ("callback_call", f"call {callback_call.id}") in trail
    finally:
        workflow.shutdown()
        dispatcher.close(5)


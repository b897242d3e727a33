"""A person on the line, at full speed: the real hotline handler, conversation, recorder, ledger,
drafting and workflow with the in-process call double for the caller and a dialer double for
the staff phones (tests/doubles.py). Understanding during the call (safety prompt and escalation
at detection, unit read-back, the category menu only when unsure), the keypad path when no live
recognizer is free, 转人工 by key and by voice, nobody answering, and the panel's 「接听」.
The wire (kamailio, SIPp/baresip phones, CANCEL, audio across the bridge) is in test_person_sip.py."""

from __future__ import annotations

import time
import wave
from datetime import UTC, datetime
from datetime import time as day_time
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session, select

from callcenter.accounts import Accounts
from callcenter.audio.prompts import PROMPT_TEXTS
from callcenter.calls.flow import FlowSettings
from callcenter.calls.understanding import wants_person
from callcenter.clock import SystemClock
from callcenter.drafting.hazard import HAZARDS
from callcenter.ledger.models import AuditLog, CallbackTask, Notification
from callcenter.staffing.lines import ON_DUTY, StaffLineError
from callcenter.staffing.settings import RosterMember, TransferSettings
from callcenter.workflow.cases import CaseWorkflow
from callcenter.workflow.notices import NoticeBoard
from callcenter.workflow.settings import WorkflowSettings
from tests.calls.conftest import HotlineDouble
from tests.doubles import Act, Keys, PhoneDouble, Say, ScriptedFactoryDouble, Silence

pytestmark = pytest.mark.both_dbs

GAS = "我家燃气漏了，屋里全是味，赶紧派人来"


def audit(h: HotlineDouble, entry_id: int) -> list[AuditLog]:
    with Session(h.ledger.engine) as s:
        return list(s.exec(select(AuditLog).where(AuditLog.entry_id == entry_id).order_by(AuditLog.id)).all())


def workflow_on(h: HotlineDouble) -> CaseWorkflow:
    """The case workflow on the hotline's bus, handling events on the publisher's thread."""
    notices = NoticeBoard(h.ledger.engine, SystemClock(), h.ledger.bus)
    flow = CaseWorkflow(h.ledger, SystemClock(), WorkflowSettings(), notices, inline=True)
    flow.attach(h.ledger.bus)
    return flow


def clerk(h: HotlineDouble, name: str, extension: str) -> int:
    user_id = Accounts(h.ledger.engine, SystemClock()).add_user(name, "clerk", "pw-long-enough-" + name)
    assert h.staff is not None
    h.staff.set_line(user_id, extension=extension, presence=ON_DUTY)
    return user_id


def right_channel(h: HotlineDouble, key: str) -> np.ndarray:
    with wave.open(str(Path(h.store.path_of(key)))) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    return frames[:, 1].astype(float)


def tone(freq: float, seconds: float) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    return (np.sin(2 * np.pi * freq * t) * 8000).astype("<i2").tobytes()


def test_every_hazard_class_has_its_own_safety_prompt() -> None:
    for hazard in HAZARDS:
        assert f"safety_{hazard}" in PROMPT_TEXTS and f"hazard_{hazard}" not in PROMPT_TEXTS
    assert "safety_other" in PROMPT_TEXTS


def test_asking_for_a_person_in_words() -> None:
    assert wants_person("我要转人工")
    assert wants_person("你好，帮我找客服")
    assert wants_person("我找人，机器听不懂")
    assert not wants_person("不用人工，我说就行")
    assert not wants_person("楼道灯坏了")


def test_urgent_speech_gets_the_safety_prompt_the_notice_at_detection_and_the_duty_phone(hotline_double, speak):
    roster = TransferSettings(ring_timeout_s=3, duty_roster=(RosterMember(name="保安室", number="8001"),))
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([GAS]), transfer=roster,
                                      phones={"8001": PhoneDouble(answer_after_s=0.05, hangup_after_s=0.3)})
    workflow_on(h)
    seen: list[tuple[str, float]] = []
    h.ledger.bus.add_listener(lambda e: seen.append((e.type, time.monotonic()))
                              if e.type in ("call.person", "notification") else None)
    call = h.call({"ask_unit": [[Say(speak(GAS))]]})
    # what the caller heard while the duty phone rang: the safety prompt for gas in full, then
    # (answered) 「现在为您接通值班人员」 before the bridge
    i = call.heard.index("safety_gas")
    assert "urgent_connecting" in call.heard[i + 1:]
    assert h.dialer is not None and [n for n, _ in h.dialer.dialled] == ["8001"]
    logged = h.logged(call)
    entry = h.ledger.get_entry(logged.entry_id)
    assert entry.urgent
    detected_at = next(a.at for a in audit(h, entry.id) if a.action == "person_urgent")
    actions = [a.action for a in audit(h, entry.id)]
    assert actions.index("person_urgent") < actions.index("person_answered") < actions.index("person_ended")
    answered = next(a for a in audit(h, entry.id) if a.action == "person_answered")
    assert answered.new.startswith("urgent|8001")
    # the urgent notice went out at detection: before the duty phone was dialled
    with Session(h.ledger.engine) as s:
        notes = s.exec(select(Notification).where(Notification.kind == "urgent")).all()
    assert len(notes) == 1 and "燃气泄漏" in notes[0].title and "通话中" in notes[0].title
    notified_at = next(t for kind, t in seen if kind == "notification")
    assert notified_at <= h.dialer.dialled[0][1]
    # the dispatch clock of an urgent call runs from the detection
    running = {c.clock: c for c in workflow_on(h).clocks.running(entry.id)}
    assert running["dispatch"].due.started_at == detected_at
    assert running["dispatch"].due.allowance_s == WorkflowSettings().urgent_dispatch_within_s


def test_gas_said_over_the_greeting_rings_the_duty_phone_before_any_question(hotline_double, speak):
    """A caller in an emergency does not wait for the greeting: what was said over it is acted on
    as soon as the greeting ends, not after the unit question and its silence."""
    roster = TransferSettings(ring_timeout_s=3, duty_roster=(RosterMember(name="保安室", number="8001"),))
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([GAS]), transfer=roster,
                                      phones={"8001": PhoneDouble(answer_after_s=0.05, hangup_after_s=0.3)})
    call = h.call({"greeting": [[Say(speak(GAS))]]})
    assert call.heard[:3] == ["greeting", "press_zero", "safety_gas"], call.heard
    assert "ask_unit" not in call.heard[:call.heard.index("urgent_connecting")]
    assert h.dialer is not None and [n for n, _ in h.dialer.dialled] == ["8001"]
    assert h.ledger.get_entry(h.logged(call).entry_id).urgent


def test_urgent_call_with_nobody_on_the_roster_answering_keeps_taking_the_message(hotline_double, speak):
    roster = TransferSettings(ring_timeout_s=3, duty_roster=(RosterMember(name="值班工程师", number="8002"),))
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([GAS]), transfer=roster,
                                      phones={"8002": PhoneDouble(fails="busy")})
    workflow_on(h)
    call = h.call({"ask_unit": [[Say(speak(GAS))]]})
    # nobody answered: the safety prompt was heard all the same, then what happens next
    assert call.heard.index("safety_gas") < call.heard.index("urgent_next") and call.heard[-1] == "thanks"
    entry = h.ledger.get_entry(h.logged(call).entry_id)
    assert entry.urgent
    with Session(h.ledger.engine) as s:
        tasks = s.exec(select(CallbackTask).where(CallbackTask.entry_id == entry.id)).all()
    assert [t.kind for t in tasks] == ["missed_call"]


def test_keypad_path_when_no_live_recognizer_is_free(hotline_double, speak):
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(["楼道灯坏了"]), live_slots=0, phones={})
    call = h.call({"ask_unit_keypad": [[Keys("4*2*301#")]], "unit_confirm": [[Keys("1")]],
                   "category_menu": [[Keys("1")]], "ask_problem": [[Say(speak("楼道灯坏了"))]]})
    assert call.heard[:5] == ["greeting", "press_zero", "ask_unit_keypad", "unit_is", "number"]
    assert "category_menu" in call.heard
    logged = h.logged(call)
    assert logged.intake_path == "keypad"  # the call says which path it took
    entry = h.ledger.get_entry(logged.entry_id)
    assert entry.unit == "4-2-301" and entry.category == "报修"
    assert entry.draft["sources"]["unit"] == "caller_confirmed"
    assert entry.draft["sources"]["category"] == "caller_keypad"
    assert entry.draft["sources"]["intake_path"] == "keypad"


def test_unit_read_back_corrected_on_the_keypad(hotline_double, speak):
    text = "我是四栋二单元三零一的，楼道灯坏了"
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([text]), phones={})
    call = h.call({"ask_unit": [[Say(speak(text))]], "unit_confirm": [[Keys("2")], [Keys("1")]],
                   "ask_unit_keypad": [[Keys("5*1*602#")]]})
    assert call.heard.count("unit_confirm") == 2
    logged = h.logged(call)
    assert logged.intake_path == "speech"
    entry = h.ledger.get_entry(logged.entry_id)
    assert entry.unit == "5-1-602" and entry.draft["sources"]["unit"] == "caller_confirmed"


def test_known_caller_is_not_asked_to_confirm_the_directory_unit(hotline_double, speak):
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(["马桶堵了，麻烦派人来看看"]), phones={})
    h.ledger.upsert_resident("7-1-502", "李秀英", ["13800138000"], key_customer=False)
    call = h.call({"ask_problem": [[Say(speak("马桶堵了，麻烦派人来看看"))]]})
    assert "unit_is" not in call.heard and "ask_unit" not in call.heard


def test_category_menu_only_when_the_draft_is_unsure(hotline_double, speak):
    text = "三栋二单元五零一，我家厨房水管爆了，水流了一地"
    sure = FlowSettings(category_menu_below=0.3, unit_read_back=False)
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([text]), phones={}, flow=sure)
    assert "category_menu" not in h.call({"ask_problem": [[Say(speak(text))]]}).heard
    unsure = FlowSettings(category_menu_below=1.0, unit_read_back=False)
    h = hotline_double(recognizer=ScriptedFactoryDouble(["嗯，那个，就是说一下"]), phones={}, flow=unsure)
    call = h.call({"ask_problem": [[Say(speak("嗯，那个，就是说一下"))]], "category_menu": [[Keys("3")]]})
    assert "category_menu" in call.heard
    assert h.ledger.get_entry(h.logged(call).entry_id).category == "咨询"


def test_key_zero_rings_the_clerks_on_duty_first_answer_wins_the_other_is_cancelled(hotline_double, speak):
    voice = tone(700, 1.0)
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(["楼道灯坏了"]), phones={
        "8101": PhoneDouble(answer_after_s=0.1, talk=voice, hangup_after_s=0.5),
        "8102": PhoneDouble(answer_after_s=None)})
    clerk(h, "wang", "8101")
    clerk(h, "li", "8102")
    call = h.call({"ask_unit": [[Keys("0")]]})
    assert call.heard[:4] == ["greeting", "press_zero", "ask_unit", "transfer_wait"]
    assert h.dialer is not None
    assert sorted(n for n, _ in h.dialer.dialled) == ["8101", "8102"]
    assert h.dialer.cancelled == ["8102"]  # the loser's phone stops ringing
    logged = h.logged(call)
    rows = [a for a in audit(h, logged.entry_id) if a.action.startswith("person_")]
    assert [a.action for a in rows] == ["person_answered", "person_ended"]
    assert rows[0].new == "caller|8101|wang" and rows[0].actor == "wang"
    # the clerk is 在岗 again after the call, the caller left, the clerk's voice on the right channel
    assert h.staff is not None and h.staff.on_duty_extensions() == ["8102", "8101"]
    # The last thing on the agent's channel is the clerk's voice (a silent tail may follow: the
    # double's call reports no BYE time, and a starved handler closes the recording late).
    right = right_channel(h, logged.recording_key)
    voiced = np.flatnonzero(np.abs(right) > 100)
    assert voiced.size, "the agent's channel is silent"
    last = right[max(0, voiced[-1] - 8000):voiced[-1]]
    spectrum = np.abs(np.fft.rfft(last))
    assert abs(np.argmax(spectrum) * 8000 / len(last) - 700) < 20
    assert "thanks" not in call.heard  # the clerk took the call: the script stopped


def test_saying_zhuan_rengong_rings_the_clerks(hotline_double, speak):
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(["你好，我要转人工"]),
                                      phones={"8101": PhoneDouble(answer_after_s=0.05, hangup_after_s=0.2)})
    clerk(h, "wang", "8101")
    call = h.call({"ask_unit": [[Say(speak("你好，我要转人工，转人工，谢谢"))]]})
    assert "transfer_wait" in call.heard
    assert h.dialer is not None and [n for n, _ in h.dialer.dialled] == ["8101"]


def test_nobody_answers_back_to_message_taking_with_a_callback_task(hotline_double, speak):
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(["楼道灯坏了"]), phones={
        "8101": PhoneDouble(answer_after_s=None), "8102": PhoneDouble(fails="busy")},
        transfer=TransferSettings(ring_timeout_s=3))
    workflow_on(h)
    clerk(h, "wang", "8101")
    clerk(h, "li", "8102")
    call = h.call({"ask_unit": [[Keys("0")]], "ask_problem": [[Say(speak("楼道灯坏了"))]]})
    i = call.heard.index("transfer_wait")
    assert "transfer_failed" in call.heard[i:] and "ask_problem" in call.heard[i:] and call.heard[-1] == "thanks"
    assert h.dialer is not None and h.dialer.cancelled == ["8101"]  # rung until the time was up
    entry_id = h.logged(call).entry_id
    assert "person_unanswered" in [a.action for a in audit(h, entry_id)]
    with Session(h.ledger.engine) as s:
        tasks = s.exec(select(CallbackTask).where(CallbackTask.entry_id == entry_id)).all()
    assert [t.kind for t in tasks] == ["missed_call"]


def test_nobody_on_duty_says_so_and_the_caller_leaves_a_message(hotline_double, speak):
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(["楼道灯坏了"]), phones={})
    call = h.call({"ask_unit": [[Keys("0")]]})
    assert "transfer_failed" in call.heard
    assert "person_nobody" in [a.action for a in audit(h, h.logged(call).entry_id)]


def test_outside_business_hours_the_duty_roster_is_rung(hotline_double):
    closed = WorkflowSettings(business_open=day_time(8, 0), business_close=day_time(18, 0))
    roster = TransferSettings(ring_timeout_s=3, duty_roster=(RosterMember(name="保安室", number="8001"),))
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(["楼道灯坏了"]), hours=closed,
                                      transfer=roster,
                                      phones={"8001": PhoneDouble(hangup_after_s=0.1),
                                              "8101": PhoneDouble(hangup_after_s=0.1)})
    clerk(h, "wang", "8101")
    assert h.desk is not None
    h.desk.now = lambda: datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai: closed
    h.call({"ask_unit": [[Keys("0")]]})
    assert h.dialer is not None and [n for n, _ in h.dialer.dialled] == ["8001"]


def test_in_turn_rings_one_phone_after_the_other(hotline_double):
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(["楼道灯坏了"]), phones={
        "8101": PhoneDouble(answer_after_s=None), "8102": PhoneDouble(answer_after_s=0.05, hangup_after_s=0.1)},
        transfer=TransferSettings(strategy="in_turn", ring_each_s=3, ring_timeout_s=10))
    clerk(h, "wang", "8101")
    clerk(h, "li", "8102")
    h.call({"ask_unit": [[Keys("0")]]})
    assert h.dialer is not None
    (first, t1), (second, t2) = h.dialer.dialled
    assert (first, second) == ("8101", "8102") and t2 - t1 >= 2.9


def test_summary_mode_connects_only_when_the_duty_person_presses_1(hotline_double, speak):
    roster = TransferSettings(ring_timeout_s=3, urgent_connect="summary",
                              duty_roster=(RosterMember(name="保安室", number="8001"),))
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([GAS]), transfer=roster,
                                      phones={"8001": PhoneDouble(press="1", hangup_after_s=2.0)})
    call = h.call({"ask_unit": [[Say(speak(GAS))]]})
    assert "person_answered" in [a.action for a in audit(h, h.logged(call).entry_id)]
    assert h.dialer is not None and len(h.dialer.legs[0].heard) > 8000  # heard the spoken summary
    h2: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([GAS]), transfer=roster,
                                       phones={"8001": PhoneDouble(press="", hangup_after_s=60)})
    call2 = h2.call({"ask_unit": [[Say(speak(GAS))]]}, caller="13911112222")
    rows = [a.action for a in audit(h2, h2.logged(call2).entry_id) if a.call_id == h2.logged(call2).id]
    assert "person_unanswered" in rows and "person_answered" not in rows


def test_take_over_from_the_panel_rings_the_clerks_own_extension(hotline_double, speak):
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(["楼道灯坏了"]),
                                      phones={"8301": PhoneDouble(hangup_after_s=0.2)})
    assert h.desk is not None
    desk = h.desk
    took: list[bool] = []
    call = h.call({"ask_problem": [[Act(lambda: took.append(desk.request_takeover(desk.live_calls()[0], "8301"))),
                                    Silence(3000)]]})
    assert took == [True]
    assert h.dialer is not None and [n for n, _ in h.dialer.dialled] == ["8301"]
    assert "thanks" not in call.heard  # the script stopped
    rows = [a.new for a in audit(h, h.logged(call).entry_id) if a.action == "person_answered"]
    assert rows == ["takeover|8301"]
    assert not desk.request_takeover("no-such-call", "8301")  # the call is over


def test_staff_lines_refuse_bad_input(hotline_double):
    h: HotlineDouble = hotline_double(phones={})
    assert h.staff is not None
    uid = Accounts(h.ledger.engine, SystemClock()).add_user("zhao", "clerk", "pw-zhaozhaozhao")
    with pytest.raises(StaffLineError, match="分机号"):
        h.staff.set_line(uid, presence=ON_DUTY)  # no extension yet
    with pytest.raises(StaffLineError):
        h.staff.set_line(uid, extension="80 01; DROP")
    with pytest.raises(StaffLineError):
        h.staff.set_line(uid, presence="sleeping")
    h.staff.set_line(uid, extension="8001")
    other = Accounts(h.ledger.engine, SystemClock()).add_user("qian", "clerk", "pw-qianqianqian")
    with pytest.raises(StaffLineError, match="已分配"):
        h.staff.set_line(other, extension="8001")


def test_a_supervisor_listens_in_silently(hotline_double, speak):
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(["楼道灯坏了，麻烦派人看看"]),
                                      phones={"8900": PhoneDouble(answer_after_s=0.0, hangup_after_s=60)})
    assert h.desk is not None
    desk = h.desk

    def supervisor_presses_listen() -> None:
        call_id = desk.live_calls()[0]
        assert desk.request_listen(call_id, "8900", "boss")
        deadline = time.monotonic() + 5
        while not desk._live[call_id].session._taps:  # the phone answered, the tap is on
            assert time.monotonic() < deadline
            time.sleep(0.01)

    call = h.call({"ask_problem": [[Act(supervisor_presses_listen), Say(speak("楼道灯坏了，麻烦派人看看"))]]})
    assert h.dialer is not None
    [leg] = h.dialer.legs
    deadline = time.monotonic() + 5
    while leg.reason == "" and time.monotonic() < deadline:  # hung up when the call ended
        time.sleep(0.01)
    assert leg.reason == "agent_hangup"
    heard = np.frombuffer(bytes(leg.heard), dtype="<i2").astype(float)
    windows = heard[: len(heard) // 160 * 160].reshape(-1, 160)
    assert (np.sqrt((windows ** 2).mean(axis=1)) > 300).sum() * 0.02 > 1.0  # the caller's speech and the prompts
    rows = [a for a in audit(h, h.logged(call).entry_id) if a.action == "person_listening"]
    assert [(r.new, r.actor) for r in rows] == [("listen|8900|boss", "boss")]
    assert call.heard[-1] == "thanks"  # the conversation went on as if nobody listened


def test_without_transfer_nobody_is_offered_and_zero_is_just_a_key(hotline_double, speak):
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(["楼道灯坏了"]), phones={},
                                      transfer=TransferSettings(enabled=False, ring_timeout_s=3))
    clerk(h, "wang", "8101")
    call = h.call({"ask_unit": [[Keys("0")]]})
    assert "press_zero" not in call.heard and "transfer_wait" not in call.heard
    assert h.dialer is not None and h.dialer.dialled == []


def test_clerks_left_on_a_call_by_a_crash_are_on_duty_again(hotline_double):
    h: HotlineDouble = hotline_double(phones={})
    assert h.staff is not None
    clerk(h, "wang", "8101")
    h.staff.mark("8101", "on_call")
    assert h.staff.on_duty_extensions() == []
    assert h.staff.release_on_call() == 1
    assert h.staff.on_duty_extensions() == ["8101"]

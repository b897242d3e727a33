"""The hotline's branches at full speed: the real handler, conversation, recorder, ledger and
drafting, with an in-process call double in place of SIP (tests/doubles.py CallDouble). Repeat
calls, missed calls, the keypad, no model, no free live recognizer, hang-ups at each step.
What only SIP can show (the wire, timing, real peers) is in test_pipeline.py and tests/telephony."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from callcenter.calls.flow import FlowSettings
from tests.calls.conftest import HotlineDouble
from tests.doubles import HangUp, Keys, Say, ScriptedFactoryDouble, Silence

# the ledger's call path (repeat rule, drafts, missed calls) on both databases
pytestmark = pytest.mark.both_dbs


def channels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    return frames[:, 0].astype(float), frames[:, 1].astype(float)


def loud_s(x: np.ndarray) -> float:
    windows = x[: len(x) // 160 * 160].reshape(-1, 160)
    return float((np.sqrt((windows ** 2).mean(axis=1)) > 300).sum() * 0.02)


def test_spoken_problem_is_recorded_transcribed_and_drafted(hotline_double, speak) -> None:
    text = "您好，我是四栋二单元三零一的业主，我家厨房水管爆了，水流了一地，麻烦马上派师傅过来。"
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([text]))
    speech = speak(text)
    call = h.call({"ask_unit": [[Say(speech)]]})
    logged = h.logged(call)
    assert call.heard[:3] == ["greeting", "ask_unit", "ask_problem"]
    assert logged.status == "ended" and logged.transcript_status == "done" and logged.transcript_text == text
    entry = h.ledger.get_entry(logged.entry_id)
    assert (entry.unit, entry.category, entry.department, entry.urgent) == ("4-2-301", "报修", "工程", True)
    # the recording: the caller's speech on the left, what the agent said on the right
    caller, agent = channels(Path(h.store.path_of(logged.recording_key)))
    assert loud_s(caller) > 0.5 * len(speech) / 16000
    assert loud_s(agent) > 1.0


def test_unit_keyed_on_the_keypad(hotline_double, speak) -> None:
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(["我家卫生间漏水了"]))
    call = h.call({"ask_unit": [[Keys("4*2*301#")]], "ask_problem": [[Say(speak("我家卫生间漏水了"))]]})
    logged = h.logged(call)
    assert logged.dtmf.startswith("4*2*301#")
    entry = h.ledger.get_entry(logged.entry_id)
    assert entry.unit == "4-2-301" and entry.draft["source_unit"] == "dtmf"
    assert entry.category == "报修" and entry.urgent


def test_directory_caller_without_a_model_is_answered_recorded_and_queued(hotline_double, speak) -> None:
    h: HotlineDouble = hotline_double(recognizer=None)  # no model at all
    h.ledger.upsert_resident("7-1-502", "李秀英", ["13800138000"], key_customer=True)
    call = h.call({"ask_problem": [[Say(speak("马桶堵了，麻烦派人来看看"))]]})
    assert "ask_unit" not in call.heard  # the directory knows the caller's unit
    logged = h.logged(call)
    assert logged.recording_key and logged.recording_sha256
    assert logged.transcript_status == "unavailable"  # transcribed once a model is installed
    entry = h.ledger.get_entry(logged.entry_id)
    assert entry.unit == "7-1-502" and entry.caller_name == "李秀英"
    assert [c.sip_call_id for c in h.ledger.calls_needing_transcript()] == [logged.sip_call_id]


def test_no_free_live_recognizer_transcribes_the_recording_after_the_call(hotline_double, speak) -> None:
    text = "三号楼二单元五零一，楼道的灯不亮了"
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([text]), live_slots=0)
    call = h.call({"ask_unit": [[Say(speak(text))]]})
    logged = h.logged(call)
    assert h.transcriber.files == [Path(h.store.path_of(logged.recording_key))]
    assert logged.transcript_status == "done" and logged.transcript_text == text
    assert h.ledger.get_entry(logged.entry_id).unit == "3-2-501"


def test_repeat_call_joins_the_open_entry_as_a_complaint(hotline_double, speak) -> None:
    texts = ["我是五栋一单元六零二的，家里停电了，麻烦来看一下。",
             "我是五栋一单元六零二的，刚才打过电话，家里还是没电，怎么还没人来？"]
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(texts))
    first = h.logged(h.call({"ask_unit": [[Say(speak(texts[0]))]]}))
    second = h.logged(h.call({"ask_unit": [[Say(speak(texts[1]))]]}))
    assert second.entry_id == first.entry_id  # one ticket to the end (一票到底)
    entry = h.ledger.get_entry(first.entry_id)
    assert entry.category == "投诉" and entry.repeat_count == 1 and entry.unit == "5-1-602"
    assert len(h.ledger.calls_of_entry(entry.id)) == 2


def test_caller_who_hangs_up_while_it_rings_gets_a_missed_call_entry(hotline_double) -> None:
    h: HotlineDouble = hotline_double()
    info = h.info("13912345678")
    h.handler.on_ringing(info)
    h.handler.on_missed(info, "cancelled")
    logged = h.ledger.call_by_key(info.call_id)
    assert logged.status == "missed" and not logged.recording_key
    entry = h.ledger.get_entry(logged.entry_id)
    assert entry.kind == "missed_call" and "回拨" in entry.summary and entry.caller_number == "13912345678"


def test_whole_conversation_reads_back_the_entry_number_and_hangs_up(hotline_double, speak) -> None:
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(["三栋的路灯坏了"]),
                                      flow=FlowSettings(max_problem_turns=1))
    call = h.call({"ask_unit": [[Silence(3000)]], "ask_problem": [[Say(speak("三栋的路灯坏了"))]]})
    assert call.heard == ["greeting", "ask_unit", "ask_problem", "readback", "number", "anything_else", "thanks"]
    logged = h.logged(call)
    assert logged.end_reason == "agent_hangup"
    assert call.agent_audio  # every prompt went out through the call
    _, agent = channels(Path(h.store.path_of(logged.recording_key)))
    assert loud_s(agent) > 4.0  # greeting, questions, the number, thanks


def test_a_second_problem_after_anything_else_is_heard_too(hotline_double, speak) -> None:
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(["楼道灯坏了，还有门禁刷不开"]),
                                      flow=FlowSettings(max_problem_turns=2))
    call = h.call({"ask_unit": [[Keys("4*2*301#")]], "ask_problem": [[Say(speak("楼道灯坏了"))],
                                                                     [Say(speak("门禁刷不开"))]],
                   "anything_else": [[Say(speak("还有一个问题"))], [Silence(5000)]]})
    assert call.heard.count("ask_problem") == 2 and call.heard[-1] == "thanks"


def test_caller_hangs_up_during_the_greeting(hotline_double) -> None:
    h: HotlineDouble = hotline_double()
    call = h.call({"greeting": [[Silence(400), HangUp()]]})
    logged = h.logged(call)
    assert call.heard == ["greeting"]
    assert logged.status == "ended" and logged.end_reason == "caller_hangup"
    assert logged.recording_key and logged.entry_id is not None


def test_caller_hangs_up_instead_of_answering_anything_else(hotline_double, speak) -> None:
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(["七栋一单元五零二，马桶堵了"]))
    call = h.call({"ask_unit": [[Say(speak("七栋一单元五零二，马桶堵了"))]], "anything_else": [[HangUp()]]})
    logged = h.logged(call)
    assert "thanks" not in call.heard and logged.end_reason == "caller_hangup"
    assert h.ledger.get_entry(logged.entry_id).unit == "7-1-502"  # drafted all the same

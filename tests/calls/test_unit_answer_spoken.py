"""The unit read-back answered in words (「…，对吗？」 → 对的 / 不对，是五号楼一单元六零二), at full
speed on the in-process call double with the scripted recognizer: each '|' of its text is one
utterance, heard in the order the caller speaks. The keypad answer (1/2) is in
test_person_on_the_line.py; a key pressed anyway wins over words."""

from __future__ import annotations

import logging

import pytest

from tests.calls.conftest import HotlineDouble
from tests.doubles import Keys, Say, ScriptedFactoryDouble

pytestmark = pytest.mark.both_dbs

FIRST = "我是四栋二单元三零一的，楼道灯坏了"


def steps(caplog: pytest.LogCaptureFixture) -> str:
    return next(r.getMessage() for r in caplog.records if " steps " in r.getMessage())


def confirmed_unit(h: HotlineDouble, call) -> tuple[str | None, str | None]:  # type: ignore[no-untyped-def]
    entry = h.ledger.get_entry(h.logged(call).entry_id)
    return entry.unit, entry.draft["sources"].get("unit")


@pytest.fixture(autouse=True)
def _steps_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="callcenter.calls.hotline")


def test_said_yes_confirms_the_unit(hotline_double, speak, caplog) -> None:
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([f"{FIRST}|对的"]), phones={})
    call = h.call({"ask_unit": [[Say(speak(FIRST))]], "unit_confirm": [[Say(speak("对的"))]]})
    assert call.heard.count("unit_confirm") == 1 and "ask_unit_keypad" not in call.heard
    assert "unit_answer:yes" in steps(caplog) and "unit_confirmed:4-2-301" in steps(caplog)
    assert confirmed_unit(h, call) == ("4-2-301", "caller_confirmed")


def test_said_no_with_the_right_unit_reads_that_one_back(hotline_double, speak, caplog) -> None:
    no = "不对，是五号楼一单元六零二"
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([f"{FIRST}|{no}|嗯对"]), phones={})
    call = h.call({"ask_unit": [[Say(speak(FIRST))]],
                   "unit_confirm": [[Say(speak(no))], [Say(speak("嗯对"))]]})
    assert call.heard.count("unit_confirm") == 2 and "ask_unit_keypad" not in call.heard
    assert h.prompts.numbers[:6] == ["4", "2", "301", "5", "1", "602"]  # read back, then the corrected one
    assert "unit_said:5-1-602" in steps(caplog) and "unit_confirmed:5-1-602" in steps(caplog)
    assert confirmed_unit(h, call) == ("5-1-602", "caller_confirmed")


def test_said_no_alone_asks_for_the_unit_again(hotline_double, speak, caplog) -> None:
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([f"{FIRST}|不对"]), phones={})
    call = h.call({"ask_unit": [[Say(speak(FIRST))]], "unit_confirm": [[Say(speak("不对"))], [Keys("1")]],
                   "ask_unit_keypad": [[Keys("5*1*602#")]]})
    assert call.heard.count("unit_confirm") == 2 and call.heard.count("ask_unit_keypad") == 1
    assert "unit_answer:no" in steps(caplog)
    assert confirmed_unit(h, call) == ("5-1-602", "caller_confirmed")


def test_said_no_then_the_unit_in_words_when_asked_again(hotline_double, speak, caplog) -> None:
    unit = "五号楼一单元六零二"
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([f"{FIRST}|不是|{unit}|是的"]),
                                      phones={})
    call = h.call({"ask_unit": [[Say(speak(FIRST))]],
                   "unit_confirm": [[Say(speak("不是"))], [Say(speak("是的"))]],
                   "ask_unit_keypad": [[Say(speak(unit))]]})
    assert call.heard.count("ask_unit_keypad") == 1 and call.heard.count("unit_confirm") == 2
    assert confirmed_unit(h, call) == ("5-1-602", "caller_confirmed")


@pytest.mark.parametrize("said", ["对面楼漏水", "对不对"])
def test_words_that_only_contain_yes_confirm_nothing(hotline_double, speak, caplog, said: str) -> None:
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([f"{FIRST}|{said}"]), phones={})
    call = h.call({"ask_unit": [[Say(speak(FIRST))]], "unit_confirm": [[Say(speak(said))]]})
    assert call.heard.count("unit_confirm") == 1 and "ask_unit_keypad" not in call.heard
    assert "unit_answer:unclear" in steps(caplog) and "unit_confirmed" not in steps(caplog)
    _, source = confirmed_unit(h, call)
    assert source != "caller_confirmed"


def test_a_key_pressed_anyway_wins_over_words(hotline_double, speak, caplog) -> None:
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([f"{FIRST}|对的"]), phones={})
    call = h.call({"ask_unit": [[Say(speak(FIRST))]], "unit_confirm": [[Say(speak("对的")), Keys("2")], [Keys("1")]],
                   "ask_unit_keypad": [[Keys("5*1*602#")]]})
    assert call.heard.count("ask_unit_keypad") == 1
    assert "unit_answer" not in steps(caplog)
    assert confirmed_unit(h, call) == ("5-1-602", "caller_confirmed")


def test_silence_keeps_the_keypad_path(hotline_double, speak, caplog) -> None:
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([FIRST]), phones={})
    call = h.call({"ask_unit": [[Say(speak(FIRST))]]})
    assert call.heard.count("unit_confirm") == 1 and "ask_unit_keypad" not in call.heard
    assert "unit_answer" not in steps(caplog)
    _, source = confirmed_unit(h, call)
    assert source != "caller_confirmed"

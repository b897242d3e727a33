"""draft_entry: the whole draft, and which unit source wins."""

from __future__ import annotations

import dataclasses

import pytest

from callcenter.drafting.draft import Draft, draft_entry
from callcenter.drafting.rules import DraftingRules

CALL = "您好，我姓王，我是四栋二单元三零一的业主，我家厨房水管爆了，麻烦马上派师傅过来。"


def test_full_draft(rules: DraftingRules) -> None:
    draft = draft_entry(CALL, rules)
    assert draft.unit.value == "4-2-301"
    assert draft.source_unit == "speech"
    assert draft.category.value == "报修"
    assert draft.department.value == "工程"
    assert draft.urgent.value is True
    assert draft.caller_name.value == "王"
    assert draft.summary.value == "我家厨房水管爆了，马上派师傅过来"
    assert draft.complaint_subject.value is None
    assert draft.transcript == CALL
    assert draft.repeat_of is None
    evidence = draft.unit.evidence[0]
    assert CALL[evidence.start : evidence.end] == "四栋二单元三零一"


def test_draft_is_frozen(rules: DraftingRules) -> None:
    draft = draft_entry(CALL, rules)
    with pytest.raises(dataclasses.FrozenInstanceError):
        draft.category = draft.department  # type: ignore[misc]
    assert isinstance(draft, Draft)


def test_directory_unit_wins_when_speech_agrees(rules: DraftingRules) -> None:
    draft = draft_entry(CALL, rules, directory_unit="4-2-301")
    assert (draft.unit.value, draft.unit.confidence, draft.source_unit) == ("4-2-301", 1.0, "directory")


def test_directory_unit_wins_when_nothing_is_said(rules: DraftingRules) -> None:
    draft = draft_entry("我家马桶堵了", rules, directory_unit="7-1-502")
    assert (draft.unit.value, draft.unit.confidence, draft.source_unit) == ("7-1-502", 1.0, "directory")


def test_a_different_spoken_unit_beats_the_directory_unsure(rules: DraftingRules) -> None:
    # Calling about a parent's flat: take what is said, but mark it for the clerk.
    draft = draft_entry("我爸妈住六栋一单元五零二，他们家停电了", rules, directory_unit="4-2-301")
    assert draft.unit.value == "6-1-502"
    assert draft.source_unit == "speech"
    assert 0.4 <= draft.unit.confidence <= 0.7


def test_dtmf_beats_speech(rules: DraftingRules) -> None:
    draft = draft_entry(CALL, rules, dtmf_unit="5*1*602#")
    assert draft.unit.value == "5-1-602"
    assert draft.source_unit == "dtmf"
    assert draft.unit.confidence >= 0.9


def test_dtmf_agreeing_with_speech_keeps_the_spoken_evidence(rules: DraftingRules) -> None:
    draft = draft_entry(CALL, rules, dtmf_unit="4*2*301#")
    assert draft.source_unit == "dtmf"
    assert draft.unit.evidence and draft.unit.evidence[0].text == "四栋二单元三零一"


def test_invalid_dtmf_falls_back_to_speech(rules: DraftingRules) -> None:
    draft = draft_entry(CALL, rules, dtmf_unit="12#")
    assert (draft.unit.value, draft.source_unit) == ("4-2-301", "speech")


def test_no_unit_anywhere(rules: DraftingRules) -> None:
    draft = draft_entry("请问物业费怎么交", rules)
    assert draft.unit.value is None
    assert draft.source_unit is None
    assert draft.unit.confidence == 0.0


def test_directory_unit_is_normalised(rules: DraftingRules) -> None:
    draft = draft_entry("停电了", rules, directory_unit="4栋2单元301")
    assert draft.unit.value == "4-2-301"


def test_empty_transcript(rules: DraftingRules) -> None:
    draft = draft_entry("", rules)
    assert draft.category.value == "其他"
    assert draft.unit.value is None
    assert draft.caller_name.value is None

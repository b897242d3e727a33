"""Scorecard validation (clear errors) and scoring (a critical fail fails the call)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.qa.scorecard import ScorecardError, load_scorecard, score

GOOD_ITEM = "  - {id: greeting, label: 问候语, weight: 20, critical: true, check: standard_greeting}\n"


def write(tmp_path: Path, items: str) -> Path:
    path = tmp_path / "card.yaml"
    path.write_text(f"name: 测试\nversion: 2\npass_score: 80\nitems:\n{items}", encoding="utf-8")
    return path


def test_packaged_scorecard_covers_the_call_procedure() -> None:
    card = load_scorecard()
    assert {i.check for i in card.items} >= {"answered_within_rings", "standard_greeting", "agent_said", "no_slang",
                                            "callback_offered", "registered_in_time", None}
    assert card.ref == "来电接待质检@1"


@pytest.mark.parametrize(("items", "message"), [
    ("  - {id: a, label: 甲, weight: 10, check: greting}\n", "unknown check 'greting'"),
    ("  - {id: a, label: 甲, weight: 0}\n", "items.0.weight"),
    ("  - {id: a, label: 甲, weight: -5}\n", "greater than 0"),
    (GOOD_ITEM + GOOD_ITEM, "duplicate item ids: greeting"),
    ("  - {id: a, label: 甲, weight: 10, check: agent_said}\n", "params of check 'agent_said'"),
    ("  - {id: a, label: 甲, weight: 10, check: no_slang, params: {words: [x], colour: 1}}\n", "colour"),
    ("  - {id: a, label: 甲, weight: 10, wieght: 3}\n", "wieght"),
])
def test_bad_scorecards_are_rejected_with_the_place_and_fix(tmp_path: Path, items: str, message: str) -> None:
    with pytest.raises(ScorecardError, match="card.yaml") as err:
        load_scorecard(write(tmp_path, items))
    assert message in str(err.value)


def test_missing_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ScorecardError, match="qa.scorecard_file"):
        load_scorecard(tmp_path / "nope.yaml")


def test_critical_fail_fails_even_with_a_high_score(tmp_path: Path) -> None:
    card = load_scorecard(write(tmp_path, GOOD_ITEM + "  - {id: thanks, label: 致谢, weight: 80}\n"))
    assert score(card, {"greeting": "pass", "thanks": "pass"}).passed is True
    failed = score(card, {"greeting": "fail", "thanks": "pass"})
    assert failed.score == 80.0 and failed.passed is False and failed.critical_failed == ["greeting"]
    low = score(card, {"greeting": "pass", "thanks": "fail"})
    assert low.score == 20.0 and low.passed is False  # below pass_score
    # not-applicable items leave the denominator; an unjudged critical item leaves it open
    assert score(card, {"greeting": "pass", "thanks": "na"}).score == 100.0
    assert score(card, {"greeting": "unknown", "thanks": "pass"}).passed is None

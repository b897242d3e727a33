"""The repeat rule: same resident, same problem, twice or more -> complaint."""

from __future__ import annotations

from callcenter.drafting.draft import draft_entry
from callcenter.drafting.repeat import OpenEntry, apply_repeat, find_repeat, problem_topics
from callcenter.drafting.rules import DraftingRules

FIRST_CALL = OpenEntry(
    entry_id=17,
    unit="8-1-701",
    caller_number="13800138000",
    category="报修",
    summary="家里突然停电了",
    transcript="喂，八栋一单元七零一，家里突然停电了，整栋楼都没电了。",
)
OTHER_PROBLEM = OpenEntry(
    entry_id=18,
    unit="8-1-701",
    caller_number="13800138000",
    category="报修",
    summary="马桶堵了",
    transcript="八栋一单元七零一，马桶堵了",
)


def test_same_number_same_problem_in_other_words_is_a_repeat(rules: DraftingRules) -> None:
    # Seed 002: 17:00 power cut, 18:00 he calls again.
    draft = draft_entry("我一个小时前打过电话了，家里还是没电，跳闸推不上去", rules)
    match = find_repeat(draft, "13800138000", [OTHER_PROBLEM, FIRST_CALL], rules)
    assert match is not None
    assert match.entry_id == 17
    assert "power" in match.topics
    assert "同一来电号码" in match.reason
    assert 0.0 < match.score <= 1.0
    for evidence in match.evidence:
        assert draft.transcript[evidence.start : evidence.end] == evidence.text


def test_same_unit_from_another_phone_is_a_repeat(rules: DraftingRules) -> None:
    draft = draft_entry("八栋一单元七零一，我们家又停电了", rules)
    match = find_repeat(draft, "13900000000", [FIRST_CALL], rules)
    assert match is not None and match.entry_id == 17
    assert "同一房号" in match.reason


def test_number_and_unit_both_agreeing_score_higher(rules: DraftingRules) -> None:
    draft = draft_entry("八栋一单元七零一，又停电了", rules)
    both = find_repeat(draft, "13800138000", [FIRST_CALL], rules)
    unit_only = find_repeat(draft, "13900000000", [FIRST_CALL], rules)
    assert both is not None and unit_only is not None
    assert both.score > unit_only.score


def test_other_resident_same_problem_is_not_a_repeat(rules: DraftingRules) -> None:
    draft = draft_entry("九栋二单元一零一，家里停电了", rules)
    assert find_repeat(draft, "13700000000", [FIRST_CALL], rules) is None


def test_same_resident_other_problem_is_not_a_repeat(rules: DraftingRules) -> None:
    draft = draft_entry("八栋一单元七零一，想问一下物业费怎么交", rules)
    assert find_repeat(draft, "13800138000", [FIRST_CALL], rules) is None


def test_no_number_no_unit_no_repeat(rules: DraftingRules) -> None:
    draft = draft_entry("家里停电了", rules)
    assert find_repeat(draft, None, [FIRST_CALL], rules) is None


def test_no_open_entries(rules: DraftingRules) -> None:
    draft = draft_entry("家里停电了", rules)
    assert find_repeat(draft, "13800138000", [], rules) is None


def test_apply_repeat_upgrades_to_complaint_and_links(rules: DraftingRules) -> None:
    draft = draft_entry("家里还是没电", rules)
    assert draft.category.value == "报修"
    match = find_repeat(draft, "13800138000", [FIRST_CALL], rules)
    upgraded = apply_repeat(draft, match)
    assert upgraded.category.value == "投诉"
    assert upgraded.repeat_of == 17
    assert upgraded.department == draft.department
    assert any(e.label == "repeat:17" for e in upgraded.category.evidence)
    assert draft.category.value == "报修"  # the original is untouched


def test_apply_no_match_returns_the_draft(rules: DraftingRules) -> None:
    draft = draft_entry("家里停电了", rules)
    assert apply_repeat(draft, None) is draft


def test_topics_are_synonym_sets(rules: DraftingRules) -> None:
    assert set(problem_topics("停电了", rules)) == set(problem_topics("跳闸了", rules)) == {"power"}
    assert "leak" in problem_topics("水管爆了", rules)
    assert problem_topics("你好", rules) == {}

"""The caller's spoken answer to the unit read-back (「…，对吗？」): yes only when the words say
nothing else, no when they open with a no word, the right unit taken from after the no."""

from __future__ import annotations

import pytest

from callcenter.drafting.answers import yes_or_no


@pytest.mark.parametrize("said", ["对", "对的", "对对对", "是的", "没错", "嗯对", "嗯，对的", "对 的",
                                  "对啊，没错", "正确", "嗯 是 的", "对的对的"])
def test_yes(said: str) -> None:
    assert yes_or_no(said).kind == "yes"


@pytest.mark.parametrize(("said", "unit"), [
    ("不对", None), ("不是", None), ("错了", None), ("嗯，不对", None), ("不 对 不 对", None),
    ("不对，是四号楼二单元三零一", "4-2-301"), ("不是，五栋一单元六零二", "5-1-602"),
    ("对……哦不对，是六号楼二单元幺零一", "6-2-101"), ("说错了，应该是三栋二单元五零一", "3-2-501"),
])
def test_no_with_or_without_the_right_unit(said: str, unit: str | None) -> None:
    answer = yes_or_no(said)
    assert (answer.kind, answer.unit) == ("no", unit)


@pytest.mark.parametrize("said", ["对面楼漏水", "是楼上漏水", "对不起，我再说一遍", "嗯", "", "，。",
                                  "楼道灯坏了", "好像是吧大概", "是不是四楼", "对不对"])
def test_anything_else_is_unclear(said: str) -> None:
    assert yes_or_no(said).kind == "unclear"


def test_a_unit_said_instead_of_yes_or_no_is_kept_for_the_conversation() -> None:
    assert yes_or_no("四号楼二单元三零一").unit == "4-2-301"
    assert yes_or_no("没错，四栋二单元三零一").unit == "4-2-301"

"""The one-line summary and the caller's surname."""

from __future__ import annotations

import pytest

from callcenter.drafting.rules import DraftingRules
from callcenter.drafting.summary import caller_surname, summarize


@pytest.mark.parametrize(
    ("text", "summary"),
    [
        (
            "您好，我是四栋二单元三零一的业主，我家厨房水管爆了，水流了一地，麻烦马上派师傅过来。",
            "我家厨房水管爆了，水流了一地，马上派师傅过来",
        ),
        (
            "我要投诉，门口的保安晚上一直在岗亭里睡觉，外面的人随便进出。我是九栋一单元二零三的。",
            "门口的保安晚上一直在岗亭里睡觉，外面的人随便进出",
        ),
        ("喂，八栋一单元七零一，家里突然停电了，整栋楼都没电了。", "家里突然停电了，整栋楼都没电了"),
        ("你好，请问物业费可以在手机上交吗？谢谢。", "请问物业费可以在手机上交吗"),
        ("我有个建议，小区能不能多装几盏路灯。", "小区能不能多装几盏路灯"),
        ("喂 你好 我 是 三 栋 的 业主 电梯 里 关着 人 了", "电梯里关着人了"),
        ("你好，我在三栋楼下闻到一股煤气味，谢谢", "我在三栋楼下闻到一股煤气味"),
        ("我要投诉一下，楼道灯坏了三天了", "楼道灯坏了三天了"),
    ],
)
def test_summary_keeps_the_problem_and_drops_filler(rules: DraftingRules, text: str, summary: str) -> None:
    assert summarize(text, rules).value == summary


def test_summary_fits_the_ledger_column(rules: DraftingRules) -> None:
    text = (
        "你好，我家卫生间天花板在漏水，应该是楼上渗下来的，已经滴了一晚上了，地上全是水，"
        "楼上一直没人在家，我也联系不上他们，墙皮都开始往下掉了，你们能不能想想办法。"
    )
    result = summarize(text, rules)
    assert 0 < len(result.value) <= 40
    assert result.value.startswith("我家卫生间天花板在漏水")


def test_summary_evidence_points_into_the_transcript(rules: DraftingRules) -> None:
    text = "您好，我家 马桶 堵了，谢谢"
    result = summarize(text, rules)
    assert result.value == "我家马桶堵了"
    for evidence in result.evidence:
        assert text[evidence.start : evidence.end] == evidence.text


def test_summary_of_nothing_is_empty_and_unsure(rules: DraftingRules) -> None:
    result = summarize("", rules)
    assert result.value == ""
    assert result.confidence < 0.5


@pytest.mark.parametrize(
    ("text", "surname"),
    [
        ("您好，我姓王，住四栋二单元三零一", "王"),
        ("免贵姓欧阳，我家水管爆了", "欧阳"),
        ("你好，我是李女士，住一栋一单元一零二", "李"),
        ("我是张先生，三栋的", "张"),
        ("我叫刘洋，家里停电了", "刘"),
        ("我 姓 陈 家 里 没 电 了", "陈"),
        ("我是四栋二单元三零一的业主", None),
        ("我是业主，家里停电了", None),
        ("我家马桶堵了", None),
    ],
)
def test_caller_surname(rules: DraftingRules, text: str, surname: str | None) -> None:
    result = caller_surname(text, rules)
    assert result.value == surname
    if surname is not None:
        evidence = result.evidence[0]
        assert text[evidence.start : evidence.end] == surname

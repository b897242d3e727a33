"""Category, department and urgency with their evidence."""

from __future__ import annotations

import pytest

from callcenter.drafting.classify import classify
from callcenter.drafting.rules import DraftingRules

# (caller text, category, department, urgent)
CASES: list[tuple[str, str, str, bool]] = [
    # repairs -> 工程
    ("我家卫生间的水龙头坏了，一直关不紧", "报修", "工程", False),
    ("楼道的灯不亮了好几天了", "报修", "工程", False),
    ("我家厨房水管爆了，水流了一地", "报修", "工程", True),
    ("家里突然停电了，跳闸也推不上去", "报修", "工程", True),
    ("电梯卡在十楼了，里面关着人", "报修", "工程", True),
    ("楼上渗水下来，天花板都湿了", "报修", "工程", True),
    ("空调不制冷了，想约个师傅上门维修", "报修", "工程", False),
    ("单元门的门禁刷不开了", "报修", "工程", False),
    ("地下室进水了，水都淹到脚踝了", "报修", "工程", True),
    ("马 桶 堵 了 请 师 傅 来 修 一 下", "报修", "工程", False),
    # complaints -> the department they are about
    ("我要投诉，保安在岗亭里玩手机，外人随便进出", "投诉", "安保", False),
    ("垃圾桶三天没人清理了，臭死了，我要投诉", "投诉", "保洁", False),
    ("草坪的杂草好久没修剪了，我要投诉绿化", "投诉", "绿化", False),
    ("前台工作人员态度太差了，我要投诉", "投诉", "客服", False),
    ("楼上装修天天砸墙，吵得没法休息，我要投诉", "投诉", "客服", False),
    ("半夜还有人在楼下唱歌，太吵了，请保安去管一下", "投诉", "安保", False),
    ("我上周报修的水龙头到现在还没人来修，我要投诉", "投诉", "工程", False),
    ("我订的报纸这个月又没送到，我要投诉", "投诉", "客服", False),
    ("你们再不处理我就找媒体曝光，我要投诉", "投诉", "项目负责人", False),
    # inquiries -> 客服
    ("请问物业费可以用微信交吗", "咨询", "客服", False),
    ("想问一下装修需要办什么手续", "咨询", "客服", False),
    ("我想咨询一下停车月卡怎么办理", "咨询", "客服", False),
    ("小区游泳池什么时候开放啊", "咨询", "客服", False),
    # help -> 安保 for safety, else 客服
    ("楼道里有很大的煤气味", "求助", "安保", True),
    ("我家孩子在小区里走丢了，请帮忙找一找", "求助", "安保", True),
    ("有辆车一直占着我的车位", "求助", "安保", False),
    ("单元门口有陌生人一直转悠，有点害怕", "求助", "安保", False),
    ("楼下垃圾桶着火了，冒烟了", "求助", "安保", True),
    ("钥匙锁在家里了，能帮我联系开锁师傅吗", "求助", "客服", False),
    ("家里老人腿脚不便，想请你们帮忙搬一下东西上楼", "求助", "客服", False),
    # suggestions -> 客服
    ("我建议在每栋楼下设置快递柜", "建议", "客服", False),
    ("提个建议，小区路灯能不能多装几盏", "建议", "客服", False),
    ("希望物业能增加几个充电桩", "建议", "客服", False),
]


@pytest.mark.parametrize(("text", "category", "department", "urgent"), CASES)
def test_classification(
    rules: DraftingRules, text: str, category: str, department: str, urgent: bool
) -> None:
    result = classify(text, rules)
    assert (result.category.value, result.department.value, result.urgent.value) == (
        category,
        department,
        urgent,
    )
    for guess in (result.category, result.department, result.urgent):
        assert 0.0 <= guess.confidence <= 1.0


@pytest.mark.parametrize("text", ["", "喂？", "嗯嗯好的", "你好你好"])
def test_nothing_recognised_is_other_with_low_confidence(rules: DraftingRules, text: str) -> None:
    result = classify(text, rules)
    assert result.category.value == "其他"
    assert result.category.confidence <= 0.3
    assert result.category.evidence == ()
    assert result.department.value == "客服"


def test_evidence_spans_point_at_the_matched_words(rules: DraftingRules) -> None:
    text = "您好，我要投诉，楼道 垃圾 没人清理"
    result = classify(text, rules)
    assert result.category.value == "投诉"
    words = {e.text for e in result.category.evidence}
    assert "我要投诉" in words
    for evidence in (*result.category.evidence, *result.department.evidence):
        assert text[evidence.start : evidence.end] == evidence.text
        assert evidence.label
    # Vosk spaces inside a term stay inside the reported span.
    assert any(e.text == "没人清理" for e in result.category.evidence)


def test_urgency_evidence(rules: DraftingRules) -> None:
    text = "家里停电了"
    result = classify(text, rules)
    assert result.urgent.value is True
    assert result.urgent.evidence[0].text == "停电"
    assert result.urgent.confidence >= 0.8


@pytest.mark.parametrize(
    "text", ["现在已经不漏水了，想问下要不要检查", "没有停电，就是灯不亮", "不是漏水，是墙皮脱落"]
)
def test_negated_urgent_terms_do_not_count(rules: DraftingRules, text: str) -> None:
    assert classify(text, rules).urgent.value is False


def test_clear_call_is_surer_than_a_mixed_one(rules: DraftingRules) -> None:
    clear = classify("我要投诉，保安在岗亭睡觉", rules)
    mixed = classify("水管坏了，想问一下怎么办", rules)
    assert clear.category.confidence > mixed.category.confidence


def test_complaint_subject_only_for_complaints(rules: DraftingRules) -> None:
    assert classify("我要投诉，保安在岗亭睡觉", rules).complaint_subject.value == "安保"
    assert classify("楼道垃圾没人清理，我要投诉", rules).complaint_subject.value == "清洁"
    assert classify("我要投诉", rules).complaint_subject.value == "其它"
    assert classify("马桶堵了", rules).complaint_subject.value is None

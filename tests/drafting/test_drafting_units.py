"""Unit numbers in every way residents say or key them."""

from __future__ import annotations

import pytest

from callcenter.drafting.units import normalize_unit, parse_dtmf_unit, parse_unit, spoken_number

# (what the caller says, canonical unit)
SPOKEN_UNITS: list[tuple[str, str]] = [
    # Arabic digits with markers
    ("4栋2单元301", "4-2-301"),
    ("俺家是七号楼两门三零二 你们快来", "7-2-302"),  # 门: the northern word for an entrance
    ("十 号 楼 一 门 幺 零 二", "10-1-102"),
    ("我住4栋2单元301", "4-2-301"),
    ("4号楼2单元301室", "4-2-301"),
    ("4号楼2单元301房", "4-2-301"),
    ("4号楼2单元301号", "4-2-301"),
    ("4幢2单元301", "4-2-301"),
    ("4座2单元301", "4-2-301"),
    ("4号2单元301", "4-2-301"),
    ("12栋1单元1603", "12-1-1603"),
    ("12号楼1单元1603室，热水器坏了", "12-1-1603"),
    ("我是7号楼1单元302的", "7-1-302"),
    # dashed
    ("4-2-301", "4-2-301"),
    ("我是4-2-301的业主", "4-2-301"),
    ("地址是12-3-1502", "12-3-1502"),
    ("４－２－３０１", "4-2-301"),
    ("4 - 2 - 301", "4-2-301"),
    ("四杠二杠三零一", "4-2-301"),
    # Chinese digits, digit by digit rooms
    ("四栋二单元三零一", "4-2-301"),
    ("四号楼二单元三零一", "4-2-301"),
    ("四幢二单元三零一", "4-2-301"),
    ("四座二单元三零一", "4-2-301"),
    ("七栋一单元五零二", "7-1-502"),
    ("九号楼三单元八零四室", "9-3-804"),
    ("十栋一单元四零二", "10-1-402"),
    ("十一栋二单元五零四", "11-2-504"),
    ("二十栋三单元一零一", "20-3-101"),
    ("二十三号楼一单元二零二", "23-1-202"),
    # 两 and 幺
    ("四栋两单元三零一", "4-2-301"),
    ("两栋两单元两零两", "2-2-202"),
    ("五幢一单元幺零幺", "5-1-101"),
    ("我住幺幢幺单元幺零二", "1-1-102"),
    ("六幢两单元幺零二的", "6-2-102"),
    ("三栋一单元幺洞幺", "3-1-101"),
    # number words
    ("四栋两单元三百零一", "4-2-301"),
    ("三栋一单元五百零二", "3-1-502"),
    ("八号楼二单元七百一十一", "8-2-711"),
    ("十五号楼三单元一千五百零二", "15-3-1502"),
    ("二十栋三单元一千二百零一", "20-3-1201"),
    ("十五幢三单元两千零一", "15-3-2001"),
    ("九栋两单元十一零二", "9-2-1102"),
    # four-digit rooms digit by digit
    ("四栋二单元一五零二", "4-2-1502"),
    ("八号楼二单元幺幺零三", "8-2-1103"),
    ("二栋一单元幺五零一", "2-1-1501"),
    ("十八号楼两单元二六零八", "18-2-2608"),
    # mixed Arabic / Chinese
    ("7号楼1单元三零二", "7-1-302"),
    ("四栋2单元301", "4-2-301"),
    ("10栋二单元1101室", "10-2-1101"),
    # building and entrance apart from the room
    ("我是四栋二单元的，房间号是一五零二", "4-2-1502"),
    ("十一栋的，二单元，房间号一五零二", "11-2-1502"),
    ("我在十三号楼二单元，三零二", "13-2-302"),
    ("四栋，二单元，三零一", "4-2-301"),
    ("我住四栋的二单元，门牌是三零一", "4-2-301"),
    ("四栋二单元的三零一", "4-2-301"),
    ("四栋二单元，我家是三零一", "4-2-301"),
    # self-corrections
    ("五号楼……不对，六号楼二单元三零一", "6-2-301"),
    ("我是五号楼，哦不，六号楼二单元三零一", "6-2-301"),
    ("四栋二单元三零一，不对，三零二", "4-2-302"),
    ("四栋三单元，不对，二单元，三零一", "4-2-301"),
    ("四栋二单元三零一，不对，五栋二单元三零一", "5-2-301"),
    ("四栋二单元三零一，说错了，是四零一", "4-2-401"),
    # Vosk output with spaces between words
    ("四 栋 二 单元 三 零 一", "4-2-301"),
    ("我 是 三 号 楼 一 单元 七 零 二 的 业主", "3-1-702"),
    ("二 栋 一 单元 幺 五 零 一", "2-1-1501"),
    ("十 五 栋 二 单元 一 零 三", "15-2-103"),
    ("四 号 楼 两 单元 三 百 零 一", "4-2-301"),
    # unit inside a longer sentence, with numbers around it
    ("我是四栋二单元三零一的业主，我家厨房水管爆了", "4-2-301"),
    ("电梯卡在六楼不动了，我是三栋三单元八零一的", "3-3-801"),
    ("比上个月多了两百块，我是三栋三单元二零二", "3-3-202"),
    ("下午三点以后在家，我住五栋一单元六零二", "5-1-602"),
    ("我是五栋二单元一零一，电话13800138000", "5-2-101"),
]

# Text with numbers that are not units: times, prices, phones, floors, dates, counts.
NOT_UNITS: list[str] = [
    "家里冰箱是三门的，二零二三年买的",  # a three-door fridge is no entrance
    "下午三点",
    "13800138000",
    "三百块",
    "电梯卡在六楼不动了",
    "物业费一年三千六百元",
    "2024-11-23",
    "我家孩子六岁",
    "我们单元门口的垃圾已经两天没人清理了",
    "整栋楼都没电了",
    "晚上十二点了楼下还有人在唱歌",
    "我打了三次电话",
    "一百二十平米的房子",
    "三号线地铁站",
    "三楼三零一",
    "四栋二单元",
    "二单元三零一",
    "010-1234-5678",
    "三点四十五分",
    "你们的电话是四零零八八八一二三四",
    "四栋二单元，一百二十平米的房子",
    "四栋二单元，交了三百二十块",
    "四栋二单元，电话13800138000",
    "四栋二单元，明天上午十点半来",
    "",
]


@pytest.mark.parametrize(("said", "unit"), SPOKEN_UNITS)
def test_spoken_unit_is_parsed(said: str, unit: str) -> None:
    found = parse_unit(said)
    assert found is not None, said
    assert found.unit == unit
    assert 0.0 < found.confidence <= 1.0


@pytest.mark.parametrize("said", NOT_UNITS)
def test_numbers_that_are_not_units_give_none(said: str) -> None:
    assert parse_unit(said) is None


def test_enough_phrasings() -> None:
    assert len(SPOKEN_UNITS) >= 60


@pytest.mark.parametrize(
    ("said", "words"),
    [
        ("我是四栋二单元三零一的业主", "四栋二单元三零一"),
        ("我住4号楼2单元301室，谢谢", "4号楼2单元301室"),
        ("我是 四 栋 二 单元 三 零 一 的", "四 栋 二 单元 三 零 一"),
        ("地址是4-2-301", "4-2-301"),
    ],
)
def test_span_points_at_the_words_in_the_given_text(said: str, words: str) -> None:
    found = parse_unit(said)
    assert found is not None
    assert said[found.start : found.end] == words


def test_corrected_unit_is_less_sure_than_a_plain_one() -> None:
    plain = parse_unit("六号楼二单元三零一")
    corrected = parse_unit("五号楼……不对，六号楼二单元三零一")
    assert plain is not None and corrected is not None
    assert corrected.confidence < plain.confidence


def test_building_and_room_without_entrance_is_partial_and_unsure() -> None:
    found = parse_unit("我住5号楼1102")
    assert found is not None
    assert found.unit == "5-1102"
    assert found.confidence <= 0.5


def test_first_unit_wins_without_a_correction() -> None:
    found = parse_unit("我是四栋二单元三零一的，楼上四栋二单元四零一在漏水")
    assert found is not None and found.unit == "4-2-301"


@pytest.mark.parametrize(
    ("keyed", "unit"),
    [
        ("4*2*301#", "4-2-301"),
        ("4*2*301", "4-2-301"),
        ("12*1*1603#", "12-1-1603"),
        (" 15*3*1502# ", "15-3-1502"),
        ("4#2#301#", "4-2-301"),
    ],
)
def test_dtmf_unit(keyed: str, unit: str) -> None:
    assert parse_dtmf_unit(keyed) == unit


@pytest.mark.parametrize(
    "keyed", ["", "#", "42301#", "4*2#", "4*2*3*4#", "4*2*300#", "4*0*301#", "a*2*301#", "0*2*301#"]
)
def test_bad_dtmf_gives_none(keyed: str) -> None:
    assert parse_dtmf_unit(keyed) is None


@pytest.mark.parametrize(
    ("typed", "unit"),
    [
        ("4-2-301", "4-2-301"),
        ("4 2 301", "4-2-301"),
        ("4/2/301", "4-2-301"),
        ("4.2.301", "4-2-301"),
        ("４－２－３０１", "4-2-301"),
        ("4栋2单元301室", "4-2-301"),
        ("四栋二单元三零一", "4-2-301"),
        ("4*2*301#", "4-2-301"),
        ("  12-1-1603 ", "12-1-1603"),
    ],
)
def test_normalize_what_a_clerk_types(typed: str, unit: str) -> None:
    assert normalize_unit(typed) == unit


@pytest.mark.parametrize("typed", ["", "301", "四栋", "4-2", "hello"])
def test_normalize_rejects_incomplete_input(typed: str) -> None:
    assert normalize_unit(typed) is None


@pytest.mark.parametrize(
    ("words", "value"),
    [
        ("301", 301),
        ("三零一", 301),
        ("三百零一", 301),
        ("幺五零二", 1502),
        ("一千五百零二", 1502),
        ("两千零一", 2001),
        ("十一零二", 1102),
        ("十五", 15),
        ("二十三", 23),
        ("洞", 0),
    ],
)
def test_spoken_number(words: str, value: int) -> None:
    assert spoken_number(words) == value

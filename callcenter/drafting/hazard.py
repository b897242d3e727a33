"""Urgent hazards (信息性质: 重要) in what a caller says, recall first.

`detect_hazard(text)` is a fast pure function, safe to call on the partial transcript every
turn: it names the hazard class (which picks the safety prompt and the duty roster) and the
words behind it, or None. The table below is the readable knowledge; the context checks
drop a trigger that is negated ("没有漏气", "不是着火"), hypothetical ("担心哪天着火"),
past ("上个月着火那户"), resolved ("已经修好了"), planned ("明天是不是停电") or minor
("水龙头有点滴水，不急"). Everything runs on the normalised text (spaces removed, known ASR
confusions fixed), so "燃起 味" and "电题 关 人" are found as 燃气味 and 电梯关人.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .fields import Evidence
from .normalize import normalized

HAZARDS: tuple[str, ...] = (
    "gas", "fire", "water", "lift", "injury", "electric", "falling", "crime", "power", "locked_in", "missing",
)  # fmt: skip
# Which hazards are people's safety (求助 → 安保) and which are facilities (报修 → 工程): LABELS.md.
SAFETY_HAZARDS = frozenset({"gas", "fire", "crime", "injury", "missing", "locked_in"})
HAZARD_NAMES = {
    "gas": "燃气泄漏", "fire": "火情", "water": "跑水漏水", "lift": "电梯困人", "injury": "人员受伤",
    "electric": "漏电打火", "falling": "高空坠物", "crime": "治安案件", "power": "突然停电",
    "locked_in": "人员被锁", "missing": "人员走失",
}  # fmt: skip


def hazard_route(hazard: str) -> tuple[str, str]:
    """(category, department) the labelling conventions give a call about this hazard."""
    return ("求助", "安保") if hazard in SAFETY_HAZARDS else ("报修", "工程")


def _gap(n: int) -> str:
    # A gap between the parts of a trigger: never across a negation or a clause boundary,
    # so "燃气没有漏" and "燃气费。楼道有味" do not match 燃气…漏/味.
    return f"[^没不无别未，。！？；,.!?;…]{{0,{n}}}"


_PERSON = "(?:人|孩子|小孩|小孩子|娃|儿子|女儿|孙子|孙女|宝宝|老人|老太太|老太|老头|老爷子|大爷|大妈|阿姨|奶奶|爷爷|姥姥|姥爷|外婆|外公|我爸|我妈|老妈|老爸|老伴|我老婆|我老公|婆婆|公公|男孩|女孩|学生|孕妇|小哥|岁)"  # noqa: E501
_ELDER_OR_CHILD = "(?:孩子|小孩|娃|儿子|女儿|孙子|孙女|宝宝|老人|老太太|老太|老头|老爷子|大爷|奶奶|爷爷|姥姥|姥爷|外婆|外公|我爸|我妈|老妈|老爸|老伴|老两口|婆婆|公公|男孩|女孩|岁)"  # noqa: E501
_GASWORD = "(?:煤气|燃气|天然气|液化气|煤气罐|气罐)"
_DEVICE = "(?:插座|开关|电线|线头|线路|配电箱|电箱|电表箱|电表|电闸|充电桩|漏保|空开|空气开关|灯座|灯头|电源|电路)"
_LIFT = "(?:电梯|货梯|梯子里|轿厢)"


@dataclass(frozen=True)
class _Trigger:
    hazard: str
    pattern: re.Pattern[str]
    confidence: float
    # Cuts announced in advance are inquiries ("明天停电吗"), not emergencies.
    plannable: bool = False
    # "不急", "有点滴水": a facility fault the caller calls minor is not an emergency.
    minor_applies: bool = False
    # "快掉了，怕砸到人" is about to happen: fear words do not make it hypothetical.
    fear_is_real: bool = False
    # A match whose own words, or the few words before it, say it is something else
    # ("孩子把钥匙弄丢了", "信箱被人撬了", "喷头往路上喷水").
    exclude: re.Pattern[str] | None = None


def _t(hazard: str, pattern: str, confidence: float = 0.95, *, exclude: str | None = None, **kw: bool) -> _Trigger:
    return _Trigger(hazard, re.compile(pattern), confidence, exclude=re.compile(exclude) if exclude else None, **kw)


def _span(n: int) -> str:
    # A wider gap that may cross a clause boundary ("电梯卡住了，她在里面"), never a negation.
    return f"(?:[^没不无别未]|不(?=动|了|行|停|开|见)){{0,{n}}}"


G3, G6, G10, G16 = _gap(3), _gap(6), _gap(10), _gap(16)
X6, X12, X20, X30 = _span(6), _span(12), _span(20), _span(30)

# The trigger table. Where two triggers overlap, the longer match wins ("插座冒烟" is an
# electric fault, not a fire); otherwise the class listed first.
TRIGGERS: tuple[_Trigger, ...] = (
    # electric before fire: a socket or wire smoking or sparking is the electrician's job first
    _t("electric", rf"{_DEVICE}{G6}(冒烟|冒火|起火|着火|烧着|烧起来|烧焦|烧了|打火|火花|火星|火光|噼啪|噼里啪啦|冒黑烟)"),
    _t("electric", r"触电|电到人|电人|被电(了|到|一下|麻)|电麻|麻手|漏电(?!保护|开关)|冒火花|打火花|火花|冒火星|火星子|冒火光|打火(?!机)"),
    _t("electric", rf"(电线|线头|铜丝|电缆){G10}(露|裸|破皮|断|垮|掉|耷拉|垂)|(露|裸)着?{G3}(电线|线头|铜丝)"),
    _t("fire", r"着火|起火|失火|火灾|烧起来|烧着了|着起来|火着了|火苗|明火|火势|冒黑烟|浓烟|全是烟(?!头|味)|都是烟(?!头|味)|烟很大|好大的烟|往外冒烟|冒烟|焦糊|糊味|烧焦味|烧塑料|呛人的烟|火烧"),  # noqa: E501
    _t("gas", rf"{_GASWORD}{X6}(漏|泄)|{_GASWORD}{G10}(味|嘶|呲|冲|臭)|(味|味道|味儿){X12}{_GASWORD}|漏气|跑气|泄漏|臭鸡蛋味|气{G3}漏了|{_GASWORD}.{{0,4}}没关(?!系)"),
    _t("lift", rf"{_LIFT}{X30}(困|关着|关了|关住|卡着人|出不来|出不去|在里面|在里头|里面有|里头有|拍门|扒不开|门开不了|门打不开|开不了门|被关|按警铃|紧急按钮|哭着)"),  # noqa: E501
    _t("lift", rf"在{_LIFT}里{X12}(出不来|出不去|开不了|打不开|扒不开|不动|停|卡|困|救|快来|赶紧|警铃)"),
    _t("lift", rf"(困|关|卡|被关|被困|困住)在?{G3}{_LIFT}|困人|关人|关着人|关了{G3}人|人{G3}卡{G3}(里头|里面)"),
    _t("locked_in", rf"{_ELDER_OR_CHILD}{X20}(反锁|锁在|被锁|锁里|锁车里|关在|关车里|困在|出不来|门打不开|打不开门|开不了门|锁屋里|锁家里|锁(在)?(卫生间|屋|房间|家|车|阳台)里?)"),  # noqa: E501
    _t("locked_in", rf"(反锁|锁在|被锁|锁了|关在|关着|困在){X20}{_ELDER_OR_CHILD}|(车里|屋里|家里|阳台|卫生间){G3}(关着|锁着|困着){G3}{_ELDER_OR_CHILD}|把自己{G3}锁"),  # noqa: E501
    _t("injury", rf"晕倒|昏倒|晕过去|昏过去|昏迷|(?<!叫都)叫不醒|不省人事|倒地|倒在地|摔倒|摔了|摔下来|摔下去|摔伤|跌倒|起不来|爬不起来|站不起来|流血|出血|骨折|(胳膊|腿|骨头|手臂|手腕){G3}断了|受伤|撞了|撞倒|急救|救护车|(?<![0-9])120(?![0-9])|救命"),  # noqa: E501
    _t("injury", rf"{_PERSON}{G3}从{G10}(掉|摔|跌|滚)下来|躺(在)?地上|"),
    _t("injury", rf"(独居|一个人住|自己住|一个人在家|孤寡|空巢){X20}(敲门不应|没人应|不应|不接|没人接|没动静|没见|联系不上|不开门|没出来)|{_ELDER_OR_CHILD}{G16}(敲门不应|敲门没人|没人应|不应|不接|没人接|没动静|没见.{0,3}出来|联系不上)", 0.9),  # noqa: E501
    _t("missing", rf"{_ELDER_OR_CHILD}{X30}(走丢|走失|丢了|找不到|找不着|寻勿着|不见了|没回来|没回家|没到家|联系不上|找遍|没找到)|走丢|走失|人不见了|人找不到|寻勿着", exclude="钥匙|卡|手机|包|证|东西|快递"),  # noqa: E501
    _t("missing", r"阿尔茨海默|老年痴呆|痴呆|脑子不清楚|记不清路|认不得路|不认得路|糊里糊涂", 0.85),  # noqa: E501
    _t("crime", r"撬|小偷|偷东西|在偷|被偷|偷了|被盗|盗窃|入室|抢劫|抢了|打架|打起来|打人|动手了|拿刀|持刀|砍人|踹.{0,4}门|砸.{0,4}门|砸车|翻进|翻墙进|闯进|拉车门|被人动过|跟踪|耍流氓|猥亵|非礼", exclude="(信箱|信报箱|邮箱|报箱|奶箱).{0,6}$"),  # noqa: E501
    _t("falling", r"掉下来|掉下去|往下掉|快掉|要掉|随时.{0,4}掉|坠落|坠下|砸下来|砸到|砸着|砸在|砸中|塌了|塌下来|塌陷|坍塌|倒塌|要倒|快倒|往外歪|往下扔|往下丢|高空抛物|吊在外面|歪着挂|挂在那.{0,3}晃|晃悠|摇摇晃晃|被风(刮|吹)(翻|松|掉|歪|跑)", fear_is_real=True),  # noqa: E501
    _t("water", r"爆了|爆管|爆裂|爆开|爆脱|(水管|管子|管道|阀门|角阀|接头|水表|暖气片?){G6}(爆|裂|崩|断|掉了|脱)|崩开|崩了|喷水|往外喷|水.{0,3}喷得|喷得到处|往外呲|呲水|往外冒|冒水|冒出来|往外涌|往上冒|往上翻|往上顶|倒灌|返水|反水|返污水|水止不住|止不住|关不住|哗哗(?!地?响)|往下流|往下淌|往下滴|顺着.{0,8}(流|淌|滴|冲)|往下冲|淹了|水淹|漫到|漫了|漫出|进水(?!口|管|阀)|积水|漏水|渗水|渗漏|渗下来|滴水|漏到|漏雨|往下漏|在漏|还在漏|接满", minor_applies=True, exclude="(喷头|喷灌|洒水|浇水|浇花).{0,14}$"),  # noqa: E501
    _t("power", rf"停电|断电|没电(?!钻|池|梯|瓶|脑|话|视|费)|没有电(?!梯|钻|池)|(?<!灯)全黑|都黑了|(开关|闸|空开){G6}推不上去", 0.9, plannable=True, minor_applies=True),  # noqa: E501
)

# Context around a trigger that takes it back (checked on the normalised text).
_NEGATION_BEFORE = ("没有", "没", "没人", "不", "不是", "并没", "并不是", "不会", "别", "未", "无", "不用", "不像")
_HYPOTHETICAL = re.compile(
    "担心|怕|万一|如果|要是|假如|假设|会不会|容易|迟早|哪天|以后|将来|防止|预防|以防|隐患|小心|演练|演习|以为|"
    "当成|还以为|想问|问问|能不能|怎么防|注意|(?<!消)防(?!盗|水|护|滑|晒|尘|蚊|撞|火门|锈|腐|臭)|差点|"
    "下雨的时候|一下雨|下雨天|建议"
)
_PAST = re.compile(
    "上个月|上月|上周|上礼拜|上星期|上次|上回|去年|前年|以前|之前|前几天|前阵子|前段时间|那次|当时|年前|"
    "昨天|昨晚|前天|上半年|那会儿|那回|那天|天天|每天|经常|老是|总是"
)
_PRESENT = re.compile("现在|刚才|刚刚|正在|还在|又|今天|突然|一直|马上|快来|快点|赶紧|此刻|这会儿|立刻")
_RESOLVED_AFTER = re.compile(
    r"^.{0,4}(已经|早就|早)?(修好|好了|恢复了?|来电了|解决了|灭了|处理好|处理完|没事了|没了|消了|散了)"
)
_PLANNED_BEFORE = re.compile(
    "明天|后天|下周|下礼拜|下星期|下个月|周[一二三四五六日末]|星期|礼拜[一二三四五六天日]|几号|今晚|计划|检修|"
    "通知|要|会|将|几点|什么时候|多久"
)
_MINOR = re.compile("不急|不着急|不碍事|有点滴|一两滴|滴滴答答|滴答|慢慢|一点点|关不紧|关不严|现在.{0,2}干|没在滴|不下了|不下雨")
# After a trigger: a hypothetical question ("真困人了咋办"), a topic named rather than happening
# ("停电的事我要投诉"), an announcement ("停水停电的通知").
_AFTER_NOT_NOW = re.compile(r"^了?.{0,2}(咋办|怎么办|咋整|怎么整|可咋|的事|那事|那件事)")
_PLANNED_AFTER = re.compile(r"^的?通知")
# A thank-you or a follow-up about an event that is over: nothing in it is happening now.
_GRATITUDE = re.compile("锦旗|表扬|感谢|谢谢你们|谢谢啊|多谢")
_FOLLOW_UP = re.compile("没下文|没有下文|没回音|有消息没|怎么样了|处理结果|查到了吗|查得怎么样")
# A lift that stopped with nobody inside is a repair, not a rescue.
_LIFT_EMPTY = re.compile("里面没人|里头没人|没人被困|没困人|没关人|没有人被困|没有困人|已经出来|放出来了")
_ANY_PAST = re.compile("上次|上回|那天|那次|昨天|前天|上个月|上周|上礼拜|去年|当时")
_NOT_HOME_POWER = re.compile(
    f"(烟感|电池|遥控|门锁|指纹锁|电瓶|手机|电动车|充电桩|插座|电卡|卡里|燃气表|水表|门铃|对讲|灯|{_DEVICE}).{{0,6}}$"
)
_CLAUSE = re.compile("[，。！？；,.!?;…]")
_FEAR = ("怕", "担心")


@dataclass(frozen=True)
class HazardMatch:
    """An urgent hazard found in a transcript: its class and the words that show it."""

    hazard: str
    evidence: Evidence
    confidence: float

    @property
    def name(self) -> str:
        """Chinese name of the class, for the panel and the notices."""
        return HAZARD_NAMES[self.hazard]

    @property
    def route(self) -> tuple[str, str]:
        return hazard_route(self.hazard)


def _clause_start(text: str, position: int) -> int:
    for index in range(position - 1, -1, -1):
        if _CLAUSE.match(text[index]):
            return index + 1
    return 0


def _suppressed(trigger: _Trigger, text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 4) : start]
    if any(before.endswith(word) for word in _NEGATION_BEFORE):
        return True
    clause_start = _clause_start(text, start)
    near = text[max(clause_start, start - 12) : start]
    hypothetical = _HYPOTHETICAL.search(near)
    if (hypothetical and not (trigger.fear_is_real and hypothetical.group(0) in _FEAR)) or near.endswith("会"):
        return True
    if trigger.exclude is not None and trigger.exclude.search(text[max(0, start - 16) : end]):
        return True
    after = text[end : end + 12]
    if _RESOLVED_AFTER.match(after) or _AFTER_NOT_NOW.match(after):
        return True
    if _FOLLOW_UP.search(text) or (_GRATITUDE.search(text) and _ANY_PAST.search(text)):
        return True
    clause = text[max(clause_start, start - 16) : end + 4]
    if _PAST.search(text[max(clause_start, start - 16) : start]) and not _PRESENT.search(clause):
        return True
    if trigger.hazard == "lift" and _LIFT_EMPTY.search(text):
        return True
    if trigger.plannable and (
        _PLANNED_BEFORE.search(text[max(clause_start, start - 10) : start]) or _PLANNED_AFTER.match(after)
    ):
        return True
    if trigger.hazard == "power" and _NOT_HOME_POWER.search(text[max(0, start - 8) : start]):
        return True
    return trigger.minor_applies and _MINOR.search(text) is not None


def detect_hazard(text: str) -> HazardMatch | None:
    """The most specific urgent hazard in `text` (a transcript, final or partial), or None."""
    if not text:
        return None
    compact = normalized(text)
    found: list[tuple[int, int, int, _Trigger]] = []  # (start, end, table order, trigger)
    for order, trigger in enumerate(TRIGGERS):
        for match in trigger.pattern.finditer(compact.text):
            start, end = match.span()
            if end > start and not _suppressed(trigger, compact.text, start, end):
                found.append((start, end, order, trigger))
                break  # the first live match of a trigger is enough
    if not found:
        return None
    # A match inside a longer one of another class is that class's ("插座冒烟" ⊃ "冒烟").
    kept = [
        f for f in found
        if not any(o is not f and o[0] <= f[0] and f[1] <= o[1] and (o[1] - o[0]) > (f[1] - f[0]) for o in found)
    ]  # fmt: skip
    start, end, _order, trigger = min(kept, key=lambda f: (f[2], f[0]))
    hazard = trigger.hazard
    if hazard == "locked_in" and "梯" in compact.text[start:end]:
        hazard = "lift"  # "儿子在电梯里出不来": shut in a lift is the lift engineers' rescue
    return HazardMatch(hazard, compact.evidence(start, end, f"hazard:{hazard}"), trigger.confidence)

"""A caller's spoken answer to the unit read-back 「您的房号是…，对吗？」.

`readback_answer(said, unit)` says whether the caller confirmed `unit` ('yes'), said it is wrong
('no', with the right unit when the answer names one) or neither ('unclear': the conversation then
keeps the drafted unit unconfirmed, and the clerk checks it). Callers answer in many ways:
对/是的/没错/嗯 and dialect forms (对头、是嘞、中、系呀、冇错), a yes followed by the problem again
(「对对对我家水管爆了」), double negatives (没错、错不了、没有不对), a negation anywhere
(「单元不对」「你记错了」), a rhetorical no (「对什么对」「哪是啊」), or just another unit or part
of one (「是三零二」「不是四栋是五栋」). A wrong yes would confirm a wrong unit, so a question back
(「对不对」「是不是三零一啊」), a yes word that starts another word (对面、对了…、对不起) and bare
是 before other words (「是楼上漏水」) are never a yes. The recognizer gives no punctuation and
Vosk puts spaces between words; both are ignored, and its common homophones (队 for 对,
是得 for 是的) are read as meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .text import CompactText
from .units import _NUM, parse_unit, spoken_number

# The word lists live here, not in the conversation (calls/flow.py). Order does not matter: the
# longest match wins.
YES_WORDS = ("对", "对的", "对对", "是的", "是啊", "是呀", "没错", "没问题", "正确", "就是", "对头", "好的",
             "可以", "确认", "无误", "对咯", "对撒", "对滴", "是滴", "是嘞", "对嘞", "系呀", "系啊", "系",
             "中", "得嘞", "嗯哪", "嗯呐", "没毛病", "对着呢", "就这", "就是这", "是这个", "是我家", "要得",
             "ok", "OK", "yes", "Yes")
# Said alone, these are a yes on the phone; before other words they are hesitation (「嗯我想想」).
ALONE_YES = re.compile(r"(嗯|是|对)+|嗯[呐哪]")
ALONE_NO = re.compile(r"不+|否|no|No")
# Double negatives and fixed phrases that mean yes: replaced by 对 before negations are looked for.
MEANS_YES = ("没有不对", "不是不对", "没错", "没有错", "没得错", "冇错", "不会错", "错不了", "没说错", "没搞错",
             "没记错", "没有问题", "一点没错", "可不咋的", "可不是", "说得对", "说的对", "说得队", "说的队")
NO_MARKERS = ("不对", "不是", "错", "不正确", "有误", "不中", "唔系", "唔啱", "对不上", "没对上", "没有对上",
              "反了", "隔壁", "不太对", "搞混")
# Phrases holding a no or yes word that are neither: dropped before the answer is read.
NEUTRAL = ("对不起", "不好意思", "不用", "不知道", "不清楚", "没听清", "不要紧", "不是别的", "打错", "拨错")
# A yes word that begins another word is no yes: 对面楼、对门、对了（by the way）、对于、是这样的.
NOT_YES_AFTER = {"对": ("面", "门", "了", "于", "方", "岸", "讲"), "是": ("这样", "那样", "不是")}
# Questions about the unit; 「什么时候来」 asks about the service, not the unit. 「不对不对」「不是不是」
# hold 对不对/是不是 but are a no said twice.
QUESTIONS = re.compile(r"(?<!不)对不对|(?<!不)是不是|对吗|是吗|吗$|什么(?!时候)|啥(?!时候)|咋|哪个|几栋|几单元")
# 「对什么对」「对啥对」「哪对啊」「哪是啊」: a rhetorical question, meaning no.
RHETORICAL_NO = re.compile(r"(对|是)(什么|啥)\1|哪(里|儿)?(对|是|有)|(咋|怎么)(能|会)是")
FILLERS = ("嗯", "呃", "额", "啊", "哦", "噢", "喔", "哎", "哎呀", "那个", "就是说", "这个", "我说", "你好")
HOMOPHONES = (("队", "对"), ("兑", "对"), ("是得", "是的"), ("事的", "是的"), ("对得", "对的"), ("冻", "栋"), ("儿单元", "二单元"),
              ("领", "零"))
# Dashes stay: 4-2-301 is a unit.
_PUNCTUATION = re.compile(r"[，,。.！!？?、；;：:…~\"'“”‘’]+")
# Vosk writes 是 alone as a word when the caller said just that: 「是 你们师傅什么时候到」.
_SHI_ALONE = re.compile(r"(^|\s)是(?=\s)")
_PART = re.compile(rf"(?P<n>{_NUM}{{1,4}})(?P<kind>号楼|号栋|栋|幢|座|单元|室|号|楼|层)?(?P<door>{_NUM}{{2}}(?!{_NUM}))?")


@dataclass(frozen=True)
class Answer:
    """'yes', 'no' or 'unclear'; `unit` the unit named in the answer ("4-2-301"), if any."""

    kind: Literal["yes", "no", "unclear"]
    unit: str | None = None


def _clean(said: str) -> str:
    text = _PUNCTUATION.sub("", CompactText.of(_SHI_ALONE.sub(r"\1是的", said)).text)
    for heard, meant in HOMOPHONES:
        text = text.replace(heard, meant)
    return text


def _without(text: str, phrases: tuple[str, ...], by: str = "") -> str:
    for phrase in sorted(phrases, key=len, reverse=True):
        text = text.replace(phrase, by)
    return text


def _strip_fillers(text: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for word in sorted(FILLERS, key=len, reverse=True):
            if text.startswith(word) and len(text) > len(word):
                text, stripped = text[len(word):], True
    return text


def _has_yes(text: str) -> bool:
    """A yes word that is not the start of another word (对面, 对了…)."""
    for word in sorted(YES_WORDS, key=len, reverse=True):
        at = text.find(word)
        while at >= 0:
            rest = text[at + len(word):]
            if not any(rest.startswith(w) for w in NOT_YES_AFTER.get(word, ())) and not (
                    word == "对" and rest.startswith("了") and rest[1:]):
                return True
            at = text.find(word, at + 1)
    return False


def _starts_with_bare_shi(text: str) -> bool:
    """「是楼上漏水」: 是 as a copula before other words is no yes."""
    return text.startswith("是") and not any(text.startswith(w) for w in YES_WORDS if w.startswith("是"))


# A unit after a neighbour word is the neighbour's (「楼上六零二漏水」「隔壁五零一」), not a correction.
_NEIGHBOUR = re.compile(rf"(?:楼上|楼下|隔壁|对门|邻居家?|对面)(?:的|那家|家)?{_NUM}{{1,4}}(?:号楼|栋|单元|室|号)?")


def _named_parts(text: str) -> dict[str, int]:
    """Building, entrance and room the caller names, alone or together (「五栋」「三零二」); a part
    named twice is the later one (「三零一是我邻居，我是三零二」)."""
    parts: dict[str, int] = {}
    for match in _PART.finditer(text):
        value = spoken_number(match.group("n"))
        kind = match.group("kind") or ""
        if value is None:
            continue
        if kind in ("楼", "层") and value <= 99:
            door = spoken_number(match.group("door") or "")
            if door is not None and 1 <= door <= 99:  # 「五楼零三」「五层零一」: floor and door
                parts["room"] = value * 100 + door
            else:  # 「我住三楼」: only the floor
                parts["floor"] = value
        elif kind in ("号楼", "号栋", "栋", "幢", "座") or kind == "号" and len(match.group("n")) <= 2:
            parts["building"] = value
        elif kind == "单元":
            parts["entrance"] = value
        elif len(match.group("n")) >= 3 and 101 <= value <= 9999 and value % 100:
            parts["room"] = value
    return parts


def _unit_said(text: str, unit: str) -> tuple[str | None, bool]:
    """(the unit the caller's words point at, whether it differs from `unit`). A whole unit is
    taken as said, and parts named after it correct it; a part alone (「是三零二」) replaces that
    part of `unit`; a part said with 不是 before it is the one the caller rejects."""
    pieces = unit.split("-")
    if len(pieces) != 3 or not all(p.isdigit() for p in pieces):
        whole = parse_unit(text)
        return (whole.unit, whole.unit != unit) if whole is not None else (None, False)
    if re.sub(r"\D", "", "".join(str(spoken_number(c) if c not in "0123456789" and spoken_number(c) is not None
                                    else c) for c in text)) == "".join(pieces):
        return unit, False  # 「四 二 三零一」「4-2-301」: the read-back digits, said again
    read = {"building": int(pieces[0]), "entrance": int(pieces[1]), "room": int(pieces[2]),
            "floor": int(pieces[2]) // 100}
    said: dict[str, int] = {}
    whole = parse_unit(text)
    if whole is not None and whole.unit.count("-") == 2:
        said = dict(zip(("building", "entrance", "room"), (int(p) for p in whole.unit.split("-")), strict=True))
        text = text[whole.end:] if whole.end <= len(text) else ""
    negated = tuple("不是" + part for part in _part_words(text))  # 「是三零二不是三零一」: 302 is meant
    said.update(_named_parts(_without(text, negated)))
    if not said:
        return None, False
    changed = {k: v for k, v in said.items() if read[k] != v}
    if not changed:
        # the read-back said again; only with its room is it a confirmation by itself
        return (unit if "room" in said else None), False
    if "floor" in changed and "room" not in changed:
        return None, True  # 「我住三楼」: not the unit read back, but which one is not said
    corrected = {**read, **changed}
    return f"{corrected['building']}-{corrected['entrance']}-{corrected['room']}", True


def _rejected_others(text: str, unit: str) -> tuple[str, ...]:
    """「对，不是四零一，是三零一」: 不是 before a part other than the read-back's is no 'no' to it."""
    read = dict(zip(("building", "entrance", "room"), unit.split("-"), strict=False))
    rejected = []
    for part in _part_words(text):
        named = _named_parts(part)
        if named and all(str(v) != read.get(k) for k, v in named.items()):
            rejected.append("不是" + part)
    return tuple(rejected)


def _part_words(text: str) -> list[str]:
    """The unit parts named in `text` as said (「四栋」「三零一」)."""
    return [m.group(0) for m in _PART.finditer(text)]


def readback_answer(said: str, unit: str | None = None) -> Answer:
    """What the caller answered to 「您的房号是<unit>，对吗？」 (see the module's docstring)."""
    text = _clean(said)
    if ALONE_YES.fullmatch(text):
        return Answer("yes", unit)
    if ALONE_NO.fullmatch(text):
        return Answer("no")
    text = _NEIGHBOUR.sub("邻", _strip_fillers(text))
    if not text or text in FILLERS:
        return Answer("unclear")
    plain = _without(_without(text, NEUTRAL), MEANS_YES, by="对")
    if unit:
        other, differs = _unit_said(text, unit)
        plain = _without(plain, _rejected_others(text, unit))
    else:
        whole = parse_unit(text)
        other, differs = (whole.unit if whole is not None else None), False
    if RHETORICAL_NO.search(plain) or differs:
        return Answer("no", other if differs or not unit else None)
    asked = list(QUESTIONS.finditer(plain))
    if asked:
        # 「你说啥…对对是的」: a yes after the caller's last question answers; else it stays a question
        plain = plain[asked[-1].end():]
        if not _has_yes(plain) or any(marker in plain for marker in NO_MARKERS):
            return Answer("unclear", other)
    if any(marker in plain for marker in NO_MARKERS):
        return Answer("no", other if not unit else None)
    if other is not None and unit and other == unit:
        return Answer("yes", unit)  # the read-back unit said again, or a part of it
    if _has_yes(plain) and not _starts_with_bare_shi(_strip_fillers(plain)):
        return Answer("yes", unit or other)
    return Answer("unclear", other)


def yes_or_no(said: str) -> Answer:
    """The answer without a read-back unit to compare with (a unit named is returned as said)."""
    return readback_answer(said)

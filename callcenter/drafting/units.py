"""Unit numbers (building-entrance-room, e.g. `4-2-301`) from what residents say or key in.

Callers say 4栋2单元301, 四号楼二单元三零一, 四栋两单元三百零一, 4-2-301, with 幺 for 1,
rooms digit by digit or as number words, building and entrance apart from the room,
and self-corrections ("五号楼……不对，六号楼"). Times, prices and phone numbers carry
no building/entrance marker and so never parse as a unit.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .text import CompactText

# Characters a spoken or typed number is made of (洞 and 幺 are the radio-style 0 and 1).
_NUM = "[0-9零〇一二两三四五六七八九十百千幺洞]"
_DIGIT_OF = {
    "零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3",
    "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
}  # fmt: skip

# 号/楼 name a building only right before an entrance ("4号2单元"); alone they are a floor or a date.
_BUILDING = re.compile(
    rf"(?P<n>{_NUM}{{1,4}})(?:号楼|号栋|号幢|号座|栋|幢|座|(?:号|楼)(?=[，,的]?{_NUM}{{1,3}}单元))"
)
# In the north an entrance is also a 门 ("二号楼两门四零一"): only with a room right after it.
_ENTRANCE = re.compile(rf"(?P<n>{_NUM}{{1,3}})(?:单元|门(?=[的，, ]?{_NUM}{{2,8}}))")
# A room: a number not followed by a word that makes it a floor, time, price, age, count...
# The number is possessive ({2,8}+) so a longer number is never read in part (一百二十平米 is no room 120).
_ROOM = re.compile(
    rf"(?P<n>{_NUM}{{2,8}}+)(?P<suffix>室|房间|房|号(?!楼|栋|幢|线|门|院))?"
    r"(?!楼|层|点|块|元|分|岁|天|个|次|年|月|日|号楼|栋|幢|单元|毛|平|度|斤|米|多|几|来|周|小时|辆|位|户|间|套|期|路|万|千|百|人)"
)
_DASHED = re.compile(
    rf"(?<![0-9])(?P<b>{_NUM}{{1,3}})\s*(?:-|杠|—|–|~|/)\s*(?P<e>{_NUM}{{1,2}})\s*(?:-|杠|—|–|~|/)\s*(?P<r>{_NUM}{{3,8}})(?![0-9])"
)
_FLOOR_WORD_DOOR_DIGITS = re.compile(
    r"^([一二三四五六七八九]?十[一二三四五六七八九]?)([零一二三四五六七八九]{2})$"
)
_CORRECTION = re.compile(r"不对|不是|说错了|错了|哦不|噢不|应该是|更正一下|搞错了")
_GAP_MAX = 10  # characters allowed between the entrance and the room ("二单元的，房间号是三零一")
_BUILDING_GAP_MAX = 14  # characters allowed between the building and the entrance
_CLERK_SPLIT = re.compile(r"^\s*(\S+?)\s*[\s\-/*#.、，,]\s*(\S+?)\s*[\s\-/*#.、，,]\s*(\S+?)\s*$")


@dataclass(frozen=True)
class UnitMatch:
    """A unit found in text: canonical form and its span in the text as given."""

    unit: str
    start: int
    end: int
    confidence: float


@dataclass(frozen=True)
class _Part:
    value: int
    start: int
    end: int


@dataclass(frozen=True)
class _Candidate:
    building: _Part | None
    entrance: _Part | None
    room: _Part | None
    start: int
    end: int
    confidence: float


def spoken_number(words: str) -> int | None:
    """An integer from Arabic digits, digit-by-digit Chinese (三零一, 幺五零二) or number words (三百零一)."""
    if words.isdigit() and words.isascii():
        return int(words)
    plain = "".join("一" if c == "幺" else "二" if c == "两" else "零" if c in "洞〇" else c for c in words)
    floor_then_door = _FLOOR_WORD_DOOR_DIGITS.match(plain)
    if floor_then_door is not None:
        # "十一零二": floor as a number word, door digit by digit -> 1102.
        floor = spoken_number(floor_then_door.group(1))
        door = spoken_number(floor_then_door.group(2))
        return None if floor is None or door is None else floor * 100 + door
    if any(c in "十百千" for c in plain):
        # Imported here: cn2an reads its config files on import, and importing us must do no I/O.
        import cn2an  # type: ignore[import-untyped]  # ships no type information

        try:
            value = cn2an.cn2an(plain, "smart")
        except (ValueError, KeyError, IndexError):
            return None
        return int(value) if float(value).is_integer() else None
    digits = "".join(_DIGIT_OF.get(c, c) for c in plain)
    return int(digits) if digits.isdigit() else None


def _valid_room(value: int) -> bool:
    # Floor then a two-digit door number: 101..9999, door 00 does not exist.
    return 101 <= value <= 9999 and value % 100 != 0


def _valid_building(value: int) -> bool:
    return 1 <= value <= 999


def _valid_entrance(value: int) -> bool:
    return 1 <= value <= 30


def _room_after(text: str, position: int, gap_max: int = _GAP_MAX) -> _Part | None:
    """The room number within `gap_max` non-numeral characters after `position`."""
    for offset in range(0, gap_max + 1):
        index = position + offset
        if index >= len(text):
            return None
        if re.match(_NUM, text[index]):
            match = _ROOM.match(text, index)
            if match is None:
                return None
            value = spoken_number(match.group("n"))
            if value is None or not _valid_room(value):
                return None
            return _Part(value, match.start(), match.end())
        if text[index] in "。？！?!":
            return None
    return None


def _buildings(text: str) -> list[_Part]:
    parts = []
    for match in _BUILDING.finditer(text):
        value = spoken_number(match.group("n"))
        if value is not None and _valid_building(value):
            parts.append(_Part(value, match.start(), match.end()))
    return parts


def _candidates(text: str) -> list[_Candidate]:
    buildings = _buildings(text)
    found: list[_Candidate] = []
    used_buildings: set[int] = set()
    for match in _ENTRANCE.finditer(text):
        value = spoken_number(match.group("n"))
        if value is None or not _valid_entrance(value):
            continue
        entrance = _Part(value, match.start(), match.end())
        before = [
            b for b in buildings if b.end <= entrance.start and entrance.start - b.end <= _BUILDING_GAP_MAX
        ]
        building = before[-1] if before else None
        room = _room_after(text, entrance.end)
        if building is None or room is None:
            continue
        used_buildings.add(building.start)
        gap = (entrance.start - building.end) + (room.start - entrance.end)
        confidence = 0.95 if gap <= 2 else 0.85
        found.append(_Candidate(building, entrance, room, building.start, room.end, confidence))
    # Building and room with no entrance (tower blocks): a partial unit, low confidence.
    for building in buildings:
        if building.start in used_buildings:
            continue
        room = _room_after(text, building.end, gap_max=3)
        if room is not None:
            found.append(_Candidate(building, None, room, building.start, room.end, 0.5))
    for match in _DASHED.finditer(text):
        b, e, r = (spoken_number(match.group(g)) for g in ("b", "e", "r"))
        if b is None or e is None or r is None:
            continue
        if not (_valid_building(b) and _valid_entrance(e) and _valid_room(r)):
            continue
        confidence = 0.9 if match.group(0).isascii() else 0.85
        found.append(
            _Candidate(
                _Part(b, match.start("b"), match.end("b")),
                _Part(e, match.start("e"), match.end("e")),
                _Part(r, match.start("r"), match.end("r")),
                match.start(),
                match.end(),
                confidence,
            )
        )
    found.sort(key=lambda c: c.start)
    return found


def _apply_trailing_correction(text: str, candidate: _Candidate) -> _Candidate:
    """Correct "四栋二单元三零一，不对，三零二": parts named after a correction cue replace the earlier ones."""
    window = text[candidate.end : candidate.end + 6]
    cue = _CORRECTION.search(window)
    if cue is None:
        return candidate
    start = candidate.end + cue.end()
    clause_end = len(text)
    for index in range(start, min(len(text), start + 18)):
        if text[index] in "。？！?!":
            clause_end = index
            break
    else:
        clause_end = min(len(text), start + 18)
    segment_start = start
    building, entrance, room = candidate.building, candidate.entrance, candidate.room
    end = candidate.end
    segment = text[segment_start:clause_end]
    new_building = next(iter(_buildings(segment)), None)
    if new_building is not None:
        building = _Part(
            new_building.value, new_building.start + segment_start, new_building.end + segment_start
        )
        end = max(end, building.end)
    entrance_match = _ENTRANCE.search(segment)
    if entrance_match is not None:
        value = spoken_number(entrance_match.group("n"))
        if value is not None and _valid_entrance(value):
            entrance = _Part(
                value, entrance_match.start() + segment_start, entrance_match.end() + segment_start
            )
            end = max(end, entrance.end)
    search_from = max(
        segment_start,
        building.end if new_building is not None and building is not None else segment_start,
        entrance.end if entrance_match is not None and entrance is not None else segment_start,
    )
    new_room = _room_after(text, search_from, gap_max=4)
    if new_room is not None and new_room.end <= clause_end:
        room = new_room
        end = max(end, room.end)
    if (building, entrance, room) == (candidate.building, candidate.entrance, candidate.room):
        return candidate
    return _Candidate(building, entrance, room, candidate.start, end, min(candidate.confidence, 0.8))


def _choose(text: str, candidates: list[_Candidate]) -> _Candidate | None:
    """The first complete unit, unless a later one follows a correction cue ("不对，六号楼...")."""
    complete = [c for c in candidates if c.entrance is not None] or candidates
    if not complete:
        return None
    chosen = complete[0]
    for later in complete[1:]:
        if later.start >= chosen.end and _CORRECTION.search(text[chosen.start : later.start]):
            chosen = later
    if chosen.building is not None and _CORRECTION.search(
        text[max(0, chosen.building.start - 6) : chosen.building.start]
    ):
        # The building itself follows a correction ("五号楼……不对，六号楼二单元"): still fine, less sure.
        chosen = _Candidate(
            chosen.building,
            chosen.entrance,
            chosen.room,
            chosen.start,
            chosen.end,
            min(chosen.confidence, 0.85),
        )
    return _apply_trailing_correction(text, chosen)


def _canonical(candidate: _Candidate) -> str:
    parts = [candidate.building, candidate.entrance, candidate.room]
    return "-".join(str(p.value) for p in parts if p is not None)


def parse_unit(text: str) -> UnitMatch | None:
    """The unit the caller names in `text`, canonical `building-entrance-room`, or None.

    With no entrance named the unit is `building-room` at confidence 0.5 (tower blocks,
    or a caller who left it out); the clerk completes it.
    """
    compact = CompactText.of(text)
    chosen = _choose(compact.text, _candidates(compact.text))
    if chosen is None:
        return None
    start, end = compact.span(chosen.start, chosen.end)
    return UnitMatch(_canonical(chosen), start, end, chosen.confidence)


def parse_dtmf_unit(digits: str) -> str | None:
    """A unit keyed on the phone pad, parts separated by * and closed by #: "4*2*301#" -> "4-2-301"."""
    keyed = digits.strip().rstrip("#")
    parts = re.split(r"[*#]", keyed)
    if len(parts) != 3 or not all(p.isdigit() and p.isascii() for p in parts):
        return None
    building, entrance, room = (int(p) for p in parts)
    if not (_valid_building(building) and _valid_entrance(entrance) and _valid_room(room)):
        return None
    return f"{building}-{entrance}-{room}"


def normalize_unit(typed: str) -> str | None:
    """The canonical unit for what a clerk types: 4-2-301, 4 2 301, 4/2/301, 4栋2单元301室, ４－２－３０１."""
    typed = unicodedata.normalize("NFKC", typed)
    keyed = parse_dtmf_unit(typed)
    if keyed is not None:
        return keyed
    split = _CLERK_SPLIT.match(typed)
    if split is not None:
        values = [spoken_number(CompactText.of(p).text) for p in split.groups()]
        if all(v is not None for v in values):
            b, e, r = (int(v) for v in values if v is not None)
            if _valid_building(b) and _valid_entrance(e) and _valid_room(r):
                return f"{b}-{e}-{r}"
    found = parse_unit(typed)
    return found.unit if found is not None else None

"""A caller's spoken answer to a yes/no question (the unit read-back 「…，对吗？」).

Strict on purpose: a yes is an utterance made only of yes words, fillers and particles (对、对的、
是的、没错、嗯对…), so 「对面楼漏水」 or 「是楼上漏水」 is no yes; a no is an utterance that opens
with a no word (不对、不是、错了…), maybe after fillers or a yes the caller takes back
(「对…哦不对」), and whatever follows it may name the right unit (「不对，是四号楼二单元三零一」).
Anything else is unclear and the conversation keeps the keypad path. Vosk writes spaces between
words and the recognizer gives no punctuation, so both are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .text import CompactText
from .units import parse_unit

# The word lists live here, not in the conversation (calls/flow.py).
YES_WORDS = ("对的", "对对", "对", "是的", "是啊", "是呀", "是", "没错", "没问题", "正确", "就是", "对头",
             "嗯对", "没错儿", "好的", "可以")
NO_WORDS = ("不对", "不是", "错了", "说错了", "搞错了", "不正确", "有误", "不太对", "不是的")
FILLERS = ("嗯", "呃", "额", "啊", "哦", "噢", "喔", "那个", "就是说", "这个")
PARTICLES = ("的", "啊", "呀", "吧", "嘛", "了", "哈", "呢")
_PUNCTUATION = re.compile(r"[，,。.！!？?、；;：:…~\-—\"'“”‘’]+")


@dataclass(frozen=True)
class Answer:
    """'yes', 'no' or 'unclear'; `unit` the unit named in the answer ("4-2-301"), if any."""

    kind: Literal["yes", "no", "unclear"]
    unit: str | None = None


def _longest_first(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(words), key=len, reverse=True))


_YES = _longest_first(YES_WORDS)
_NO = _longest_first(NO_WORDS)
_FILL = _longest_first(FILLERS)
_FILL_OR_PARTICLE = _longest_first(FILLERS + PARTICLES)


def _strip_fillers(text: str, at: int = 0) -> int:
    """The index after the fillers starting at `at`."""
    while True:
        word = next((w for w in _FILL if text.startswith(w, at)), None)
        if word is None:
            return at
        at += len(word)


def _no_at(text: str, at: int) -> int | None:
    """The index after a no word at `at`, else None."""
    word = next((w for w in _NO if text.startswith(w, at)), None)
    return at + len(word) if word is not None else None


def yes_or_no(said: str) -> Answer:
    """What the caller answered to 「…，对吗？」 (see the module's docstring)."""
    text = _PUNCTUATION.sub("", CompactText.of(said).text)
    at = _strip_fillers(text)
    if at >= len(text):
        return Answer("unclear")
    end = _no_at(text, at)
    if end is None:
        # yes words, fillers and particles only; a no after them takes the yes back (「对…哦不对」)
        yes_seen, last_yes = False, ""
        while at < len(text):
            end = _no_at(text, at) if yes_seen else None
            if end is not None:
                if last_yes and text[at + 1:at + 2] == last_yes[-1]:
                    return Answer("unclear", _unit(text))  # 「对不对」「是不是」: a question, not an answer
                break
            word = next((w for w in _YES if text.startswith(w, at)), None)
            if word is not None:
                yes_seen, last_yes, at = True, word, at + len(word)
                continue
            word = next((w for w in _FILL_OR_PARTICLE if text.startswith(w, at)), None) if yes_seen else None
            if word is None:
                return Answer("unclear", _unit(text))
            last_yes, at = "", at + len(word)
        if end is None:
            return Answer("yes") if yes_seen else Answer("unclear")
    match = parse_unit(text[end:])
    return Answer("no", match.unit if match is not None else None)


def _unit(text: str) -> str | None:
    match = parse_unit(text)
    return match.unit if match is not None else None

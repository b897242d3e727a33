"""Joining recognized words as the language writes them, and normalizing text for scoring."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Han ideographs and CJK punctuation/full-width forms: written without spaces between words.
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0002ffff]")


def _is_cjk(ch: str) -> bool:
    return bool(_CJK.match(ch))


def join_words(words: Iterable[str]) -> str:
    """Join tokens with no space between two CJK characters and one space otherwise.

    Vosk's Mandarin model separates words by spaces ("甚至 出现"); Chinese text has none. Hangul and Latin
    keep their spaces ("관리 사무소", "offer 嘛" keeps the space next to Latin).
    """
    out = ""
    for token in (t for w in words for t in w.split()):
        if out and not (_is_cjk(out[-1]) and _is_cjk(token[0])):
            out += " "
        out += token
    return out


def strip_for_scoring(text: str) -> str:
    """Drop spaces, punctuation and symbols; lowercase Latin. Characters left are what CER counts."""
    return "".join(
        ch.lower()
        for ch in unicodedata.normalize("NFKC", text)
        if not unicodedata.category(ch).startswith(("P", "S", "Z", "C"))
    )

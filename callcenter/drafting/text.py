"""Transcript text as the matchers see it, with spans mapped back to the original.

Vosk writes spaces between words ("四 栋 二 单元") and clerks type full-width
characters ("４－２－３０１"); the matchers work on a compact, NFKC-folded copy
and every span they report is translated back into the text the caller gave.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from .fields import Evidence
from .rules import compile_term


@dataclass(frozen=True)
class CompactText:
    """`text` without whitespace; `origin[i]` is the index in `source` of `text[i]`."""

    source: str
    text: str
    origin: tuple[int, ...]

    @classmethod
    def of(cls, source: str) -> CompactText:
        chars: list[str] = []
        origin: list[int] = []
        for index, char in enumerate(source):
            if char.isspace():
                continue
            folded = unicodedata.normalize("NFKC", char)
            # Keep one character per position so spans stay exact; multi-char foldings are rare.
            chars.append(folded if len(folded) == 1 else char)
            origin.append(index)
        return cls(source, "".join(chars), tuple(origin))

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The source span of compact [start, end)."""
        if start >= end or not self.origin:
            position = self.origin[start] if start < len(self.origin) else len(self.source)
            return position, position
        return self.origin[start], self.origin[end - 1] + 1

    def evidence(self, start: int, end: int, label: str) -> Evidence:
        source_start, source_end = self.span(start, end)
        return Evidence(self.source[source_start:source_end], source_start, source_end, label)


def is_negated(text: str, start: int, negations: tuple[str, ...], window: int) -> bool:
    """True when a negation word stands right before `start` ("没有漏水", "不是停电").

    Only a directly preceding negation counts: "不停漏水" is not a negation of 漏水.
    `window` caps how long a negation word may be.
    """
    before = text[max(0, start - window) : start]
    return any(before.endswith(neg) for neg in negations if neg)


def find_terms(
    compact: CompactText,
    terms: dict[str, float],
    *,
    negations: tuple[str, ...] = (),
    window: int = 0,
) -> Iterator[tuple[str, float, int, int]]:
    """Each (pattern, weight, start, end) matched in the compact text, negated hits skipped."""
    for pattern, weight in terms.items():
        for match in compile_term(pattern).finditer(compact.text):
            if match.end() == match.start():
                continue
            if negations and is_negated(compact.text, match.start(), negations, window):
                continue
            yield pattern, weight, match.start(), match.end()

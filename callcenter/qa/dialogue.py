"""A call's transcript as QA replays it: the caller's and, for a call bridged to a clerk or duty
person, the clerk's words, grouped into lines at pauses, labelled by speaker and interleaved by
time on the recording's timeline. The speaker labels live here once; the API serves them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from callcenter.qa.evidence import TimedWord

SPEAKERS: Mapping[str, str] = {"caller": "来电人", "clerk": "坐席"}
_ORDER = {code: i for i, code in enumerate(SPEAKERS)}


@dataclass(frozen=True)
class Line:
    speaker: str  # a SPEAKERS code
    start_s: float  # seconds from the recording's start
    end_s: float
    words: tuple[TimedWord, ...]

    @property
    def label(self) -> str:
        return SPEAKERS[self.speaker]

    @property
    def text(self) -> str:
        return "".join(w.text for w in self.words)


def _lines(words: Sequence[TimedWord], speaker: str, pause_s: float) -> list[Line]:
    out: list[Line] = []
    group: list[TimedWord] = []
    for w in [*sorted(words, key=lambda w: w.start_s), None]:
        if w is None or (group and w.start_s - group[-1].end_s > pause_s):
            if group:
                out.append(Line(speaker, group[0].start_s, group[-1].end_s, tuple(group)))
            group = []
        if w is not None:
            group.append(w)
    return out


def dialogue(caller: Sequence[TimedWord], clerk: Sequence[TimedWord] = (), pause_s: float = 1.0) -> list[Line]:
    """Both speakers' lines in time order (a line starts at its first word; ties: the caller first)."""
    lines = _lines(caller, "caller", pause_s) + _lines(clerk, "clerk", pause_s)
    return sorted(lines, key=lambda line: (line.start_s, _ORDER[line.speaker]))

"""What a call's scoring can rest on (`CallEvidence`): its timestamps, the caller's and the
agent's timed words, the agent's own prompt clips found in the recording, and the agent's
silences. Built once from the ledger row and the recording; the checks are pure functions over it.

The prompt clips are found acoustically: the RIGHT channel carries exactly the PCM the agent sent,
so a normalized cross-correlation against each clip finds it whatever speech model is installed.
"""

from __future__ import annotations

import wave
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

SAMPLE_RATE_HZ = 8000
_FRAME_MS = 20
_SILENCE_RMS = 150  # PCM16 RMS under this is silence (about -47 dBFS; telephone noise floor)
# Prompt clips a scorecard can rely on (the greeting, 贵姓, 还有其他需要吗, thanks, callback offer).
SCORED_PROMPTS = ("greeting", "missed_callback", "ask_surname", "anything_else", "thanks", "will_call_back")
# Who or what a piece of evidence is (Span.kind), as the QA view names it.
SPAN_KINDS = {"prompt": "系统提示音", "agent_words": "坐席", "caller_words": "来电人", "gap": "静默", "timestamps": "时间"}


@dataclass(frozen=True)
class TimedWord:
    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class PromptMatch:
    key: str  # the prompt clip's key, e.g. "greeting"
    text: str  # what the clip says
    start_s: float
    end_s: float
    score: float  # normalized cross-correlation, 0..1


@dataclass(frozen=True)
class Span:
    """A piece of evidence shown to the reviewer: where in the call, which channel, what was said."""

    kind: str  # caller_words / agent_words / prompt / gap / timestamps
    start_s: float | None = None
    end_s: float | None = None
    text: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallEvidence:
    call_id: int
    received_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    confirmed_at: datetime | None  # the entry's registration (确认登记) by a clerk
    draft_ready_at: datetime | None
    duration_s: float | None
    caller_words: tuple[TimedWord, ...] = ()
    agent_words: tuple[TimedWord, ...] | None = None  # None: the agent side was not transcribed
    prompt_matches: tuple[PromptMatch, ...] = ()
    agent_gaps: tuple[tuple[float, float], ...] = ()  # agent silent, caller mostly silent too (hold)
    org_names: tuple[str, ...] = ()  # estate / company names a greeting must contain (any one)

    def agent_utterances(self) -> list[tuple[str, Span]]:
        """Everything the agent side said: matched prompt clips and transcribed agent words."""
        out = [(m.text, Span("prompt", m.start_s, m.end_s, m.text, {"key": m.key, "score": round(m.score, 3)}))
               for m in self.prompt_matches]
        out += [(text, span) for text, span in utterances(self.agent_words or (), "agent_words")]
        return out


def words_from_json(rows: Iterable[dict[str, Any]] | None) -> tuple[TimedWord, ...]:
    return tuple(TimedWord(str(r.get("text", "")), float(r.get("start_s", 0.0)), float(r.get("end_s", 0.0)))
                 for r in rows or ())


def utterances(words: Sequence[TimedWord], kind: str, pause_s: float = 1.0) -> list[tuple[str, Span]]:
    """Words grouped into utterances at pauses, so a phrase split over several words is found."""
    out: list[tuple[str, Span]] = []
    group: list[TimedWord] = []
    for w in [*words, None]:
        if w is None or (group and w.start_s - group[-1].end_s > pause_s):
            if group:
                text = "".join(g.text for g in group)
                out.append((text, Span(kind, group[0].start_s, group[-1].end_s, text)))
            group = []
        if w is not None:
            group.append(w)
    return out


def find_phrase(words: Sequence[TimedWord], phrase: str, kind: str) -> Span | None:
    """The first occurrence of `phrase` in the joined words, as a span of the words it covers."""
    text, owners = "", []
    for i, w in enumerate(words):
        text += w.text
        owners += [i] * len(w.text)
    at = text.find(phrase)
    if at < 0 or not phrase:
        return None
    first, last = words[owners[at]], words[owners[at + len(phrase) - 1]]
    return Span(kind, first.start_s, last.end_s, "".join(w.text for w in words[owners[at]:owners[at + len(phrase) - 1] + 1]))


# ----- the recording ------------------------------------------------------------------------------

def read_stereo(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(caller, agent) channels of a recording as int16 arrays (a mono file has a silent agent)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getframerate() != SAMPLE_RATE_HZ:
            raise ValueError(f"{path}: expected 8 kHz 16-bit PCM, got {w.getframerate()} Hz "
                             f"{w.getsampwidth() * 8}-bit")
        channels = w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    if channels == 1:
        return data, np.zeros_like(data)
    return data[0::channels], data[1::channels]


def match_prompt(signal: np.ndarray, clip: np.ndarray, threshold: float) -> list[tuple[int, float]]:
    """Sample offsets where `clip` occurs in `signal` (normalized cross-correlation ≥ threshold),
    strongest first after suppressing overlapping hits."""
    m, n = len(clip), len(signal)
    if m == 0 or n < m:
        return []
    x = signal.astype(np.float64)
    t = clip.astype(np.float64)
    t_norm = np.sqrt(np.dot(t, t))
    if t_norm == 0:
        return []
    size = 1 << int(np.ceil(np.log2(n + m)))
    corr = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(t, size)), size)[: n - m + 1]
    energy = np.concatenate(([0.0], np.cumsum(x * x)))
    window = np.sqrt(np.maximum(energy[m:] - energy[:-m], 0.0))
    ncc = np.where(window > 1e-6 * t_norm, corr / np.maximum(window * t_norm, 1e-9), 0.0)
    hits: list[tuple[int, float]] = []
    candidates = np.flatnonzero(ncc >= threshold)
    for pos in candidates[np.argsort(-ncc[candidates])]:
        if all(abs(int(pos) - p) >= m for p, _ in hits):
            hits.append((int(pos), float(ncc[pos])))
    return hits


def _active_frames(channel: np.ndarray) -> np.ndarray:
    frame = SAMPLE_RATE_HZ * _FRAME_MS // 1000
    usable = len(channel) // frame * frame
    frames = channel[:usable].astype(np.float64).reshape(-1, frame)
    return np.sqrt((frames * frames).mean(axis=1)) >= _SILENCE_RMS


def hold_gaps(caller: np.ndarray, agent: np.ndarray, min_gap_s: float) -> list[tuple[float, float]]:
    """Agent silences longer than `min_gap_s` that end with the agent speaking again (a lookup,
    not the end of the call) and during which the caller was mostly quiet too (on hold)."""
    agent_on, caller_on = _active_frames(agent), _active_frames(caller)
    step_s = _FRAME_MS / 1000
    gaps, start = [], None
    seen_agent = False
    for i, on in enumerate(agent_on):
        if not on and seen_agent and start is None:
            start = i
        elif on:
            if start is not None and (i - start) * step_s > min_gap_s:
                talk = caller_on[start:i].mean() if i <= len(caller_on) else 0.0
                if talk < 0.5:
                    gaps.append((round(start * step_s, 2), round(i * step_s, 2)))
            start, seen_agent = None, True
    return gaps


class PromptSource(Protocol):
    def get(self, key: str) -> bytes: ...

    def text(self, key: str) -> str: ...


AgentTranscriber = Callable[[Path], Sequence[TimedWord]]


def find_prompts(agent: np.ndarray, prompts: PromptSource, threshold: float,
                 keys: Iterable[str] = SCORED_PROMPTS) -> list[PromptMatch]:
    found = []
    for key in keys:
        try:
            clip = np.frombuffer(prompts.get(key), dtype="<i2")
        except (KeyError, FileNotFoundError):
            continue  # a site without this clip: the transcript check still applies
        for pos, score in match_prompt(agent, clip, threshold):
            found.append(PromptMatch(key, prompts.text(key), round(pos / SAMPLE_RATE_HZ, 3),
                                     round((pos + len(clip)) / SAMPLE_RATE_HZ, 3), score))
    return sorted(found, key=lambda m: m.start_s)

"""Training clips (典型案例): a segment of a recording with its transcript, personal data removed.

Phone and ID numbers are masked in the text, and the audio where they were spoken is replaced by
a 1 kHz beep (located by the word timestamps); of the caller's name only the surname stays.
"""

from __future__ import annotations

import io
import json
import re
import wave
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from callcenter.qa.evidence import SAMPLE_RATE_HZ, TimedWord

BEEP_HZ = 1000
_BEEP_AMPLITUDE = 8000
# 7+ digits (a phone number) or an 18-character ID number (last may be X), separators allowed.
# Arabic and spoken (Chinese) digits are separate runs, so 「…8000四栋」 does not swallow the 四.
_NUMBER = re.compile("|".join(rf"[{d}](?:[\s\-]*[{d}]){{6,}}(?:[\s\-]*[Xx])?"
                              for d in ("0-9", "零〇一二三四五六七八九幺两")))


@dataclass(frozen=True)
class MaskedText:
    text: str
    words: list[TimedWord]
    spans_s: list[tuple[float, float]]  # where numbers were spoken: beep these


def surname_only(name: str) -> str:
    """王建国 -> 王**: trainees hear how the clerk addresses the caller, not who called."""
    return name[:1] + "*" * (len(name) - 1) if len(name) > 1 else name


def mask_words(words: Sequence[TimedWord], caller_name: str = "") -> MaskedText:
    """Mask numbers (and the caller's given name) in the joined words, keeping every word's length,
    so the masked text cuts back into the same timed words."""
    texts = [w.text for w in words]
    joined = "".join(texts)
    owner = [i for i, t in enumerate(texts) for _ in t]
    chars = list(joined)
    spans: list[tuple[float, float]] = []
    for m in _NUMBER.finditer(joined):
        for k in range(m.start(), m.end()):
            if not chars[k].isspace() and chars[k] != "-":
                chars[k] = "*"
        first, last = words[owner[m.start()]], words[owner[m.end() - 1]]
        spans.append((first.start_s, last.end_s))
    if len(caller_name) > 1:
        for m in re.finditer(re.escape(caller_name), joined):
            for k in range(m.start() + 1, m.end()):
                chars[k] = "*"
    masked = "".join(chars)
    out, pos = [], 0
    for w, t in zip(words, texts, strict=True):
        out.append(TimedWord(masked[pos:pos + len(t)], w.start_s, w.end_s))
        pos += len(t)
    return MaskedText(masked, out, spans)


def beep_over(samples: np.ndarray, spans_s: Sequence[tuple[float, float]], offset_s: float = 0.0) -> np.ndarray:
    """A copy of (n, channels) int16 audio with every span (seconds, on the call's timeline)
    replaced in all channels by a 1 kHz tone."""
    out = samples.copy()
    for start_s, end_s in spans_s:
        a = max(0, int(round((start_s - offset_s) * SAMPLE_RATE_HZ)))
        b = min(len(out), int(round((end_s - offset_s) * SAMPLE_RATE_HZ)))
        if b <= a:
            continue
        t = np.arange(a, b) / SAMPLE_RATE_HZ
        tone = (_BEEP_AMPLITUDE * np.sin(2 * np.pi * BEEP_HZ * t)).astype(np.int16)
        out[a:b, :] = tone[:, None]
    return out


def _in_segment(words: Sequence[TimedWord], start_s: float, end_s: float) -> list[TimedWord]:
    return [w for w in words if w.end_s > start_s and w.start_s < end_s]


def _segment(masked: MaskedText, start_s: float, end_s: float) -> MaskedText:
    words = _in_segment(masked.words, start_s, end_s)
    return MaskedText("".join(w.text for w in words), words,
                      [(a, b) for a, b in masked.spans_s if b > start_s and a < end_s])


def _wav_bytes(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE_HZ)
        w.writeframes(samples.astype("<i2").tobytes())
    return buf.getvalue()


def build_clip(recording: np.ndarray, start_ms: int, end_ms: int | None, caller_words: Sequence[TimedWord],
               agent_words: Sequence[TimedWord], caller_name: str, meta: dict[str, Any]) -> bytes:
    """The ZIP of one training clip: clip.wav (stereo segment, numbers beeped), transcript.txt
    and transcript.json (masked words, times relative to the clip)."""
    total_ms = len(recording) * 1000 // SAMPLE_RATE_HZ
    end_ms = total_ms if end_ms is None else min(end_ms, total_ms)
    if not 0 <= start_ms < end_ms:
        raise ValueError(f"segment {start_ms}–{end_ms} ms is empty or outside the {total_ms} ms recording")
    start_s, end_s = start_ms / 1000, end_ms / 1000
    a, b = start_ms * SAMPLE_RATE_HZ // 1000, end_ms * SAMPLE_RATE_HZ // 1000
    # Mask over the whole call first: a number cut by the segment's edge is still a number.
    caller_all, agent_all = mask_words(caller_words, caller_name), mask_words(agent_words, caller_name)
    caller = _segment(caller_all, start_s, end_s)
    agent = _segment(agent_all, start_s, end_s)
    audio = beep_over(recording[a:b], caller.spans_s + agent.spans_s, offset_s=start_s)

    def rel(words: list[TimedWord]) -> list[dict[str, Any]]:
        return [{"text": w.text, "start_s": round(max(w.start_s - start_s, 0), 3),
                 "end_s": round(min(w.end_s, end_s) - start_s, 3)} for w in words]

    doc = {**meta, "start_ms": start_ms, "end_ms": end_ms, "duration_ms": end_ms - start_ms,
           "caller_name": surname_only(caller_name), "caller_text": caller.text, "caller_words": rel(caller.words),
           "agent_text": agent.text, "agent_words": rel(agent.words),
           "masked_spans_s": [[round(max(s - start_s, 0), 3), round(min(e, end_s) - start_s, 3)]
                              for s, e in caller.spans_s + agent.spans_s if e > start_s and s < end_s]}
    text = f"来电人：{doc['caller_name'] or '（未知）'}\n来电：{caller.text}\n"
    if agent.text:
        text += f"坐席：{agent.text}\n"
    if meta.get("note"):
        text += f"备注：{meta['note']}\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("clip.wav", _wav_bytes(audio))
        z.writestr("transcript.txt", text)
        z.writestr("transcript.json", json.dumps(doc, ensure_ascii=False, indent=1))
    return buf.getvalue()

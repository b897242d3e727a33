"""Test doubles, all in one place and named as such.

`ScriptedRecognizerDouble` stands in for the Mandarin Vosk model, which cannot be downloaded on
these machines: it returns a given Mandarin transcript, but only after it has really been fed
the call's audio (so a pipeline that loses the audio still fails), emitting growing partials as
the audio arrives. Every call path also has a test on the real Vosk engine (Korean model).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from callcenter.asr.interface import Transcript, Word

BYTES_PER_S = 16000  # 8 kHz PCM16


@dataclass
class ScriptedRecognizerDouble:
    text: str
    min_audio_s: float = 1.0
    fed_bytes: int = 0
    _loud_bytes: int = 0

    def accept_pcm16(self, pcm16: bytes) -> str | None:
        self.fed_bytes += len(pcm16)
        # count only audio that carries signal: silence alone must not "transcribe"
        if any(b not in (0, 255) for b in pcm16[1::2]):
            self._loud_bytes += len(pcm16)
        shown = min(len(self.text), int(self._loud_bytes / BYTES_PER_S * 4))  # ~4 characters a second
        return self.text[:shown] if shown else None

    def finish(self) -> Transcript:
        if self._loud_bytes < self.min_audio_s * BYTES_PER_S:
            return Transcript("", (), "scripted-double")
        step = self.fed_bytes / BYTES_PER_S / max(len(self.text), 1)
        words = tuple(Word(ch, i * step, (i + 1) * step, 0.9) for i, ch in enumerate(self.text))
        return Transcript(self.text, words, "scripted-double")


@dataclass
class ScriptedFactoryDouble:
    """A RecognizerFactory double handing out ScriptedRecognizerDoubles with the next text."""

    texts: list[str]
    name: str = "scripted-double"
    streams: list[ScriptedRecognizerDouble] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def new_stream(self) -> ScriptedRecognizerDouble:
        with self._lock:
            stream = ScriptedRecognizerDouble(self.texts[len(self.streams) % len(self.texts)])
            self.streams.append(stream)
            return stream


def scripted_builder(factory: ScriptedFactoryDouble):  # type: ignore[no-untyped-def]
    """A TranscriptionPool factory_builder that returns the given double (model dir ignored)."""

    def build(model_dir: Path, feed_rate_hz: int) -> ScriptedFactoryDouble:
        return factory

    return build

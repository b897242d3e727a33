"""The speech-recognition seam. Input is always 8 kHz mono PCM16 (telephone audio)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Word:
    text: str
    start_s: float  # seconds from the start of the audio fed to the recognizer
    end_s: float
    confidence: float  # 0..1


@dataclass(frozen=True)
class Transcript:
    text: str  # words joined as the language writes them (no spaces for Chinese)
    words: tuple[Word, ...] = field(default_factory=tuple)
    engine: str = ""  # e.g. "vosk:vosk-model-small-cn-0.22@8000"


class StreamingRecognizer(Protocol):
    def accept_pcm16(self, pcm16: bytes) -> str | None:
        """Feed 8 kHz PCM16. Returns the current partial text when it changed, else None."""

    def finish(self) -> Transcript:
        """Flush and return the final transcript with word timings. The stream is done after this."""


class RecognizerFactory(Protocol):
    name: str

    def new_stream(self) -> StreamingRecognizer: ...


class ModelUnavailable(RuntimeError):
    """The speech model is missing or broken. Calls still proceed; transcription waits for a model.

    The message names the model directory, what is wrong and the command that fixes it.
    """

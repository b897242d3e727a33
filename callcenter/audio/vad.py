"""End-of-speech detection on the caller's 8 kHz audio, one listening turn at a time.

Counts 20 ms frames, never reads a clock: the same audio always gives the same events, and
timeouts in tests are exact. Usage per turn: `reset()`, then `feed()` every frame until it
returns "speech_end", "no_input" or "max_length"; "speech_start" comes in between.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import webrtcvad

from callcenter.audio.settings import VadSettings

SAMPLE_RATE_HZ = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE_HZ * FRAME_MS // 1000 * 2  # 320 bytes of PCM16

EndpointEvent = Literal["speech_start", "speech_end", "no_input", "max_length"]
SpeechClassifier = Callable[[bytes], bool]

_LISTENING, _SPEAKING, _DONE = "listening", "speaking", "done"


def _frames(ms: float) -> int:
    return max(1, round(ms / FRAME_MS))


class Endpointer:
    """Finds where the caller's utterance starts and ends in a stream of 20 ms frames."""

    def __init__(self, settings: VadSettings, *, classifier: SpeechClassifier | None = None) -> None:
        """`classifier` replaces webrtcvad (frame -> is speech), for tests and other detectors."""
        self.settings = settings
        if classifier is None:
            vad = webrtcvad.Vad(settings.aggressiveness)

            def classifier(frame: bytes) -> bool:
                return vad.is_speech(frame, SAMPLE_RATE_HZ)

        self._is_speech = classifier
        self._start_frames = _frames(settings.speech_start_ms)
        self._end_frames = _frames(settings.end_silence_ms)
        self._max_frames = _frames(settings.max_utterance_s * 1000)
        self._no_input_frames = _frames(settings.no_input_timeout_s * 1000)
        self.reset()

    def reset(self) -> None:
        """Start a new listening turn (the no-input timer starts now)."""
        self._state = _LISTENING
        self.frames_fed = 0
        self._run = (
            0  # consecutive frames of the current kind (speech while listening, silence while speaking)
        )
        self.utterance_start_frame: int | None = None  # index of the first speech frame of the utterance
        self.utterance_end_frame: int | None = None  # index just after its last speech frame

    @property
    def in_speech(self) -> bool:
        return self._state == _SPEAKING

    @property
    def done(self) -> bool:
        """The turn is over; feed() returns None until reset()."""
        return self._state == _DONE

    def feed(self, frame_pcm16: bytes) -> EndpointEvent | None:
        if len(frame_pcm16) != FRAME_BYTES:
            raise ValueError(
                f"Endpointer needs 20 ms frames of 8 kHz PCM16 ({FRAME_BYTES} bytes), got {len(frame_pcm16)}"
            )
        if self._state == _DONE:
            return None
        index = self.frames_fed
        self.frames_fed += 1
        speech = self._is_speech(frame_pcm16)

        if self._state == _LISTENING:
            self._run = self._run + 1 if speech else 0
            if self._run >= self._start_frames:
                self._state = _SPEAKING
                self.utterance_start_frame = index - self._run + 1
                self._run = 0
                return "speech_start"
            # A run of speech in progress at the deadline still gets its chance to start.
            if self.frames_fed >= self._no_input_frames and self._run == 0:
                self._state = _DONE
                return "no_input"
            return None

        # Speaking: the utterance ends after enough trailing silence, or is cut at its maximum.
        self._run = 0 if speech else self._run + 1
        assert self.utterance_start_frame is not None
        if self._run >= self._end_frames:
            self._state = _DONE
            self.utterance_end_frame = self.frames_fed - self._run
            return "speech_end"
        if self.frames_fed - self.utterance_start_frame >= self._max_frames:
            self._state = _DONE
            self.utterance_end_frame = self.frames_fed
            return "max_length"
        return None

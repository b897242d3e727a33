"""Helpers shared by the audio tests (imported by name: tests/audio is on sys.path under pytest)."""

from __future__ import annotations

import wave

import numpy as np


class FakeMonotonic:
    """Stands in for time.monotonic: moves only when the test says so."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def read_stereo(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) int16 channels of a stereo 8 kHz recording."""
    with wave.open(path, "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return data[0::2], data[1::2]


def tone(n: int, start: int = 1) -> bytes:
    """n recognisable PCM16 samples: start, start+1, ... (never zero, so silence is distinguishable)."""
    return (np.arange(start, start + n) % 30000 + 1).astype("<i2").tobytes()

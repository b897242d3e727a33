"""Reading one channel of a recording as PCM16 at a given rate (stdlib only: wave + audioop)."""

from __future__ import annotations

import warnings
import wave
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

_WIDTH = 2


@dataclass(frozen=True)
class Pcm:
    data: bytes  # mono PCM16 little-endian
    rate_hz: int

    @property
    def duration_s(self) -> float:
        return len(self.data) / (_WIDTH * self.rate_hz)


def read_channel(wav_path: Path, channel: int = 0) -> Pcm:
    """One channel of a 16-bit PCM WAV, at the file's rate. Recordings put the caller on channel 0 (left)."""
    with wave.open(str(wav_path), "rb") as w:
        if w.getsampwidth() != _WIDTH or w.getcomptype() != "NONE":
            raise ValueError(
                f"{wav_path}: expected 16-bit PCM WAV, got {w.getsampwidth() * 8}-bit {w.getcomptype()}"
            )
        channels = w.getnchannels()
        if not 0 <= channel < channels:
            raise ValueError(f"{wav_path}: channel {channel} requested, file has {channels}")
        data = w.readframes(w.getnframes())
        rate = w.getframerate()
    if channels == 2:
        data = audioop.tomono(data, _WIDTH, 1.0 if channel == 0 else 0.0, 1.0 if channel == 1 else 0.0)
    elif channels > 2:
        frame = _WIDTH * channels
        data = b"".join(
            data[i + channel * _WIDTH : i + (channel + 1) * _WIDTH] for i in range(0, len(data), frame)
        )
    return Pcm(data, rate)


def resample(pcm: Pcm, rate_hz: int) -> Pcm:
    """Change rate with a windowed-sinc low-pass (numpy), so downsampling to 8 kHz does not alias."""
    if pcm.rate_hz == rate_hz:
        return pcm
    import numpy as np

    x = np.frombuffer(pcm.data, dtype="<i2").astype(np.float64)
    up, down = _ratio(rate_hz, pcm.rate_hz)
    # Polyphase-free but simple: zero-stuff by `up`, low-pass at the lower Nyquist, keep every `down`th.
    stuffed = np.zeros(len(x) * up)
    stuffed[::up] = x
    cutoff = 0.5 / max(up, down) * 0.95  # cycles per sample at the stuffed rate
    taps = 32 * max(up, down) + 1
    n = np.arange(taps) - (taps - 1) / 2
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(taps, 8.0) * up
    y = np.convolve(stuffed, h, mode="same")[::down]
    out = np.clip(np.round(y), -32768, 32767).astype("<i2").tobytes()
    return Pcm(out, rate_hz)


def _ratio(to_hz: int, from_hz: int) -> tuple[int, int]:
    from math import gcd

    g = gcd(to_hz, from_hz)
    return to_hz // g, from_hz // g

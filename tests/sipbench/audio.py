"""Test audio: tones, G.711 WAVs for callers, and measurements of what was heard."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np

from tests.sipbench.tools import require_tool

RATE_HZ = 8000


def tone(freq_hz: float, seconds: float, amplitude: int = 8000) -> bytes:
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype("<i2").tobytes()


def write_pcm16_wav(path: Path, pcm16: bytes) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE_HZ)
        out.writeframes(pcm16)
    return path


def write_g711_wav(path: Path, pcm16: bytes, encoding: str = "mu-law") -> Path:
    """An 8 kHz G.711 WAV (for SIPp's rtp_stream), converted by sox."""
    sox = require_tool("sox", "sox")
    linear = write_pcm16_wav(path.with_suffix(".lin.wav"), pcm16)
    subprocess.run([sox, str(linear), "-e", encoding, "-b", "8", "-r", str(RATE_HZ), str(path)], check=True)
    return path


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as src:
        if src.getsampwidth() != 2 or src.getnchannels() != 1:
            raise ValueError(
                f"{path}: expected mono 16-bit, got {src.getnchannels()} ch {src.getsampwidth() * 8} bit"
            )
        return np.frombuffer(src.readframes(src.getnframes()), dtype="<i2").astype(np.float64)


def pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float64)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2))) if len(x) else 0.0


def tone_fraction(x: np.ndarray, freq_hz: float, band_hz: float = 30.0) -> float:
    """Share of the signal's energy within +-band_hz of freq_hz (1.0 = a pure tone)."""
    if len(x) == 0:
        return 0.0
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE_HZ)
    total = spectrum.sum()
    return float(spectrum[np.abs(freqs - freq_hz) <= band_hz].sum() / total) if total else 0.0


def loud_seconds(x: np.ndarray, threshold: float = 500.0, window: int = 160) -> float:
    """How long (s) the 20 ms windows are louder than `threshold` RMS."""
    n = len(x) // window
    if n == 0:
        return 0.0
    frames = x[: n * window].reshape(n, window)
    return float((np.sqrt((frames**2).mean(axis=1)) > threshold).sum() * window / RATE_HZ)


def write_rtp_pcap_packets(path: Path, packets: list[tuple[float, int, bytes]]) -> Path:
    """A pcap of RTP packets at chosen times: (seconds from the start, payload type, payload).
    For callers with silence suppression: a few packets (speech or comfort noise) far apart."""
    import struct

    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i, (at_s, pt, payload) in enumerate(packets):
        rtp = struct.pack("!BBHII", 0x80, pt, i & 0xFFFF, int(at_s * RATE_HZ) & 0xFFFFFFFF, 0x4321) + payload
        udp = struct.pack("!HHHH", 40000, 40002, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
        frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
        usec = int(at_s * 1_000_000)
        out += struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))
    return path


def write_rtp_pcap(path: Path, pcm16: bytes, codec: str = "PCMA", ptime_ms: int = 20) -> Path:
    """A pcap of one RTP stream (Ethernet/IPv4/UDP) for SIPp's play_pcap_audio.

    SIPp replays the RTP payloads with the pcap's timing to the media address of
    the SDP it received, so any PCM16 (a tone, espeak-ng speech) can be "spoken"."""
    import struct

    from callcenter.audio.g711 import ENCODERS

    payload_type = {"PCMU": 0, "PCMA": 8}[codec]
    samples = RATE_HZ * ptime_ms // 1000
    frame_bytes = samples * 2
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i, start in enumerate(range(0, len(pcm16) - frame_bytes + 1, frame_bytes)):
        rtp = struct.pack("!BBHII", 0x80, payload_type, i & 0xFFFF, (i * samples) & 0xFFFFFFFF, 0x1234)
        rtp += ENCODERS[codec](pcm16[start : start + frame_bytes])
        udp = struct.pack("!HHHH", 40000, 40002, 8 + len(rtp), 0) + rtp
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(udp),
            i & 0xFFFF,
            0,
            64,
            17,
            0,
            bytes([127, 0, 0, 1]),
            bytes([127, 0, 0, 1]),
        )
        frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
        usec = i * ptime_ms * 1000
        out += struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))
    return path

"""The bytes of a canonical 44-byte PCM WAV header, and repairing one from the file's real length.

Kept apart from the writer because recovery after a crash needs exactly the same layout.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

HEADER_BYTES = 44


def pcm_header(data_bytes: int, *, sample_rate_hz: int, channels: int, sample_width: int = 2) -> bytes:
    """RIFF/WAVE header for `data_bytes` of interleaved little-endian PCM."""
    block_align = channels * sample_width
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,  # WAVE_FORMAT_PCM
        channels,
        sample_rate_hz,
        sample_rate_hz * block_align,
        block_align,
        sample_width * 8,
        b"data",
        data_bytes,
    )


@dataclass(frozen=True)
class PcmFormat:
    sample_rate_hz: int
    channels: int
    sample_width: int

    @property
    def block_align(self) -> int:
        return self.channels * self.sample_width


def read_format(fd: int) -> PcmFormat:
    """Format of a file written by `pcm_header` (only the fmt chunk is trusted, never the sizes)."""
    head = os.pread(fd, HEADER_BYTES, 0)
    if len(head) < HEADER_BYTES or head[:4] != b"RIFF" or head[8:16] != b"WAVEfmt ":
        raise ValueError("not a WAV file written by the recorder (bad RIFF/fmt header)")
    _fmt_tag, channels, rate, _byte_rate, _align, bits = struct.unpack("<HHIIHH", head[20:36])
    if channels < 1 or bits % 8 or not rate:
        raise ValueError(f"implausible WAV format: {channels} channels, {bits} bits, {rate} Hz")
    return PcmFormat(rate, channels, bits // 8)


def repair(fd: int, *, whole_ms: bool = False) -> int:
    """Rewrite the RIFF and data sizes from the real file length; drops a torn last frame, and
    with `whole_ms` the samples after the last whole millisecond, so a duration kept in ms
    matches the file exactly.

    Returns the number of data bytes. The fd must be open for reading and writing.
    """
    fmt = read_format(fd)
    size = os.fstat(fd).st_size
    data = max(0, size - HEADER_BYTES)
    unit = fmt.block_align * (fmt.sample_rate_hz // 1000 if whole_ms and fmt.sample_rate_hz % 1000 == 0 else 1)
    data -= data % unit  # a kill mid-write can leave half a frame, or part of a 20 ms block
    os.ftruncate(fd, HEADER_BYTES + data)
    os.pwrite(
        fd,
        pcm_header(
            data, sample_rate_hz=fmt.sample_rate_hz, channels=fmt.channels, sample_width=fmt.sample_width
        ),
        0,
    )
    os.fsync(fd)
    return data

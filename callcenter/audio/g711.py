"""G.711 µ-law / A-law <-> 16-bit linear PCM (ITU-T G.711), the telephone codecs.

Uses the C implementation in the standard library's `audioop` (present in 3.11/3.12;
on 3.13+ the `audioop-lts` package provides the same module).
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

_WIDTH = 2  # bytes per PCM16 sample


def decode_ulaw(payload: bytes) -> bytes:
    """PCMU payload (RTP payload type 0) -> PCM16 little-endian."""
    return audioop.ulaw2lin(payload, _WIDTH)


def decode_alaw(payload: bytes) -> bytes:
    """PCMA payload (RTP payload type 8) -> PCM16 little-endian."""
    return audioop.alaw2lin(payload, _WIDTH)


def encode_ulaw(pcm16: bytes) -> bytes:
    return audioop.lin2ulaw(pcm16, _WIDTH)


def encode_alaw(pcm16: bytes) -> bytes:
    return audioop.lin2alaw(pcm16, _WIDTH)


DECODERS = {"PCMU": decode_ulaw, "PCMA": decode_alaw}
ENCODERS = {"PCMU": encode_ulaw, "PCMA": encode_alaw}

"""Signal checks for call tests."""

from __future__ import annotations

import numpy as np


def best_match(heard: np.ndarray, wanted: np.ndarray) -> tuple[float, int]:
    """Peak normalised cross-correlation of `wanted` within `heard` (1.0 = identical), and its offset."""
    n = len(heard) + len(wanted)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(heard, size) * np.conj(np.fft.rfft(wanted, size)), size)[: len(heard)]
    cum = np.concatenate([[0.0], np.cumsum(heard ** 2)])
    starts = np.arange(len(heard))
    ends = np.minimum(starts + len(wanted), len(heard))
    window = np.sqrt(np.maximum(cum[ends] - cum[starts], 1e-9))
    score = corr / (window * np.sqrt((wanted ** 2).sum()))
    at = int(np.argmax(score))
    return float(score[at]), at

"""监听: a supervisor listens in silently on a live call. The agent dials the supervisor's
extension and plays them the caller and the agent's side (prompts, or the clerk once bridged)
mixed into one stream; what the supervisor's phone sends is dropped, so the caller never hears
them. The call's own audio path is untouched: the tap only copies frames (session.AudioTap)."""

from __future__ import annotations

import logging
import threading
from collections import deque

import numpy as np

from callcenter.telephony.interface import FRAME_BYTES, ActiveCall

log = logging.getLogger(__name__)

_MAX_FRAMES = 25  # 500 ms kept per direction: a slow listener loses its oldest audio, never blocks the call


class ListenTap:
    """Mixes the two directions frame by frame and plays them to the listener's leg on its own thread."""

    def __init__(self, leg: ActiveCall) -> None:
        self.leg = leg
        self._caller: deque[bytes] = deque(maxlen=_MAX_FRAMES)
        self._agent = bytearray()
        self._cond = threading.Condition()
        self._stopped = False
        self.thread = threading.Thread(target=self._run, name="listen-in", daemon=True)

    # session.AudioTap (RTP threads)
    def caller(self, pcm16: bytes) -> None:
        with self._cond:
            self._caller.append(pcm16)
            self._cond.notify()

    def agent(self, pcm16: bytes) -> None:
        with self._cond:
            self._agent += pcm16
            del self._agent[: max(0, len(self._agent) - _MAX_FRAMES * FRAME_BYTES)]
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._caller and len(self._agent) < FRAME_BYTES and not self._stopped:
                    self._cond.wait(0.2)
                if self._stopped:
                    return
                heard = b"".join(self._caller)
                self._caller.clear()
                n = max(len(heard), len(self._agent) // FRAME_BYTES * FRAME_BYTES)
                said = bytes(self._agent[:n])
                del self._agent[:n]
            if not self.leg.play(mix(heard, said)):
                return


def mix(a: bytes, b: bytes) -> bytes:
    """Two PCM16 streams summed sample by sample (the shorter padded with silence), clipped."""
    n = max(len(a), len(b)) // 2
    x = np.zeros(n, dtype=np.int32)
    x[: len(a) // 2] += np.frombuffer(a[: len(a) // 2 * 2], dtype="<i2")
    x[: len(b) // 2] += np.frombuffer(b[: len(b) // 2 * 2], dtype="<i2")
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()

"""One call's audio fan-out: the recorder, the live recognizer, and the conversation's ears.

`CallSession` is the AudioSink handed to the telephony layer. Its callbacks run on RTP
threads, so each does a bounded, non-blocking amount of work: a small append to the
recording and puts on queues. Recognition runs on the live stream's own decoding thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Protocol

from callcenter.asr.interface import Transcript
from callcenter.recordings.interface import CallRecorder
from callcenter.telephony.interface import FRAME_BYTES

log = logging.getLogger(__name__)

_MAX_BACKLOG_CHUNKS = 50 * 20  # 20 s of audio waiting: the recognizer cannot catch up live
_MAX_EARLY_CHUNKS = 50 * 10  # audio kept for the recognizer while it is being opened
_LISTEN_QUEUE_FRAMES = 50 * 10


class LiveStream(Protocol):
    """The pool's live recognizer: accept_pcm16 only enqueues, decoding runs on its own thread."""

    def accept_pcm16(self, pcm16: bytes) -> str | None: ...

    def finish(self, timeout_s: float | None = None) -> Transcript: ...

    def close(self) -> None: ...

    @property
    def backlog(self) -> int: ...


class AudioTap(Protocol):
    """A listener on the call's two directions (监听): called on RTP threads, must not block."""

    def caller(self, pcm16: bytes) -> None: ...

    def agent(self, pcm16: bytes) -> None: ...


class CallSession:
    def __init__(self, call_id: str, recorder: CallRecorder) -> None:
        self.call_id = call_id
        self._recorder = recorder
        self._stream: LiveStream | None = None
        self._on_partial: Callable[[str], None] = lambda text: None
        # Caller audio that arrives between the answer and attach_stream(): the recognizer is
        # opened after answering so that nothing slow sits between the INVITE and the 200 OK.
        self._early_audio: list[bytes] | None = []
        self._stream_lock = threading.Lock()
        self.listen_queue: queue.Queue[bytes] = queue.Queue(_LISTEN_QUEUE_FRAMES)
        self.dtmf_queue: queue.Queue[str] = queue.Queue()
        self.dtmf_digits = ""
        self.recording_error: Exception | None = None
        self.asr_overflowed = False  # live recognition fell behind; transcribe the recording instead
        self._finishing = False  # the transcript is being finished: late audio is dropped quietly
        self._pending = b""
        self.live_text = ""  # the live recognizer's running text so far (understanding during the call)
        self._taps: tuple[AudioTap, ...] = ()  # supervisors listening in (replaced whole: no lock on the RTP path)

    # ----- AudioSink (RTP threads) -------------------------------------------------------

    def on_caller_audio(self, pcm16: bytes, rtp_timestamp: int) -> None:
        if self.recording_error is None:
            try:
                self._recorder.write_caller(pcm16, rtp_timestamp)
            except Exception as exc:  # a full disk must not take the call down with it
                self.recording_error = exc
                log.error("call %s: recording failed: %s", self.call_id, exc)
        self._feed_recognizer(pcm16)
        for tap in self._taps:
            tap.caller(pcm16)
        self._pending += pcm16
        while len(self._pending) >= FRAME_BYTES:
            frame, self._pending = self._pending[:FRAME_BYTES], self._pending[FRAME_BYTES:]
            try:
                self.listen_queue.put_nowait(frame)
            except queue.Full:  # nobody is listening right now (a prompt is playing): keep it fresh
                try:
                    self.listen_queue.get_nowait()
                    self.listen_queue.put_nowait(frame)
                except (queue.Empty, queue.Full):
                    pass

    def on_agent_audio(self, pcm16: bytes) -> None:
        for tap in self._taps:
            tap.agent(pcm16)
        if self.recording_error is None:
            try:
                self._recorder.write_agent(pcm16)
            except Exception as exc:
                self.recording_error = exc
                log.error("call %s: recording failed: %s", self.call_id, exc)

    def on_dtmf(self, digit: str) -> None:
        self.dtmf_digits += digit
        self.dtmf_queue.put(digit)

    def add_tap(self, tap: AudioTap) -> None:
        self._taps = (*self._taps, tap)

    def remove_tap(self, tap: AudioTap) -> None:
        self._taps = tuple(t for t in self._taps if t is not tap)

    # ----- the conversation's side -------------------------------------------------------

    def recording_position_s(self) -> float | None:
        """Seconds from the recording's start now; None when the call is not being recorded."""
        position = getattr(self._recorder, "position_s", None)  # WavCallRecorder; doubles may lack it
        return position() if position is not None and self.recording_error is None else None

    def drain_listen_queue(self) -> None:
        """Forget audio heard while a prompt played, so the next listen starts fresh."""
        try:
            while True:
                self.listen_queue.get_nowait()
        except queue.Empty:
            pass

    # ----- recognition -------------------------------------------------------------------

    def recognizer_busy(self) -> bool:
        """The live recognizer still has caller audio to decode (the running text may grow)."""
        stream = self._stream
        return stream is not None and not self.asr_overflowed and stream.backlog > 0

    def attach_stream(self, stream: LiveStream | None, on_partial: Callable[[str], None]) -> None:
        """Start live recognition (None: no live recognizer for this call), early audio first."""
        with self._stream_lock:
            early, self._early_audio = self._early_audio or [], None
            self._on_partial = on_partial
            self._stream = stream
            for chunk in early:
                self._feed_recognizer_locked(chunk)

    def _feed_recognizer(self, pcm16: bytes) -> None:
        with self._stream_lock:
            if self._early_audio is not None:
                if len(self._early_audio) < _MAX_EARLY_CHUNKS:
                    self._early_audio.append(pcm16)
                return
            self._feed_recognizer_locked(pcm16)

    def _feed_recognizer_locked(self, pcm16: bytes) -> None:
        stream = self._stream
        if stream is None or self.asr_overflowed or self._finishing:
            return
        if stream.backlog > _MAX_BACKLOG_CHUNKS:
            # The machine cannot keep up live: free the recognizer for other calls and
            # transcribe this call from its recording after hang-up instead.
            self.asr_overflowed = True
            stream.close()
            log.warning("call %s: live recognizer fell behind; will transcribe the recording", self.call_id)
            return
        try:
            partial = stream.accept_pcm16(pcm16)
        except Exception:
            self.asr_overflowed = True
            log.exception("call %s: live recognition failed", self.call_id)
            return
        if partial:
            self.live_text = partial
            self._on_partial(partial)

    def finish_transcript(self, timeout_s: float = 30.0) -> Transcript | None:
        """The live transcript, or None when there is none (no model, fell behind, failed)."""
        with self._stream_lock:
            # RTP of the ended call may still trickle in (the receive thread stops after the
            # BYE): from now on it reaches the recording only, never the finished recognizer.
            self._finishing = True
        if self._stream is None or self.asr_overflowed:
            return None
        try:
            return self._stream.finish(timeout_s)
        except Exception as exc:
            log.warning("call %s: no live transcript (%s)", self.call_id, exc or type(exc).__name__)
            self._stream.close()
            return None

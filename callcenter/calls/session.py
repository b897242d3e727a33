"""One call's audio fan-out: the recorder, the live recognizer, and the conversation's ears.

`CallSession` is the AudioSink handed to the telephony layer. Its callbacks run on RTP
threads, so each does a bounded, non-blocking amount of work: a small append to the
recording and a put on a bounded queue. Recognition runs on the session's own thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from callcenter.asr.interface import StreamingRecognizer, Transcript
from callcenter.audio.interface import CallRecorder
from callcenter.telephony.interface import FRAME_BYTES

log = logging.getLogger(__name__)

_ASR_QUEUE_FRAMES = 50 * 30  # 30 s of audio: beyond that the recognizer is hopelessly behind
_LISTEN_QUEUE_FRAMES = 50 * 10


class CallSession:
    def __init__(self, call_id: str, recorder: CallRecorder, stream: StreamingRecognizer | None,
                 on_partial: Callable[[str], None]) -> None:
        self.call_id = call_id
        self._recorder = recorder
        self._stream = stream
        self._on_partial = on_partial
        self.listen_queue: queue.Queue[bytes] = queue.Queue(_LISTEN_QUEUE_FRAMES)
        self.dtmf_queue: queue.Queue[str] = queue.Queue()
        self.dtmf_digits = ""
        self.recording_error: Exception | None = None
        self.asr_overflowed = False  # live recognition fell behind; transcribe the recording instead
        self._pending = b""
        self._asr_queue: queue.Queue[bytes | None] = queue.Queue(_ASR_QUEUE_FRAMES)
        self._asr_result: Transcript | None = None
        self._asr_error: Exception | None = None
        self._asr_thread: threading.Thread | None = None
        if stream is not None:
            self._asr_thread = threading.Thread(target=self._recognize, name=f"asr-{call_id[:12]}",
                                                daemon=True)
            self._asr_thread.start()

    # ----- AudioSink (RTP threads) -------------------------------------------------------

    def on_caller_audio(self, pcm16: bytes, rtp_timestamp: int) -> None:
        if self.recording_error is None:
            try:
                self._recorder.write_caller(pcm16, rtp_timestamp)
            except Exception as exc:  # a full disk must not take the call down with it
                self.recording_error = exc
                log.error("call %s: recording failed: %s", self.call_id, exc)
        if self._stream is not None and not self.asr_overflowed:
            try:
                self._asr_queue.put_nowait(pcm16)
            except queue.Full:
                self.asr_overflowed = True
                log.warning("call %s: live recognizer behind by 30 s; will transcribe the recording",
                            self.call_id)
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
        if self.recording_error is None:
            try:
                self._recorder.write_agent(pcm16)
            except Exception as exc:
                self.recording_error = exc
                log.error("call %s: recording failed: %s", self.call_id, exc)

    def on_dtmf(self, digit: str) -> None:
        self.dtmf_digits += digit
        self.dtmf_queue.put(digit)

    # ----- the conversation's side -------------------------------------------------------

    def drain_listen_queue(self) -> None:
        """Forget audio heard while a prompt played, so the next listen starts fresh."""
        try:
            while True:
                self.listen_queue.get_nowait()
        except queue.Empty:
            pass

    # ----- recognition -------------------------------------------------------------------

    def _recognize(self) -> None:
        assert self._stream is not None
        try:
            while True:
                pcm = self._asr_queue.get()
                if pcm is None:
                    break
                partial = self._stream.accept_pcm16(pcm)
                if partial:
                    self._on_partial(partial)
            self._asr_result = self._stream.finish()
        except Exception as exc:
            self._asr_error = exc
            log.exception("call %s: live recognition failed", self.call_id)

    def finish_transcript(self, timeout_s: float = 30.0) -> Transcript | None:
        """The live transcript, or None when there is none (no model, overflow, failure)."""
        if self._asr_thread is None:
            return None
        try:
            self._asr_queue.put(None, timeout=timeout_s)
        except queue.Full:
            return None
        self._asr_thread.join(timeout_s)
        if self._asr_thread.is_alive() or self._asr_error is not None or self.asr_overflowed:
            return None
        return self._asr_result

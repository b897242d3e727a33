"""Live-stream admission and background transcription of recordings.

Live: at most `max_live_streams` recognizers at once, all sharing the model loaded in this process; a call
over the limit gets None and is simply recorded, then transcribed from the recording by a worker process.
Background: a ProcessPoolExecutor whose initializer loads the model once per process, so decoding of the
backlog never competes with the RTP path for this process's GIL.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path

from callcenter.asr.interface import ModelUnavailable, RecognizerFactory, StreamingRecognizer, Transcript
from callcenter.asr.models import check_model
from callcenter.asr.settings import AsrSettings
from callcenter.asr.wav import read_channel

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

log = logging.getLogger(__name__)

FactoryBuilder = Callable[[Path, int], RecognizerFactory]
# Offline feeding uses bigger chunks than RTP's 20 ms: fewer Python round trips, same result.
_OFFLINE_CHUNK_S = 0.5


def vosk_factory(model_dir: Path, feed_rate_hz: int) -> RecognizerFactory:
    from callcenter.asr.vosk_engine import VoskRecognizerFactory

    return VoskRecognizerFactory(model_dir, feed_rate_hz)  # type: ignore[arg-type]


def transcribe_file(factory: RecognizerFactory, wav_path: Path, channel: int = 0,
                    start_s: float = 0.0, end_s: float | None = None) -> Transcript:
    """Transcribe one channel of a recording (stereo 8 kHz 16-bit WAV, left = caller) with factory;
    only [start_s, end_s) of it when given (a clerk's bridged span), word times then still on the
    recording's timeline."""
    pcm = read_channel(Path(wav_path), channel)
    data = pcm.data
    if pcm.rate_hz != 8000:
        # Recordings are 8 kHz; tolerate others by converting to the seam's 8 kHz input.
        data, _ = audioop.ratecv(data, 2, 1, pcm.rate_hz, 8000, None)
    start_s = max(0.0, start_s)
    if start_s or end_s is not None:
        data = data[round(start_s * 8000) * 2 : None if end_s is None else round(end_s * 8000) * 2]
    stream = factory.new_stream()
    step = int(_OFFLINE_CHUNK_S * 8000) * 2
    for i in range(0, len(data), step):
        stream.accept_pcm16(data[i : i + step])
    transcript = stream.finish()
    if not start_s:
        return transcript
    return replace(transcript, words=tuple(replace(w, start_s=w.start_s + start_s, end_s=w.end_s + start_s)
                                           for w in transcript.words))


class QueuedStream:
    """Decodes on its own thread so accept_pcm16 never blocks the RTP path.

    accept_pcm16 only enqueues and returns the newest partial the decoder thread produced since the last
    call (or None); finish() waits for the queued audio to be decoded. vosk releases the GIL while
    decoding, so these threads run on all cores. The slot is released once, on finish() or close().
    """

    def __init__(
        self, inner: StreamingRecognizer, release: Callable[[], None], name: str = "asr-stream"
    ) -> None:
        self._inner = inner
        self._release: Callable[[], None] | None = release
        self._release_lock = threading.Lock()
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._partial: str | None = None
        self._partial_lock = threading.Lock()
        self._result: Future[Transcript] = Future()
        self._closed = False
        self._dropped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def accept_pcm16(self, pcm16: bytes) -> str | None:
        if self._closed:
            raise RuntimeError("accept_pcm16 after finish() or close()")
        if pcm16:
            self._queue.put(bytes(pcm16))
        with self._partial_lock:
            partial, self._partial = self._partial, None
        return partial

    def finish(self, timeout_s: float | None = None) -> Transcript:
        """Wait until everything fed so far is decoded; returns the final transcript.

        The slot is freed when decoding ends, not when a timed-out wait returns: the CPU is still in use.
        """
        if not self._closed:
            self._closed = True
            self._queue.put(b"")  # end of audio (accept_pcm16 never queues an empty chunk)
        return self._result.result(timeout=timeout_s)

    def close(self) -> None:
        """Drop the call's transcription (call failed): skip queued audio and give the slot back now."""
        if not self._closed:
            self._closed = True
            self._dropped = True
            self._queue.put(None)
        self._give_back()

    @property
    def backlog(self) -> int:
        """Chunks waiting to be decoded (grows when the machine cannot keep up)."""
        return self._queue.qsize()

    def _run(self) -> None:
        lower_priority()
        try:
            while (chunk := self._queue.get()) is not None:
                if self._dropped:
                    continue
                if not chunk:
                    transcript = self._inner.finish()
                    self._give_back()  # before the result, so a caller of finish() sees the slot free
                    self._result.set_result(transcript)
                    return
                partial = self._inner.accept_pcm16(chunk)
                if partial is not None:
                    with self._partial_lock:
                        self._partial = partial
            self._result.cancel()
        except BaseException as exc:  # hand the failure to whoever calls finish()
            log.exception("live transcription failed")
            self._give_back()
            self._result.set_exception(exc)

    def _give_back(self) -> None:
        with self._release_lock:
            release, self._release = self._release, None
        if release is not None:
            release()


# --- worker-process side -------------------------------------------------------------------------------
_worker_factory: RecognizerFactory | None = None


def _init_worker(builder: FactoryBuilder, model_dir: Path, feed_rate_hz: int) -> None:
    global _worker_factory
    lower_priority()
    _worker_factory = builder(model_dir, feed_rate_hz)


# Transcription yields the CPU to answering and RTP: when the box is saturated a transcript may
# come later, but a caller must never wait for the answer or hear choppy prompts.
ASR_NICENESS = 10


def lower_priority() -> None:
    """Lower the calling thread's scheduling priority (Linux nice values are per thread)."""
    # Not Linux, or not permitted: run at normal priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ASR_NICENESS)


def _transcribe_in_worker(wav_path: Path, channel: int, start_s: float = 0.0,
                          end_s: float | None = None) -> Transcript:
    if _worker_factory is None:  # pragma: no cover - the initializer always ran first
        raise RuntimeError("worker has no recognizer factory")
    return transcribe_file(_worker_factory, wav_path, channel, start_s, end_s)


# --- the pool -------------------------------------------------------------------------------------------
class TranscriptionPool:
    """Admission of live streams plus a process pool for recordings. Build it in app.py, then start()."""

    def __init__(
        self,
        settings: AsrSettings,
        *,
        factory_builder: FactoryBuilder = vosk_factory,
        mp_context: str = "spawn",
    ) -> None:
        self.settings = settings
        self._builder = factory_builder
        # spawn, not fork: the parent runs RTP threads and holds a loaded model; forking that is unsafe.
        self._mp_context = mp_context
        self._lock = threading.Lock()
        self._live = 0
        self._files = 0  # recordings submitted and not yet transcribed (the backlog figure)
        self._factory: RecognizerFactory | None = None
        self._executor: ProcessPoolExecutor | None = None
        self.unavailable_reason: str | None = "not started"

    # life cycle
    def start(self) -> bool:
        """Load the model for live streams (seconds). Returns False, and logs why, if it is unavailable."""
        try:
            factory = self._builder(self.settings.model_dir, self.settings.feed_rate_hz)
        except ModelUnavailable as exc:
            log.warning("live transcription off: %s", exc)
            with self._lock:
                self._factory, self.unavailable_reason = None, str(exc)
            return False
        with self._lock:
            self._factory, self.unavailable_reason = factory, None
        return True

    reload = start  # after `callcenter models fetch`, call again to pick up the new model

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
            self._factory = None
            self.unavailable_reason = "shut down"
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=not wait)

    # live streams
    @property
    def live_streams(self) -> int:
        with self._lock:
            return self._live

    def open_stream(self) -> QueuedStream | None:
        """A live recognizer for a new call, or None (no model, or at capacity): then record only.

        Feeding it never blocks (decoding runs on the stream's own thread); finish() or close() frees the slot.
        """
        with self._lock:
            if self._factory is None or self._live >= self.settings.max_live_streams:
                return None
            self._live += 1
            factory = self._factory
        try:
            inner = factory.new_stream()
        except BaseException:
            self._release()
            raise
        return QueuedStream(inner, self._release)

    def _release(self) -> None:
        with self._lock:
            self._live -= 1

    @property
    def files_pending(self) -> int:
        """Recordings waiting for or in a worker process."""
        with self._lock:
            return self._files

    def _file_done(self, _: Future[Transcript]) -> None:
        with self._lock:
            self._files -= 1

    # recordings
    def submit_file(self, wav_path: Path, channel: int = 0, start_s: float = 0.0,
                    end_s: float | None = None) -> Future[Transcript]:
        """Queue a recording (or the span [start_s, end_s) of it) for a worker process. Raises
        ModelUnavailable at once if there is no model."""
        # Checked per job (a few stat calls) so a model installed later is picked up without a restart.
        check_model(self.settings.model_dir)
        executor = self._get_executor()
        try:
            future = executor.submit(_transcribe_in_worker, Path(wav_path), channel, start_s, end_s)
        except BrokenProcessPool:
            # A worker died (e.g. the model was broken when it started); start fresh ones once.
            with self._lock:
                if self._executor is executor:
                    self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            future = self._get_executor().submit(_transcribe_in_worker, Path(wav_path), channel, start_s,
                                                 end_s)
        with self._lock:
            self._files += 1
        future.add_done_callback(self._file_done)
        return future

    def transcribe_file(self, wav_path: Path, channel: int = 0, start_s: float = 0.0,
                        end_s: float | None = None) -> Transcript:
        """Blocking form of submit_file, for the CLI, backlog scripts and worker jobs."""
        return self.submit_file(wav_path, channel, start_s, end_s).result()

    def _get_executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.settings.workers,
                    mp_context=multiprocessing.get_context(self._mp_context),
                    initializer=_init_worker,
                    initargs=(self._builder, self.settings.model_dir, self.settings.feed_rate_hz),
                )
            return self._executor

"""Callbacks placed from the panel: the agent rings the clerk's extension, then the resident,
bridges them and records both sides, linked to the entry the callback is about.

The call is logged before anything is dialled and the recording is opened before the first
leg rings, as for inbound calls: a callback is never unlogged or unrecorded. The result of
the attempt goes to the callback task; a connected call waits for the clerk to log the
resident's satisfaction.
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from callcenter.calls.bridge import place_callback
from callcenter.clock import Clock
from callcenter.ledger.service import LedgerError, LedgerService
from callcenter.recordings.interface import CallRecorder, RecordingError, RecordingInfo
from callcenter.recordings.store import WavRecordingStore
from callcenter.telephony.interface import TelephonyAgent
from callcenter.workflow.callback_tasks import CallbackTasks

log = logging.getLogger(__name__)


class _RecordingSink:
    """The bridge's audio into the stereo recorder: resident left, clerk right."""

    def __init__(self, recorder: CallRecorder) -> None:
        self.recorder = recorder

    def on_caller_audio(self, pcm16: bytes, rtp_timestamp: int) -> None:
        self.recorder.write_caller(pcm16, rtp_timestamp)

    def on_agent_audio(self, pcm16: bytes) -> None:
        self.recorder.write_agent(pcm16)

    def on_dtmf(self, digit: str) -> None:
        pass


class CallbackDialer:
    def __init__(self, agent: TelephonyAgent, ledger: LedgerService, recordings: WavRecordingStore,
                 tasks: CallbackTasks, clock: Clock, transcriber: Any = None, ring_timeout_s: float = 30.0) -> None:
        self.agent, self.ledger, self.recordings, self.tasks = agent, ledger, recordings, tasks
        self.clock, self.transcriber, self.ring_timeout_s = clock, transcriber, ring_timeout_s

    def place(self, task_id: int, extension: str, actor: str, actor_id: int | None) -> threading.Thread:
        """Start the callback on its own thread (a call lasts minutes); returns the thread."""
        task = self.tasks.get(task_id)
        key = f"cb-{task_id}-{uuid.uuid4().hex[:12]}"
        started = self.clock.now()
        self.ledger.outbound_call(key, task.number, task.entry_id, actor_id, actor, started)
        try:
            recorder = self.recordings.open(key, started)
        except Exception as exc:  # e.g. disk full: never dial unrecorded; the logged call is closed
            log.error("callback %s for task %s not placed: %s", key, task_id, exc)
            self.ledger.call_ended(key, "callback_not_recorded", None)
            raise LedgerError(f"录音无法开始（磁盘已满或不可写），未外呼 / cannot record, not dialled: {exc}") from exc
        thread = threading.Thread(target=self._run, args=(task_id, key, recorder, extension, task.number, actor),
                                  name=f"callback-{task_id}", daemon=True)
        thread.start()
        return thread

    def _run(self, task_id: int, key: str, recorder: CallRecorder, extension: str, number: str, actor: str) -> None:
        outcome, reason = "error", "error"
        try:
            result = place_callback(self.agent, extension, number, _RecordingSink(recorder), self.ring_timeout_s)
            outcome, reason = result.outcome, result.end_reason or result.outcome
            if result.answered_at is not None:
                self.ledger.outbound_answered(key, result.answered_at)
        except Exception:
            log.exception("callback %s for task %s failed", key, task_id)
        finally:
            info: RecordingInfo | None
            try:
                info = recorder.close()
            except RecordingError as exc:  # disk trouble mid-call: the part written is kept and described
                log.error("callback %s: %s", key, exc)
                info = exc.info
            self.ledger.call_ended(key, reason if outcome == "connected" else f"callback_{outcome}", info)
        call_pk = self.ledger.call_by_key(key).id
        self.tasks.record_dialled(task_id, outcome, actor, call_pk)
        if outcome == "connected":
            self._transcribe(key, info)

    def _transcribe(self, key: str, info: RecordingInfo | None) -> None:
        """The resident's side, for QA and search (nothing is drafted from a callback)."""
        if self.transcriber is None:
            return
        try:
            if info is None:
                raise ValueError("nothing was recorded")
            future: Future[Any] = self.transcriber.submit_file(Path(self.recordings.path_of(info.key)), channel=0)
        except Exception as exc:
            log.info("callback %s: not transcribed (%s)", key, exc)
            self.ledger.set_transcript(key, None, "unavailable")
            return
        self.ledger.set_transcript(key, None, "queued")

        def done(f: Future[Any]) -> None:
            try:
                self.ledger.set_transcript(key, f.result(), "done")
            except Exception:
                log.exception("callback %s: transcription failed", key)
                self.ledger.set_transcript(key, None, "failed")

        future.add_done_callback(done)

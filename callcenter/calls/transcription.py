"""Transcribing a call from its recording, after the call: when no live recognizer was free or no
model was installed at the time, after a crash, and in the worker role (one queued job per call).

`CallTranscription.retry` looks for recordings whose transcript is still owed and hands them to
the hotline's transcriber (in-process pool, or the job queue); `transcribe_call` is one job: the
recording's transcript, then the draft. `agent_words` is the clerk's side of a recording, for
QA's etiquette checks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Protocol

from callcenter.asr.interface import ModelUnavailable, Transcript
from callcenter.calls.drafter import CallDrafter
from callcenter.ledger.service import LedgerService
from callcenter.qa.evidence import TimedWord
from callcenter.recordings.interface import RecordingStore

log = logging.getLogger(__name__)

# A transcript still owed, by what happened to it: no model at the time ...
UNAVAILABLE = ("unavailable",)
# ... and after a restart the work that died with the process too.
AFTER_RESTART = ("unavailable", "pending", "live", "queued")
# In queue mode: re-deferring is harmless (one waiting job per call; a done call's job does
# nothing), and catches a job lost between the call's end and the queue.
QUEUE_MODE = ("unavailable", "queued")


class FileTranscriber(Protocol):
    def transcribe_file(self, wav_path: Path, channel: int = 0) -> Transcript: ...


class Resubmit(Protocol):
    """The hotline's way to transcribe a stored recording (HotlineHandler.transcribe_recording):
    False when no model is available yet."""

    def __call__(self, sip_call_id: str, key: str, caller_number: str, entry_id: int | None,
                 dtmf: str) -> bool: ...


class CallTranscription:
    def __init__(self, ledger: LedgerService, recordings: RecordingStore, transcriber: FileTranscriber,
                 drafter: CallDrafter, resubmit: Resubmit,
                 queued_calls: Callable[[], set[str]] | None = None) -> None:
        """`queued_calls`: in queue mode, the calls that already have a job waiting."""
        self.ledger, self.recordings, self.transcriber = ledger, recordings, transcriber
        self.drafter, self.resubmit, self.queued_calls = drafter, resubmit, queued_calls

    def retry(self, after_restart: bool = False) -> int:
        """Transcribe recordings whose transcript is still owed (no model at the time, a crash)."""
        statuses = QUEUE_MODE if self.queued_calls is not None else AFTER_RESTART if after_restart \
            else UNAVAILABLE
        skip = self.queued_calls() if self.queued_calls is not None else set()
        queued = 0
        for call in self.ledger.calls_needing_transcript(statuses):
            if call.sip_call_id in skip:
                continue
            if self.resubmit(call.sip_call_id, call.recording_key, call.caller_number, call.entry_id, call.dtmf):
                queued += 1
            else:
                break  # no model yet: try again on the next tick
        return queued

    def transcribe_call(self, sip_call_id: str, last_attempt: bool = True) -> str:
        """One transcription job (worker role): transcribe the call's recording, then draft.
        Does nothing for a call already transcribed, so a repeated job is harmless."""
        call = self.ledger.call_by_key(sip_call_id)
        if call.transcript_status == "done":
            return "already done"
        if not call.recording_key:
            return "no recording"
        try:
            transcript = self.transcriber.transcribe_file(Path(self.recordings.path_of(call.recording_key)))
        except ModelUnavailable as exc:  # the web role re-defers 'unavailable' calls every minute
            log.warning("call %s: no model (%s)", sip_call_id, exc)
            self.ledger.set_transcript(sip_call_id, None, "unavailable")
            return "no model"
        except Exception:
            if last_attempt:
                self.ledger.set_transcript(sip_call_id, None, "failed")
            raise  # the queue retries it with back-off
        self.ledger.set_transcript(sip_call_id, transcript, "done")
        self.drafter.draft(sip_call_id, call.caller_number, call.entry_id, transcript, call.dtmf)
        return "done"


class ChannelTranscriber(Protocol):
    def submit_file(self, wav_path: Path, channel: int = 0) -> Future[Transcript]: ...


def agent_words(transcriber: ChannelTranscriber, path: Path) -> list[TimedWord]:
    """The clerk's side of a recording (right channel) for QA's etiquette checks; a worker
    process does it. Raises when no model is installed: QA then judges from prompts only."""
    transcript = transcriber.submit_file(path, channel=1).result(timeout=300)
    return [TimedWord(w.text, w.start_s, w.end_s) for w in transcript.words]

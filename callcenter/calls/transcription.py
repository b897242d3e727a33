"""Transcribing a call from its recording, after the call: when no live recognizer was free or no
model was installed at the time, after a crash, and in the worker role (one queued job per call).

`CallTranscription.retry` looks for recordings whose transcript is still owed and hands them to
the hotline's transcriber (in-process pool, or the job queue); `transcribe_call` is one job: the
recording's transcript, then the draft, and for a call bridged to a clerk the clerk's spans of the
right channel (stored apart; drafting never hears them). `agent_words` is the clerk's side of a recording, for
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
    def transcribe_file(self, wav_path: Path, channel: int = 0, start_s: float = 0.0,
                        end_s: float | None = None) -> Transcript: ...


class Resubmit(Protocol):
    """The hotline's way to transcribe a stored recording (HotlineHandler.transcribe_recording):
    False when no model is available yet."""

    def __call__(self, sip_call_id: str, key: str, caller_number: str, entry_id: int | None,
                 dtmf: str) -> bool: ...


class ResubmitClerk(Protocol):
    """HotlineHandler.transcribe_clerk: False when no model is available yet."""

    def __call__(self, sip_call_id: str, key: str, spans: list[list[float]]) -> bool: ...


class CallTranscription:
    def __init__(self, ledger: LedgerService, recordings: RecordingStore, transcriber: FileTranscriber,
                 drafter: CallDrafter, resubmit: Resubmit,
                 queued_calls: Callable[[], set[str]] | None = None,
                 resubmit_clerk: ResubmitClerk | None = None) -> None:
        """`queued_calls`: in queue mode, the calls that already have a job waiting;
        `resubmit_clerk`: the hotline's way to transcribe a bridged call's clerk side again."""
        self.ledger, self.recordings, self.transcriber = ledger, recordings, transcriber
        self.drafter, self.resubmit, self.queued_calls = drafter, resubmit, queued_calls
        self.resubmit_clerk = resubmit_clerk

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
        if self.resubmit_clerk is not None:
            for call in self.ledger.calls_needing_clerk_transcript(statuses):
                if call.sip_call_id in skip or not call.clerk_spans:
                    continue
                if not self.resubmit_clerk(call.sip_call_id, call.recording_key, call.clerk_spans):
                    break
                queued += 1
        return queued

    def transcribe_call(self, sip_call_id: str, last_attempt: bool = True) -> str:
        """One transcription job (worker role): transcribe the call's recording, then draft; for a
        bridged call also the clerk's spans of the right channel. Each side is skipped once done,
        so a repeated job is harmless."""
        call = self.ledger.call_by_key(sip_call_id)
        clerk_owed = bool(call.clerk_spans) and call.clerk_transcript_status != "done"
        if call.transcript_status == "done" and not clerk_owed:
            return "already done"
        if not call.recording_key:
            return "no recording"
        path = Path(self.recordings.path_of(call.recording_key))
        outcome = "already done"
        if call.transcript_status != "done":
            try:
                transcript = self.transcriber.transcribe_file(path)
            except ModelUnavailable as exc:  # the web role re-defers 'unavailable' calls every minute
                log.warning("call %s: no model (%s)", sip_call_id, exc)
                self.ledger.set_transcript(sip_call_id, None, "unavailable")
                if clerk_owed:
                    self.ledger.set_clerk_transcript(sip_call_id, None, "unavailable")
                return "no model"
            except Exception:
                if last_attempt:
                    self.ledger.set_transcript(sip_call_id, None, "failed")
                raise  # the queue retries it with back-off
            self.ledger.set_transcript(sip_call_id, transcript, "done")
            # Drafting hears the caller only: the clerk's words never change the draft.
            self.drafter.draft(sip_call_id, call.caller_number, call.entry_id, transcript, call.dtmf)
            outcome = "done"
        if clerk_owed:
            outcome += "; clerk " + self._clerk_side(call.sip_call_id, path, call.clerk_spans or [], last_attempt)
        return outcome

    def _clerk_side(self, sip_call_id: str, path: Path, spans: list[list[float]], last_attempt: bool) -> str:
        try:
            parts = [self.transcriber.transcribe_file(path, 1, start, end) for start, end in spans]
        except ModelUnavailable as exc:
            log.warning("call %s: no model for the clerk's side (%s)", sip_call_id, exc)
            self.ledger.set_clerk_transcript(sip_call_id, None, "unavailable")
            return "no model"
        except Exception:
            if last_attempt:
                self.ledger.set_clerk_transcript(sip_call_id, None, "failed")
            raise
        self.ledger.set_clerk_transcript(sip_call_id, join_spans(parts), "done")
        return "done"


def join_spans(parts: list[Transcript]) -> Transcript:
    """The transcripts of a call's bridged spans as one (word times are the recording's already)."""
    return Transcript(" ".join(p.text for p in parts if p.text), tuple(w for p in parts for w in p.words),
                      next((p.engine for p in parts if p.engine), ""))


class ChannelTranscriber(Protocol):
    def submit_file(self, wav_path: Path, channel: int = 0, start_s: float = 0.0,
                    end_s: float | None = None) -> Future[Transcript]: ...


def agent_words(transcriber: ChannelTranscriber, path: Path) -> list[TimedWord]:
    """The clerk's side of a recording (right channel) for QA's etiquette checks; a worker
    process does it. Raises when no model is installed: QA then judges from prompts only."""
    transcript = transcriber.submit_file(path, channel=1).result(timeout=300)
    return [TimedWord(w.text, w.start_s, w.end_s) for w in transcript.words]

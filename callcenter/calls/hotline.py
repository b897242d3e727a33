"""The call handler: the chain a call travels, from ringing to the drafted ledger entry.

ringing -> log the call | answer -> open recording, live recognizer, draft entry -> conversation
-> hang-up -> close recording (checksum) -> final transcript (live, or from the recording) -> draft.

Every step that can fail is isolated so that the call is still answered, recorded and logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Protocol

from callcenter.asr.interface import Transcript
from callcenter.audio.interface import CallRecorder, RecordingError, RecordingInfo, RecordingStore
from callcenter.audio.settings import VadSettings
from callcenter.calls.drafter import CallDrafter
from callcenter.calls.flow import Conversation, FlowSettings, Prompts
from callcenter.calls.session import CallSession, LiveStream
from callcenter.clock import Clock
from callcenter.ledger.service import LedgerService
from callcenter.telephony.interface import ActiveCall, CallInfo

log = logging.getLogger(__name__)


class Transcriber(Protocol):
    def open_stream(self) -> LiveStream | None: ...

    def submit_file(self, wav_path: Path, channel: int = 0) -> Future[Transcript]: ...


class HotlineHandler:
    def __init__(self, *, ledger: LedgerService, recordings: RecordingStore, transcriber: Transcriber,
                 prompts: Prompts, drafter: CallDrafter, vad: VadSettings, flow: FlowSettings,
                 clock: Clock) -> None:
        self.ledger = ledger
        self.recordings = recordings
        self.transcriber = transcriber
        self.prompts = prompts
        self.drafter = drafter
        self.vad = vad
        self.flow = flow
        self.clock = clock

    # ----- CallHandler -------------------------------------------------------------------

    def on_ringing(self, info: CallInfo) -> None:
        self._log_call(info)

    def on_missed(self, info: CallInfo, reason: str) -> None:
        self._log_call(info)
        self.ledger.call_missed(info.call_id, reason)

    def on_call(self, call: ActiveCall) -> None:
        info = call.info
        # Only what must precede the 200 OK happens before it: open the recording and attach the
        # audio sink, so not one frame is lost. Logging (done at ringing), the recognizer and the
        # draft entry follow the answer.
        try:
            recorder: CallRecorder = self.recordings.open(info.call_id, self.clock.now())
        except Exception as exc:  # e.g. disk full: the caller is still answered and the call logged
            log.error("call %s: cannot record (%s); answering without a recording", info.call_id, exc)
            recorder = _NotRecorded()
        session = CallSession(info.call_id, recorder)
        call.attach(session)
        call.answer()
        answered_at = self.clock.now()
        answered = None
        conversation: Conversation | None = None
        reason = ""
        try:
            call_pk = self._log_call(info)
            stream = self._open_stream(info.call_id)
            session.attach_stream(stream, lambda text: self.ledger.partial_transcript(call_pk, text))
            answered = self.ledger.call_answered(info.call_id, at=answered_at)
            self.ledger.set_transcript(info.call_id, None, "live" if stream else "queued")
            known = self.ledger.resident_for_number(info.caller_number) is not None
            conversation = Conversation(call, session, self.prompts, self.vad, self.flow,
                                        entry_number=str(answered.entry_id), known_caller=known)
            conversation.run()
        except Exception:
            log.exception("call %s: the call failed midway; hanging up", info.call_id)
            reason = "error"
        finally:
            call.hangup()
            ended_at = self.clock.now()
            recording = self._close_recording(info.call_id, recorder)
            reason = reason or call.end_reason() or "agent_hangup"
            # The recording is closed (its journal gone): the ledger must learn about it, so
            # retry through a busy or briefly unavailable database rather than drop it.
            _retry(lambda: self.ledger.call_ended(info.call_id, reason, recording, at=ended_at),
                   f"log the end of call {info.call_id} (recording {recording.key if recording else None})")
            if session.dtmf_digits:
                self.ledger.add_dtmf(info.call_id, session.dtmf_digits)
        if answered is None or conversation is None:
            return
        log.info("call %s: steps %s", info.call_id, " > ".join(conversation.steps))
        transcript = session.finish_transcript()
        if transcript is not None:
            self.ledger.set_transcript(info.call_id, transcript, "done")
        # Draft at once from what we have (keypad, directory); a transcript from the recording
        # refines it when it arrives.
        self.drafter.draft(info.call_id, info.caller_number, answered.entry_id, transcript,
                           session.dtmf_digits)
        if transcript is None and recording is not None:
            self.transcribe_recording(info.call_id, recording.key, info.caller_number,
                                      answered.entry_id, session.dtmf_digits)

    # ----- helpers -----------------------------------------------------------------------

    def transcribe_recording(self, sip_call_id: str, key: str, caller_number: str,
                             entry_id: int | None, dtmf: str) -> bool:
        """Queue transcription of a stored recording; False when no model is available yet."""
        try:
            future = self.transcriber.submit_file(Path(self.recordings.path_of(key)), channel=0)
        except Exception as exc:
            log.warning("call %s: transcription queued until a model is present (%s)", sip_call_id, exc)
            self.ledger.set_transcript(sip_call_id, None, "unavailable")
            return False
        self.ledger.set_transcript(sip_call_id, None, "queued")

        def done(f: Future[Transcript]) -> None:
            try:
                transcript = f.result()
            except Exception:
                log.exception("call %s: transcription of the recording failed", sip_call_id)
                self.ledger.set_transcript(sip_call_id, None, "failed")
                return
            self.ledger.set_transcript(sip_call_id, transcript, "done")
            self.drafter.draft(sip_call_id, caller_number, entry_id, transcript, dtmf)

        future.add_done_callback(done)
        return True

    def _log_call(self, info: CallInfo) -> int:
        return self.ledger.call_ringing(info.call_id, info.caller_number, info.caller_display,
                                        info.called_number, info.received_at)

    def _open_stream(self, call_id: str) -> LiveStream | None:
        try:
            return self.transcriber.open_stream()
        except Exception as exc:  # no model: answer and record anyway, transcribe later
            log.warning("call %s: no live transcription (%s)", call_id, exc)
            return None

    @staticmethod
    def _close_recording(call_id: str, recorder: CallRecorder) -> RecordingInfo | None:
        try:
            return recorder.close()
        except RecordingError as exc:  # disk trouble: what was written is kept and described
            log.error("call %s: %s", call_id, exc)
            return exc.info
        except Exception:
            log.exception("call %s: closing the recording failed", call_id)
            return None


class _NotRecorded:
    """Stands in when the recording cannot even be opened; the call is answered and logged anyway."""

    def write_caller(self, pcm16: bytes, rtp_timestamp: int) -> None:
        pass

    def write_agent(self, pcm16: bytes) -> None:
        pass

    def close(self) -> RecordingInfo:
        raise RecordingError("the recording could not be opened", path="")


def _retry(action: Callable[[], object], what: str, attempts: int = 6) -> None:
    delay_s = 0.2
    for attempt in range(1, attempts + 1):
        try:
            action()
            return
        except Exception:
            if attempt == attempts:
                log.exception("could not %s after %d attempts", what, attempts)
                raise
            log.warning("could not %s (attempt %d); retrying in %.1f s", what, attempt, delay_s)
            time.sleep(delay_s)
            delay_s *= 2

"""The call handler: the chain a call travels, from ringing to the drafted ledger entry.

ringing -> log the call | answer -> open recording, live recognizer, draft entry -> conversation
-> hang-up -> close recording (checksum) -> final transcript (live, or from the recording) -> draft.

Every step that can fail is isolated so that the call is still answered, recorded and logged.
The ledger writes go through the outbox (ledger/outbox.py): while the database is locked or down
the call goes on (answered, recorded, hung up as usual) and its writes, the draft included, wait
on local disk until the database is back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from callcenter.asr.interface import Transcript
from callcenter.audio.settings import VadSettings
from callcenter.calls.desk import CallDesk, StaffDesk
from callcenter.calls.drafter import CallDrafter
from callcenter.calls.flow import Conversation, FlowSettings, Prompts
from callcenter.calls.session import CallSession, LiveStream
from callcenter.calls.transcription import join_spans
from callcenter.clock import Clock
from callcenter.ledger.core import ANY_AGENT
from callcenter.ledger.outbox import CallWrites, Outbox
from callcenter.ledger.service import LedgerService
from callcenter.recordings.interface import CallRecorder, RecordingError, RecordingInfo, RecordingStore
from callcenter.recordings.recovery import describe_finished, is_open
from callcenter.telephony.interface import ActiveCall, CallInfo

log = logging.getLogger(__name__)


class Transcriber(Protocol):
    def open_stream(self) -> LiveStream | None: ...

    def submit_file(self, wav_path: Path, channel: int = 0, start_s: float = 0.0,
                    end_s: float | None = None) -> Future[Transcript]: ...


class HotlineHandler:
    def __init__(self, *, ledger: LedgerService, recordings: RecordingStore, transcriber: Transcriber,
                 prompts: Prompts, drafter: CallDrafter, vad: VadSettings, flow: FlowSettings,
                 clock: Clock, outbox: Outbox | None = None, desk: StaffDesk | None = None,
                 agent_id: str | None = None, estate_prompts: Mapping[int, Prompts] | None = None) -> None:
        """`agent_id`: this agent's identity (sip.instance_id in the agent role), carried by its calls."""
        self.ledger = ledger
        self.agent_id = agent_id
        # Without a durable outbox (tests, tools) an in-memory one still carries calls through
        # a database outage, though not through a crash.
        self.outbox = outbox or Outbox(None, ledger.bus)
        self.writes = CallWrites(ledger, self.outbox, drafter.draft, agent_id)
        self.recordings = recordings
        self.transcriber = transcriber
        enqueue = getattr(transcriber, "enqueue_call", None)
        self._queued = enqueue is not None
        if enqueue is not None:
            self.outbox.register("enqueue_transcription", lambda a: enqueue(a["sip_call_id"]))
        self.prompts = prompts
        # each estate's greeting (callcenter/estates/prompts.py); the site's prompts otherwise
        self.estate_prompts = dict(estate_prompts or {})
        self.drafter = drafter
        self.vad = vad
        self.flow = flow
        self.clock = clock
        # Understanding during the call, 转人工, urgent escalation and 「接听」; None: the fixed script.
        self.desk = desk

    # ----- CallHandler -------------------------------------------------------------------

    def on_ringing(self, info: CallInfo) -> None:
        self._log_call(info)

    def on_missed(self, info: CallInfo, reason: str) -> None:
        self._log_call(info)
        self.writes.missed(info.call_id, reason, self.clock.now(), detail=info.refusal)

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
        recorder.answered()
        answered_at = self.clock.now()
        conversation: Conversation | None = None
        desk: CallDesk | None = None
        entry_id: int | None = None  # None while the database is away: the outbox has the call
        reason = ""
        try:
            call_pk = self._log_call(info)
            stream = self._open_stream(info.call_id)
            session.attach_stream(stream, lambda text: self.writes.partial_transcript(call_pk, info.call_id, text))
            answered = self.writes.answered(info.call_id, answered_at)
            entry_id = answered.entry_id if answered is not None else None
            self.writes.transcript(info.call_id, None, "live" if stream else "queued")
            estate_id = self.ledger.estates.id_for_number(info.called_number)  # the hotline dialled
            resident = self.writes.resident_for_number(info.caller_number, estate_id)
            known = resident is not None
            # No entry number to read back while the database is away; the rest goes on as usual.
            flow = self.flow if entry_id is not None else self.flow.model_copy(
                update={"read_back_entry_number": False})
            prompts = self.estate_prompts.get(estate_id, self.prompts)
            if self.desk is not None and flow.understand_during_call:
                desk = self.desk.open(self.writes, call, session, prompts, live=stream is not None,
                                      known_unit=resident.unit if resident else None, entry_id=entry_id,
                                      estate_id=estate_id)
                # Never silently less: the call says whether a recognizer listened or the keypad took it.
                self.writes.intake_path(info.call_id, desk.facts.intake_path)
            conversation = Conversation(call, session, prompts, self.vad, flow,
                                        entry_number=str(entry_id or ""), known_caller=known, desk=desk)
            conversation.run()
        except Exception:
            log.exception("call %s: the call failed midway; hanging up", info.call_id)
            reason = "error"
        finally:
            call.hangup()
            if desk is not None and self.desk is not None:
                self.desk.close(info.call_id)
            # When the call ended (the BYE arrived), not when this thread got here: a step that
            # waited on the database must not make the end time late.
            ended_for_s = getattr(call, "ended_for_s", None)  # ActiveCall; doubles may lack it
            ended_at = self.clock.now() - timedelta(seconds=ended_for_s() if ended_for_s is not None else 0.0)
            recording = self._close_recording(info.call_id, recorder,
                                              ended_for_s() if ended_for_s is not None else 0.0)
            reason = reason or call.end_reason() or "agent_hangup"
            # The recording is closed (its journal gone): the ledger must learn about it. A
            # database that cannot take it now gets it from the outbox later.
            hold_time = getattr(call, "hold_time_s", None)  # ActiveCall; doubles may lack it
            hold_ms = round(hold_time() * 1000) if hold_time is not None else 0
            try:
                self.writes.ended(info.call_id, reason, recording, ended_at, hold_ms=hold_ms)
                if session.dtmf_digits:
                    self.writes.dtmf(info.call_id, session.dtmf_digits)
            except Exception:
                log.exception("call %s: the ledger refused the end of the call (recording %s)",
                              info.call_id, recording.key if recording else None)
        if conversation is None:
            return
        log.info("call %s: steps %s", info.call_id, " > ".join(conversation.steps))
        transcript = session.finish_transcript()
        if transcript is not None:
            self.writes.transcript(info.call_id, transcript, "done")
        # Draft at once from what we have (keypad, directory); a transcript from the recording
        # refines it when it arrives.
        facts = conversation.facts.as_dict() if desk is not None else None
        self.writes.draft(info.call_id, info.caller_number, entry_id, transcript, session.dtmf_digits, facts)
        # A person was bridged: their voice is on the right channel for those spans (the agent's
        # own prompts before are not transcribed: their text is known).
        spans = desk.bridged_spans if desk is not None and recording is not None else []
        if spans:
            self.writes.clerk_spans(info.call_id, spans)
        if transcript is None and recording is not None:
            self.transcribe_recording(info.call_id, recording.key, info.caller_number,
                                      entry_id, session.dtmf_digits, facts)
            if self._queued:
                return  # the call's one job transcribes the clerk's side too
        if spans and recording is not None:
            self.transcribe_clerk(info.call_id, recording.key, [list(p) for p in spans])

    # ----- helpers -----------------------------------------------------------------------

    def transcribe_recording(self, sip_call_id: str, key: str, caller_number: str,
                             entry_id: int | None, dtmf: str, facts: dict[str, object] | None = None) -> bool:
        """Queue transcription of a stored recording; False when no model is available yet."""
        if self._queued:  # asr.mode queue: a worker process transcribes and drafts (callcenter/scale)
            self.writes.enqueue_transcription(sip_call_id)  # through the outbox: an outage loses nothing
            return True
        try:
            future = self.transcriber.submit_file(Path(self.recordings.path_of(key)), channel=0)
        except Exception as exc:
            log.warning("call %s: transcription queued until a model is present (%s)", sip_call_id, exc)
            self.writes.transcript(sip_call_id, None, "unavailable")
            return False
        self.writes.transcript(sip_call_id, None, "queued")

        def done(f: Future[Transcript]) -> None:
            try:
                transcript = f.result()
            except Exception:
                log.exception("call %s: transcription of the recording failed", sip_call_id)
                self.writes.transcript(sip_call_id, None, "failed")
                return
            self.writes.transcript(sip_call_id, transcript, "done")
            self.writes.draft(sip_call_id, caller_number, entry_id, transcript, dtmf, facts)

        future.add_done_callback(done)
        return True

    def transcribe_clerk(self, sip_call_id: str, key: str, spans: list[list[float]]) -> bool:
        """Queue transcription of a bridged call's clerk side (right channel, `spans` seconds of
        the recording); stored apart from the caller's transcript, never drafted from. False when
        no model is available yet."""
        if self._queued:
            self.writes.enqueue_transcription(sip_call_id)  # the job does each side still owed
            return True
        path = Path(self.recordings.path_of(key))
        try:
            futures = [self.transcriber.submit_file(path, channel=1, start_s=start, end_s=end)
                       for start, end in spans]
        except Exception as exc:
            log.warning("call %s: the clerk's side waits for a model (%s)", sip_call_id, exc)
            self.writes.clerk_transcript(sip_call_id, None, "unavailable")
            return False
        remaining = [len(futures)]
        lock = threading.Lock()

        def done(_: Future[Transcript]) -> None:
            with lock:  # the last span to finish writes the whole
                remaining[0] -= 1
                if remaining[0]:
                    return
            try:
                parts = [f.result() for f in futures]
            except Exception:
                log.exception("call %s: transcription of the clerk's side failed", sip_call_id)
                self.writes.clerk_transcript(sip_call_id, None, "failed")
                return
            self.writes.clerk_transcript(sip_call_id, join_spans(parts), "done")

        for future in futures:
            future.add_done_callback(done)
        return True

    def relink_unlogged_recordings(self, agent_id: str | None = ANY_AGENT, owe_transcript: bool = False) -> int:
        """After a crash, before the store repairs open recordings: a call killed after its
        recording was finished (journal gone) but before its end reached the ledger left a
        complete WAV that no call points to. The store names a recording by Call-ID and start
        second, so look for it between the INVITE and shortly after the answer, and log the call
        as interrupted with it. Returns how many were found. `agent_id`: only that agent's calls;
        `owe_transcript`: their transcripts become owed (the site's retry transcribes them)."""
        key_for = getattr(self.recordings, "key_for", None)
        if key_for is None:
            return 0
        found = 0
        for call in self.ledger.calls_in_flight(agent_id):
            t = call.received_at.replace(microsecond=0)
            until = (call.answered_at or call.received_at) + timedelta(seconds=15)
            while t <= until:
                try:
                    path = Path(self.recordings.path_of(key_for(call.sip_call_id, t)))
                except Exception:  # not in the store (or not fetchable): keep looking
                    path = None
                if path is not None and path.is_file() and not is_open(path):
                    info = describe_finished(call.sip_call_id, key_for(call.sip_call_id, t), path)
                    log.warning("call %s: its finished recording %s was never logged; logging it now",
                                call.sip_call_id, info.key)
                    self.ledger.call_ended(call.sip_call_id, "interrupted", info,
                                           at=datetime.fromtimestamp(path.stat().st_mtime, UTC))
                    if owe_transcript and call.transcript_status != "done":
                        self.ledger.set_transcript(call.sip_call_id, None, "unavailable")
                    found += 1
                    break
                t += timedelta(seconds=1)
        return found

    def _log_call(self, info: CallInfo) -> int | None:
        return self.writes.ringing(info.call_id, info.caller_number, info.caller_display,
                                   info.called_number, info.received_at)

    def _open_stream(self, call_id: str) -> LiveStream | None:
        try:
            return self.transcriber.open_stream()
        except Exception as exc:  # no model: answer and record anyway, transcribe later
            log.warning("call %s: no live transcription (%s)", call_id, exc)
            return None

    @staticmethod
    def _close_recording(call_id: str, recorder: CallRecorder, ended_for_s: float) -> RecordingInfo | None:
        try:
            return recorder.close(ended_for_s)
        except RecordingError as exc:  # disk trouble: what was written is kept and described
            log.error("call %s: %s", call_id, exc)
            return exc.info
        except Exception:
            log.exception("call %s: closing the recording failed", call_id)
            return None


class _NotRecorded:
    """Stands in when the recording cannot even be opened; the call is answered and logged anyway."""

    def answered(self) -> None:
        pass

    def write_caller(self, pcm16: bytes, rtp_timestamp: int) -> None:
        pass

    def write_agent(self, pcm16: bytes) -> None:
        pass

    def close(self, ended_for_s: float = 0.0) -> RecordingInfo:
        raise RecordingError("the recording could not be opened", path="")


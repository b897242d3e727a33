"""The call pipeline's writes: a call logged from its first ring, answered (a draft entry at once),
missed (an entry to call back), ended (its recording), transcribed and drafted; callbacks placed
through the agent; and what a crash left mid-flight. Every write here is idempotent: the outbox
(outbox.py) may replay it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from callcenter.asr.interface import Transcript
from callcenter.drafting.draft import Draft
from callcenter.events import (
    CallAnswered,
    CallEnded,
    CallMissed,
    CallPerson,
    CallRinging,
    DraftReady,
    PartialTranscript,
    call_key,
)
from callcenter.ledger.core import (
    ANY_AGENT,
    LedgerCore,
    LedgerError,
    call_of,
    digits_only,
    jsonable,
    of_agent,
    open_entries_of,
    resident_of,
)
from callcenter.ledger.lifecycle import DRAFT, OPEN, REGISTERED
from callcenter.ledger.models import AuditLog, Call, Entry
from callcenter.ledger.repeats import BY_DRAFTING, join_repeat
from callcenter.ledger.vocabulary import CALL, MISSED_CALL, MISSED_REASONS, PHONE, label_of
from callcenter.recordings.interface import RecordingInfo


@dataclass(frozen=True)
class AnsweredCall:
    call_pk: int
    entry_id: int


def _guess_value(guess: Any) -> Any:
    """Drafts carry FieldGuess objects (value + confidence + evidence); plain values pass through."""
    return getattr(guess, "value", guess)


def _attach_recording(call: Call, rec: RecordingInfo) -> None:
    call.recording_key = rec.key
    call.recording_duration_ms = rec.duration_ms
    call.recording_size_bytes = rec.size_bytes
    call.recording_sha256 = rec.sha256
    call.recording_interrupted = bool(rec.interrupted)


class CallLog(LedgerCore):
    def call_ringing(self, sip_call_id: str, caller_number: str, caller_display: str,
                     called_number: str, received_at: datetime, agent_id: str | None = None) -> int:
        """Log the call the moment it arrives, before anything can go wrong. Idempotent.
        `agent_id`: the agent process carrying it (None: an all-in-one process)."""
        with self.call_session() as s:
            call = s.exec(select(Call).where(Call.sip_call_id == sip_call_id)).first()
            if call is None:
                call = Call(sip_call_id=sip_call_id, caller_number=digits_only(caller_number),
                            caller_display=caller_display[:64], called_number=called_number[:32],
                            received_at=received_at, status="ringing", agent_id=agent_id,
                            estate_id=self.estates.id_for_number(called_number))
                s.add(call)
                s.commit()
                resident = resident_of(s, call.caller_number, call.estate_id)
                self.bus.publish(CallRinging(call_id=call.id, caller_number=call.caller_number,
                                             resident=resident.name if resident else None,
                                             unit=resident.unit if resident else None,
                                             open_entries=[e.id for e in open_entries_of(
                                                 s, call.caller_number, resident.unit if resident else "",
                                                 call.estate_id)],
                                             call_key=call_key(sip_call_id)))
            assert call.id is not None
            return call.id

    def call_answered(self, sip_call_id: str, at: datetime | None = None) -> AnsweredCall:
        """Answering registers the call at once: a draft entry exists from the first second.
        `at` is when the call was answered (the database write may come a little later)."""
        now = at or self.clock.now()
        with self.call_session() as s:
            call = call_of(s, sip_call_id)
            if call.answered_at is not None and call.entry_id is not None:  # replayed from the outbox
                first = s.exec(select(AuditLog.entry_id).where(
                    AuditLog.call_id == call.id, AuditLog.action == "registered")).first()
                assert call.id is not None
                return AnsweredCall(call.id, first or call.entry_id)
            resident = resident_of(s, call.caller_number, call.estate_id)
            entry = Entry(created_at=now, updated_at=now, kind=CALL, source=PHONE, status=DRAFT,
                          caller_number=call.caller_number, estate_id=call.estate_id,
                          resident_id=resident.id if resident else None,
                          caller_name=resident.name if resident else "",
                          unit=resident.unit if resident else "")
            s.add(entry)
            s.flush()
            call.status, call.answered_at, call.entry_id = "answered", now, entry.id
            s.add(call)
            self.audit_in(s, "system", entry.id, call.id, "registered", new=f"call {call.id}")
            s.commit()
            assert call.id is not None and entry.id is not None
            self.bus.publish(CallAnswered(call_id=call.id, entry_id=entry.id, caller_number=call.caller_number,
                                          unit=entry.unit))
            return AnsweredCall(call.id, entry.id)

    def call_missed(self, sip_call_id: str, reason: str, at: datetime | None = None, detail: str = "") -> int:
        """A caller who hung up before the answer (or whose call the agent refused: `detail` says
        why) gets a missed-call entry to call back. Idempotent; `at` is when the caller hung up."""
        now = at or self.clock.now()
        with self.call_session() as s:
            call = call_of(s, sip_call_id)
            if call.entry_id is not None:
                return call.entry_id
            resident = resident_of(s, call.caller_number, call.estate_id)
            entry = Entry(created_at=now, updated_at=now, kind=MISSED_CALL, source=PHONE,
                          status=REGISTERED, caller_number=call.caller_number, estate_id=call.estate_id,
                          resident_id=resident.id if resident else None,
                          caller_name=resident.name if resident else "",
                          unit=resident.unit if resident else "", category=self.terms.fallback_category,
                          department=self.terms.desk_department,
                          summary=f"未接来电（{label_of(MISSED_REASONS, reason)}），需回拨")
            s.add(entry)
            s.flush()
            call.status, call.end_reason, call.ended_at, call.entry_id = "missed", reason, now, entry.id
            call.sip_detail = detail[:255]  # a refused call: the SIP answer and why
            call.transcript_status = "unavailable"
            s.add(call)
            self.audit_in(s, "system", entry.id, call.id, "missed_call", new=reason)
            s.commit()
            assert entry.id is not None
            self.bus.publish(CallMissed(call_id=call.id, entry_id=entry.id, caller_number=call.caller_number,
                                        reason=reason))
            return entry.id

    def add_dtmf(self, sip_call_id: str, digits: str) -> None:
        with self.call_session() as s:
            call = call_of(s, sip_call_id)
            call.dtmf = (call.dtmf + digits)[-64:]
            s.add(call)
            s.commit()

    def set_dtmf(self, sip_call_id: str, digits: str) -> None:
        """Every key the caller pressed (idempotent, unlike add_dtmf: the outbox may replay it)."""
        with self.call_session() as s:
            call = call_of(s, sip_call_id)
            call.dtmf = digits[-64:]
            s.add(call)
            s.commit()

    def call_person(self, sip_call_id: str, step: str, reason: str, number: str = "", username: str = "",
                    at: datetime | None = None, unit: str = "") -> None:
        """A step between the caller and the staff during the call, into the entry's audit log (who
        was rung, who answered and when) and as a `call.person` event. 'urgent' also marks the
        entry urgent; its audit row's time starts the urgent dispatch clock (workflow.clocks).
        Replays of the same step (outbox) add nothing."""
        at = at or self.clock.now()
        action = f"person_{step}"
        detail = f"{reason}|{number}|{username}".rstrip("|")
        with self.call_session() as s:
            call = call_of(s, sip_call_id)
            if s.exec(select(AuditLog).where(AuditLog.call_id == call.id, AuditLog.action == action,
                                             AuditLog.new == detail, AuditLog.at == at)).first() is not None:
                return
            entry = s.get(Entry, call.entry_id) if call.entry_id is not None else None
            if step == "urgent" and entry is not None and not entry.urgent:
                entry.urgent = True
                entry.updated_at = at
                s.add(entry)
            s.add(AuditLog(at=at, actor=username or "system", entry_id=call.entry_id, call_id=call.id,
                           action=action, field="", old="", new=detail))
            s.commit()
            assert call.id is not None
            self.bus.publish(CallPerson(call_id=call.id, entry_id=call.entry_id, step=step,  # type: ignore[arg-type]
                                        reason=reason, number=number, username=username, unit=unit))

    def set_intake_path(self, sip_call_id: str, path: str) -> None:
        """'speech' or 'keypad': how the agent took the call (never silently less)."""
        with self.call_session() as s:
            call = call_of(s, sip_call_id)
            call.intake_path = path
            s.add(call)
            s.commit()

    def outbound_call(self, call_key: str, number: str, entry_id: int, user_id: int | None, actor: str,
                      started_at: datetime) -> int:
        """A callback placed by a clerk through the agent: logged before dialling, linked to the
        entry it calls back about (one entry, several calls: 一票到底)."""
        with self.session() as s:
            entry = s.get(Entry, entry_id)
            call = Call(sip_call_id=call_key, direction="outbound", caller_number=digits_only(number),
                        received_at=started_at, status="dialing", entry_id=entry_id, user_id=user_id,
                        transcript_status="pending",
                        estate_id=entry.estate_id if entry is not None else self.estates.default.id)
            s.add(call)
            s.flush()
            self.audit_in(s, actor, entry_id, call.id, "callback_call", new=f"call {call.id}")
            s.commit()
            assert call.id is not None
            return call.id

    def outbound_answered(self, call_key: str, at: datetime) -> None:
        with self.session() as s:
            call = call_of(s, call_key)
            call.status, call.answered_at = "answered", at
            s.add(call)
            s.commit()

    def call_ended(self, sip_call_id: str, reason: str, recording: RecordingInfo | None,
                   at: datetime | None = None, hold_ms: int = 0) -> None:
        """`recording` is None when nothing could be recorded; `at` is when the call ended;
        `hold_ms` how long the caller held the call (QA's 30-second hold rule)."""
        now = at or self.clock.now()
        with self.call_session() as s:
            call = call_of(s, sip_call_id)
            call.status = "ended" if reason not in ("error", "interrupted") else reason.replace(
                "error", "failed")
            call.end_reason, call.ended_at = reason, now
            call.hold_ms = max(0, int(hold_ms))
            if recording is not None:
                _attach_recording(call, recording)
            s.add(call)
            if call.entry_id is not None and reason in ("error", "interrupted"):
                entry = s.get(Entry, call.entry_id)
                if entry is not None:
                    entry.interrupted = True
                    s.add(entry)
            s.commit()
            self.bus.publish(CallEnded(call_id=call.id, entry_id=call.entry_id, reason=reason,
                                       duration_ms=call.recording_duration_ms))

    def partial_transcript(self, call_pk: int, text: str) -> None:
        self.bus.publish(PartialTranscript(call_id=call_pk, text=text))

    def set_transcript(self, sip_call_id: str, transcript: Transcript | None, status: str) -> None:
        """Status is done / queued / failed / unavailable (TRANSCRIPT_STATUSES)."""
        with self.call_session() as s:
            call = call_of(s, sip_call_id)
            call.transcript_status = status
            if transcript is not None:
                call.transcript_text = transcript.text
                call.transcript_words = [jsonable(w) for w in transcript.words]
                call.transcript_engine = transcript.engine[:128]
            s.add(call)
            s.commit()

    def set_clerk_spans(self, sip_call_id: str, spans: list[tuple[float, float]]) -> None:
        """A bridged call: when the clerk was on the right channel (seconds from the recording's
        start). Their transcript becomes owed ('queued') unless it is already done."""
        with self.call_session() as s:
            call = call_of(s, sip_call_id)
            call.clerk_spans = [[round(a, 3), round(b, 3)] for a, b in spans]
            if call.clerk_transcript_status != "done":
                call.clerk_transcript_status = "queued"
            s.add(call)
            s.commit()

    def set_clerk_transcript(self, sip_call_id: str, transcript: Transcript | None, status: str) -> None:
        """The clerk's words (times on the recording's timeline); status as set_transcript's."""
        with self.call_session() as s:
            call = call_of(s, sip_call_id)
            call.clerk_transcript_status = status
            if transcript is not None:
                call.clerk_transcript_text = transcript.text
                call.clerk_transcript_words = [jsonable(w) for w in transcript.words]
            s.add(call)
            s.commit()

    def apply_draft(self, sip_call_id: str, draft: Draft, repeat_of: int | None = None,
                    repeat_reason: str = "") -> int:
        """Fill the call's draft entry from the drafting's Draft. A repeat links the call to the
        open entry instead (the new entry is merged into it, repeats.py) and upgrades that entry
        to a complaint. Returns the id of the entry the call now belongs to."""
        now = self.clock.now()
        with self.call_session() as s:
            call = call_of(s, sip_call_id)
            if call.entry_id is None:
                raise LedgerError(f"call {sip_call_id} has no entry to draft")
            # The call's own entry is the one answering registered; once merged away (a clerk
            # linked the call, or an earlier draft of it, replayed from the outbox, found the
            # repeat), the call belongs to the entry it joined and nothing is merged again.
            own_id = s.exec(select(AuditLog.entry_id).where(
                AuditLog.call_id == call.id, AuditLog.action == "registered")).first()
            entry = s.get(Entry, own_id or call.entry_id)
            assert entry is not None
            linked_from = entry.id if entry.status == "merged" and entry.id != call.entry_id else None
            if linked_from is not None:
                repeat_of = None  # the call already joined an open entry; the draft only documents it
            entry.draft = jsonable(draft)
            entry.draft_ready_at = now
            entry.updated_at = now
            if entry.status == DRAFT:  # a clerk may already have confirmed it during the call
                for name in ("unit", "category", "department", "urgent", "summary", "caller_name"):
                    value = _guess_value(getattr(draft, name, None))  # each a FieldGuess
                    if name == "caller_name" and entry.caller_name:
                        continue  # the directory's full name beats a surname heard in speech
                    if value not in (None, ""):
                        setattr(entry, name, value)
            s.add(entry)
            # a linked call's entry is the one the clerk chose; the draft stays on the merged one
            target_id = call.entry_id if linked_from is not None else entry.id
            if repeat_of is not None and repeat_of != entry.id:
                target = s.get(Entry, repeat_of)
                if target is not None and target.status in OPEN:
                    join_repeat(s, self.audit_in, own=entry, call=call, target=target, now=now, actor="system",
                                trail=BY_DRAFTING, reason=repeat_reason)
                    target_id = target.id
            self.audit_in(s, "system", entry.id, call.id, "draft_ready")
            s.commit()
            assert target_id is not None
            self.bus.publish(DraftReady(call_id=call.id, entry_id=target_id, unit=entry.unit, category=entry.category,
                                        department=entry.department, urgent=entry.urgent, summary=entry.summary,
                                        repeat_of=repeat_of))
            return target_id

    def recover_interrupted(self, recovered: Iterable[RecordingInfo], agent_id: str | None = ANY_AGENT,
                            owe_transcript: bool = False) -> int:
        """After a crash: attach each repaired recording to its call and mark the call and entry
        interrupted; calls left mid-flight without a recording are closed as interrupted too.
        `agent_id`: only the calls of that (dead) agent (None: of no agent; ANY_AGENT: all).
        `owe_transcript`: a recovered recording's transcript becomes owed ('unavailable'), so the
        site's minute retry transcribes it (recovery of another process's calls)."""
        now = self.clock.now()
        count = 0
        by_call = {r.call_id: r for r in recovered}
        touched: list[Call] = []
        with self.session() as s:
            for sip_call_id, rec in by_call.items():
                call = s.exec(select(Call).where(Call.sip_call_id == sip_call_id)).first()
                if call is None:  # the database lost the row (or never got it): log it now
                    call = Call(sip_call_id=sip_call_id, received_at=now, status="interrupted",
                                agent_id=None if agent_id == ANY_AGENT else agent_id,
                                estate_id=self.estates.default.id)
                    s.add(call)
                    s.flush()
                _attach_recording(call, rec)
                self._interrupt(s, call, now)
                touched.append(call)
                if owe_transcript and call.transcript_status != "done":
                    call.transcript_status = "unavailable"
                count += 1
            in_flight = of_agent(select(Call).where(col(Call.status).in_(("ringing", "answered"))), agent_id)
            for call in s.exec(in_flight).all():
                if call.sip_call_id not in by_call:
                    self._interrupt(s, call, now)
                    touched.append(call)
                    if owe_transcript and call.recording_key and call.transcript_status != "done":
                        call.transcript_status = "unavailable"
                    count += 1
            s.flush()
            ended = [(c.id, c.entry_id, c.recording_duration_ms) for c in touched]
            s.commit()
        for call_pk, entry_id, duration_ms in ended:  # the board drops them from its live calls
            self.bus.publish(CallEnded(call_id=call_pk, entry_id=entry_id, reason="interrupted",
                                       duration_ms=duration_ms))
        return count

    def _interrupt(self, s: Session, call: Call, now: datetime) -> None:
        call.status, call.end_reason = "interrupted", call.end_reason or "interrupted"
        call.ended_at = call.ended_at or now
        if call.entry_id is None:
            entry = Entry(created_at=now, updated_at=now, kind=CALL, status=DRAFT,
                          caller_number=call.caller_number, interrupted=True, estate_id=call.estate_id,
                          summary="通话因系统故障中断，请核实并回拨")
            s.add(entry)
            s.flush()
            call.entry_id = entry.id
        else:
            existing = s.get(Entry, call.entry_id)
            if existing is not None:
                existing.interrupted = True
                s.add(existing)
        s.add(call)
        self.audit_in(s, "system", call.entry_id, call.id, "interrupted")

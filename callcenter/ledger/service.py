"""The one write path for calls and entries: status changes, the audit log and events happen here.

Callers (the call pipeline, the web API, the CLI) never write tables themselves.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, Integer, func, or_
from sqlmodel import Session, col, select

from callcenter.clock import Clock
from callcenter.events import EventBus
from callcenter.ledger import search
from callcenter.ledger.models import AuditLog, Call, Correction, Entry, Resident, ResidentPhone
from callcenter.workflow.callbacks import needs_callback
from callcenter.workflow.lifecycle import EntrySnapshot, TransitionError, check_transition
from callcenter.workflow.settings import WorkflowSettings

log = logging.getLogger(__name__)

CATEGORIES = ("报修", "投诉", "咨询", "求助", "建议", "其他")
DEPARTMENTS = ("工程", "安保", "保洁", "绿化", "客服", "项目负责人")
STATUSES = ("draft", "registered", "dispatched", "in_progress", "completed", "called_back", "closed",
            "cancelled", "merged")
OPEN_STATUSES = ("draft", "registered", "dispatched", "in_progress", "completed")
EDITABLE_FIELDS = ("caller_name", "unit", "category", "department", "urgent", "summary", "status")
# The fields drafting proposes and a clerk confirms (corrections are measured on these).
DRAFT_FIELDS = ("caller_name", "unit", "category", "department", "urgent", "summary")
# 首接负责制 sources (DOMAIN.md): information reaches the front desk by these ways.
SOURCES = {"phone": "电话", "walk_in": "前台来访", "staff": "员工收集", "company": "公司转达",
           "committee": "业委会", "verbal": "口头告知员工", "written": "书面"}


class LedgerError(ValueError):
    """A request the ledger refuses; the message says which field and why."""


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class AnsweredCall:
    call_pk: int
    entry_id: int


@dataclass(frozen=True)
class CallerHistory:
    """The screen pop (seed 002): what the desk already knows about this caller and this unit."""

    number: str
    unit: str
    resident: Resident | None
    open_entries: list[Entry]
    caller_recent: list[Entry]
    unit_recent: list[Entry]


def _stamp_status(entry: Entry, to_status: str, now: datetime) -> None:
    """Keep when the lifecycle first reached dispatch and completion (the clocks and the
    statistics read them); a reopened entry's next completion counts anew."""
    if to_status == "dispatched" and entry.dispatched_at is None:
        entry.dispatched_at = now
    elif to_status == "completed":
        entry.completed_at = now
    elif to_status == "closed":
        entry.closed_at = now
    elif to_status == "in_progress":
        entry.closed_at = None


def digits_only(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, datetime):
        return obj.isoformat()
    return obj


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _guess_value(guess: Any) -> Any:
    """Drafts carry FieldGuess objects (value + confidence + evidence); plain values pass through."""
    return getattr(guess, "value", guess)


class LedgerService:
    def __init__(self, engine: Engine, clock: Clock, bus: EventBus,
                 workflow: WorkflowSettings | None = None, call_write_timeout_s: float = 3.0) -> None:
        self.engine = engine
        self.clock = clock
        self.bus = bus
        self.workflow = workflow or WorkflowSettings()
        # A call must not wait on a locked SQLite file for the engine's 30 s: after this long its
        # write fails and goes to the outbox (ledger/outbox.py) instead.
        self.call_write_timeout_s = call_write_timeout_s

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _call_session(self) -> Session:
        """A session for the call path's writes: on SQLite it gives up on a lock quickly."""
        s = self.session()
        if self.engine.dialect.name == "sqlite":
            s.connection().exec_driver_sql(f"PRAGMA busy_timeout={int(self.call_write_timeout_s * 1000)}")
        return s

    # ----- the call pipeline -------------------------------------------------------------

    def call_ringing(self, sip_call_id: str, caller_number: str, caller_display: str,
                     called_number: str, received_at: datetime) -> int:
        """Log the call the moment it arrives, before anything can go wrong. Idempotent."""
        with self._call_session() as s:
            call = s.exec(select(Call).where(Call.sip_call_id == sip_call_id)).first()
            if call is None:
                call = Call(sip_call_id=sip_call_id, caller_number=digits_only(caller_number),
                            caller_display=caller_display[:64], called_number=called_number[:32],
                            received_at=received_at, status="ringing")
                s.add(call)
                s.commit()
                resident = self._resident_for_number(s, call.caller_number)
                self.bus.publish("call.ringing", call_id=call.id, caller_number=call.caller_number,
                                 resident=resident.name if resident else None,
                                 unit=resident.unit if resident else None,
                                 open_entries=[e.id for e in self._open_entries(
                                     s, call.caller_number, resident.unit if resident else "")])
            assert call.id is not None
            return call.id

    def call_answered(self, sip_call_id: str, at: datetime | None = None) -> AnsweredCall:
        """Answering registers the call at once: a draft entry exists from the first second.
        `at` is when the call was answered (the database write may come a little later)."""
        now = at or self.clock.now()
        with self._call_session() as s:
            call = self._call(s, sip_call_id)
            if call.answered_at is not None and call.entry_id is not None:  # replayed from the outbox
                first = s.exec(select(AuditLog.entry_id).where(
                    AuditLog.call_id == call.id, AuditLog.action == "registered")).first()
                assert call.id is not None
                return AnsweredCall(call.id, first or call.entry_id)
            resident = self._resident_for_number(s, call.caller_number)
            entry = Entry(created_at=now, updated_at=now, kind="call", source="phone", status="draft",
                          caller_number=call.caller_number,
                          resident_id=resident.id if resident else None,
                          caller_name=resident.name if resident else "",
                          unit=resident.unit if resident else "")
            s.add(entry)
            s.flush()
            call.status, call.answered_at, call.entry_id = "answered", now, entry.id
            s.add(call)
            self._audit(s, "system", entry.id, call.id, "registered", new=f"call {call.id}")
            s.commit()
            assert call.id is not None and entry.id is not None
            self.bus.publish("call.answered", call_id=call.id, entry_id=entry.id,
                             caller_number=call.caller_number, unit=entry.unit)
            return AnsweredCall(call.id, entry.id)

    def call_missed(self, sip_call_id: str, reason: str, at: datetime | None = None, detail: str = "") -> int:
        """A caller who hung up before the answer (or whose call the agent refused: `detail` says
        why) gets a missed-call entry to call back. Idempotent; `at` is when the caller hung up."""
        now = at or self.clock.now()
        with self._call_session() as s:
            call = self._call(s, sip_call_id)
            if call.entry_id is not None:
                return call.entry_id
            resident = self._resident_for_number(s, call.caller_number)
            entry = Entry(created_at=now, updated_at=now, kind="missed_call", source="phone",
                          status="registered", caller_number=call.caller_number,
                          resident_id=resident.id if resident else None,
                          caller_name=resident.name if resident else "",
                          unit=resident.unit if resident else "", category="其他", department="客服",
                          summary=f"未接来电（{_MISSED_REASONS.get(reason, reason)}），需回拨")
            s.add(entry)
            s.flush()
            call.status, call.end_reason, call.ended_at, call.entry_id = "missed", reason, now, entry.id
            call.sip_detail = detail[:255]
            call.transcript_status = "unavailable"
            s.add(call)
            self._audit(s, "system", entry.id, call.id, "missed_call", new=reason)
            s.commit()
            assert entry.id is not None
            self.bus.publish("call.missed", call_id=call.id, entry_id=entry.id,
                             caller_number=call.caller_number, reason=reason)
            return entry.id

    def add_dtmf(self, sip_call_id: str, digits: str) -> None:
        with self._call_session() as s:
            call = self._call(s, sip_call_id)
            call.dtmf = (call.dtmf + digits)[-64:]
            s.add(call)
            s.commit()

    def set_dtmf(self, sip_call_id: str, digits: str) -> None:
        """Every key the caller pressed (idempotent, unlike add_dtmf: the outbox may replay it)."""
        with self._call_session() as s:
            call = self._call(s, sip_call_id)
            call.dtmf = digits[-64:]
            s.add(call)
            s.commit()

    def outbound_call(self, call_key: str, number: str, entry_id: int, user_id: int | None, actor: str,
                      started_at: datetime) -> int:
        """A callback placed by a clerk through the agent: logged before dialling, linked to the
        entry it calls back about (one entry, several calls: 一票到底)."""
        with self.session() as s:
            call = Call(sip_call_id=call_key, direction="outbound", caller_number=digits_only(number),
                        received_at=started_at, status="dialing", entry_id=entry_id, user_id=user_id,
                        transcript_status="pending")
            s.add(call)
            s.flush()
            self._audit(s, actor, entry_id, call.id, "callback_call", new=f"call {call.id}")
            s.commit()
            assert call.id is not None
            return call.id

    def outbound_answered(self, call_key: str, at: datetime) -> None:
        with self.session() as s:
            call = self._call(s, call_key)
            call.status, call.answered_at = "answered", at
            s.add(call)
            s.commit()

    def call_ended(self, sip_call_id: str, reason: str, recording: Any | None,
                   at: datetime | None = None, hold_ms: int = 0) -> None:
        """`recording` is an audio.RecordingInfo (or None when nothing could be recorded);
        `at` is when the call ended; `hold_ms` how long the caller held the call."""
        now = at or self.clock.now()
        with self._call_session() as s:
            call = self._call(s, sip_call_id)
            call.status = "ended" if reason not in ("error", "interrupted") else reason.replace(
                "error", "failed")
            call.end_reason, call.ended_at = reason, now
            call.hold_ms = max(0, int(hold_ms))
            if recording is not None:
                self._attach_recording(call, recording)
            s.add(call)
            if call.entry_id is not None and reason in ("error", "interrupted"):
                entry = s.get(Entry, call.entry_id)
                if entry is not None:
                    entry.interrupted = True
                    s.add(entry)
            s.commit()
            self.bus.publish("call.ended", call_id=call.id, entry_id=call.entry_id, reason=reason,
                             duration_ms=call.recording_duration_ms)

    def partial_transcript(self, call_pk: int, text: str) -> None:
        self.bus.publish("call.partial_transcript", call_id=call_pk, text=text)

    def set_transcript(self, sip_call_id: str, transcript: Any | None, status: str) -> None:
        """`transcript` is an asr.Transcript; status is done / queued / failed / unavailable."""
        with self._call_session() as s:
            call = self._call(s, sip_call_id)
            call.transcript_status = status
            if transcript is not None:
                call.transcript_text = transcript.text
                call.transcript_words = [_jsonable(w) for w in transcript.words]
                call.transcript_engine = transcript.engine[:128]
            s.add(call)
            s.commit()

    def apply_draft(self, sip_call_id: str, draft: Any, repeat_of: int | None = None,
                    repeat_reason: str = "") -> int:
        """Fill the call's draft entry from a drafting.Draft. A repeat links the call to the open
        entry instead (the new entry is merged into it) and upgrades that entry to a complaint.
        Returns the id of the entry the call now belongs to."""
        now = self.clock.now()
        with self._call_session() as s:
            call = self._call(s, sip_call_id)
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
            entry.draft = _jsonable(draft)
            entry.draft_ready_at = now
            entry.updated_at = now
            if entry.status == "draft":  # a clerk may already have confirmed it during the call
                for name in ("unit", "category", "department", "urgent", "summary", "caller_name"):
                    value = _guess_value(getattr(draft, name, None))
                    if name == "caller_name" and entry.caller_name:
                        continue  # the directory's full name beats a surname heard in speech
                    if value not in (None, ""):
                        setattr(entry, name, value)
            s.add(entry)
            # a linked call's entry is the one the clerk chose; the draft stays on the merged one
            target_id = call.entry_id if linked_from is not None else entry.id
            if repeat_of is not None and repeat_of != entry.id:
                target = s.get(Entry, repeat_of)
                if target is not None and target.status in OPEN_STATUSES:
                    entry.status, entry.merged_into_id = "merged", target.id
                    call.entry_id = target.id
                    target.repeat_count += 1
                    old_cat = target.category
                    target.category = "投诉"  # DOMAIN.md: the same problem raised twice is a complaint
                    target.updated_at = now
                    s.add_all([entry, call, target])
                    self._audit(s, "system", entry.id, call.id, "merged", "status", "draft", "merged")
                    self._audit(s, "system", target.id, call.id, "repeat_call", "category", old_cat,
                                "投诉", )
                    if repeat_reason:
                        self._audit(s, "system", target.id, call.id, "repeat_reason", new=repeat_reason)
                    target_id = target.id
            self._audit(s, "system", entry.id, call.id, "draft_ready")
            s.commit()
            assert target_id is not None
            self.bus.publish("entry.draft_ready", call_id=call.id, entry_id=target_id,
                             unit=entry.unit, category=entry.category, department=entry.department,
                             urgent=entry.urgent, summary=entry.summary, repeat_of=repeat_of)
            return target_id

    def recover_interrupted(self, recovered: Iterable[Any]) -> int:
        """After a crash: attach each repaired recording to its call and mark the call and entry
        interrupted; calls left mid-flight without a recording are closed as interrupted too."""
        now = self.clock.now()
        count = 0
        by_call = {r.call_id: r for r in recovered}
        with self.session() as s:
            for sip_call_id, rec in by_call.items():
                call = s.exec(select(Call).where(Call.sip_call_id == sip_call_id)).first()
                if call is None:  # the database lost the row (or never got it): log it now
                    call = Call(sip_call_id=sip_call_id, received_at=now, status="interrupted")
                    s.add(call)
                    s.flush()
                self._attach_recording(call, rec)
                self._interrupt(s, call, now)
                count += 1
            for call in s.exec(select(Call).where(col(Call.status).in_(("ringing", "answered")))).all():
                if call.sip_call_id not in by_call:
                    self._interrupt(s, call, now)
                    count += 1
            s.commit()
        return count

    def calls_needing_transcript(self, statuses: tuple[str, ...] = ("unavailable",)) -> list[Call]:
        """Recorded, finished calls whose transcript is still owed: 'unavailable' (no model at the
        time); after a crash also 'pending', 'live' and 'queued' (the work died with the process)."""
        with self.session() as s:
            return list(s.exec(select(Call).where(
                col(Call.transcript_status).in_(statuses), Call.direction == "inbound",  # callbacks draft nothing
                Call.recording_key != "", col(Call.status).in_(("ended", "interrupted", "failed")))).all())

    def calls_in_flight(self) -> list[Call]:
        """Inbound calls the ledger still sees ringing or answered (after a crash: cut calls)."""
        with self.session() as s:
            return list(s.exec(select(Call).where(col(Call.status).in_(("ringing", "answered")),
                                                  Call.direction == "inbound")).all())

    def call_by_key(self, sip_call_id: str) -> Call:
        with self.session() as s:
            return self._call(s, sip_call_id)

    # ----- lookups -----------------------------------------------------------------------

    def resident_for_number(self, number: str) -> Resident | None:
        with self.session() as s:
            return self._resident_for_number(s, digits_only(number))

    def open_entries(self, caller_number: str, unit: str) -> list[Entry]:
        with self.session() as s:
            return self._open_entries(s, digits_only(caller_number), unit)

    def get_call(self, call_pk: int) -> Call:
        with self.session() as s:
            call = s.get(Call, call_pk)
            if call is None:
                raise NotFound(f"call {call_pk}")
            return call

    def get_entry(self, entry_id: int) -> Entry:
        with self.session() as s:
            entry = s.get(Entry, entry_id)
            if entry is None:
                raise NotFound(f"entry {entry_id}")
            return entry

    def calls_of_entry(self, entry_id: int) -> list[Call]:
        with self.session() as s:
            merged = s.exec(select(Entry.id).where(Entry.merged_into_id == entry_id)).all()
            ids = [entry_id, *merged]
            return list(s.exec(select(Call).where(col(Call.entry_id).in_(ids)).order_by(col(Call.received_at))).all())

    def calls_of_entries(self, entry_ids: Sequence[int]) -> dict[int, list[Call]]:
        """calls_of_entry for a whole page of entries in two queries (the ledger list)."""
        if not entry_ids:
            return {}
        with self.session() as s:
            owner = {i: i for i in entry_ids}
            for mid, into in s.exec(select(Entry.id, Entry.merged_into_id)
                                    .where(col(Entry.merged_into_id).in_(entry_ids))).all():
                assert mid is not None and into is not None
                owner[mid] = into
            out: dict[int, list[Call]] = {i: [] for i in entry_ids}
            q = select(Call).where(col(Call.entry_id).in_(list(owner))).order_by(col(Call.received_at))
            for call in s.exec(q).all():
                assert call.entry_id is not None
                out[owner[call.entry_id]].append(call)
            return out

    def audit_of_entry(self, entry_id: int) -> list[AuditLog]:
        with self.session() as s:
            return list(s.exec(select(AuditLog).where(AuditLog.entry_id == entry_id).order_by(col(AuditLog.id))).all())

    def list_calls(self, *, status: str | None = None, limit: int = 50, offset: int = 0) -> list[Call]:
        with self.session() as s:
            q = select(Call)
            if status:
                q = q.where(Call.status == status)
            q = q.order_by(col(Call.received_at).desc(), col(Call.id).desc()).offset(offset).limit(limit)
            return list(s.exec(q).all())

    def list_entries(self, *, status: str | None = None, category: str | None = None,
                     department: str | None = None, unit: str | None = None,
                     caller_number: str | None = None, urgent: bool | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     owner_id: int | None = None, source: str | None = None,
                     text: str | None = None, limit: int = 50, offset: int = 0,
                     cursor: str | None = None, count_cap: int | None = None) -> tuple[int, list[Entry]]:
        """(total, rows), newest first. `cursor` (from search.cursor_of; raises InvalidCursor)
        continues after that row instead of `offset`. With `count_cap` the total stops at
        count_cap + 1, so counting never costs more than reading that many index entries."""
        after = search.Cursor.decode(cursor) if cursor else None  # a bad cursor fails before any query
        with self.session() as s:
            q = select(Entry)
            if owner_id is not None:
                q = q.where(Entry.owner_id == owner_id)
            if source:
                q = q.where(Entry.source == source)
            if status:
                q = q.where(Entry.status == status)
            if category:
                q = q.where(Entry.category == category)
            if department:
                q = q.where(Entry.department == department)
            if unit:
                q = q.where(Entry.unit == unit)
            if caller_number:
                q = q.where(Entry.caller_number == digits_only(caller_number))
            if urgent is not None:
                q = q.where(Entry.urgent == urgent)
            if since:
                q = q.where(Entry.created_at >= since)
            if until:
                q = q.where(Entry.created_at < until)
            filtered, dialect = q, self.engine.dialect.name
            if text:
                q = search.with_text(filtered, dialect, text)
            counted = q.with_only_columns(col(Entry.id))
            if count_cap is not None:
                counted = counted.limit(count_cap + 1)
            total = s.exec(select(func.count()).select_from(counted.subquery())).one()
            if text and total > search.COMMON_MATCHES:  # a common word: page by a newest-first scan
                q = search.with_text(filtered, dialect, text, common=True)
            if after is not None:
                q = q.where(after.after())
                offset = 0
            q = q.order_by(col(Entry.created_at).desc(), col(Entry.id).desc()).offset(offset).limit(limit)
            return int(total), list(s.exec(q).all())

    # ----- clerks ------------------------------------------------------------------------

    @staticmethod
    def _validate(changes: dict[str, Any], allowed: Sequence[str]) -> None:
        unknown = set(changes) - set(allowed)
        if unknown:
            raise LedgerError(f"these fields cannot be changed: {', '.join(sorted(unknown))}")
        if "category" in changes and changes["category"] not in CATEGORIES:
            raise LedgerError(f"category must be one of {'/'.join(CATEGORIES)}")
        if "department" in changes and changes["department"] not in DEPARTMENTS:
            raise LedgerError(f"department must be one of {'/'.join(DEPARTMENTS)}")
        if "status" in changes and changes["status"] not in STATUSES:
            raise LedgerError(f"status must be one of {'/'.join(STATUSES)}")

    def update_entry(self, entry_id: int, changes: dict[str, Any], actor: str) -> Entry:
        self._validate(changes, allowed=EDITABLE_FIELDS)
        now = self.clock.now()
        with self.session() as s:
            entry = s.get(Entry, entry_id)
            if entry is None:
                raise NotFound(f"entry {entry_id}")
            old_status = entry.status
            if "status" in changes and changes["status"] != entry.status:
                # the other fields of the same change (a category, say) count for the rules
                after = {k: v for k, v in changes.items() if k != "status"}
                self._check_transition(s, entry, changes["status"], after)
                _stamp_status(entry, changes["status"], now)
            for name, new in changes.items():
                old = getattr(entry, name)
                if old != new:
                    setattr(entry, name, new)
                    self._audit(s, actor, entry.id, None, "update", name, str(old), str(new))
            entry.updated_at = now
            s.add(entry)
            s.commit()
            self.bus.publish("entry.updated", entry_id=entry.id, fields=sorted(changes), status=entry.status,
                             old_status=old_status, actor=actor)
            return entry

    def confirm_entry(self, entry_id: int, changes: dict[str, Any], actor: str, actor_id: int) -> Entry:
        """The clerk confirms the (corrected) draft: status registered, the clerk becomes the
        first-contact owner (首接人) unless someone already is, and per drafted field the draft's
        value vs the confirmed value is kept for accuracy statistics."""
        self._validate(changes, allowed=DRAFT_FIELDS)
        now = self.clock.now()
        with self.session() as s:
            entry = s.get(Entry, entry_id)
            if entry is None:
                raise NotFound(f"entry {entry_id}")
            if entry.status not in OPEN_STATUSES:
                raise LedgerError(f"entry {entry_id} is {entry.status}; only open entries can be confirmed")
            for name, new in changes.items():
                old = getattr(entry, name)
                if old != new:
                    setattr(entry, name, new)
                    self._audit(s, actor, entry.id, None, "confirm", name, str(old), str(new))
            if entry.status == "draft":
                self._check_transition(s, entry, "registered", {})
                entry.status = "registered"
                self._audit(s, actor, entry.id, None, "confirm", "status", "draft", "registered")
            if entry.owner_id is None:
                entry.owner_id = actor_id
                self._audit(s, actor, entry.id, None, "confirm", "owner", "", actor)
            first_confirmation = entry.confirmed_at is None
            entry.confirmed_at = entry.confirmed_at or now
            entry.updated_at = now
            s.add(entry)
            if first_confirmation and entry.draft:
                assert entry.id is not None
                for name in DRAFT_FIELDS:
                    guess = entry.draft.get(name)
                    if not isinstance(guess, dict):
                        continue
                    drafted, confirmed = _as_text(guess.get("value")), _as_text(getattr(entry, name))
                    s.add(Correction(at=now, entry_id=entry.id, actor=actor, field=name, draft_value=drafted,
                                     confirmed_value=confirmed, confidence=guess.get("confidence"),
                                     changed=drafted != confirmed))
            s.commit()
            self.bus.publish("entry.updated", entry_id=entry.id, fields=sorted(changes), action="confirmed",
                             status=entry.status, actor=actor)
            return entry

    def transition(self, entry_id: int, to_status: str, actor: str, note: str = "",
                   satisfaction: str | None = None) -> Entry:
        """Move an entry along its lifecycle (workflow.lifecycle), audited. `satisfaction`
        (满意/基本满意/不满意) is the callback's result when moving to called_back; `note` is
        kept in the audit trail and is the reason a reopen needs."""
        now = self.clock.now()
        with self.session() as s:
            entry = s.get(Entry, entry_id)
            if entry is None:
                raise NotFound(f"entry {entry_id}")
            old = entry.status
            self._check_transition(s, entry, to_status, {}, note=note, satisfaction=satisfaction)
            _stamp_status(entry, to_status, now)
            entry.status, entry.updated_at = to_status, now
            if satisfaction is not None:
                entry.satisfaction = satisfaction
            s.add(entry)
            self._audit(s, actor, entry.id, None, "transition", "status", old, to_status)
            if satisfaction is not None:
                self._audit(s, actor, entry.id, None, "callback", "satisfaction", "", satisfaction)
            if note:
                self._audit(s, actor, entry.id, None, "note", "status", "", note)
            s.commit()
            self.bus.publish("entry.updated", entry_id=entry.id, fields=["status"], action="transition",
                             status=to_status, old_status=old, satisfaction=satisfaction, actor=actor)
            return entry

    def _check_transition(self, s: Session, entry: Entry, to_status: str, pending: dict[str, Any],
                          note: str = "", satisfaction: str | None = None) -> None:
        """Refuse (LedgerError, the rule's message) a status change the lifecycle forbids."""
        assert entry.id is not None
        category = pending.get("category", entry.category)
        last = s.exec(select(AuditLog.new).where(
            AuditLog.entry_id == entry.id, AuditLog.action == "callback", AuditLog.field == "satisfaction")
            .order_by(col(AuditLog.id).desc())).first()
        snapshot = EntrySnapshot(
            id=entry.id, status=entry.status, category=category,
            department=pending.get("department", entry.department), urgent=pending.get("urgent", entry.urgent),
            needs_callback=needs_callback(entry.id, category, self.workflow.callback_rates,
                                          self.workflow.callback_seed),
            last_satisfaction=last)
        try:
            check_transition(snapshot, to_status, note=note, satisfaction=satisfaction)
        except TransitionError as exc:
            raise LedgerError(str(exc)) from exc

    def create_manual_entry(self, fields: dict[str, Any], source: str, actor: str, actor_id: int) -> Entry:
        """Walk-ins and the other sources (DOMAIN.md): the same fields, no call, no recording.
        Registered at once, owned by the clerk who took it (首接负责制)."""
        if source not in SOURCES or source == "phone":
            raise LedgerError(f"source must be one of {'/'.join(k for k in SOURCES if k != 'phone')}")
        self._validate(fields, allowed=(*DRAFT_FIELDS, "caller_number"))
        if not fields.get("summary"):
            raise LedgerError("summary: describe the problem")
        now = self.clock.now()
        with self.session() as s:
            entry = Entry(created_at=now, updated_at=now, kind="manual", source=source, status="registered",
                          owner_id=actor_id, confirmed_at=now, category="其他", department="客服")
            for name, value in fields.items():
                setattr(entry, name, digits_only(value) if name == "caller_number" else value)
            if entry.caller_number and not entry.resident_id:
                resident = self._resident_for_number(s, entry.caller_number)
                if resident is not None:
                    entry.resident_id = resident.id
                    entry.caller_name = entry.caller_name or resident.name
                    entry.unit = entry.unit or resident.unit
            s.add(entry)
            s.flush()
            self._audit(s, actor, entry.id, None, "created", "source", "", source)
            s.commit()
            self.bus.publish("entry.updated", entry_id=entry.id, fields=sorted(fields), action="created",
                             status=entry.status, actor=actor)
            return entry

    def acknowledge_urgent(self, entry_id: int, actor: str) -> None:
        """A clerk has seen the urgent call (burst pipe, lift entrapment...): audited, and every
        board stops flashing it."""
        with self.session() as s:
            entry = s.get(Entry, entry_id)
            if entry is None:
                raise NotFound(f"entry {entry_id}")
            self._audit(s, actor, entry.id, None, "urgent_ack", new=actor)
            s.commit()
        self.bus.publish("entry.updated", entry_id=entry_id, fields=[], action="urgent_acknowledged", actor=actor)

    def link_call(self, call_pk: int, entry_id: int, actor: str) -> Entry:
        """One click on the screen pop: this call is about open entry `entry_id` (一票到底).
        The call moves to that entry; the call's own draft entry is merged into it; the repeat
        counts and, as DOMAIN.md's repeat rule says, the entry becomes a complaint."""
        now = self.clock.now()
        with self.session() as s:
            call = s.get(Call, call_pk)
            if call is None:
                raise NotFound(f"call {call_pk}")
            target = s.get(Entry, entry_id)
            if target is None:
                raise NotFound(f"entry {entry_id}")
            if target.status not in OPEN_STATUSES:
                raise LedgerError(f"entry {entry_id} is {target.status}; a call can only join an open entry")
            if call.entry_id is None:
                raise LedgerError(f"call {call_pk} is not answered yet; link it once it is answered")
            if call.entry_id == target.id:
                return target
            own = s.get(Entry, call.entry_id)
            assert own is not None
            others = s.exec(select(func.count()).select_from(Call).where(
                Call.entry_id == own.id, Call.id != call.id)).one()
            if others or own.status not in ("draft", "registered"):
                raise LedgerError(f"call {call_pk} belongs to entry {own.id}, which has other calls "
                                  f"or is {own.status}; change that entry instead")
            old_status = own.status
            own.status, own.merged_into_id, own.updated_at = "merged", target.id, now
            call.entry_id = target.id
            target.repeat_count += 1
            target.updated_at = now
            old_cat = target.category
            target.category = "投诉"  # DOMAIN.md: the same problem raised twice counts as a complaint
            s.add_all([own, call, target])
            self._audit(s, actor, own.id, call.id, "linked_away", "status", old_status, "merged")
            self._audit(s, actor, target.id, call.id, "linked_call", "call", "", str(call.id))
            if old_cat != target.category:
                self._audit(s, actor, target.id, call.id, "linked_call", "category", old_cat, target.category)
            s.commit()
            self.bus.publish("entry.updated", entry_id=target.id, fields=["calls", "category"],
                             action="linked", call_id=call.id, merged_entry_id=own.id, actor=actor)
            return target

    def caller_history(self, number: str, unit: str, recent: int = 5) -> CallerHistory:
        """Every open entry of this number or unit, and the last few entries of each."""
        number = digits_only(number)
        with self.session() as s:
            resident = self._resident_for_number(s, number)
            if not unit and resident is not None:
                unit = resident.unit
            open_entries = self._open_entries(s, number, unit)

            def last(cond: ColumnElement[bool]) -> list[Entry]:
                q = (select(Entry).where(cond, Entry.status != "merged")
                     .order_by(col(Entry.created_at).desc(), col(Entry.id).desc()).limit(recent))
                return list(s.exec(q).all())

            return CallerHistory(number=number, unit=unit, resident=resident, open_entries=open_entries,
                                 caller_recent=last(col(Entry.caller_number) == number) if number else [],
                                 unit_recent=last(col(Entry.unit) == unit) if unit else [])

    def units_like(self, prefix: str, limit: int = 10) -> list[tuple[str, str]]:
        """Directory completion for the unit field: (unit, resident name)."""
        with self.session() as s:
            q = (select(Resident.unit, Resident.name).where(col(Resident.unit).startswith(prefix))
                 .order_by(col(Resident.unit)).limit(limit))
            return [(u, n) for u, n in s.exec(q).all()]

    def correction_stats(self) -> list[tuple[str, int, int]]:
        """Per drafted field: (field, confirmations, corrected) — the drafting's accuracy."""
        with self.session() as s:
            q = (select(Correction.field, func.count(), func.sum(func.cast(col(Correction.changed), Integer)))
                 .group_by(col(Correction.field)).order_by(col(Correction.field)))
            return [(f, int(n), int(c or 0)) for f, n, c in s.exec(q).all()]

    def corrections_of_entry(self, entry_id: int) -> list[Correction]:
        with self.session() as s:
            return list(s.exec(select(Correction).where(Correction.entry_id == entry_id)
                               .order_by(col(Correction.id))).all())

    # ----- directory ---------------------------------------------------------------------

    def upsert_resident(self, unit: str, name: str, phones: Sequence[str], key_customer: bool,
                        note: str = "") -> int:
        with self.session() as s:
            res = s.exec(select(Resident).where(Resident.unit == unit, Resident.name == name)).first()
            if res is None:
                res = Resident(unit=unit, name=name)
            res.key_customer, res.note = key_customer, note
            s.add(res)
            s.flush()
            known = set(s.exec(select(ResidentPhone.phone).where(ResidentPhone.resident_id == res.id)).all())
            for phone in phones:
                p = digits_only(phone)
                if p and p not in known:
                    assert res.id is not None
                    s.add(ResidentPhone(resident_id=res.id, phone=p))
                    known.add(p)
            s.commit()
            assert res.id is not None
            return res.id

    # ----- internals ---------------------------------------------------------------------

    @staticmethod
    def _call(s: Session, sip_call_id: str) -> Call:
        call = s.exec(select(Call).where(Call.sip_call_id == sip_call_id)).first()
        if call is None:
            raise NotFound(f"call {sip_call_id!r} was never logged")
        return call

    @staticmethod
    def _resident_for_number(s: Session, number: str) -> Resident | None:
        if not number:
            return None
        return s.exec(select(Resident).join(ResidentPhone, col(ResidentPhone.resident_id) == col(Resident.id))
                      .where(ResidentPhone.phone == number)).first()

    @staticmethod
    def _open_entries(s: Session, caller_number: str, unit: str) -> list[Entry]:
        conds: list[ColumnElement[bool]] = []
        if caller_number:
            conds.append(col(Entry.caller_number) == caller_number)
        if unit:
            conds.append(col(Entry.unit) == unit)
        if not conds:
            return []
        q = select(Entry).where(or_(*conds), col(Entry.status).in_(OPEN_STATUSES))
        return list(s.exec(q.order_by(col(Entry.created_at).desc())).all())

    @staticmethod
    def _attach_recording(call: Call, rec: Any) -> None:
        call.recording_key = rec.key
        call.recording_duration_ms = rec.duration_ms
        call.recording_size_bytes = rec.size_bytes
        call.recording_sha256 = rec.sha256
        call.recording_interrupted = bool(rec.interrupted)

    def _interrupt(self, s: Session, call: Call, now: datetime) -> None:
        call.status, call.end_reason = "interrupted", call.end_reason or "interrupted"
        call.ended_at = call.ended_at or now
        if call.entry_id is None:
            entry = Entry(created_at=now, updated_at=now, kind="call", status="draft",
                          caller_number=call.caller_number, interrupted=True,
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
        self._audit(s, "system", call.entry_id, call.id, "interrupted")

    def audit(self, actor: str, entry_id: int | None, action: str, field: str = "", old: str = "",
              new: str = "", call_pk: int | None = None) -> None:
        """An audit row for a change made outside the ledger's tables (work orders, callbacks)."""
        with self.session() as s:
            self._audit(s, actor, entry_id, call_pk, action, field, old, new)
            s.commit()

    def _audit(self, s: Session, actor: str, entry_id: int | None, call_pk: int | None, action: str,
               field: str = "", old: str = "", new: str = "") -> None:
        s.add(AuditLog(at=self.clock.now(), actor=actor, entry_id=entry_id, call_id=call_pk,
                       action=action, field=field, old=old, new=new))


_MISSED_REASONS = {"cancelled": "振铃时挂断", "busy": "线路忙", "error": "接听失败",
                   "refused_420": "话机要求的SIP扩展不支持", "refused_488": "话机的媒体格式无法接通",
                   "refused_415": "话机的呼叫格式无法识别"}

"""What the ledger answers: calls and entries by id, lists with their filters and full-text
search, the screen pop's history of a caller and a unit, the directory's completion, the
drafting's accuracy, and the calls whose transcript is still owed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Integer, func
from sqlmodel import col, select

from callcenter.ledger import search
from callcenter.ledger.core import (
    ANY_AGENT,
    LedgerCore,
    NotFound,
    call_of,
    digits_only,
    in_estates,
    of_agent,
    open_entries_of,
    resident_of,
)
from callcenter.ledger.models import AuditLog, Call, Correction, Entry, Resident


@dataclass(frozen=True)
class CallerHistory:
    """The screen pop (seed 002): what the desk already knows about this caller and this unit."""

    number: str
    unit: str
    resident: Resident | None
    open_entries: list[Entry]
    caller_recent: list[Entry]
    unit_recent: list[Entry]


# Transcripts not done, as the backlog figure counts them (GET /api/system/status).
WAITING_TRANSCRIPTS = ("queued", "unavailable", "failed", "live")


class Queries(LedgerCore):
    def transcript_backlog(self) -> dict[str, int]:
        """Inbound recorded calls per transcript status that is not done (WAITING_TRANSCRIPTS)."""
        with self.session() as s:
            rows = s.exec(select(Call.transcript_status, func.count()).where(
                col(Call.transcript_status).in_(WAITING_TRANSCRIPTS), Call.direction == "inbound",
                (Call.recording_key != "") | (Call.transcript_status != "unavailable"),
            ).group_by(Call.transcript_status)).all()
        counts = dict.fromkeys(WAITING_TRANSCRIPTS, 0)
        counts.update({status: int(n) for status, n in rows})
        return counts

    def calls_needing_transcript(self, statuses: tuple[str, ...] = ("unavailable",)) -> list[Call]:
        """Recorded, finished calls whose transcript is still owed: 'unavailable' (no model at the
        time); after a crash also 'pending', 'live' and 'queued' (the work died with the process)."""
        with self.session() as s:
            return list(s.exec(select(Call).where(
                col(Call.transcript_status).in_(statuses), Call.direction == "inbound",  # callbacks draft nothing
                Call.recording_key != "", col(Call.status).in_(("ended", "interrupted", "failed")))).all())

    def calls_needing_clerk_transcript(self, statuses: tuple[str, ...] = ("unavailable",)) -> list[Call]:
        """Finished bridged calls whose clerk transcript is still owed (as calls_needing_transcript)."""
        with self.session() as s:
            return list(s.exec(select(Call).where(
                col(Call.clerk_transcript_status).in_(statuses), Call.recording_key != "",
                col(Call.status).in_(("ended", "interrupted", "failed")))).all())

    def calls_in_flight(self, agent_id: str | None = ANY_AGENT) -> list[Call]:
        """Inbound calls the ledger still sees ringing or answered (after a crash: cut calls);
        `agent_id`: only those that agent carries (None: those of no agent); ANY_AGENT: all."""
        with self.session() as s:
            query = select(Call).where(col(Call.status).in_(("ringing", "answered")), Call.direction == "inbound")
            return list(s.exec(of_agent(query, agent_id)).all())

    def call_by_key(self, sip_call_id: str) -> Call:
        with self.session() as s:
            return call_of(s, sip_call_id)

    def resident_for_number(self, number: str, estate_id: int | None = None) -> Resident | None:
        with self.session() as s:
            return resident_of(s, digits_only(number), estate_id)

    def open_entries(self, caller_number: str, unit: str, estate_id: int | None = None) -> list[Entry]:
        with self.session() as s:
            return open_entries_of(s, digits_only(caller_number), unit, estate_id)

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

    def list_calls(self, *, status: str | None = None, limit: int = 50, offset: int = 0,
                   estate_ids: Collection[int] | None = None) -> list[Call]:
        """`estate_ids`: only calls of these estates (None: every estate)."""
        with self.session() as s:
            q = select(Call)
            if estate_ids is not None:
                q = q.where(in_estates(s, Call.estate_id, estate_ids))
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
                     cursor: str | None = None, count_cap: int | None = None,
                     estate_ids: Collection[int] | None = None) -> tuple[int, list[Entry]]:
        """(total, rows), newest first. `cursor` (from search.cursor_of; raises InvalidCursor)
        continues after that row instead of `offset`. With `count_cap` the total stops at
        count_cap + 1, so counting never costs more than reading that many index entries."""
        after = search.Cursor.decode(cursor) if cursor else None  # a bad cursor fails before any query
        with self.session() as s:
            q = select(Entry)
            if estate_ids is not None:  # the estates the reader may see (None: every estate)
                q = q.where(in_estates(s, Entry.estate_id, estate_ids))
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

    def caller_history(self, number: str, unit: str, recent: int = 5, estate_id: int | None = None,
                       estate_ids: Collection[int] | None = None) -> CallerHistory:
        """Every open entry of this number or unit, and the last few entries of each, in
        `estate_id` (the estate called) or, without it, in the estates `estate_ids` (None: all)."""
        number = digits_only(number)
        with self.session() as s:
            only = next(iter(estate_ids)) if estate_ids is not None and len(estate_ids) == 1 else None
            resident = resident_of(s, number, estate_id if estate_id is not None else only)
            if resident is not None and estate_ids is not None and resident.estate_id not in estate_ids:
                resident = None
            if not unit and resident is not None:
                unit = resident.unit
            open_entries = [e for e in open_entries_of(s, number, unit, estate_id)
                            if estate_ids is None or e.estate_id in estate_ids]

            def last(cond: ColumnElement[bool]) -> list[Entry]:
                q = select(Entry).where(cond, Entry.status != "merged")
                if estate_id is not None:
                    q = q.where(in_estates(s, Entry.estate_id, (estate_id,)))
                if estate_ids is not None:
                    q = q.where(in_estates(s, Entry.estate_id, estate_ids))
                q = q.order_by(col(Entry.created_at).desc(), col(Entry.id).desc()).limit(recent)
                return list(s.exec(q).all())

            return CallerHistory(number=number, unit=unit, resident=resident, open_entries=open_entries,
                                 caller_recent=last(col(Entry.caller_number) == number) if number else [],
                                 unit_recent=last(col(Entry.unit) == unit) if unit else [])

    def units_like(self, prefix: str, limit: int = 10,
                   estate_ids: Collection[int] | None = None) -> list[tuple[str, str]]:
        """Directory completion for the unit field: (unit, resident name), in `estate_ids` (None: all)."""
        with self.session() as s:
            q = select(Resident.unit, Resident.name).where(col(Resident.unit).startswith(prefix))
            if estate_ids is not None:
                q = q.where(in_estates(s, Resident.estate_id, estate_ids))
            q = q.order_by(col(Resident.unit)).limit(limit)
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

"""The lifecycle applied to entries: a status change is checked against ledger.lifecycle's rules
(with what only the database knows: the last callback's result, the sampling), stamped (when
dispatch, completion and closing first happened) and audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from callcenter.events import EntryUpdated
from callcenter.ledger.core import LedgerCore, LedgerError, NotFound
from callcenter.ledger.lifecycle import (
    CLOSED,
    COMPLETED,
    DISPATCHED,
    IN_PROGRESS,
    EntrySnapshot,
    TransitionError,
    check_transition,
)
from callcenter.ledger.models import AuditLog, Entry


def stamp_status(entry: Entry, to_status: str, now: datetime) -> None:
    """Keep when the lifecycle first reached dispatch and completion (the clocks and the
    statistics read them); a reopened entry's next completion counts anew."""
    if to_status == DISPATCHED and entry.dispatched_at is None:
        entry.dispatched_at = now
    elif to_status == COMPLETED:
        entry.completed_at = now
    elif to_status == CLOSED:
        entry.closed_at = now
    elif to_status == IN_PROGRESS:
        entry.closed_at = None


class Transitions(LedgerCore):
    def transition(self, entry_id: int, to_status: str, actor: str, note: str = "",
                   satisfaction: str | None = None) -> Entry:
        """Move an entry along its lifecycle (lifecycle.py), audited. `satisfaction`
        (满意/基本满意/不满意) is the callback's result when moving to called_back; `note` is
        kept in the audit trail and is the reason a reopen needs."""
        now = self.clock.now()
        with self.session() as s:
            entry = s.get(Entry, entry_id)
            if entry is None:
                raise NotFound(f"entry {entry_id}")
            old = entry.status
            self.check_move(s, entry, to_status, {}, note=note, satisfaction=satisfaction)
            stamp_status(entry, to_status, now)
            entry.status, entry.updated_at = to_status, now
            if satisfaction is not None:
                entry.satisfaction = satisfaction
            s.add(entry)
            self.audit_in(s, actor, entry.id, None, "transition", "status", old, to_status)
            if satisfaction is not None:
                self.audit_in(s, actor, entry.id, None, "callback", "satisfaction", "", satisfaction)
            if note:
                self.audit_in(s, actor, entry.id, None, "note", "status", "", note)
            s.commit()
            self.bus.publish(EntryUpdated(entry_id=entry.id, fields=["status"], action="transition",
                                          status=to_status, old_status=old, satisfaction=satisfaction, actor=actor))
            return entry

    def check_move(self, s: Session, entry: Entry, to_status: str, pending: dict[str, Any],
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
            needs_callback=self.callbacks.picks(entry.id, category),
            last_satisfaction=last)
        try:
            check_transition(snapshot, to_status, note=note, satisfaction=satisfaction)
        except TransitionError as exc:
            raise LedgerError(str(exc)) from exc

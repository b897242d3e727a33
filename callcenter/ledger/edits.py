"""What clerks do to entries: correct them, confirm a draft (becoming its first-contact owner,
首接人, with the draft's accuracy kept per field), take one by hand (walk-ins and the other
sources), acknowledge an urgent call, and link a repeat call to the open entry it is about.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from callcenter.drafting.terms import UnknownTerm
from callcenter.events import EntryUpdated
from callcenter.ledger.core import LedgerError, NotFound, claim, digits_only, resident_of
from callcenter.ledger.lifecycle import DRAFT, OPEN, REGISTERED, STATES
from callcenter.ledger.models import Call, Correction, Entry
from callcenter.ledger.repeats import BY_CLERK, join_repeat
from callcenter.ledger.transitions import Transitions, stamp_status
from callcenter.ledger.vocabulary import DRAFT_FIELDS, EDITABLE_FIELDS, MANUAL, MANUAL_SOURCES


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class AlreadyConfirmed(LedgerError):
    """A second clerk confirmed a draft the first already confirmed (the API's 409)."""

    def __init__(self, entry_id: int, owner_id: int | None, confirmed_at: Any) -> None:
        super().__init__(f"entry {entry_id} was already confirmed")
        self.entry_id, self.owner_id, self.confirmed_at = entry_id, owner_id, confirmed_at


class ClerkEdits(Transitions):
    def _validate(self, changes: dict[str, Any], allowed: Sequence[str]) -> None:
        unknown = set(changes) - set(allowed)
        if unknown:
            raise LedgerError(f"these fields cannot be changed: {', '.join(sorted(unknown))}")
        try:
            if "category" in changes:
                self.terms.check_category(changes["category"])
            if "department" in changes:
                self.terms.check_department(changes["department"])
        except UnknownTerm as exc:
            raise LedgerError(str(exc)) from exc
        if "status" in changes and changes["status"] not in STATES:
            raise LedgerError(f"status must be one of {'/'.join(STATES)}")

    def update_entry(self, entry_id: int, changes: dict[str, Any], actor: str, based_on: int | None = None) -> Entry:
        """`based_on`: the entry's version the clerk's form showed; a newer one refuses the write
        (versions.StaleWrite) instead of reverting someone else's change."""
        self._validate(changes, allowed=EDITABLE_FIELDS)
        now = self.clock.now()
        with self.session() as s:
            entry = s.get(Entry, entry_id)
            if entry is None:
                raise NotFound(f"entry {entry_id}")
            claim(s, entry, based_on)
            old_status = entry.status
            if "status" in changes and changes["status"] != entry.status:
                # the other fields of the same change (a category, say) count for the rules
                after = {k: v for k, v in changes.items() if k != "status"}
                self.check_move(s, entry, changes["status"], after)
                stamp_status(entry, changes["status"], now)
            for name, new in changes.items():
                old = getattr(entry, name)
                if old != new:
                    setattr(entry, name, new)
                    self.audit_in(s, actor, entry.id, None, "update", name, str(old), str(new))
            entry.updated_at = now
            s.add(entry)
            s.commit()
            self.bus.publish(EntryUpdated(entry_id=entry.id, fields=sorted(changes), status=entry.status,
                                          old_status=old_status, actor=actor))
            return entry

    def confirm_entry(self, entry_id: int, changes: dict[str, Any], actor: str, actor_id: int,
                      based_on: int | None = None) -> Entry:
        """The clerk confirms the (corrected) draft: status registered, the clerk becomes the
        first-contact owner (首接人) unless someone already is, and per drafted field the draft's
        value vs the confirmed value is kept for accuracy statistics. An entry is confirmed once:
        a second confirmation (two clerks on the same draft) is refused with AlreadyConfirmed,
        also when both press at the same instant (the version claim serialises them)."""
        self._validate(changes, allowed=DRAFT_FIELDS)
        now = self.clock.now()
        with self.session() as s:
            entry = s.get(Entry, entry_id)
            if entry is None:
                raise NotFound(f"entry {entry_id}")
            if entry.confirmed_at is not None:
                raise AlreadyConfirmed(entry_id, entry.owner_id, entry.confirmed_at)
            claim(s, entry, based_on)
            if entry.status not in OPEN:
                raise LedgerError(f"entry {entry_id} is {entry.status}; only open entries can be confirmed")
            for name, new in changes.items():
                old = getattr(entry, name)
                if old != new:
                    setattr(entry, name, new)
                    self.audit_in(s, actor, entry.id, None, "confirm", name, str(old), str(new))
            if entry.status == DRAFT:
                self.check_move(s, entry, REGISTERED, {})
                entry.status = REGISTERED
                self.audit_in(s, actor, entry.id, None, "confirm", "status", DRAFT, REGISTERED)
            if entry.owner_id is None:
                entry.owner_id = actor_id
                self.audit_in(s, actor, entry.id, None, "confirm", "owner", "", actor)
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
            self.bus.publish(EntryUpdated(entry_id=entry.id, fields=sorted(changes), action="confirmed",
                                          status=entry.status, actor=actor))
            return entry

    def create_manual_entry(self, fields: dict[str, Any], source: str, actor: str, actor_id: int,
                            estate_id: int | None = None) -> Entry:
        """Walk-ins and the other sources (DOMAIN.md): the same fields, no call, no recording.
        Registered at once, owned by the clerk who took it (首接负责制), in `estate_id` (None:
        the default estate)."""
        estate = self.estates.default if estate_id is None else self.estates.by_id(estate_id)
        if estate is None:
            raise LedgerError(f"estate_id: no estate {estate_id}")
        if source not in MANUAL_SOURCES:
            raise LedgerError(f"source must be one of {'/'.join(MANUAL_SOURCES)}")
        self._validate(fields, allowed=(*DRAFT_FIELDS, "caller_number"))
        if not fields.get("summary"):
            raise LedgerError("summary: describe the problem")
        now = self.clock.now()
        with self.session() as s:
            entry = Entry(created_at=now, updated_at=now, kind=MANUAL, source=source, status=REGISTERED,
                          owner_id=actor_id, confirmed_at=now, category=self.terms.fallback_category,
                          department=self.terms.desk_department, estate_id=estate.id)
            for name, value in fields.items():
                setattr(entry, name, digits_only(value) if name == "caller_number" else value)
            if entry.caller_number and not entry.resident_id:
                resident = resident_of(s, entry.caller_number, entry.estate_id)
                if resident is not None:
                    entry.resident_id = resident.id
                    entry.caller_name = entry.caller_name or resident.name
                    entry.unit = entry.unit or resident.unit
            s.add(entry)
            s.flush()
            self.audit_in(s, actor, entry.id, None, "created", "source", "", source)
            s.commit()
            self.bus.publish(EntryUpdated(entry_id=entry.id, fields=sorted(fields), action="created",
                                          status=entry.status, actor=actor))
            return entry

    def acknowledge_urgent(self, entry_id: int, actor: str) -> None:
        """A clerk has seen the urgent call (burst pipe, lift entrapment...): audited, and every
        board stops flashing it."""
        with self.session() as s:
            entry = s.get(Entry, entry_id)
            if entry is None:
                raise NotFound(f"entry {entry_id}")
            self.audit_in(s, actor, entry.id, None, "urgent_ack", new=actor)
            s.commit()
        self.bus.publish(EntryUpdated(entry_id=entry_id, fields=[], action="urgent_acknowledged", actor=actor))

    def link_call(self, call_pk: int, entry_id: int, actor: str) -> Entry:
        """One click on the screen pop: this call is about open entry `entry_id` (一票到底).
        The call moves to that entry; the call's own draft entry is merged into it; the repeat
        counts and, as DOMAIN.md's repeat rule says, the entry becomes a complaint (repeats.py)."""
        now = self.clock.now()
        with self.session() as s:
            call = s.get(Call, call_pk)
            if call is None:
                raise NotFound(f"call {call_pk}")
            target = s.get(Entry, entry_id)
            if target is None:
                raise NotFound(f"entry {entry_id}")
            if target.status not in OPEN:
                raise LedgerError(f"entry {entry_id} is {target.status}; a call can only join an open entry")
            if call.entry_id is None:
                raise LedgerError(f"call {call_pk} is not answered yet; link it once it is answered")
            if call.entry_id == target.id:
                return target
            if call.estate_id != target.estate_id:
                raise LedgerError(f"entry {entry_id} belongs to another estate than call {call_pk}; "
                                  f"a call can only join an entry of the estate it called")
            own = s.get(Entry, call.entry_id)
            assert own is not None
            others = s.exec(select(func.count()).select_from(Call).where(
                Call.entry_id == own.id, Call.id != call.id)).one()
            if others or own.status not in (DRAFT, REGISTERED):
                raise LedgerError(f"call {call_pk} belongs to entry {own.id}, which has other calls "
                                  f"or is {own.status}; change that entry instead")
            join_repeat(s, self.audit_in, own=own, call=call, target=target, now=now, actor=actor,
                        trail=BY_CLERK)
            s.commit()
            self.bus.publish(EntryUpdated(entry_id=target.id, fields=["calls", "category"], action="linked",
                                          call_id=call.id, merged_entry_id=own.id, actor=actor))
            return target

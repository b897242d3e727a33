"""What every part of the ledger's one write path shares: the database, the clock, the event
bus, the site's rules (callback sampling, categories and departments), sessions, the audit
trail, and the small lookups every write needs.

`LedgerService` (service.py) is this core with the parts that write and read: calls.py (the
call pipeline), edits.py (clerks), transitions.py (the lifecycle), repeats.py (the repeat
rule), queries.py (reads), residents.py (the directory).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, or_
from sqlmodel import Session, col, select

from callcenter.clock import Clock
from callcenter.drafting.rules import packaged_terms
from callcenter.drafting.terms import SiteTerms
from callcenter.estates.directory import Estates
from callcenter.events import EventBus
from callcenter.ledger.callback_sampling import CallbackSampling
from callcenter.ledger.lifecycle import OPEN
from callcenter.ledger.models import AuditLog, Call, Entry, Resident, ResidentPhone
from callcenter.ledger.versions import StaleWrite, claim  # noqa: F401  (also arms the version listener)


class LedgerError(ValueError):
    """A request the ledger refuses; the message says which field and why."""


class NotFound(LookupError):
    pass


ANY_AGENT = "*"  # every call, whichever agent carries it (call.agent_id)


def of_agent(query: Any, agent_id: str | None) -> Any:
    """`query` on calls narrowed to those `agent_id` carries (None: calls of no agent, i.e. of
    an all-in-one process); ANY_AGENT leaves it as it is."""
    if agent_id == ANY_AGENT:
        return query
    return query.where(col(Call.agent_id).is_(None) if agent_id is None else Call.agent_id == agent_id)


def digits_only(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def jsonable(obj: Any) -> Any:
    """Dataclasses (a Draft, a transcript's words) as JSON values for the ledger's JSON columns."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, datetime):
        return obj.isoformat()
    return obj


# ----- lookups inside a session ------------------------------------------------------------------

def in_estates(s: Session, column: Any, ids: Collection[int]) -> ColumnElement[bool]:
    """`column IN ids` as a filter beside the query's own index. An estate is a large share of
    the rows, and SQLite (which keeps no statistics here) would otherwise answer from the estate
    index and sort every row of the estate (a first page of the ledger took 30 times longer);
    `+ 0` keeps SQLite off that index. PostgreSQL's planner decides with its statistics."""
    wanted = sorted(ids)
    if s.get_bind().dialect.name == "sqlite":
        return (column + 0).in_(wanted)  # type: ignore[no-any-return]
    return col(column).in_(wanted)



def call_of(s: Session, sip_call_id: str) -> Call:
    call = s.exec(select(Call).where(Call.sip_call_id == sip_call_id)).first()
    if call is None:
        raise NotFound(f"call {sip_call_id!r} was never logged")
    return call


def resident_of(s: Session, number: str, estate_id: int | None = None) -> Resident | None:
    """The resident with this phone number, in `estate_id` (None: any estate)."""
    if not number:
        return None
    q = select(Resident).join(ResidentPhone, col(ResidentPhone.resident_id) == col(Resident.id)) \
        .where(ResidentPhone.phone == number)
    if estate_id is not None:
        q = q.where(in_estates(s, Resident.estate_id, (estate_id,)))
    return s.exec(q).first()


def open_entries_of(s: Session, caller_number: str, unit: str, estate_id: int | None = None) -> list[Entry]:
    """Open entries of this number or unit, in `estate_id` (None: any estate): the repeat rule
    and the screen pop look within the estate called, where the same unit names another flat."""
    conds: list[ColumnElement[bool]] = []
    if caller_number:
        conds.append(col(Entry.caller_number) == caller_number)
    if unit:
        conds.append(col(Entry.unit) == unit)
    if not conds:
        return []
    q = select(Entry).where(or_(*conds), col(Entry.status).in_(OPEN))
    if estate_id is not None:
        q = q.where(in_estates(s, Entry.estate_id, (estate_id,)))
    return list(s.exec(q.order_by(col(Entry.created_at).desc())).all())


class LedgerCore:
    def __init__(self, engine: Engine, clock: Clock, bus: EventBus,
                 callbacks: CallbackSampling | None = None, call_write_timeout_s: float = 3.0,
                 terms: SiteTerms | None = None, estates: Estates | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.bus = bus
        # which entries must be called back before they close (workflow.callback_rates)
        self.callbacks = callbacks or CallbackSampling()
        # the site's categories, departments and complaint subjects (its drafting rules file)
        self.terms = terms or packaged_terms()
        # A call must not wait on a locked SQLite file for the engine's 30 s: after this long its
        # write fails and goes to the outbox (ledger/outbox.py) instead.
        self.call_write_timeout_s = call_write_timeout_s
        # the estates (项目) served: a call belongs to the estate whose number was dialled
        self.estates = estates or Estates.single()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def call_session(self) -> Session:
        """A session for the call path's writes: on SQLite it gives up on a lock quickly."""
        s = self.session()
        if self.engine.dialect.name == "sqlite":
            s.connection().exec_driver_sql(f"PRAGMA busy_timeout={int(self.call_write_timeout_s * 1000)}")
        return s

    def audit_in(self, s: Session, actor: str, entry_id: int | None, call_pk: int | None, action: str,
                 field: str = "", old: str = "", new: str = "") -> None:
        """An audit row in the caller's transaction."""
        s.add(AuditLog(at=self.clock.now(), actor=actor, entry_id=entry_id, call_id=call_pk,
                       action=action, field=field, old=old, new=new))

    def audit(self, actor: str, entry_id: int | None, action: str, field: str = "", old: str = "",
              new: str = "", call_pk: int | None = None) -> None:
        """An audit row for a change made outside the ledger's tables (work orders, callbacks)."""
        with self.session() as s:
            self.audit_in(s, actor, entry_id, call_pk, action, field, old, new)
            s.commit()

"""Reading one estate's (or some estates') rows only, for code that was written for one estate.

The reports' builders select entries, calls, callbacks, work orders and corrections from the
whole database; inside `only_estates(ids)` every ORM SELECT in this thread (and context) gets
SQLAlchemy's loader criteria for those tables, so each report is an estate's report without a
parameter threaded through every builder. Rows linked to an entry follow their entry's estate.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import event, or_
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlmodel import col, select

from callcenter.ledger.models import (
    AuditLog,
    Call,
    CallbackTask,
    ClockAlert,
    Correction,
    Entry,
    Notification,
    Resident,
    WorkOrder,
)

_READING: ContextVar[tuple[int, ...] | None] = ContextVar("estates_read", default=None)


@contextmanager
def only_estates(ids: Collection[int] | None) -> Iterator[None]:
    """Inside: ORM reads see the estates `ids` only (None: every estate, no change)."""
    token = _READING.set(tuple(sorted(ids)) if ids is not None else None)
    try:
        yield
    finally:
        _READING.reset(token)


@event.listens_for(Session, "do_orm_execute")
def _estate_criteria(state: ORMExecuteState) -> None:
    ids = _READING.get()
    if ids is None or not state.is_select:
        return
    wanted = list(ids)
    of_estates = select(Entry.id).where(col(Entry.estate_id).in_(wanted)).scalar_subquery()
    state.statement = state.statement.options(
        with_loader_criteria(Entry, col(Entry.estate_id).in_(wanted), include_aliases=True),
        with_loader_criteria(Call, col(Call.estate_id).in_(wanted), include_aliases=True),
        with_loader_criteria(Resident, col(Resident.estate_id).in_(wanted), include_aliases=True),
        *(with_loader_criteria(t, col(t.entry_id).in_(of_estates), include_aliases=True)
          for t in (CallbackTask, WorkOrder, Correction, AuditLog, ClockAlert)),
        # notices about an entry follow its estate; the system's (no entry) are everyone's
        with_loader_criteria(Notification, or_(col(Notification.entry_id).is_(None),
                                               col(Notification.entry_id).in_(of_estates)), include_aliases=True),
    )

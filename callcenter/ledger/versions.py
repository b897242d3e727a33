"""Optimistic concurrency for what clerks edit side by side: entries, work orders, callback tasks.

Every write to such a row bumps its `version` (a session listener, so the call pipeline and the
workflow's own writes count too, and they never fail on it). A clerk's write claims the version
its form was based on with one conditional UPDATE inside its transaction: if another write
came in between, no row matches and the write is refused with `StaleWrite` (the API's 409),
instead of silently reverting the other clerk's work. The claim also takes the row's write lock,
so two clerks pressing 「确认」 at the same instant cannot both pass the checks.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect, select, update
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from callcenter.ledger.models import CallbackTask, Entry, WorkOrder

VERSIONED: tuple[type[Any], ...] = (Entry, WorkOrder, CallbackTask)
_INT_MAX = 2**31 - 1  # the version columns are 32-bit integers in PostgreSQL


class StaleWrite(Exception):
    """The row changed since the writer read it. `current` is the row's version now."""

    def __init__(self, kind: str, row_id: int, based_on: int | None, current: int | None) -> None:
        super().__init__(f"{kind} {row_id} is at version {current}, the write was based on {based_on}")
        self.kind, self.row_id, self.based_on, self.current = kind, row_id, based_on, current


def claim(s: Session, row: Any, based_on: int | None) -> None:
    """Claim `row` for this transaction's write: it must still be at `based_on` (the version the
    client saw; None: the version this session read). Bumps the version, or raises StaleWrite."""
    model = type(row)
    expected = row.version if based_on is None else based_on
    if expected != row.version and expected >= _INT_MAX:
        # no row gets there (a version counts writes); the bump would not fit a PostgreSQL integer
        raise StaleWrite(model.__tablename__, row.id, based_on, row.version)
    result = s.execute(update(model).where(model.id == row.id, model.version == expected)  # type: ignore[attr-defined]
                       .values(version=expected + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        current = s.execute(select(model.version).where(model.id == row.id)).scalar()  # type: ignore[attr-defined]
        raise StaleWrite(model.__tablename__, row.id, based_on if based_on is not None else row.version, current)
    # the in-memory row knows its new version; the listener below leaves a claimed row alone
    row.version = expected + 1


@event.listens_for(OrmSession, "before_flush")
def _bump_versions(session: OrmSession, _context: Any, _instances: Any) -> None:
    for obj in session.dirty:
        if not isinstance(obj, VERSIONED) or not session.is_modified(obj, include_collections=False):
            continue
        if inspect(obj).attrs.version.history.has_changes():
            continue  # claimed: already bumped by the conditional UPDATE
        # the version this session read, plus one: the callers keep using the row after commit
        # (a SQL expression would leave the attribute expired on a detached row)
        committed = inspect(obj).attrs.version.loaded_value
        obj.version = (committed if isinstance(committed, int) else 1) + 1

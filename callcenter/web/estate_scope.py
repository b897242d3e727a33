"""The estates a request may read (callcenter/estates/scope.py), as FastAPI dependencies.

`Scope` is the signed-in user's EstateScope for list queries. `guard_estate_paths` is put on the
routers that address one entry, call, work order or callback by id: an id of an estate outside
the user's scope answers 404, as if it did not exist (its existence is not disclosed).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.requests import HTTPConnection

from callcenter.accounts import Principal
from callcenter.estates.scope import EstateScope, ScopeError, scope_of
from callcenter.events import Event
from callcenter.ledger.models import Call, CallbackTask, Entry, TrainingItem, WorkOrder
from callcenter.web.deps import EstateList, Ledger, web_state
from callcenter.web.security import current_principal

NOT_FOUND = "没有这条记录 / not found"


def estate_scope(ledger: Ledger, estates: EstateList,
                 who: Principal = Depends(current_principal)) -> EstateScope:
    return scope_of(ledger.engine, estates, who.user_id, who.role)


Scope = Annotated[EstateScope, Depends(estate_scope)]


def estate_filter(scope: Scope, estate: int | None = Query(None, ge=1, le=2**31 - 1,
                                                           description="只看这个项目（estate id）")
                  ) -> frozenset[int] | None:
    """The `?estate=` filter within the user's scope: None (every estate) for company scope."""
    try:
        return scope.narrowed(estate)
    except ScopeError as exc:
        raise HTTPException(403, "无权查看该项目 / not one of your estates") from exc


EstateFilter = Annotated[frozenset[int] | None, Depends(estate_filter)]

# path parameter -> how to find the estate of the row it names
_ROWS: dict[str, type[Entry] | type[Call] | type[WorkOrder] | type[CallbackTask] | type[TrainingItem]] = {
    "entry_id": Entry, "call_id": Call, "order_id": WorkOrder, "task_id": CallbackTask, "item_id": TrainingItem}


def guard_estate_paths(request: Request, ledger: Ledger, scope: Scope) -> None:
    if scope.ids is None:
        return
    with Session(ledger.engine) as s:
        for name, table in _ROWS.items():
            raw = request.path_params.get(name)
            if raw is None or not str(raw).isdigit() or int(raw) > 2**63 - 1:
                continue  # the route's own validation answers 422
            row = s.get(table, int(raw))
            if row is None:
                continue  # the route answers 404 itself
            estate_id: int | None
            if isinstance(row, TrainingItem):  # a training clip: its call's estate
                call = s.get(Call, row.call_id)
                estate_id = call.estate_id if call is not None else None
            elif isinstance(row, WorkOrder | CallbackTask):
                entry = s.get(Entry, row.entry_id)
                estate_id = entry.estate_id if entry is not None else None
            else:
                assert isinstance(row, Entry | Call)
                estate_id = row.estate_id
            if estate_id is not None and not scope.allows(estate_id):
                raise HTTPException(404, NOT_FOUND)


class EventVisibility:
    """Which live events a user of a limited scope receives: an event about a call or an entry
    of another estate is not sent; events about no call or entry (alarms, the SIP line) are.
    Each call's and entry's estate is looked up once per connection (it never changes)."""

    _MAX_CACHED = 20_000

    def __init__(self, engine: Engine, scope: EstateScope) -> None:
        self.engine = engine
        self.scope = scope
        self._estate: dict[tuple[str, int], int | None] = {}

    def _lookup(self, kind: str, row_id: int) -> int | None:
        with Session(self.engine) as s:
            row = s.get(Call, row_id) if kind == "call" else s.get(Entry, row_id)
            return row.estate_id if row is not None else None

    async def visible(self, event: Event) -> bool:
        if self.scope.ids is None:
            return True
        data = event.data
        if event.type == "call.provisional":  # not in the database yet: it names its estate itself
            estate = data.get("estate_id")
            return not isinstance(estate, int) or self.scope.allows(estate)
        key: tuple[str, int] | None = None
        if isinstance(data.get("call_id"), int):
            key = ("call", data["call_id"])
        elif isinstance(data.get("entry_id"), int):
            key = ("entry", data["entry_id"])
        if key is None:
            return True
        if key not in self._estate:
            if len(self._estate) > self._MAX_CACHED:
                self._estate.clear()
            self._estate[key] = await asyncio.to_thread(self._lookup, *key)
        estate_id = self._estate[key]
        return estate_id is None or self.scope.allows(estate_id)


def event_visibility(conn: HTTPConnection, who: Principal) -> EventVisibility:
    services = web_state(conn).services
    estates = services.estates or services.ledger.estates
    return EventVisibility(services.ledger.engine, scope_of(services.ledger.engine, estates, who.user_id, who.role))

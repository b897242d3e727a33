"""Which estates a user works for, and so may see.

A user assigned to estates sees those. Without an assignment, a supervisor or admin has company
scope (every estate) and anyone else the default estate only, so a single-estate site changes
nothing and a clerk added before estates existed sees no other estate's callers.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from callcenter.estates.directory import Estates
from callcenter.ledger.models import User, UserEstate

COMPANY_ROLES = ("supervisor", "admin")  # company scope when not assigned to estates


class ScopeError(ValueError):
    pass


@dataclass(frozen=True)
class EstateScope:
    """The estates one user may see; `ids` None: all of them (company scope)."""

    ids: frozenset[int] | None

    def allows(self, estate_id: int) -> bool:
        return self.ids is None or estate_id in self.ids

    def narrowed(self, estate_id: int | None) -> frozenset[int] | None:
        """The estates a query reads: the one asked for (if in scope), else the whole scope."""
        if estate_id is None:
            return self.ids
        if not self.allows(estate_id):
            raise ScopeError(f"estate {estate_id} is not one of yours")
        return frozenset({estate_id})


def assigned_estates(engine: Engine, user_id: int) -> frozenset[int]:
    with Session(engine) as s:
        return frozenset(s.exec(select(UserEstate.estate_id).where(UserEstate.user_id == user_id)).all())


def scope_of(engine: Engine, estates: Estates, user_id: int, role: str) -> EstateScope:
    ids = assigned_estates(engine, user_id)
    if not ids:
        ids = estates.ids() if role in COMPANY_ROLES else frozenset({estates.default.id})
    if ids >= estates.ids():
        return EstateScope(None)
    return EstateScope(ids)


def assign_estates(engine: Engine, estates: Estates, username: str, codes: Collection[str]) -> list[str]:
    """Replace the user's estates with `codes` (empty: back to the role's default scope).
    Returns the estates' names; ScopeError names an unknown user or estate code."""
    wanted = []
    for code in codes:
        estate = estates.by_code(code)
        if estate is None:
            known = ", ".join(e.code for e in estates.all())
            raise ScopeError(f"no estate with code {code!r}; the estates are: {known}")
        wanted.append(estate)
    with Session(engine) as s:
        user = s.exec(select(User).where(User.username == username)).first()
        if user is None or user.id is None:
            raise ScopeError(f"no user {username!r}")
        s.exec(delete(UserEstate).where(col(UserEstate.user_id) == user.id))  # type: ignore[call-overload]
        for e in wanted:
            s.add(UserEstate(user_id=user.id, estate_id=e.id))
        s.commit()
    return [e.name for e in wanted]

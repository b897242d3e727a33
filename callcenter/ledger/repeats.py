"""DOMAIN.md's repeat rule, written once: a call about an entry still open joins that entry
(一票到底). The call's own entry is merged into it, the repeat is counted, and the entry becomes
a complaint (the same problem raised twice counts as one).

A call joins an open entry two ways: the drafting finds the repeat when the call ends
(`apply_draft`), or a clerk links it from the screen pop (`link_call`). The state change is the
same; each way keeps the audit rows the panel's timeline has always shown for it (`Trail`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from callcenter.ledger.lifecycle import COMPLAINT, MERGED
from callcenter.ledger.models import Call, Entry

Audit = Callable[..., None]  # LedgerCore.audit_in bound to the session's writer


@dataclass(frozen=True)
class Trail:
    """How one way of joining is written in the audit trail."""

    merged: str  # on the call's own entry, merged away
    joined: str  # on the entry the call joins
    names_call: bool  # the joined entry's trail names the call that joined
    upgrade_always: bool  # the category row even when the entry already was a complaint


BY_DRAFTING = Trail(merged="merged", joined="repeat_call", names_call=False, upgrade_always=True)
BY_CLERK = Trail(merged="linked_away", joined="linked_call", names_call=True, upgrade_always=False)


def join_repeat(s: Session, audit: Audit, *, own: Entry, call: Call, target: Entry, now: datetime,
                actor: str, trail: Trail, reason: str = "") -> None:
    """Move `call` from its own entry `own` to the open entry `target` it repeats, in the
    caller's transaction. The caller has checked that the move is allowed."""
    old_status, old_category = own.status, target.category
    own.status, own.merged_into_id, own.updated_at = MERGED, target.id, now
    call.entry_id = target.id
    target.repeat_count += 1
    target.category = COMPLAINT
    target.updated_at = now
    s.add_all([own, call, target])
    audit(s, actor, own.id, call.id, trail.merged, "status", old_status, MERGED)
    if trail.names_call:
        audit(s, actor, target.id, call.id, trail.joined, "call", "", str(call.id))
    if trail.upgrade_always or old_category != COMPLAINT:
        audit(s, actor, target.id, call.id, trail.joined, "category", old_category, COMPLAINT)
    if reason:
        audit(s, actor, target.id, call.id, "repeat_reason", new=reason)

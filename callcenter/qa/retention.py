"""Recording retention: delete recordings older than `keep_days`, except those a case or a
trainer still needs (an open entry, a training set). The call row and its transcript stay;
each deletion is audited with the actor "retention" and stamped on Call.recording_deleted_at."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from callcenter.clock import Clock
from callcenter.ledger.lifecycle import OPEN as OPEN_STATUSES
from callcenter.ledger.models import AuditLog, Call, CallbackTask, Entry, TrainingItem
from callcenter.qa.settings import QaSettings

log = logging.getLogger(__name__)
ACTOR = "retention"


class DeletableStore(Protocol):
    def delete(self, key: str) -> bool: ...


@dataclass
class RetentionResult:
    deleted: list[int] = field(default_factory=list)  # call ids whose audio was removed
    kept_open: list[int] = field(default_factory=list)  # linked to an open entry
    kept_training: list[int] = field(default_factory=list)  # in a training set
    failed: dict[int, str] = field(default_factory=dict)  # call id -> why (retried next run)


def _protected(s: Session, candidates: list[Call]) -> tuple[set[int], set[int]]:
    ids = [c.id for c in candidates]
    training = set(s.exec(select(TrainingItem.call_id).where(col(TrainingItem.call_id).in_(ids))).all())
    open_entries = set(s.exec(select(Entry.id).where(col(Entry.status).in_(OPEN_STATUSES))).all())
    # a recorded callback belongs to its task's entry as much as the call's own entry
    via_task = dict(s.exec(select(CallbackTask.call_id, CallbackTask.entry_id)
                           .where(col(CallbackTask.call_id).in_(ids))).all())
    open_calls = {c.id for c in candidates
                  if c.entry_id in open_entries or via_task.get(c.id) in open_entries}
    return {i for i in open_calls if i is not None}, {i for i in training if i is not None}


def apply_retention(engine: Engine, store: DeletableStore, settings: QaSettings, clock: Clock,
                    batch: int = 500) -> RetentionResult:
    """Run the policy once (daily from the scheduler, or from the CLI). Idempotent."""
    result = RetentionResult()
    keep_days = settings.retention.keep_days
    if keep_days is None:
        return result
    cutoff = clock.now() - timedelta(days=keep_days)
    last_id = 0
    while True:
        with Session(engine, expire_on_commit=False) as s:
            candidates = list(s.exec(
                select(Call).where(Call.recording_key != "", col(Call.recording_deleted_at).is_(None),
                                   col(Call.received_at) < cutoff, col(Call.id) > last_id)
                .order_by(col(Call.id)).limit(batch)).all())
            if not candidates:
                return result
            last_id = candidates[-1].id or last_id
            open_calls, training = _protected(s, candidates)
            for call in candidates:
                assert call.id is not None
                if call.id in training:
                    result.kept_training.append(call.id)
                    continue
                if call.id in open_calls:
                    result.kept_open.append(call.id)
                    continue
                try:
                    existed = store.delete(call.recording_key)
                except (OSError, ValueError) as exc:
                    log.error("retention: recording of call %s not deleted: %s", call.id, exc)
                    result.failed[call.id] = str(exc)
                    continue
                now = clock.now()
                call.recording_deleted_at = now
                s.add(call)
                s.add(AuditLog(at=now, actor=ACTOR, entry_id=call.entry_id, call_id=call.id,
                               action="recording_deleted", field="recording",
                               old=call.recording_key,
                               new=f"older than {keep_days} days" + ("" if existed else " (file already gone)")))
                s.commit()  # per file: a crash between unlink and commit is completed by the next run
                result.deleted.append(call.id)

"""Shift handover (交接班): at each shift change the outgoing shift's open items are compiled
into one record that the incoming clerk acknowledges (DOMAIN.md, 首接负责制).

One record per shift change (a unique key), however often the job runs: a restart after the
shift change compiles the missed record once, never twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from callcenter.clock import Clock
from callcenter.events import HandoverCreated
from callcenter.ledger.lifecycle import TERMINAL, label
from callcenter.ledger.models import CallbackTask, Entry, Handover, User
from callcenter.ledger.service import LedgerError, LedgerService, NotFound
from callcenter.ledger.vocabulary import label_of
from callcenter.workflow.callback_tasks import KINDS as TASK_KINDS
from callcenter.workflow.notices import NoticeBoard
from callcenter.workflow.settings import WorkflowSettings

MAX_ITEMS = 500  # a handover longer than this is a backlog report, not a handover


def latest_shift_change(now: datetime, settings: WorkflowSettings) -> datetime:
    """The most recent configured shift change at or before `now` (UTC in and out)."""
    zone = settings.zone
    today = now.astimezone(zone).date()
    candidates = [datetime.combine(day, t, zone).astimezone(UTC)
                  for day in (today - timedelta(days=1), today) for t in settings.shift_changes]
    return max(c for c in candidates if c <= now)


class Handovers:
    def __init__(self, ledger: LedgerService, clock: Clock, settings: WorkflowSettings,
                 notices: NoticeBoard) -> None:
        self.ledger, self.clock, self.settings, self.notices = ledger, clock, settings, notices

    def compile(self) -> Handover:
        """The record of the latest shift change, created if it does not exist yet."""
        change_at = latest_shift_change(self.clock.now(), self.settings)
        existing = self._at(change_at)
        if existing is not None:
            return existing
        items = self._open_items()
        local = change_at.astimezone(self.settings.zone)
        row = Handover(shift_change_at=change_at, shift_name=f"{local:%m-%d %H:%M} 接班", created_at=self.clock.now(),
                       items=items, open_count=len(items))
        try:
            with self.ledger.session() as s:
                s.add(row)
                s.commit()
                s.refresh(row)
        except IntegrityError:  # another process compiled it a moment ago
            found = self._at(change_at)
            assert found is not None
            return found
        self.notices.post("handover", f"交接班：{row.shift_name}，未完结 {row.open_count} 项",
                          "请接班客服查看交接记录并确认。", severity="info", audience=("clerk", "supervisor"))
        self.ledger.bus.publish(HandoverCreated(id=row.id, open_count=row.open_count))
        return row

    def _at(self, change_at: datetime) -> Handover | None:
        with self.ledger.session() as s:
            return s.exec(select(Handover).where(Handover.shift_change_at == change_at)).first()

    def _open_items(self) -> list[dict[str, Any]]:
        zone = self.settings.zone
        with self.ledger.session() as s:
            entries = s.exec(select(Entry).where(col(Entry.status).not_in(TERMINAL))
                             .order_by(col(Entry.urgent).desc(), col(Entry.created_at)).limit(MAX_ITEMS)).all()
            tasks = s.exec(select(CallbackTask).where(CallbackTask.status == "open")).all()
            owners = {u.id: u.display_name or u.username for u in s.exec(select(User)).all()}
        open_tasks: dict[int, list[str]] = {}
        for t in tasks:
            open_tasks.setdefault(t.entry_id, []).append(
                f"{label_of(TASK_KINDS, t.kind)}（{t.due_at.astimezone(zone):%m-%d %H:%M} 前）")
        return [{"entry_id": e.id, "status": e.status, "status_label": label(e.status),
                 "unit": e.unit, "category": e.category, "department": e.department, "urgent": e.urgent,
                 "summary": e.summary[:100], "owner": owners.get(e.owner_id, "") if e.owner_id else "",
                 "created_at": e.created_at.isoformat(), "tasks": open_tasks.get(e.id or 0, [])}
                for e in entries]

    def latest(self) -> Handover | None:
        with self.ledger.session() as s:
            return s.exec(select(Handover).order_by(col(Handover.shift_change_at).desc())).first()

    def get(self, handover_id: int) -> Handover:
        with self.ledger.session() as s:
            row = s.get(Handover, handover_id)
            if row is None:
                raise NotFound(f"handover {handover_id}")
            return row

    def acknowledge(self, handover_id: int, actor: str, note: str = "") -> Handover:
        with self.ledger.session() as s:
            row = s.get(Handover, handover_id)
            if row is None:
                raise NotFound(f"handover {handover_id}")
            if row.acknowledged_at is not None:
                raise LedgerError(f"交接记录已由 {row.acknowledged_by} 确认 / already acknowledged by "
                                  f"{row.acknowledged_by}")
            row.acknowledged_at, row.acknowledged_by, row.note = self.clock.now(), actor, note
            s.add(row)
            s.commit()
            s.refresh(row)
        self.ledger.audit(actor, None, "handover_ack", row.shift_name, "", note)
        return row

"""The case clocks: register within 1 minute, dispatch within 5, callback within 2 hours of
completion, missed calls returned within 30 minutes — and what happens when one runs out.

Each running clock has two levels: *overdue* at its due time (the on-duty clerks and the
supervisor are told; urgent entries also the project head) and *escalated* a while later if
still not done (the supervisor and the project head). Every level is a date job in
APScheduler's persistent SQLAlchemy job store, so clocks survive restarts; a job that runs
twice (a restart between firing and removal, or the sweep getting there first) fires nothing
twice, because each level reached is a row under a unique key (ClockAlert). The clock's due
times come from workflow.deadlines (business hours, holidays, urgent around the clock); what
is running is always recomputed from the ledger, never trusted from the job.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from callcenter.clock import Clock
from callcenter.estates.hours import workflow_of_entry
from callcenter.ledger.lifecycle import DRAFT, REGISTERED
from callcenter.ledger.models import AuditLog, CallbackTask, ClockAlert, Entry
from callcenter.ledger.service import LedgerService
from callcenter.ledger.vocabulary import CALL, MISSED_CALL, URGENT_DETECTED
from callcenter.workflow.deadlines import Due, clock_state, dispatch_due, register_due
from callcenter.workflow.notices import NoticeBoard
from callcenter.workflow.settings import WorkflowSettings

log = logging.getLogger(__name__)

JOBSTORE = "clocks"
CLOCK_LABELS = {"register": "登记", "dispatch": "派工/答复", "callback": "回访", "missed_call": "未接来电回拨"}
LEVELS = ("overdue", "escalated")
_LATE_TOLERANCE = timedelta(seconds=1)


@dataclass(frozen=True)
class RunningClock:
    subject: str  # "entry:12" or "task:5"
    clock: str
    entry_id: int
    due: Due
    urgent: bool

    def level_at(self, level: str, escalate_after_s: int) -> datetime:
        extra = timedelta(seconds=escalate_after_s) if level == "escalated" else timedelta(0)
        return self.due.due_at + extra


def entry_clocks(entry: Entry, tasks: list[CallbackTask], settings: WorkflowSettings,
                 urgent_detected_at: datetime | None = None) -> list[RunningClock]:
    """The clocks running for one entry now, from its state alone (pure). `urgent_detected_at`:
    when the agent heard the hazard during the call (its audit row), if it did."""
    assert entry.id is not None
    subject = f"entry:{entry.id}"
    running: list[RunningClock] = []
    if entry.kind == CALL and entry.status == DRAFT:
        running.append(RunningClock(subject, "register", entry.id, register_due(entry.created_at, settings,
                                                                                 entry.urgent), entry.urgent))
    if entry.urgent and urgent_detected_at is not None and entry.status in (DRAFT, REGISTERED):
        # Urgency heard during the call: the urgent dispatch clock runs from that moment.
        running.append(RunningClock(subject, "dispatch", entry.id, dispatch_due(urgent_detected_at, settings,
                                                                                 True), True))
    elif entry.status == REGISTERED and entry.kind != MISSED_CALL and entry.confirmed_at is not None:
        running.append(RunningClock(subject, "dispatch", entry.id, dispatch_due(entry.confirmed_at, settings,
                                                                                 entry.urgent), entry.urgent))
    for task in tasks:
        if task.status == "open":
            running.append(RunningClock(f"task:{task.id}", task.kind, entry.id,
                                        Due(task.created_at, task.due_at), entry.urgent))
    return running


_keeper: ClockKeeper | None = None


def run_clock_job(subject: str, clock: str, level: str) -> None:
    """The persistent jobs' target: a module-level name, so a restarted scheduler finds it."""
    if _keeper is None:
        log.warning("clock job %s %s %s ran before the clock keeper was bound; the sweep will catch it",
                    subject, clock, level)
        return
    _keeper.fire(subject, clock, level)


class ClockKeeper:
    def __init__(self, ledger: LedgerService, clock: Clock, settings: WorkflowSettings, notices: NoticeBoard,
                 scheduler: BaseScheduler | None = None) -> None:
        self.ledger, self.clock, self.settings, self.notices = ledger, clock, settings, notices
        self.scheduler = scheduler

    def bind(self) -> None:
        """Make this keeper the target of the persistent jobs (before the scheduler starts)."""
        global _keeper
        _keeper = self

    # ----- state ------------------------------------------------------------------------

    def _hours(self, entry: Entry) -> WorkflowSettings:
        """The settings of the entry's estate: its own business hours and holidays, if it has any."""
        return workflow_of_entry(self.settings, self.ledger.estates, entry)

    def _entry_and_tasks(self, entry_id: int) -> tuple[Entry, list[CallbackTask], datetime | None] | None:
        with self.ledger.session() as s:
            entry = s.get(Entry, entry_id)
            if entry is None:
                return None
            tasks = list(s.exec(select(CallbackTask).where(CallbackTask.entry_id == entry_id)).all())
            urgent_at = s.exec(select(AuditLog.at).where(AuditLog.entry_id == entry_id,
                                                         AuditLog.action == URGENT_DETECTED)
                               .order_by(col(AuditLog.at))).first() if entry.urgent else None
            return entry, tasks, urgent_at

    def running(self, entry_id: int) -> list[RunningClock]:
        found = self._entry_and_tasks(entry_id)
        return entry_clocks(*found[:2], self._hours(found[0]), found[2]) if found else []

    def _running_clock(self, subject: str, clock: str) -> RunningClock | None:
        kind, _, raw_id = subject.partition(":")
        if not raw_id.isdigit():
            return None
        if kind == "task":
            with self.ledger.session() as s:
                task = s.get(CallbackTask, int(raw_id))
                entry_id = task.entry_id if task else None
        else:
            entry_id = int(raw_id)
        if entry_id is None:
            return None
        return next((r for r in self.running(entry_id) if r.subject == subject and r.clock == clock), None)

    def view(self, entry_id: int) -> list[dict[str, Any]]:
        """For the panel: each running clock's due time, seconds left and ok/amber/red."""
        now = self.clock.now()
        return [{"clock": r.clock, "label": CLOCK_LABELS[r.clock], "subject": r.subject,
                 "due_at": r.due.due_at.isoformat(), "left_s": round((r.due.due_at - now).total_seconds()),
                 "state": clock_state(r.due, now, self.settings.amber_at)} for r in self.running(entry_id)]

    # ----- firing -----------------------------------------------------------------------

    def fire(self, subject: str, clock: str, level: str) -> bool:
        """Alert one level of one clock if it is still running and due; True if it alerted now."""
        running = self._running_clock(subject, clock)
        if running is None:
            return False  # done meanwhile
        at = running.level_at(level, self.settings.escalate_after_s)
        if self.clock.now() + _LATE_TOLERANCE < at:
            return False  # moved later (e.g. no longer urgent): the rescheduled job will come
        if level == "escalated" and running.urgent:
            return False  # urgent ones reached the project head at the first level already
        alert = ClockAlert(subject=subject, clock=clock, level=level, entry_id=running.entry_id,
                           at=self.clock.now(), due_at=running.due.due_at)
        try:
            with self.ledger.session() as s:
                s.add(alert)
                s.commit()
        except IntegrityError:
            return False  # this level already alerted (a rerun after a restart, or the sweep)
        self._notify(running, level)
        return True

    def sweep(self) -> int:
        """Fire every due level of every running clock: the safety net behind the date jobs
        (and what tests drive with a controllable clock). Returns how many alerted."""
        now = self.clock.now()
        # Three queries for the whole desk, then only the new levels are fired (each re-checked).
        with self.ledger.session() as s:
            tasks = list(s.exec(select(CallbackTask).where(CallbackTask.status == "open")).all())
            task_entries = {t.entry_id for t in tasks}
            entries = list(s.exec(select(Entry).where(or_(col(Entry.status).in_((DRAFT, REGISTERED)),
                                                          col(Entry.id).in_(task_entries)))).all())
            reached = set(s.exec(select(ClockAlert.subject, ClockAlert.clock, ClockAlert.level)).all())
            urgent_ids = [e.id for e in entries if e.urgent]
            urgent_at: dict[int, datetime] = {}
            for entry_id, at in s.exec(select(AuditLog.entry_id, AuditLog.at).where(
                    AuditLog.action == URGENT_DETECTED, col(AuditLog.entry_id).in_(urgent_ids))
                    .order_by(col(AuditLog.at).desc())).all():
                if entry_id is not None:
                    urgent_at[entry_id] = at  # the earliest wins (descending order)
        tasks_of: dict[int, list[CallbackTask]] = {}
        for t in tasks:
            tasks_of.setdefault(t.entry_id, []).append(t)
        fired = 0
        for entry in entries:
            for r in entry_clocks(entry, tasks_of.get(entry.id or 0, []), self._hours(entry),
                                  urgent_at.get(entry.id or 0)):
                for level in LEVELS:
                    if ((r.subject, r.clock, level) not in reached
                            and r.level_at(level, self.settings.escalate_after_s) <= now + _LATE_TOLERANCE):
                        fired += self.fire(r.subject, r.clock, level)
        return fired

    def _notify(self, r: RunningClock, level: str) -> None:
        entry = self.ledger.get_entry(r.entry_id)
        label = CLOCK_LABELS[r.clock]
        due_local = r.due.due_at.astimezone(self.settings.zone)
        what = f"{entry.unit or '房号未知'}｜{entry.category}｜{entry.summary[:60]}"
        if level == "overdue":
            audience: tuple[str, ...] = ("clerk", "supervisor", "project_head") if r.urgent else ("clerk", "supervisor")
            self.notices.post("overdue", f"{label}超时：台账 {r.entry_id}{'（紧急）' if r.urgent else ''}",
                              f"{what}\n应于 {due_local:%m-%d %H:%M} 前完成{label}。",
                              severity="critical" if r.urgent else "warning", audience=audience,
                              entry_id=r.entry_id)
        else:
            self.notices.post("escalation", f"升级：台账 {r.entry_id} {label}超时未处理",
                              f"{what}\n{label}应于 {due_local:%m-%d %H:%M} 前完成，至今未处理，请项目负责人督办。",
                              severity="critical", audience=("supervisor", "project_head"), entry_id=r.entry_id)

    # ----- scheduling -------------------------------------------------------------------

    def sync(self, entry_id: int) -> None:
        """(Re)schedule the entry's clocks after any change; drop the jobs of finished ones."""
        if self.scheduler is None:
            return
        found = self._entry_and_tasks(entry_id)
        if found is None:
            return
        entry, tasks, urgent_detected_at = found
        wanted = {}
        for r in entry_clocks(entry, tasks, self._hours(entry), urgent_detected_at):
            for level in LEVELS:
                if level == "escalated" and r.urgent:
                    continue
                wanted[f"{r.subject}:{r.clock}:{level}"] = (r, level)
        possible = [f"entry:{entry_id}:{c}:{lv}" for c in ("register", "dispatch") for lv in LEVELS]
        possible += [f"task:{t.id}:{t.kind}:{lv}" for t in tasks for lv in LEVELS]
        for job_id in possible:
            if job_id not in wanted:
                with contextlib.suppress(JobLookupError):
                    self.scheduler.remove_job(job_id, jobstore=JOBSTORE)
        for job_id, (r, level) in wanted.items():
            self.scheduler.add_job(run_clock_job, "date", id=job_id, jobstore=JOBSTORE, replace_existing=True,
                                   run_date=r.level_at(level, self.settings.escalate_after_s),
                                   args=(r.subject, r.clock, level), misfire_grace_time=None, coalesce=True)

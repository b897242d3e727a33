"""The case workflow in one place: work orders, callback tasks, clocks, handovers and
notices, driven by the ledger's events.

The ledger stays the one write path for entries; this layer listens to its events (a call
missed, an entry completed, an urgent draft...) and does what the procedure asks next.
Listening runs on the publisher's thread, so the work is handed to one workflow thread:
a telephony thread never waits for a clock to be scheduled.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import time
from time import sleep

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy.exc import OperationalError

from callcenter.clock import Clock
from callcenter.drafting.hazard import HAZARD_NAMES
from callcenter.events import (
    CallAnswered,
    CallbackUpdated,
    CallEnded,
    CallMissed,
    CallPerson,
    DraftReady,
    EntryUpdated,
    Event,
    EventBus,
)
from callcenter.ledger.lifecycle import CALLED_BACK, COMPLETED, TERMINAL
from callcenter.ledger.models import CallbackTask
from callcenter.ledger.service import LedgerService
from callcenter.ledger.vocabulary import CALLBACK_REASONS, CUT_OFF_END_REASONS
from callcenter.workflow.callback_tasks import CallbackTasks
from callcenter.workflow.clocks import JOBSTORE, ClockKeeper
from callcenter.workflow.handover import Handovers
from callcenter.workflow.notices import NoticeBoard
from callcenter.workflow.settings import WorkflowSettings
from callcenter.workflow.work_orders import WorkOrders

log = logging.getLogger(__name__)

_DB_RETRIES = 5  # 1+2+4+8+8 s: longer than a database restart, shorter than the register clock
_EVENTS = {t.TYPE for t in (CallAnswered, CallMissed, DraftReady, EntryUpdated, CallbackUpdated, CallPerson,
                            CallEnded)}
_handovers: Handovers | None = None


def run_handover_job() -> None:
    """Persistent cron jobs' target (module level, so a restarted scheduler finds it)."""
    if _handovers is not None:
        _handovers.compile()


class CaseWorkflow:
    def __init__(self, ledger: LedgerService, clock: Clock, settings: WorkflowSettings, notices: NoticeBoard,
                 scheduler: BaseScheduler | None = None, *, inline: bool = False) -> None:
        self.ledger, self.settings, self.notices, self.scheduler = ledger, settings, notices, scheduler
        self.work_orders = WorkOrders(ledger, clock, settings)
        self.callbacks = CallbackTasks(ledger, clock, settings, notices)
        self.clocks = ClockKeeper(ledger, clock, settings, notices, scheduler)
        self.handovers = Handovers(ledger, clock, settings, notices)
        # inline: handle events on the publisher's thread (tests that want determinism)
        self._executor = None if inline else ThreadPoolExecutor(1, thread_name_prefix="workflow")

    def attach(self, bus: EventBus) -> None:
        bus.add_listener(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.type not in _EVENTS:
            return
        if isinstance(event.payload, CallEnded) and event.payload.reason not in CUT_OFF_END_REASONS:
            return  # a call that finished: nothing to do (most calls end so)
        if self._executor is None:
            self._handle(event)
        else:
            self._executor.submit(self._handle_logged, event)

    def _handle_logged(self, event: Event) -> None:
        # A database that restarts or fails over drops the pooled connections in use: the event's
        # reaction (a clock started, a notice) is tried again for about half a minute, not lost.
        for attempt in range(_DB_RETRIES + 1):
            try:
                self._handle(event)
                return
            except OperationalError as exc:
                if attempt == _DB_RETRIES:
                    log.exception("workflow failed to handle %s %s", event.type, event.data)
                    return
                log.warning("workflow: database unavailable while handling %s (%s); retrying",
                            event.type, str(exc.orig).strip().splitlines()[0] if exc.orig else exc)
                sleep(min(2.0**attempt, 8.0))
            except Exception:
                log.exception("workflow failed to handle %s %s", event.type, event.data)
                return

    def _handle(self, event: Event) -> None:
        payload = event.payload
        entry_id = getattr(payload, "entry_id", None)
        if not isinstance(entry_id, int):
            return
        if isinstance(payload, CallMissed):
            task = self.callbacks.on_missed(entry_id)
            if task is not None:
                self._owed_call_notice(task, "未接来电")
        elif isinstance(payload, CallEnded):
            self._cut_off(entry_id, payload.call_id, payload.reason)
        elif isinstance(payload, DraftReady) and payload.urgent:
            self._urgent(entry_id)
        elif isinstance(payload, CallPerson):
            self._person_step(entry_id, payload)
        elif isinstance(payload, EntryUpdated) and payload.status != payload.old_status:
            self._status_changed(entry_id, str(payload.status or ""), str(payload.actor or "system"))
        self.clocks.sync(entry_id)

    def _status_changed(self, entry_id: int, status: str, actor: str) -> None:
        if status == COMPLETED:
            self.callbacks.on_completed(entry_id)
        elif status == CALLED_BACK:
            self.callbacks.close_for_entry(entry_id, actor, "called_back")
        elif status in TERMINAL:
            self.callbacks.close_for_entry(entry_id, actor, f"台账已{status}")

    def _urgent(self, entry_id: int, hazard: str = "", unit: str = "") -> None:
        """Important items go at once to the supervisor and the project head (DOMAIN.md). Once per
        entry: a draft is ready again after a transcript worker or an outbox replay redrafts it,
        and an urgency heard during the call was announced at that moment already."""
        if self.notices.posted("urgent", entry_id):
            return
        entry = self.ledger.get_entry(entry_id)
        if hazard:  # heard during the call: the entry is not drafted yet
            name = HAZARD_NAMES.get(hazard, "紧急情况")
            self.notices.post("urgent", f"紧急来电（通话中）：台账 {entry_id} {unit or entry.unit or '房号未知'} {name}",
                              f"来电号码 {entry.caller_number or '未显示'}，正在通话，已转值班人员", severity="critical",
                              audience=("clerk", "supervisor", "project_head"), entry_id=entry_id)
            return
        self.notices.post("urgent", f"紧急来电：台账 {entry_id} {entry.unit or '房号未知'}",
                          f"{entry.category}｜{entry.department}｜{entry.summary}", severity="critical",
                          audience=("clerk", "supervisor", "project_head"), entry_id=entry_id)

    def _person_step(self, entry_id: int, step: CallPerson) -> None:
        """Urgency heard during the call: the notice now. Nobody took a caller who asked for a
        person (or the urgent call): a callback task on the missed-call clock."""
        if step.step == "urgent":
            self._urgent(entry_id, step.reason, step.unit)
        elif step.step in ("unanswered", "nobody"):
            task = self.callbacks.on_missed(entry_id, f"person_{step.step}")
            if task is not None:
                self._owed_call_notice(task, "转人工未接通")
        elif step.step == "caller_gone":  # hung up while the phones rang: nobody took the matter
            self._cut_off(entry_id, step.call_id, "caller_gone")

    def _cut_off(self, entry_id: int, call_pk: int | None, reason: str) -> None:
        """A resident's call that ended before they were surely served (vocabulary
        CUT_OFF_END_REASONS, or 'caller_gone'): called back on the missed-call clock, once per
        entry. Callbacks a clerk placed are the clerk's own task already; a closed entry owes nothing."""
        if call_pk is not None and self.ledger.get_call(call_pk).direction != "inbound":
            return
        if self.ledger.get_entry(entry_id).status in TERMINAL:
            return
        task = self.callbacks.on_cut_off(entry_id, reason)
        if task is not None:
            self._owed_call_notice(task, f"{CALLBACK_REASONS[reason]}，请回拨")

    def _owed_call_notice(self, task: CallbackTask, title: str) -> None:
        """The clerks' notice of a call to return on the missed-call clock."""
        self.notices.post("missed_call", f"{title}：{task.number or '号码未显示'}",
                          f"请于 {task.due_at.astimezone(self.settings.zone):%H:%M} 前回拨。",
                          audience=("clerk",), entry_id=task.entry_id)

    # ----- running ----------------------------------------------------------------------

    def start(self) -> None:
        """Bind the persistent jobs' targets and (re)register the recurring jobs. Call before
        the scheduler starts, so jobs that came due while we were down find their keeper."""
        global _handovers
        self.clocks.bind()
        _handovers = self.handovers
        if self.scheduler is None:
            return
        zone = self.settings.zone
        for t in self.settings.shift_changes:
            self.scheduler.add_job(run_handover_job, "cron", hour=t.hour, minute=t.minute, timezone=zone,
                                   id=f"handover:{t:%H%M}", jobstore=JOBSTORE, replace_existing=True,
                                   misfire_grace_time=3600, coalesce=True)
        self._drop_stale_shift_jobs(self.settings.shift_changes)
        self.scheduler.add_job(self.clocks.sweep, "interval", minutes=1, id="clock_sweep", replace_existing=True,
                               max_instances=1, coalesce=True)
        # a shift change that passed while we were down still gets its handover, once; clocks
        # that ran out meanwhile alert now (the jobs would too: the alerts are idempotent)
        self.handovers.compile()
        self.clocks.sweep()

    def _drop_stale_shift_jobs(self, shifts: tuple[time, ...]) -> None:
        assert self.scheduler is not None
        wanted = {f"handover:{t:%H%M}" for t in shifts}
        for job in self.scheduler.get_jobs(jobstore=JOBSTORE):
            if job.id.startswith("handover:") and job.id not in wanted:
                job.remove()

    def drain(self, timeout_s: float = 10.0) -> None:
        """Wait until the events handed over so far are handled (tests, shutdown)."""
        if self._executor is not None:
            done: Future[None] = self._executor.submit(lambda: None)
            done.result(timeout_s)

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=False)

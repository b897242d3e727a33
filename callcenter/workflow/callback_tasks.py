"""Calls the desk owes residents: callbacks (回访) after completed work, and missed calls.

A callback task is created when an entry sampled for a callback (ledger.callback_sampling) is
completed; a missed-call task when a caller hung up before the answer, nobody took a caller
who asked for a person, or the call was cut off before the resident was surely served (its
`reason`: vocabulary.CALLBACK_REASONS). Each has a due time
(its clock). The clerk places the call from the panel (the agent dials and records it) or
logs one made by hand; a callback's result is the resident's satisfaction, and 不满意 reopens
the entry and escalates it until the resident is satisfied (DOMAIN.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from callcenter.clock import Clock
from callcenter.estates.hours import workflow_of_entry
from callcenter.events import CallbackUpdated
from callcenter.ledger.lifecycle import (
    COMPLETED,
    DISPATCHED,
    IN_PROGRESS,
    REGISTERED,
    SATISFACTIONS,
    UNSATISFIED,
    allowed_targets,
)
from callcenter.ledger.lifecycle import label as entry_label
from callcenter.ledger.models import CallbackTask, Entry
from callcenter.ledger.service import LedgerError, LedgerService, NotFound
from callcenter.ledger.versions import StaleWrite, claim
from callcenter.ledger.vocabulary import label_of
from callcenter.workflow.deadlines import callback_due, due_after
from callcenter.workflow.notices import NoticeBoard
from callcenter.workflow.settings import WorkflowSettings

KINDS = {"callback": "回访", "missed_call": "未接回拨"}
STATUSES = {"open": "待办", "done": "已完成", "cancelled": "已取消"}
OUTCOMES = {"connected": "已接通", "no_answer": "无人接听", "busy": "占线", "rejected": "拒接",
            "unreachable": "无法接通", "wrong_number": "号码有误", "error": "呼叫失败",
            "clerk_unreachable": "坐席分机未接"}
# What a clerk logs by hand (the clerk's own extension not answering happens only when dialling).
LOGGED_OUTCOMES = tuple(o for o in OUTCOMES if o != "clerk_unreachable")


class CallbackTasks:
    def __init__(self, ledger: LedgerService, clock: Clock, settings: WorkflowSettings,
                 notices: NoticeBoard) -> None:
        self.ledger, self.clock, self.settings, self.notices = ledger, clock, settings, notices

    # ----- creating ---------------------------------------------------------------------

    def on_completed(self, entry_id: int) -> CallbackTask | None:
        """Completion starts the 2-hour callback clock, for entries the sampling picks."""
        entry = self.ledger.get_entry(entry_id)
        if not self.settings.callback_sampling.picks(entry_id, entry.category):
            return None
        start = entry.completed_at or self.clock.now()
        due = callback_due(start, workflow_of_entry(self.settings, self.ledger.estates, entry), entry.urgent).due_at
        return self._open_once(entry, "callback", due)

    def on_missed(self, entry_id: int, reason: str = "missed") -> CallbackTask | None:
        """A call to return on the missed-call clock, from the entry's start; `reason`: why
        (vocabulary.CALLBACK_REASONS). An open one already owed is returned as it is."""
        entry = self.ledger.get_entry(entry_id)
        due = due_after(entry.created_at, self.settings.missed_call_within_s,
                        workflow_of_entry(self.settings, self.ledger.estates, entry)).due_at
        return self._open_once(entry, "missed_call", due, reason)

    def on_cut_off(self, entry_id: int, reason: str) -> CallbackTask | None:
        """A call cut off before the resident was surely served (vocabulary.CUT_OFF_END_REASONS,
        or the caller gone while being transferred): a task on the missed-call clock, once per
        entry. None when nothing new was opened: a return call is already owed (转人工 went
        unanswered, say), or this reason was handled before (a recovery run twice, an outbox
        replay, a task a clerk has closed since)."""
        with self.ledger.session() as s:
            earlier = s.exec(select(CallbackTask.id).where(
                CallbackTask.entry_id == entry_id, CallbackTask.kind == "missed_call",
                (col(CallbackTask.status) == "open") | (col(CallbackTask.reason) == reason)).limit(1)).first()
        if earlier is not None:
            return None
        return self.on_missed(entry_id, reason)

    def record_unplanned(self, entry_id: int, actor: str, satisfaction: str, notes: str = "") -> CallbackTask:
        """A callback the clerk made although the sampling had not asked for one (「记录回访」 on an
        entry without an open task): it becomes a task done at once, so its satisfaction is kept,
        counted in the callback report, and 不满意 reopens and escalates like any other."""
        entry = self.ledger.get_entry(entry_id)
        if satisfaction not in SATISFACTIONS:
            raise LedgerError(f"回访须记录业户满意度（{'/'.join(SATISFACTIONS)}）/ a callback needs the "
                              f"resident's satisfaction: one of {', '.join(SATISFACTIONS)}")
        if "called_back" not in allowed_targets(entry.status):  # refused before any task is made
            raise LedgerError(f"台账 {entry_id} 为「{entry_label(entry.status)}」，不能记录回访 / entry "
                              f"{entry_id} is {entry.status}: it cannot be called back yet")
        task = self._open_once(entry, "callback", self.clock.now())
        assert task.id is not None
        return self.log_result(task.id, "connected", actor, satisfaction=satisfaction, notes=notes)

    def _open_once(self, entry: Entry, kind: str, due_at: datetime, reason: str = "") -> CallbackTask:
        """One open task per entry and kind: a repeated event does not create a second one."""
        with self.ledger.session() as s:
            existing = s.exec(select(CallbackTask).where(CallbackTask.entry_id == entry.id,
                                                         CallbackTask.kind == kind,
                                                         CallbackTask.status == "open")).first()
            if existing is not None:
                return existing
            assert entry.id is not None
            task = CallbackTask(entry_id=entry.id, kind=kind, reason=reason, number=entry.caller_number,
                                created_at=self.clock.now(), due_at=due_at)
            s.add(task)
            s.commit()
            s.refresh(task)
        self.ledger.audit("system", entry.id, "callback_task", kind, "", f"due {due_at.isoformat()}")
        self._published(task)
        return task

    # ----- results ----------------------------------------------------------------------

    def log_result(self, task_id: int, outcome: str, actor: str, *, satisfaction: str = "", notes: str = "",
                   method: str = "manual", call_id: int | None = None, based_on: int | None = None) -> CallbackTask:
        """What came of one attempt. Connected callbacks need the resident's satisfaction.
        `based_on`: the task's version the clerk saw; a newer one refuses (versions.StaleWrite)."""
        if outcome not in OUTCOMES:
            raise LedgerError(f"outcome must be one of {', '.join(OUTCOMES)}")
        task = self.get(task_id)
        if based_on is not None and task.version != based_on:  # before the entry moves
            raise StaleWrite("callbacktask", task_id, based_on, task.version)
        if task.status != "open":
            raise LedgerError(f"回访任务 {task_id} {label_of(STATUSES, task.status)} / task {task_id} "
                              f"is {task.status}")
        is_callback = task.kind == "callback"
        if is_callback and outcome == "connected" and satisfaction not in SATISFACTIONS:
            raise LedgerError(f"回访接通后须记录业户满意度（{'/'.join(SATISFACTIONS)}）/ a connected callback "
                              f"needs the resident's satisfaction: one of {', '.join(SATISFACTIONS)}")
        if satisfaction and satisfaction not in SATISFACTIONS:
            raise LedgerError(f"satisfaction must be one of {', '.join(SATISFACTIONS)}")
        done = outcome in ("connected", "wrong_number")
        if done and is_callback and outcome == "connected":
            # the entry's lifecycle first: if it refuses (not completed yet), nothing is recorded
            self.ledger.transition(task.entry_id, "called_back", actor, note=notes, satisfaction=satisfaction)
        now = self.clock.now()
        for attempt in range(3):
            try:
                row = self._record_result(task_id, outcome, method, actor, notes, satisfaction, call_id, done, now)
                break
            except StaleWrite:
                # the entry's move above sets off the workflow's own handlers, which may write this
                # task at the same moment; this is the service's own write: read it again and apply
                if attempt == 2:
                    raise
        self.ledger.audit(actor, row.entry_id, "callback_attempt", row.kind, "",
                          f"{OUTCOMES[outcome]}{' ' + satisfaction if satisfaction else ''}", call_pk=call_id)
        if row.kind == "missed_call" and outcome == "connected":
            self._returned_missed_call(row.entry_id, actor, notes)
        if is_callback and satisfaction == UNSATISFIED:
            self._unsatisfied(row.entry_id, actor, notes)
        self._published(row)
        return row

    def record_dialled(self, task_id: int, outcome: str, actor: str, call_id: int | None) -> CallbackTask:
        """A call placed through the agent: one attempt, its recording linked. Connected calls
        stay open until the clerk logs what the resident said (the satisfaction)."""
        with self.ledger.session() as s:
            row = s.get(CallbackTask, task_id)
            if row is None:
                raise NotFound(f"callback task {task_id}")
            row.attempts += 1
            row.outcome, row.method, row.actor = outcome, "sip", actor
            row.call_id = call_id or row.call_id
            s.add(row)
            s.commit()
            s.refresh(row)
        self.ledger.audit(actor, row.entry_id, "callback_attempt", row.kind, "",
                          f"外呼{OUTCOMES.get(outcome, outcome)}", call_pk=call_id)
        self._published(row)
        return row

    def _record_result(self, task_id: int, outcome: str, method: str, actor: str, notes: str,
                       satisfaction: str, call_id: int | None, done: bool, now: datetime) -> CallbackTask:
        with self.ledger.session() as s:
            row = s.get(CallbackTask, task_id, with_for_update=True, populate_existing=True)
            assert row is not None
            claim(s, row, None)  # the version now
            # the result of a call the agent placed and already counted is not a new attempt
            if not (row.method == "sip" and row.outcome == "connected" and outcome == "connected"):
                row.attempts += 1
            row.outcome, row.method, row.actor = outcome, method, actor
            row.notes = "\n".join(n for n in (row.notes, notes) if n)
            row.satisfaction = satisfaction or row.satisfaction
            row.call_id = call_id or row.call_id
            if done:
                row.status, row.done_at = "done", now
            s.add(row)
            s.commit()
            s.refresh(row)
            return row

    def _returned_missed_call(self, entry_id: int, actor: str, notes: str) -> None:
        entry = self.ledger.get_entry(entry_id)
        if entry.status in (REGISTERED, DISPATCHED, IN_PROGRESS):
            self.ledger.transition(entry_id, COMPLETED, actor, note=notes or "已回拨")

    def _unsatisfied(self, entry_id: int, actor: str, notes: str) -> None:
        """不满意: reopen for rework and escalate to the supervisor and the project head."""
        entry = self.ledger.get_entry(entry_id)
        self.ledger.transition(entry_id, "in_progress", actor, note=f"回访不满意，重新处理。{notes}".strip())
        self.notices.post("unsatisfied", f"回访不满意：台账 {entry_id} {entry.unit}",
                          f"{entry.category}｜{entry.summary}\n回访记录：{notes or '（无）'}\n已转为处理中，请跟进至业户满意。",
                          severity="critical", audience=("clerk", "supervisor", "project_head"), entry_id=entry_id)

    def close_for_entry(self, entry_id: int, actor: str, reason: str) -> int:
        """The entry was called back or ended another way: its open callback tasks are done."""
        now = self.clock.now()
        closed = 0
        with self.ledger.session() as s:
            for task in s.exec(select(CallbackTask).where(CallbackTask.entry_id == entry_id,
                                                          CallbackTask.status == "open")).all():
                called_back = reason == "called_back"
                task.status, task.done_at, task.actor = ("done" if called_back else "cancelled", now, actor)
                if not called_back:
                    task.notes = "\n".join(n for n in (task.notes, reason) if n)
                s.add(task)
                closed += 1
            s.commit()
        return closed

    def cancel(self, task_id: int, actor: str, reason: str) -> CallbackTask:
        if not reason.strip():
            raise LedgerError("取消回访任务须说明原因 / cancelling a task needs a reason")
        with self.ledger.session() as s:
            task = s.get(CallbackTask, task_id)
            if task is None:
                raise NotFound(f"callback task {task_id}")
            if task.status != "open":
                raise LedgerError(f"task {task_id} is {task.status}")
            task.status, task.done_at, task.actor = "cancelled", self.clock.now(), actor
            task.notes = "\n".join(n for n in (task.notes, reason) if n)
            s.add(task)
            s.commit()
            s.refresh(task)
        self.ledger.audit(actor, task.entry_id, "callback_task", "cancelled", "", reason)
        self._published(task)
        return task

    # ----- reading ----------------------------------------------------------------------

    def get(self, task_id: int) -> CallbackTask:
        with self.ledger.session() as s:
            task = s.get(CallbackTask, task_id)
            if task is None:
                raise NotFound(f"callback task {task_id}")
            return task

    def list(self, *, status: str | None = "open", kind: str | None = None, entry_id: int | None = None,
             limit: int = 200, estate_ids: frozenset[int] | None = None) -> list[CallbackTask]:
        """`estate_ids`: only tasks of entries in these estates (None: all), filtered before the
        limit so a clerk's page is full."""
        with self.ledger.session() as s:
            q = select(CallbackTask)
            if estate_ids is not None:
                q = q.join(Entry, col(Entry.id) == col(CallbackTask.entry_id)).where(
                    col(Entry.estate_id).in_(estate_ids))
            if status:
                q = q.where(CallbackTask.status == status)
            if kind:
                q = q.where(CallbackTask.kind == kind)
            if entry_id is not None:
                q = q.where(CallbackTask.entry_id == entry_id)
            return list(s.exec(q.order_by(col(CallbackTask.due_at), col(CallbackTask.id)).limit(limit)).all())

    def _published(self, task: CallbackTask) -> None:
        self.ledger.bus.publish(CallbackUpdated(id=task.id, entry_id=task.entry_id, kind=task.kind,
                                                status=task.status, due_at=task.due_at.isoformat()))

"""The case clocks with a controllable clock (no sleeps), and their persistence in
APScheduler's SQLAlchemy job store across restarts (nothing fires twice)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from callcenter.clock import ManualClock
from callcenter.ledger.models import ClockAlert, Notification
from callcenter.workflow import clocks as clocks_module
from callcenter.workflow.clocks import JOBSTORE
from callcenter.workflow.handover import latest_shift_change
from callcenter.workflow.settings import WorkflowSettings
from tests.workflow.conftest import MONDAY_9AM, Desk, make_desk


def alerts(desk: Desk) -> list[tuple[str, str, str]]:
    with Session(desk.ledger.engine) as s:
        return [(a.subject, a.clock, a.level) for a in s.exec(select(ClockAlert)).all()]


def notes(desk: Desk, kind: str) -> list[Notification]:
    with Session(desk.ledger.engine) as s:
        return [n for n in s.exec(select(Notification)).all() if n.kind == kind]


def test_register_clock_fires_once_then_escalates(desk: Desk) -> None:
    entry_id = desk.answered("r-1")
    [running] = desk.wf.clocks.running(entry_id)
    assert running.clock == "register" and running.due.due_at == MONDAY_9AM + timedelta(seconds=60)

    desk.clock.advance(seconds=30)
    assert desk.wf.clocks.sweep() == 0
    assert desk.wf.clocks.view(entry_id)[0]["state"] == "ok"
    desk.clock.advance(seconds=20)  # 50 s of 60: past the 75 % amber mark
    assert desk.wf.clocks.view(entry_id)[0]["state"] == "amber"
    desk.clock.advance(seconds=11)
    assert desk.wf.clocks.view(entry_id)[0]["state"] == "red"
    assert desk.wf.clocks.sweep() == 1
    assert desk.wf.clocks.sweep() == 0  # the same level never alerts twice
    assert desk.wf.clocks.fire(f"entry:{entry_id}", "register", "overdue") is False
    [overdue] = notes(desk, "overdue")
    assert overdue.audience == "clerk,supervisor" and overdue.severity == "warning" and "登记超时" in overdue.title

    desk.clock.advance(seconds=WorkflowSettings().escalate_after_s)
    assert desk.wf.clocks.sweep() == 1
    [escalation] = notes(desk, "escalation")
    assert escalation.audience == "supervisor,project_head" and escalation.severity == "critical"
    assert sorted(alerts(desk)) == [(f"entry:{entry_id}", "register", "escalated"),
                                    (f"entry:{entry_id}", "register", "overdue")]


def test_confirming_in_time_stops_the_clock(desk: Desk) -> None:
    entry_id = desk.registered("r-2")  # confirmed at once: the dispatch clock runs instead
    [running] = desk.wf.clocks.running(entry_id)
    assert running.clock == "dispatch" and running.due.due_at == MONDAY_9AM + timedelta(minutes=5)
    desk.clock.advance(minutes=3)
    desk.ledger.transition(entry_id, "dispatched", "wang")
    desk.clock.advance(hours=3)
    assert desk.wf.clocks.sweep() == 0 and desk.wf.clocks.running(entry_id) == []


def test_urgent_clock_is_tighter_and_reaches_the_project_head_at_once(desk: Desk) -> None:
    entry_id = desk.registered("u-1", urgent=True)
    [running] = desk.wf.clocks.running(entry_id)
    assert running.due.due_at == MONDAY_9AM + timedelta(seconds=WorkflowSettings().urgent_dispatch_within_s)
    desk.clock.advance(hours=5)
    assert desk.wf.clocks.sweep() == 1  # overdue only: no second, escalated level for urgent items
    [overdue] = notes(desk, "overdue")
    assert "project_head" in overdue.audience and overdue.severity == "critical"
    assert desk.outside.wait_for(1, 5)


def test_non_urgent_clock_pauses_outside_business_hours(engine: Engine) -> None:
    evening = datetime(2026, 1, 5, 9, 58, tzinfo=UTC)  # 17:58 in Shanghai, 2 min before closing
    desk = make_desk(engine, ManualClock(evening))
    try:
        entry_id = desk.registered("bh-1")
        [running] = desk.wf.clocks.running(entry_id)
        # 2 min today + 3 min from 08:00 tomorrow
        assert running.due.due_at == datetime(2026, 1, 6, 0, 3, tzinfo=UTC)
        desk.clock.advance(hours=2)
        assert desk.wf.clocks.sweep() == 0  # nobody is told at night about a non-urgent repair
    finally:
        desk.dispatcher.close(5)


def test_callback_and_missed_call_tasks_run_their_own_clocks(desk: Desk) -> None:
    desk.ledger.call_ringing("m-1", "13900139000", "", "8001", desk.clock.now())
    missed_entry = desk.ledger.call_missed("m-1", "cancelled")
    [task] = desk.wf.callbacks.list(kind="missed_call")
    desk.clock.advance(minutes=31)
    assert desk.wf.clocks.sweep() == 1
    assert alerts(desk) == [(f"task:{task.id}", "missed_call", "overdue")]
    assert notes(desk, "overdue")[0].entry_id == missed_entry


def _scheduler(engine: Engine) -> BackgroundScheduler:
    return BackgroundScheduler(timezone=UTC, jobstores={JOBSTORE: SQLAlchemyJobStore(engine=engine)})


def stop_keeping_jobs(scheduler: BackgroundScheduler) -> None:
    """Stop as Application.stop() does: detach the persistent store first, because APScheduler 3
    processes due jobs once more on its way down (and drops them: its executor is closed)."""
    scheduler.remove_jobstore(JOBSTORE)
    scheduler.shutdown(wait=False)


def _wait(predicate, timeout_s: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_clock_jobs_persist_and_fire_once_across_restarts(engine: Engine) -> None:
    """The clocks are date jobs in the database: a restarted scheduler runs the overdue one
    exactly once, and a further restart (or a rerun of the job) duplicates nothing."""
    clock = ManualClock(MONDAY_9AM)
    desk = make_desk(engine, clock)
    first = _scheduler(engine)
    desk.wf.clocks.scheduler = first
    first.start(paused=True)  # writes jobs to the store, runs none
    try:
        entry_id = desk.answered("p-1")
        jobs = {j.id: j for j in first.get_jobs(jobstore=JOBSTORE)}
        assert set(jobs) == {f"entry:{entry_id}:register:overdue", f"entry:{entry_id}:register:escalated"}
        assert jobs[f"entry:{entry_id}:register:overdue"].next_run_time == MONDAY_9AM + timedelta(seconds=60)
    finally:
        stop_keeping_jobs(first)  # "the process dies" before the clock runs out

    # restart: a new process, a new scheduler and keeper on the same database, after the due time
    clock.advance(minutes=2)
    desk2 = make_desk_again(engine, clock)
    second = _scheduler(engine)
    desk2.wf.clocks.scheduler = second
    desk2.wf.start()  # binds the job target before the scheduler starts
    with engine.connect() as conn:  # the jobs outlived their process: they are rows in the database
        stored = set(conn.execute(text("SELECT id FROM apscheduler_jobs")).scalars())
    assert stored == {f"entry:{entry_id}:register:overdue", f"entry:{entry_id}:register:escalated"}
    second.start()  # the overdue job's time has passed (in real time too): it runs now
    try:
        assert _wait(lambda: (f"entry:{entry_id}", "register", "overdue") in alerts(desk2))
        assert _wait(lambda: f"entry:{entry_id}:register:overdue" not in
                     {j.id for j in second.get_jobs(jobstore=JOBSTORE)})
    finally:
        second.shutdown(wait=True)
    # a rerun (as after a crash between firing and removing the job) and the sweep add nothing
    clocks_module.run_clock_job(f"entry:{entry_id}", "register", "overdue")
    desk2.wf.clocks.sweep()
    assert alerts(desk2).count((f"entry:{entry_id}", "register", "overdue")) == 1
    assert len(notes(desk2, "overdue")) == 1
    desk.dispatcher.close(5)
    desk2.dispatcher.close(5)


def make_desk_again(engine: Engine, clock: ManualClock) -> Desk:
    """The restarted process: same database, fresh objects (the user already exists)."""
    from callcenter.events import EventBus
    from callcenter.ledger.service import LedgerService
    from callcenter.notify.base import Dispatcher, RecordingNotifier
    from callcenter.workflow.cases import CaseWorkflow
    from callcenter.workflow.notices import NoticeBoard

    settings = WorkflowSettings()
    bus = EventBus()
    ledger = LedgerService(engine, clock, bus, callbacks=settings.callback_sampling)
    outside = RecordingNotifier("group-chat")
    dispatcher = Dispatcher()
    dispatcher.add(outside)
    wf = CaseWorkflow(ledger, clock, settings, NoticeBoard(engine, clock, bus, dispatcher), inline=True)
    wf.attach(bus)
    return Desk(ledger, clock, wf, outside, dispatcher, clerk_id=1)


def test_handover_once_per_shift_change_even_after_restart(desk: Desk) -> None:
    desk.registered("h-1", category="投诉", department="客服")
    desk.clock.advance(hours=11, minutes=5)  # 20:05 local: the 20:00 shift change has passed
    assert latest_shift_change(desk.clock.now(), desk.wf.settings) == datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    record = desk.wf.handovers.compile()
    again = desk.wf.handovers.compile()  # the job running twice, or a restart's catch-up
    assert again.id == record.id and record.open_count == 1
    assert record.items[0]["status_label"] == "已登记" and record.items[0]["unit"] == "4-2-301"
    [notice] = notes(desk, "handover")
    assert "未完结 1 项" in notice.title
    acked = desk.wf.handovers.acknowledge(record.id or 0, "li", "已接班")
    assert acked.acknowledged_by == "li"


def test_handover_jobs_are_cron_jobs_at_local_shift_times(engine: Engine) -> None:
    desk = make_desk(engine, ManualClock(MONDAY_9AM))
    sched = _scheduler(engine)
    desk.wf.scheduler = sched
    desk.wf.clocks.scheduler = sched
    sched.start(paused=True)
    try:
        desk.wf.start()
        job = sched.get_job("handover:2000", jobstore=JOBSTORE)
        assert job is not None
        # 20:00 in Shanghai is 12:00 UTC
        assert job.trigger.get_next_fire_time(None, MONDAY_9AM) == datetime(2026, 1, 5, 20, 0,
                                                                            tzinfo=job.trigger.timezone)
        assert job.trigger.get_next_fire_time(None, MONDAY_9AM).astimezone(UTC).hour == 12
    finally:
        sched.shutdown(wait=False)
        desk.dispatcher.close(5)

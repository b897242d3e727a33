"""The case clocks at scale: how long the safety-net sweep takes over N open entries, how long
(re)scheduling one entry's clocks takes in the persistent job store, and how long a restart
takes to load the jobs.

    .venv/bin/python bench/workflow_clocks.py [--sizes 1000 10000]

A temporary SQLite database (the default deployment); prints one line per size.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import insert

from callcenter.clock import ManualClock
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.models import Entry
from callcenter.ledger.service import LedgerService
from callcenter.workflow.cases import CaseWorkflow
from callcenter.workflow.clocks import JOBSTORE
from callcenter.workflow.notices import NoticeBoard
from callcenter.workflow.settings import WorkflowSettings

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai


def fill(url: str, n: int) -> None:
    """n open entries: half drafts (register clock), half registered (dispatch clock)."""
    engine = db.make_engine(url)
    rows = [dict(created_at=T0 + timedelta(seconds=i), updated_at=T0, kind="call", source="phone",
                 status="draft" if i % 2 else "registered", confirmed_at=None if i % 2 else T0 + timedelta(seconds=i),
                 category="报修", department="工程", unit="4-2-301", summary="厨房水管漏水", draft=None,
                 repeat_count=0, interrupted=False, urgent=i % 10 == 0, satisfaction="", caller_number="138",
                 caller_name="") for i in range(n)]
    with engine.begin() as conn:
        for i in range(0, n, 5000):
            conn.execute(insert(Entry), rows[i:i + 5000])
    engine.dispose()


def run(n: int, tmp: Path) -> None:
    url = f"sqlite:///{tmp}/clocks-{n}.db"
    db.upgrade(url)
    fill(url, n)
    engine = db.make_engine(url)
    clock = ManualClock(T0 + timedelta(hours=1))  # every clock overdue
    bus = EventBus()
    ledger = LedgerService(engine, clock, bus)
    scheduler = BackgroundScheduler(timezone=UTC, jobstores={JOBSTORE: SQLAlchemyJobStore(engine=engine)})
    scheduler.start(paused=True)
    wf = CaseWorkflow(ledger, clock, WorkflowSettings(), NoticeBoard(engine, clock, bus), scheduler, inline=True)

    sync_ms = []
    for entry_id in range(1, min(n, 500) + 1):
        t = time.perf_counter()
        wf.clocks.sync(entry_id)
        sync_ms.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    fired = wf.clocks.sweep()
    first_sweep = time.perf_counter() - t
    t = time.perf_counter()
    again = wf.clocks.sweep()
    quiet_sweep = time.perf_counter() - t
    scheduler.remove_jobstore(JOBSTORE)  # as Application.stop(): keep the jobs through shutdown
    scheduler.shutdown(wait=False)

    restarted = BackgroundScheduler(timezone=UTC, jobstores={JOBSTORE: SQLAlchemyJobStore(engine=engine)})
    t = time.perf_counter()
    restarted.start(paused=True)
    jobs = len(restarted.get_jobs(jobstore=JOBSTORE))
    load_s = time.perf_counter() - t
    restarted.remove_jobstore(JOBSTORE)
    restarted.shutdown(wait=False)
    print(f"open entries {n:>6}: sync one entry p50 {statistics.median(sync_ms):.1f} ms "
          f"p99 {sorted(sync_ms)[int(len(sync_ms) * 0.99) - 1]:.1f} ms | first sweep {first_sweep:.2f} s "
          f"({fired} alerts) | sweep with nothing new {quiet_sweep:.2f} s ({again}) | "
          f"restart loads {jobs} jobs in {load_s * 1000:.0f} ms")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            run(n, Path(tmp))


if __name__ == "__main__":
    main()

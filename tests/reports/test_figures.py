"""The workflow figures (callbacks, satisfaction, missed calls returned, per clerk, complaint
subjects, draft accuracy over time, the complaint month) against a plain-Python recount of a
known world, on both databases."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from callcenter.clock import ManualClock
from callcenter.ledger.models import Call, CallbackTask, Entry
from callcenter.ledger.service import LedgerService
from callcenter.reports.figures import (
    callback_figures,
    clerk_figures,
    complaint_subject,
    complaint_subjects,
    draft_accuracy_trend,
    missed_call_figures,
)
from callcenter.reports.periods import complaint_month, containing, iso_week, month, parse
from callcenter.reports.statistics import monthly_statistics
from tests.reports.world import World, build, in_month, utc

SAT = ("满意", "基本满意", "不满意", "")


@dataclass
class Task:
    entry_id: int
    kind: str
    status: str
    due_at: datetime
    done_at: datetime | None
    satisfaction: str
    actor: str


@pytest.fixture
def world(engine: Engine, ledger: LedgerService, clock: ManualClock) -> tuple[World, list[Task]]:
    world = build(engine, ledger, clock)
    rnd = random.Random(5)
    tasks: list[Task] = []
    with Session(engine) as s:
        entries = list(s.exec(select(Entry).order_by(Entry.id)).all())  # type: ignore[arg-type]
        missed = list(s.exec(select(Call).where(Call.status == "missed")).all())
        for e in entries:
            assert e.id is not None
            due = e.created_at + timedelta(hours=rnd.choice((2, 30, 24 * 20)))  # some fall into the next month
            status = rnd.choice(("open", "done", "done", "cancelled"))
            done_at = due + timedelta(minutes=rnd.choice((-30, 0, 1, 90))) if status == "done" else None
            tasks.append(Task(e.id, "callback", status, due, done_at, rnd.choice(SAT) if done_at else "",
                              rnd.choice(("wang", "li"))))
        for n, c in enumerate(missed):  # first one returned late, second in time, third never
            assert c.entry_id is not None
            due = c.received_at + timedelta(hours=2)
            if n < 2:
                tasks.append(Task(c.entry_id, "missed_call", "done", due,
                                  due + timedelta(minutes=5 if n == 0 else -5), "", "li"))
        for t in tasks:
            s.add(CallbackTask(entry_id=t.entry_id, kind=t.kind, status=t.status, created_at=t.due_at,
                               due_at=t.due_at, done_at=t.done_at, satisfaction=t.satisfaction, actor=t.actor))
        s.commit()
    return world, tasks


def test_callback_completion_and_satisfaction(engine: Engine, world: tuple[World, list[Task]]) -> None:
    _, tasks = world
    due = [t for t in tasks if t.kind == "callback" and t.status != "cancelled" and in_month(t.due_at, 2026, 11)]
    done = [t for t in due if t.done_at is not None]
    got = callback_figures(engine, month(2026, 11))
    assert (got.due, got.done) == (len(due), len(done)) and got.done > 3
    assert got.on_time == sum(1 for t in done if t.done_at and t.done_at <= t.due_at)
    assert 0 < got.on_time < got.done  # the world has both
    expected = Counter(t.satisfaction for t in done if t.satisfaction)
    assert dict(got.satisfaction) == {k: expected.get(k, 0) for k in ("满意", "基本满意", "不满意")}
    rated = sum(expected.values())
    assert got.satisfaction_rate == pytest.approx((expected["满意"] + expected["基本满意"]) / rated)
    empty = callback_figures(engine, month(2020, 1))
    assert (empty.due, empty.completion_rate, empty.satisfaction_rate) == (0, None, None)


def test_missed_calls_called_back(engine: Engine, world: tuple[World, list[Task]]) -> None:
    got = missed_call_figures(engine, month(2026, 11))
    # world.py: two missed calls in November 2026 (the third is November 2025); the first was
    # returned 5 minutes late, the second 5 minutes early
    assert (got.missed, got.called_back, got.called_back_in_time) == (2, 2, 1)
    last_year = missed_call_figures(engine, month(2025, 11))
    assert (last_year.missed, last_year.called_back) == (1, 0)


def test_per_clerk_figures(engine: Engine, world: tuple[World, list[Task]]) -> None:
    w, tasks = world
    got = {c.clerk: c for c in clerk_figures(engine, month(2026, 11))}
    recs = [r for r in w.entries if in_month(r.created_at, 2026, 11)]
    owned = Counter(r.owner for r in recs if r.owner)
    done = Counter((t.actor, t.kind) for t in tasks if t.status == "done" and t.done_at
                   and in_month(t.done_at, 2026, 11))
    assert set(got) == set(owned) | {a for a, _ in done}
    for name, c in got.items():
        assert (c.entries, c.callbacks_done, c.missed_returned) == (
            owned.get(name, 0), done.get((name, "callback"), 0), done.get((name, "missed_call"), 0)), name
    # li confirmed the November calls 30, 60, 61, 10, 5, 20 s after they ended (world.ANSWERED)
    assert got["li"].registrations == 6
    assert got["li"].avg_registration_s == pytest.approx((30 + 60 + 61 + 10 + 5 + 20) / 6, abs=0.05)
    assert got["wang"].registrations == 0 and got["wang"].avg_registration_s is None


def test_monthly_report_carries_the_new_figures_and_their_trend(engine: Engine,
                                                                world: tuple[World, list[Task]]) -> None:
    _, tasks = world
    report = monthly_statistics(engine, month(2026, 11))
    assert report.callbacks == callback_figures(engine, month(2026, 11))
    assert report.missed.called_back == 2
    trend = {t.key: t for t in report.trend}

    def done_in(y: int, m: int) -> int:
        return sum(1 for t in tasks if t.kind == "callback" and t.status == "done" and in_month(t.due_at, y, m))

    assert (trend["callbacks_done"].current, trend["callbacks_done"].previous,
            trend["callbacks_done"].last_year) == (done_in(2026, 11), done_in(2026, 10), done_in(2025, 11))
    assert trend["missed_called_back"].current == 2


def test_complaint_subjects(engine: Engine, world: tuple[World, list[Task]]) -> None:
    w, _ = world
    period = complaint_month(2026, 11)  # Oct 27 .. Nov 26
    lo, hi = utc(datetime(2026, 10, 27)), utc(datetime(2026, 11, 27))
    valid = [r for r in w.entries if r.category == "投诉" and lo <= r.created_at < hi
             and r.status not in ("cancelled", "merged")]
    got = complaint_subjects(engine, period)
    expected = Counter(complaint_subject(r.summary, r.department) for r in valid)
    assert {k: v for k, v in got.by_subject.items() if v} == dict(expected)
    assert sum(got.by_subject.values()) == len(valid) > 0
    assert dict(got.by_status) == dict(Counter(r.status for r in valid))


def test_complaint_subject_classification() -> None:
    assert complaint_subject("保安态度很差", "安保") == "员工服务态度"
    assert complaint_subject("楼上装修太吵", "客服") == "装修管理"
    assert complaint_subject("快递被放错", "客服") == "信件报刊"
    assert complaint_subject("绿化带没人修剪", "绿化") == "绿化"
    assert complaint_subject("垃圾没人清", "保洁") == "清洁"
    assert complaint_subject("门禁卡坏了", "客服") == "其它"


def test_draft_accuracy_over_time(engine: Engine, world: tuple[World, list[Task]]) -> None:
    w, _ = world
    points = draft_accuracy_trend(engine, month(2026, 11), count=14)  # Oct 2025 .. Nov 2026
    assert points[-1].period == month(2026, 11)
    assert [p.period.first for p in points] == sorted(p.period.first for p in points)
    expected: Counter[tuple[str, str, bool]] = Counter()
    for at, name, changed in w.corrections:
        expected[(containing("month", at).key, name, changed)] += 1
    got = {(p.period.key, p.field): (p.confirmations, p.changed) for p in points}
    want = {}
    for (key, name, changed), n in expected.items():
        if "2025-10" <= key <= "2026-11":
            c, ch = want.get((key, name), (0, 0))
            want[(key, name)] = (c + n, ch + n * changed)
    assert got == want
    weeks = draft_accuracy_trend(engine, iso_week(2026, 48), count=5)
    assert {p.period.kind for p in weeks} == {"week"}


def test_complaint_month_runs_from_the_27th_to_the_26th() -> None:
    p = complaint_month(2026, 11)
    assert (p.first, p.last_exclusive) == (date(2026, 10, 27), date(2026, 11, 27))
    assert p.start == datetime(2026, 10, 26, 16, 0, tzinfo=UTC)  # 00:00 Beijing on Oct 27
    assert p.key == "2026-11" and "10-27至11-26" in p.label
    assert p.previous() == complaint_month(2026, 10) and p.next() == complaint_month(2026, 12)
    assert complaint_month(2026, 1).first == date(2025, 12, 27)
    assert p.same_period_last_year() == complaint_month(2025, 11)
    # 23:59 Beijing on Nov 26 still counts for November; 00:00 on the 27th starts December's
    assert containing("complaint_month", utc(datetime(2026, 11, 26, 23, 59))) == p
    assert containing("complaint_month", utc(datetime(2026, 11, 27, 0, 0))) == complaint_month(2026, 12)
    assert parse("complaint_month", "2026-11") == p
    assert parse("half_month", "2026-11-H2").key == "2026-11-H2"
    assert parse("week", "2026-W45") == iso_week(2026, 45)
    with pytest.raises(ValueError):
        parse("week", "2026-45")

"""Every figure of the statistics against a plain-Python recount of a known world, on both
databases."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from callcenter.clock import ManualClock
from callcenter.ledger.models import Entry
from callcenter.ledger.service import LedgerService
from callcenter.reports.periods import month
from callcenter.reports.statistics import (
    complaint_rates,
    hot_complaint_topics,
    monthly_statistics,
    topic_of,
    unfinished_by_department,
)
from tests.reports.world import World, build, in_month, utc

OPEN = {"draft", "registered", "dispatched", "in_progress", "completed"}


@pytest.fixture
def world(engine: Engine, ledger: LedgerService, clock: ManualClock) -> World:
    return build(engine, ledger, clock)


def _counts(world: World, year: int, mon: int) -> dict[str, int]:
    recs = [r for r in world.entries if in_month(r.created_at, year, mon)]
    calls = [c for c in world.calls if in_month(c.received_at, year, mon)]
    out: Counter[str] = Counter()
    out["total"] = len(recs)
    for r in recs:
        out[f"category:{r.category or '(未分类)'}"] += 1
    out["important"] = sum(r.urgent for r in recs)
    out["general"] = len(recs) - out["important"]
    out["open"] = sum(r.status in OPEN for r in recs)
    out["closed"] = len(recs) - out["open"]
    out["calls_received"] = len(calls)
    out["calls_answered"] = sum(c.answered_after is not None for c in calls)
    out["calls_missed"] = sum(c.answered_after is None for c in calls)
    return {k: v for k, v in out.items() if v}


def test_world_is_as_designed(world: World) -> None:
    assert len([r for r in world.entries if r.kind == "manual"]) == 37
    nov = [r for r in world.entries if in_month(r.created_at, 2026, 11)]
    assert 15 < len(nov) < len(world.entries)  # the seed spreads entries over several months


def test_monthly_statistics_match_an_independent_count(engine: Engine, world: World) -> None:
    report = monthly_statistics(engine, month(2026, 11))
    recs = [r for r in world.entries if in_month(r.created_at, 2026, 11)]
    calls = [c for c in world.calls if in_month(c.received_at, 2026, 11)]
    assert report.total == len(recs)
    assert report.by_category == dict(Counter(r.category or "(未分类)" for r in recs))
    assert report.by_department == dict(Counter(r.department or "(未分派)" for r in recs))
    assert (report.important, report.general) == (sum(r.urgent for r in recs), sum(not r.urgent for r in recs))
    assert report.by_status == dict(Counter(r.status for r in recs))
    assert report.open == sum(r.status in OPEN for r in recs) and report.open + report.closed == len(recs)
    assert report.by_clerk == dict(Counter(r.owner or "(未确认)" for r in recs))
    # calls: 7 answered and 2 missed in November (hand-counted in world.py)
    assert (report.calls_received, report.calls_answered, report.calls_missed) == (9, 7, 2)
    assert report.answer_rings == {"1": 2, "2": 2, "3": 1, ">3": 2}
    assert dict(report.answer_rings) == {b: sum(c.bucket == b for c in calls) for b in ("1", "2", "3", ">3")}
    # registration within a minute of the call's end: confirm delays 30, 60, 61, never, 10, 5, 20
    assert (report.registrations, report.registered_in_time) == (7, 5)
    expected_acc: dict[str, list[int]] = {}
    for at, name, changed in world.corrections:
        if in_month(at, 2026, 11):
            expected_acc.setdefault(name, [0, 0])
            expected_acc[name][0] += 1
            expected_acc[name][1] += changed
    assert {a.field: [a.confirmations, a.changed] for a in report.draft_accuracy} == expected_acc
    assert all(0 <= a.changed_share <= 1 for a in report.draft_accuracy)


def test_trend_against_previous_month_and_same_month_last_year(engine: Engine, world: World) -> None:
    report = monthly_statistics(engine, month(2026, 11))
    now, prev, year = _counts(world, 2026, 11), _counts(world, 2026, 10), _counts(world, 2025, 11)
    got = {t.key: (t.current, t.previous, t.last_year) for t in report.trend}
    assert set(got) == set(now) | set(prev) | set(year)
    for key, (cur, p, y) in got.items():
        assert (cur, p, y) == (now.get(key, 0), prev.get(key, 0), year.get(key, 0)), key
    assert report.trend[0].key == "total"
    assert report.trend[0].vs_previous == now["total"] - prev["total"]
    assert prev["total"] > 0 and year["total"] > 0


def test_timezone_midnight_decides_the_month(engine: Engine, world: World) -> None:
    with Session(engine) as s:
        s.add(Entry(created_at=datetime(2026, 1, 31, 15, 30, tzinfo=UTC),  # 23:30 Beijing on Jan 31
                    updated_at=datetime(2026, 1, 31, 15, 30, tzinfo=UTC)))
        s.add(Entry(created_at=datetime(2026, 1, 31, 16, 0, tzinfo=UTC),  # 00:00 Beijing on Feb 1
                    updated_at=datetime(2026, 1, 31, 16, 0, tzinfo=UTC)))
        s.commit()
    assert monthly_statistics(engine, month(2026, 1)).total == 1
    assert monthly_statistics(engine, month(2026, 2)).total == 1
    # in UTC both are January
    assert monthly_statistics(engine, month(2026, 1, "UTC")).total == 2
    # the world's own boundary entries: Oct 31 23:30 local is October, Dec 1 00:00 is December
    dec = monthly_statistics(engine, month(2026, 12))
    assert dec.total == 1


def test_hot_complaint_topics(engine: Engine, world: World) -> None:
    from callcenter.reports.periods import iso_week

    week = iso_week(2026, 45)  # Nov 2..8 2026
    got = hot_complaint_topics(engine, week, top=3)
    lo, hi = utc(datetime(2026, 11, 2)), utc(datetime(2026, 11, 9))
    groups = Counter((topic_of(r.summary), r.department) for r in world.entries
                     if r.category == "投诉" and lo <= r.created_at < hi and r.status not in ("cancelled", "merged"))
    expected = sorted(groups.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    assert [((t.topic, t.department), t.count) for t in got] == expected
    month_topics = hot_complaint_topics(engine, month(2026, 11), top=100)
    assert sum(t.count for t in month_topics) == sum(
        1 for r in world.entries if r.category == "投诉" and in_month(r.created_at, 2026, 11)
        and r.status not in ("cancelled", "merged"))


def test_topic_words_are_explainable() -> None:
    assert topic_of("3号楼楼道灯不亮") == "楼道/路灯"
    assert topic_of("楼上漏水到我家") == "漏水/渗水"
    assert topic_of("门禁卡坏了") == "其他"
    assert topic_of("门禁卡坏了", {"门禁": ("门禁",)}) == "门禁"


def test_unfinished_by_department(engine: Engine, world: World) -> None:
    now = utc(datetime(2026, 11, 20, 12, 0))
    got = unfinished_by_department(engine, now, older_than_days=3)
    unfinished = {"draft", "registered", "dispatched", "in_progress"}
    expected = sorted((r for r in world.entries if r.status in unfinished and r.created_at <= now - timedelta(days=3)),
                      key=lambda r: r.created_at)
    assert sum(len(d.items) for d in got) == len(expected) > 0
    assert {d.department for d in got} == {r.department or "(未分派)" for r in expected}
    for dep in got:
        ages = [i.created_at for i in dep.items]
        assert ages == sorted(ages)
        assert all(i.age_days >= 3 for i in dep.items)
    firsts = [d.items[0].created_at for d in got]
    assert firsts == sorted(firsts)


def test_complaint_rates(engine: Engine, world: World) -> None:
    rates = complaint_rates(engine, month(2026, 11), limit=timedelta(hours=24))
    recs = [r for r in world.entries if r.category == "投诉" and in_month(r.created_at, 2026, 11)]
    valid = [r for r in recs if r.status not in ("cancelled", "merged")]
    handled = [r for r in valid if r.handled_after is not None]
    timely = [r for r in handled if r.handled_after is not None and r.handled_after <= timedelta(hours=24)]
    assert (rates.complaints, rates.valid, rates.handled, rates.timely) == (
        len(recs), len(valid), len(handled), len(timely))
    assert rates.valid_rate == pytest.approx(len(valid) / len(recs))
    assert rates.timely_rate == (len(timely) / len(valid) if valid else None)
    empty = complaint_rates(engine, month(2020, 1))
    assert empty.complaints == 0 and empty.valid_rate is None and empty.timely_rate is None

"""Deadlines with a ManualClock: Asia/Shanghai is UTC+8, business hours 08:00–18:00 by default."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from callcenter.clock import ManualClock
from callcenter.workflow.deadlines import (
    Due,
    callback_due,
    clock_state,
    dispatch_due,
    due_after,
    is_business_day,
    register_due,
    time_left_s,
)
from callcenter.workflow.settings import WorkflowSettings

DEFAULT = WorkflowSettings()
# Mon–Fri only, with a holiday on Tuesday 2026-01-06 (dates are Shanghai local dates)
WEEKDAYS = WorkflowSettings(business_weekdays=(0, 1, 2, 3, 4), holidays=(date(2026, 1, 6),))


def bj(day: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    """A Beijing wall time in January 2026 (5th = Monday), as aware UTC."""
    return datetime(2026, 1, day, hh, mm, ss, tzinfo=UTC) - timedelta(hours=8)


CASES = [
    # (settings, fn, event, urgent, expected due)  -- all times Beijing
    (DEFAULT, register_due, bj(5, 10), False, bj(5, 10, 1)),
    (DEFAULT, dispatch_due, bj(5, 10), False, bj(5, 10, 5)),
    (DEFAULT, dispatch_due, bj(5, 10), True, bj(5, 10, 2)),
    (DEFAULT, callback_due, bj(5, 10), False, bj(5, 12)),
    (DEFAULT, callback_due, bj(5, 10), True, bj(5, 11)),
    # ends exactly at closing: still today
    (DEFAULT, callback_due, bj(5, 16), False, bj(5, 18)),
    # crosses closing: the rest of the allowance runs from the next opening
    (DEFAULT, callback_due, bj(5, 17, 30), False, bj(6, 9, 30)),
    (DEFAULT, register_due, bj(5, 17, 59, 30), False, bj(6, 8, 0, 30)),
    (DEFAULT, dispatch_due, bj(5, 17, 58), False, bj(6, 8, 3)),
    # event at night / before opening: the clock starts at opening
    (DEFAULT, callback_due, bj(5, 22), False, bj(6, 10)),
    (DEFAULT, dispatch_due, bj(6, 3), False, bj(6, 8, 5)),
    # urgent runs around the clock
    (DEFAULT, dispatch_due, bj(5, 23, 59), True, bj(6, 0, 1)),
    (DEFAULT, callback_due, bj(5, 17, 30), True, bj(5, 18, 30)),
    # weekend and holiday skipped: Fri 9th 17:00 + 2 h -> Mon 12th 09:00
    (WEEKDAYS, callback_due, bj(9, 17), False, bj(12, 9)),
    # Mon 5th 17:30 + 2h: Tue 6th is a holiday -> Wed 7th 09:30
    (WEEKDAYS, callback_due, bj(5, 17, 30), False, bj(7, 9, 30)),
    # an event on the holiday itself waits for Wednesday's opening
    (WEEKDAYS, register_due, bj(6, 11), False, bj(7, 8, 1)),
    (WEEKDAYS, register_due, bj(6, 11), True, bj(6, 11, 1)),
    # Saturday night call, urgent: no waiting for Monday
    (WEEKDAYS, dispatch_due, bj(10, 22), True, bj(10, 22, 2)),
    (WEEKDAYS, dispatch_due, bj(10, 22), False, bj(12, 8, 5)),
]


@pytest.mark.parametrize(("settings", "fn", "event", "urgent", "expected"), CASES)
def test_due_times(settings: WorkflowSettings, fn, event: datetime, urgent: bool,  # type: ignore[no-untyped-def]
                   expected: datetime) -> None:
    due = fn(event, settings, urgent=urgent)
    assert due.due_at == expected
    assert due.started_at == event
    assert due.due_at.tzinfo is not None and due.due_at.utcoffset() == timedelta(0)


def test_configured_limits_and_hours() -> None:
    s = WorkflowSettings(dispatch_within_s=600, urgent_dispatch_within_s=60, business_open=time(9),
                         business_close=time(17, 30))
    assert dispatch_due(bj(5, 10), s).due_at == bj(5, 10, 10)
    assert dispatch_due(bj(5, 10), s, urgent=True).due_at == bj(5, 10, 1)
    assert dispatch_due(bj(5, 17, 25), s).due_at == bj(6, 9, 5)
    assert dispatch_due(bj(5, 8, 30), s).due_at == bj(5, 9, 10)


def test_business_day() -> None:
    assert is_business_day(bj(5, 12), WEEKDAYS)
    assert not is_business_day(bj(6, 12), WEEKDAYS)  # holiday
    assert not is_business_day(bj(10, 12), WEEKDAYS)  # Saturday
    # 2026-01-06 00:30 Beijing is still the 5th in UTC: the local date decides
    assert not is_business_day(bj(6, 0, 30), WEEKDAYS)


def test_no_business_day_at_all_is_a_clear_error() -> None:
    every_day = tuple(date(2026, 1, 1) + timedelta(days=i) for i in range(500))
    s = WorkflowSettings(holidays=every_day)
    with pytest.raises(ValueError, match="no business day"):
        due_after(bj(5, 10), 60, s)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        register_due(datetime(2026, 1, 5, 10), DEFAULT)


def test_clock_turns_amber_then_red_as_the_manual_clock_moves() -> None:
    clock = ManualClock(bj(5, 10))
    due = dispatch_due(clock.now(), DEFAULT)  # 5 min
    seen = []
    for _ in range(7):
        seen.append((round(time_left_s(due, clock.now())), clock_state(due, clock.now(), DEFAULT.amber_at)))
        clock.advance(seconds=60)
    assert seen == [(300, "ok"), (240, "ok"), (180, "ok"), (120, "ok"), (60, "amber"), (0, "amber"),
                    (-60, "red")]


def test_amber_threshold_is_exact() -> None:
    due = Due(bj(5, 10), bj(5, 10, 1, 40))  # 100 s
    assert clock_state(due, bj(5, 10, 1, 14)) == "ok"  # 74 s used
    assert clock_state(due, bj(5, 10, 1, 15)) == "amber"  # 75 s used
    assert clock_state(due, bj(5, 10, 1, 15), amber_at=0.9) == "ok"
    assert clock_state(due, bj(5, 10, 1, 40)) == "amber"  # exactly due: not yet overdue
    assert clock_state(due, bj(5, 10, 1, 41)) == "red"

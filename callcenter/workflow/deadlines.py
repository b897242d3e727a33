"""Due times of the case clocks, as pure functions of an event time (from the injected clock).

- register within 60 s of the call (一分钟内登记);
- dispatch/response within 5 min of registration, tighter for urgent entries;
- callback within 2 h of completion (完成后 2 小时内回访).

Non-urgent clocks run in business hours only: time outside the configured hours, on closed
weekdays and on holidays does not count, so a deadline that would fall outside business hours
moves into the next business opening (carrying the allowance it had left). Urgent entries run
around the clock. All times in and out are aware UTC datetimes; business hours are local.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from callcenter.workflow.settings import WorkflowSettings

ClockState = Literal["ok", "amber", "red"]
_MAX_DAYS_SEARCHED = 400  # more than a year without a business day is a configuration error


@dataclass(frozen=True)
class Due:
    started_at: datetime
    due_at: datetime

    @property
    def allowance_s(self) -> float:
        return (self.due_at - self.started_at).total_seconds()


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("naive datetime given to a deadline; use the injected UTC clock")


def is_business_day(day: datetime, settings: WorkflowSettings) -> bool:
    local = day.astimezone(settings.zone)
    return local.weekday() in settings.business_weekdays and local.date() not in settings.holidays


def due_after(start: datetime, allowance_s: float, settings: WorkflowSettings, urgent: bool = False) -> Due:
    """`allowance_s` from `start`: wall-clock time when urgent, business time otherwise."""
    _require_aware(start)
    start = start.astimezone(UTC)
    if urgent:
        return Due(start, start + timedelta(seconds=allowance_s))
    zone = settings.zone
    remaining = timedelta(seconds=allowance_s)
    cursor = start
    day = start.astimezone(zone).date()
    for _ in range(_MAX_DAYS_SEARCHED):
        if day.weekday() in settings.business_weekdays and day not in settings.holidays:
            opens = datetime.combine(day, settings.business_open, zone).astimezone(UTC)
            closes = datetime.combine(day, settings.business_close, zone).astimezone(UTC)
            begin = max(cursor, opens)
            if begin <= closes:
                if begin + remaining <= closes:
                    return Due(start, begin + remaining)
                remaining -= closes - begin
        day += timedelta(days=1)
    raise ValueError(f"no business day within {_MAX_DAYS_SEARCHED} days of {start.isoformat()}: "
                     "check business_weekdays and holidays")


def register_due(call_at: datetime, settings: WorkflowSettings, urgent: bool = False) -> Due:
    return due_after(call_at, settings.register_within_s, settings, urgent)


def dispatch_due(registered_at: datetime, settings: WorkflowSettings, urgent: bool = False) -> Due:
    allowance = settings.urgent_dispatch_within_s if urgent else settings.dispatch_within_s
    return due_after(registered_at, allowance, settings, urgent)


def callback_due(completed_at: datetime, settings: WorkflowSettings, urgent: bool = False) -> Due:
    allowance = settings.urgent_callback_within_s if urgent else settings.callback_within_s
    return due_after(completed_at, allowance, settings, urgent)


def time_left_s(due: Due, now: datetime) -> float:
    """Seconds until due (negative once overdue)."""
    _require_aware(now)
    return (due.due_at - now).total_seconds()


def clock_state(due: Due, now: datetime, amber_at: float = 0.75) -> ClockState:
    """red when overdue; amber once `amber_at` of the (wall-clock) span start→due is used."""
    _require_aware(now)
    if now > due.due_at:
        return "red"
    span = due.allowance_s
    used = (now - due.started_at).total_seconds()
    if span <= 0 or used >= amber_at * span:
        return "amber"
    return "ok"

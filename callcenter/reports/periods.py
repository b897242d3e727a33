"""Reporting periods (month, half-month, ISO week) in the site's timezone.

A period is a range of local calendar days; `start`/`end` give its bounds as aware UTC
instants (end exclusive), so queries compare UTC columns against UTC bounds. Example: with
Asia/Shanghai, November 2026 is [2026-10-31 16:00 UTC, 2026-11-30 16:00 UTC).

The complaint month (投诉统计月) follows seed 004: complaints are "quantified on the 27th of
each month", so the month counted on the 27th of November is Oct 27 .. Nov 26 (local days);
its key is the month of the counting day, "2026-11".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Shanghai"
Kind = Literal["month", "half_month", "week", "complaint_month"]
# An example input per period kind, shown where a period is typed (the panel's report picker).
PERIOD_HINTS: dict[str, str] = {"month": "2026-11", "week": "2026-W45", "half_month": "2026-11-H2",
                                "complaint_month": "2026-11（上月27日至本月26日）"}
COUNTING_DAY = 27  # 每月27日对投诉进行统计量化 (seed 004)


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _prev_month(d: date) -> date:
    return date(d.year - (d.month == 1), (d.month - 2) % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    """Local days [first, last_exclusive) of one month, half-month or ISO week in `tz`."""

    kind: Kind
    first: date
    tz: str = DEFAULT_TZ

    @property
    def last_exclusive(self) -> date:
        if self.kind == "week":
            return self.first + timedelta(days=7)
        if self.kind == "half_month" and self.first.day == 1:
            return self.first.replace(day=16)
        if self.kind == "complaint_month":
            return _next_month(self.first).replace(day=COUNTING_DAY)
        return _next_month(self.first)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), ZoneInfo(self.tz)).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last_exclusive, time(), ZoneInfo(self.tz)).astimezone(UTC)

    @property
    def label(self) -> str:
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        month = f"{self.first.year}-{self.first.month:02d}"
        if self.kind == "complaint_month":
            last = self.last_exclusive - timedelta(days=1)
            return f"{self.key} 投诉统计（{self.first:%m-%d}至{last:%m-%d}）"
        if self.kind == "half_month":
            return f"{month} {'上半月' if self.first.day == 1 else '下半月'}"
        return month

    @property
    def key(self) -> str:
        """Short, file-name-safe identifier that `parse` reads back: 2026-11, 2026-11-H2, 2026-W45."""
        if self.kind == "week":
            return self.label
        if self.kind == "complaint_month":
            counted = self.last_exclusive
            return f"{counted.year}-{counted.month:02d}"
        month = f"{self.first.year}-{self.first.month:02d}"
        if self.kind == "half_month":
            return f"{month}-H{1 if self.first.day == 1 else 2}"
        return month

    def next(self) -> Period:
        if self.kind == "week":
            return Period("week", self.last_exclusive, self.tz)
        if self.kind == "complaint_month":
            return Period("complaint_month", self.last_exclusive, self.tz)
        return Period(self.kind, self.last_exclusive, self.tz)

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def previous(self) -> Period:
        if self.kind == "week":
            return Period("week", self.first - timedelta(days=7), self.tz)
        if self.kind == "half_month":
            if self.first.day == 16:
                return Period("half_month", self.first.replace(day=1), self.tz)
            return Period("half_month", _prev_month(self.first).replace(day=16), self.tz)
        if self.kind == "complaint_month":
            return Period("complaint_month", _prev_month(self.first).replace(day=COUNTING_DAY), self.tz)
        return Period("month", _prev_month(self.first), self.tz)

    def same_period_last_year(self) -> Period:
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            weeks_then = date(year - 1, 12, 28).isocalendar()[1]  # 52 or 53
            return Period("week", date.fromisocalendar(year - 1, min(week, weeks_then), 1), self.tz)
        return Period(self.kind, self.first.replace(year=self.first.year - 1), self.tz)


def month(year: int, month_no: int, tz: str = DEFAULT_TZ) -> Period:
    return Period("month", date(year, month_no, 1), tz)


def half_month(year: int, month_no: int, second_half: bool, tz: str = DEFAULT_TZ) -> Period:
    return Period("half_month", date(year, month_no, 16 if second_half else 1), tz)


def iso_week(year: int, week: int, tz: str = DEFAULT_TZ) -> Period:
    return Period("week", date.fromisocalendar(year, week, 1), tz)


def complaint_month(year: int, month_no: int, tz: str = DEFAULT_TZ) -> Period:
    """The complaint month counted on the 27th of `month_no`: the 27th of the month before .. the 26th."""
    return Period("complaint_month", _prev_month(date(year, month_no, 1)).replace(day=COUNTING_DAY), tz)


def parse_month(text: str, tz: str = DEFAULT_TZ) -> Period:
    """'2026-11' -> that month in `tz`; ValueError otherwise."""
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"月份应写作 2026-11，而不是 {text!r} / month must look like 2026-11")
    ZoneInfo(tz)  # unknown zones fail here, not in the middle of a report
    return month(int(m.group(1)), int(m.group(2)), tz)


def containing(kind: Kind, instant: datetime, tz: str = DEFAULT_TZ) -> Period:
    """The period of `kind` that holds the aware instant, in local time of `tz`."""
    local = instant.astimezone(ZoneInfo(tz)).date()
    if kind == "week":
        return Period("week", local - timedelta(days=local.weekday()), tz)
    if kind == "half_month":
        return Period("half_month", local.replace(day=1 if local.day < 16 else 16), tz)
    if kind == "complaint_month":
        first = local.replace(day=COUNTING_DAY) if local.day >= COUNTING_DAY \
            else _prev_month(local).replace(day=COUNTING_DAY)
        return Period("complaint_month", first, tz)
    return Period("month", local.replace(day=1), tz)


def parse(kind: Kind, key: str, tz: str = DEFAULT_TZ) -> Period:
    """The period of `kind` whose `key` is `key` (2026-11, 2026-11-H2, 2026-W45); ValueError otherwise."""
    text = key.strip()
    if kind == "week":
        m = re.fullmatch(r"(\d{4})-?W(\d{1,2})", text, re.IGNORECASE)
        if not m:
            raise ValueError(f"周应写作 2026-W45，而不是 {key!r} / week must look like 2026-W45")
        ZoneInfo(tz)
        return iso_week(int(m.group(1)), int(m.group(2)), tz)
    if kind == "half_month":
        m = re.fullmatch(r"(\d{4}-\d{1,2})-H([12])", text, re.IGNORECASE)
        if not m:
            raise ValueError(f"半月应写作 2026-11-H1 或 2026-11-H2，而不是 {key!r} / half-month must look like "
                             "2026-11-H1 or 2026-11-H2")
        p = parse_month(m.group(1), tz)
        return half_month(p.first.year, p.first.month, m.group(2) == "2", tz)
    p = parse_month(text, tz)
    return complaint_month(p.first.year, p.first.month, tz) if kind == "complaint_month" else p

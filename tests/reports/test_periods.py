from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from callcenter.reports.periods import containing, half_month, iso_week, month, parse_month


def test_month_bounds_are_local_midnights_in_utc() -> None:
    nov = month(2026, 11)
    assert nov.start == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert nov.end == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert nov.label == "2026-11"
    assert nov.contains(datetime(2026, 11, 30, 15, 30, tzinfo=UTC))  # 23:30 Beijing on the 30th
    assert not nov.contains(datetime(2026, 11, 30, 16, 0, tzinfo=UTC))  # 00:00 Beijing on Dec 1
    assert month(2026, 10).contains(datetime(2026, 10, 31, 15, 30, tzinfo=UTC))  # 23:30 on the 31st
    assert month(2026, 11, "UTC").start == datetime(2026, 11, 1, tzinfo=UTC)


def test_previous_and_same_period_last_year() -> None:
    assert month(2026, 1).previous() == month(2025, 12)
    assert month(2026, 11).previous() == month(2026, 10)
    assert month(2026, 11).same_period_last_year() == month(2025, 11)
    assert half_month(2026, 11, False).previous() == half_month(2026, 10, True)
    assert half_month(2026, 11, True).previous() == half_month(2026, 11, False)
    assert half_month(2026, 11, False).last_exclusive == date(2026, 11, 16)
    assert half_month(2026, 12, True).last_exclusive == date(2027, 1, 1)
    assert half_month(2026, 11, True).label == "2026-11 下半月"
    assert iso_week(2026, 1).previous() == iso_week(2025, 52)
    assert iso_week(2026, 48).same_period_last_year() == iso_week(2025, 48)
    assert iso_week(2027, 52).label == "2027-W52"
    assert iso_week(2026, 53).same_period_last_year() == iso_week(2025, 52)  # 2025 has no week 53


def test_containing_and_parsing() -> None:
    late = datetime(2026, 11, 15, 16, 30, tzinfo=UTC)  # 00:30 Beijing on the 16th
    assert containing("half_month", late) == half_month(2026, 11, True)
    assert containing("half_month", late, "UTC") == half_month(2026, 11, False, "UTC")
    assert containing("month", late) == month(2026, 11)
    assert containing("week", late) == iso_week(2026, 47)
    assert parse_month("2026-11") == month(2026, 11)
    assert parse_month("2026-3", "UTC") == month(2026, 3, "UTC")
    for bad in ("2026-13", "11/2026", ""):
        with pytest.raises(ValueError):
            parse_month(bad)

"""Scheduled reports: cron triggers in Asia/Shanghai, the files a run writes (XLSX cells, HTML),
and that a rerun for the same period overwrites instead of adding files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from openpyxl import load_workbook
from sqlalchemy import Engine

from callcenter.clock import ManualClock
from callcenter.ledger.service import LedgerService
from callcenter.reports.schedule import register_report_jobs, run_report
from callcenter.reports.settings import ReportSettings
from tests.reports.world import World, build, in_month

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def scheduler():  # type: ignore[no-untyped-def]
    s = BackgroundScheduler(timezone=UTC)  # like callcenter/app.py; the jobs carry their own zone
    yield s
    if s.running:
        s.shutdown(wait=False)


def test_jobs_fire_at_local_times(scheduler, engine: Engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ids = register_report_jobs(scheduler, engine, ReportSettings(), ManualClock(), tmp_path)
    assert ids == ["report:monthly", "report:weekly", "report:unfinished", "report:complaints"]
    jobs = {j.id: j for j in scheduler.get_jobs()}
    now = datetime(2026, 11, 10, 12, 0, tzinfo=SH)  # a Tuesday

    def next_fire(job_id: str, after: datetime = now) -> datetime:
        fire = jobs[job_id].trigger.get_next_fire_time(None, after)
        assert str(fire.tzinfo) == "Asia/Shanghai"
        return fire.replace(tzinfo=None)

    assert next_fire("report:monthly") == datetime(2026, 12, 1, 6, 0)
    assert next_fire("report:weekly") == datetime(2026, 11, 16, 6, 0)  # Monday
    assert next_fire("report:unfinished") == datetime(2026, 11, 16, 6, 0)
    assert next_fire("report:unfinished", datetime(2026, 11, 16, 7, 0, tzinfo=SH)) == datetime(2026, 12, 1, 6, 0)
    assert next_fire("report:complaints") == datetime(2026, 11, 27, 6, 0)
    # 06:00 Beijing is 22:00 UTC the day before
    utc_fire = jobs["report:monthly"].trigger.get_next_fire_time(None, now).astimezone(UTC)
    assert utc_fire == datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
    # registering again replaces, never duplicates; disabled or partial settings add less
    register_report_jobs(scheduler, engine, ReportSettings(), ManualClock(), tmp_path)
    assert len(scheduler.get_jobs()) == 4
    other = BackgroundScheduler(timezone=UTC)
    assert register_report_jobs(other, engine, ReportSettings(enabled=False), ManualClock(), tmp_path) == []
    assert register_report_jobs(other, engine, ReportSettings(reports=("weekly",), hour=8), ManualClock(),
                                tmp_path) == ["report:weekly"]
    assert other.get_jobs()[0].trigger.get_next_fire_time(None, now).hour == 8


def test_settings_are_strict() -> None:
    with pytest.raises(ValueError):
        ReportSettings(outdir="x")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        ReportSettings(timezone="Mars/Base")
    with pytest.raises(ValueError):
        ReportSettings(reports=("daily",))  # type: ignore[arg-type]
    assert ReportSettings().out_dir == Path("reports")


def test_monthly_job_writes_xlsx_and_html_once_per_period(engine: Engine, ledger: LedgerService,
                                                          clock: ManualClock, tmp_path: Path) -> None:
    world: World = build(engine, ledger, clock)
    fire = datetime(2026, 12, 1, 6, 0, tzinfo=SH)
    clock.advance(seconds=(fire - clock.now()).total_seconds())
    told: list[tuple[str, Path]] = []
    xlsx, html = run_report("monthly", engine, ReportSettings(), clock, tmp_path,
                            notify=lambda title, path: told.append((title, path)))
    assert xlsx == tmp_path / "monthly" / "2026-11.xlsx" and html == tmp_path / "monthly" / "2026-11.html"
    recs = [r for r in world.entries if in_month(r.created_at, 2026, 11)]
    wb = load_workbook(xlsx)
    assert wb["说明"]["A1"].value == "月度信息统计 · 2026-11"
    summary = wb["概况"]
    assert [c.value for c in summary[1]] == ["项目", "数量"]
    assert [summary["A2"].value, summary["B2"].value] == ["信息总数", len(recs)]
    calls = {r[0].value: r[1].value for r in wb["来电接听"].iter_rows(min_row=2)}
    assert (calls["来电"], calls["接听"], calls["未接"]) == (9, 7, 2)
    text = html.read_text(encoding="utf-8")
    assert "<svg" in text and "月度信息统计 · 2026-11" in text and "@page" in text
    assert "<script" not in text and "cdn" not in text.lower()
    assert told == [("月度信息统计 · 2026-11", xlsx)]
    # a rerun (restart, misfire) for the same period overwrites: still exactly two files
    clock.advance(hours=3)
    assert run_report("monthly", engine, ReportSettings(), clock, tmp_path) == (xlsx, html)
    assert sorted(p.name for p in (tmp_path / "monthly").iterdir()) == ["2026-11.html", "2026-11.xlsx"]


def test_each_job_reports_the_period_just_ended(engine: Engine, ledger: LedgerService, clock: ManualClock,
                                                tmp_path: Path) -> None:
    build(engine, ledger, clock)
    cases = {"weekly": (datetime(2026, 11, 16, 6, 0), "2026-W46"),
             "unfinished": (datetime(2026, 11, 16, 6, 0), "2026-11-H1"),
             "complaints": (datetime(2026, 11, 27, 6, 0), "2026-11")}
    for kind, (local, key) in cases.items():
        c = ManualClock(local.replace(tzinfo=SH).astimezone(UTC))
        xlsx, html = run_report(kind, engine, ReportSettings(), c, tmp_path)
        assert xlsx == tmp_path / kind / f"{key}.xlsx" and html.exists(), kind
    wb = load_workbook(tmp_path / "complaints" / "2026-11.xlsx")
    assert "10-27至11-26" in wb["说明"]["A1"].value
    assert [c.value for c in wb["投诉量化"][1]] == ["项目", "本期", "上期", "去年同期"]

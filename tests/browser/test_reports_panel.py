"""A supervisor opens 统计报表 in real headless Chromium and reads a chart and a table; a clerk
sees no such link. Screenshots: test-artifacts/browser/."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from callcenter.accounts import Accounts
from callcenter.clock import ManualClock
from callcenter.events import EventBus
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from tests.browser.conftest import PanelServer, login
from tests.reports.world import build, in_month


def test_supervisor_reads_the_monthly_report(engine: Engine, chromium, artifacts: Path,  # type: ignore[no-untyped-def]
                                             tmp_path: Path) -> None:
    clock = ManualClock()
    bus = EventBus()
    ledger = LedgerService(engine, clock, bus)
    world = build(engine, ledger, clock)
    accounts = Accounts(engine, clock)
    accounts.add_user("sup1", "supervisor", "supervisor-password", display_name="主管老陈")
    accounts.add_user("clerk1", "clerk", "clerk-password", display_name="张敏")
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=bus,
                                 recordings=WavRecordingStore(RecordingSettings(root=tmp_path / "rec"),
                                                              background_flush=False),
                                 settings=WebSettings(secret_file=tmp_path / "secret.key")))
    total = sum(1 for r in world.entries if in_month(r.created_at, 2026, 11))
    with PanelServer(app) as server:
        page = chromium.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        login(page, server.url, "clerk1", "clerk-password", ready="#app:not([hidden])")
        assert not page.is_visible("#nav-reports")
        page.click("#logout")
        page.wait_for_selector("#login:not([hidden])")

        login(page, server.url, "sup1", "supervisor-password", ready="#app:not([hidden])")
        page.click("#nav-reports")
        page.wait_for_selector("#view-reports:not([hidden]) .r-section")
        page.select_option("#r-kind", "monthly")
        page.fill("#r-period", "2026-11")
        page.click("#r-form button[type=submit]")
        page.wait_for_selector("#r-label:has-text('月度信息统计 · 2026-11')")
        assert page.locator("#r-sections .r-chart svg").count() >= 3
        first_row = page.locator("#r-sections .r-table").first.locator("tbody tr").first
        assert first_row.inner_text().split() == ["信息总数", str(total)]
        assert page.get_attribute("#r-xlsx", "href") == "/api/reports/monthly.xlsx?period=2026-11"
        assert page.is_hidden("#view-board")
        page.screenshot(path=str(artifacts / "01-monthly-report.png"), full_page=True)

        page.click("#r-prev")
        page.wait_for_selector("#r-label:has-text('2026-10')")
        page.select_option("#r-kind", "accuracy")
        page.fill("#r-period", "2026-11")  # twelve months up to November 2026
        page.click("#r-form button[type=submit]")
        page.wait_for_selector("#r-label:has-text('草稿准确率（按月） · 2026-11')")
        assert page.locator("#r-sections .r-chart svg").count() == 1
        page.screenshot(path=str(artifacts / "02-draft-accuracy.png"), full_page=True)


def test_a_new_site_reads_no_data_plainly_and_then_its_first_entries(engine: Engine, chromium,  # type: ignore[no-untyped-def]
                                                                     artifacts: Path, tmp_path: Path) -> None:
    """Issue 16: a report on a period without data says 「该时段无数据」, no table of zeros; once
    the site has entries the reports open on the period that holds them, people by display name."""
    clock = ManualClock()  # Monday 2026-01-05
    bus = EventBus()
    ledger = LedgerService(engine, clock, bus)
    accounts = Accounts(engine, clock)
    accounts.add_user("sup1", "supervisor", "supervisor-password", display_name="主管老陈")
    zhang = accounts.add_user("zhangmin", "clerk", "clerk-password", display_name="张敏")
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=bus,
                                 recordings=WavRecordingStore(RecordingSettings(root=tmp_path / "rec"),
                                                              background_flush=False),
                                 settings=WebSettings(secret_file=tmp_path / "secret.key")))
    with PanelServer(app) as server:
        page = chromium.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        login(page, server.url, "sup1", "supervisor-password", ready="#app:not([hidden])")
        page.click("#nav-reports")
        empty = page.wait_for_selector("#view-reports:not([hidden]) #r-sections .r-empty")
        assert empty.inner_text().startswith("该时段无数据")
        assert page.locator("#r-sections table").count() == 0
        assert "2025-12" in page.inner_text("#r-label")  # the latest complete month
        page.screenshot(path=str(artifacts / "01-no-data.png"), full_page=True)

        ledger.create_manual_entry({"summary": "楼道灯不亮", "unit": "4-2-301"}, "walk_in", "zhangmin", zhang)
        page.reload()  # the reports' list (and the period each opens on) is read when the view opens
        page.wait_for_selector("body[data-started]", state="attached")
        page.click("#nav-reports")
        page.select_option("#r-kind", "clerks")
        # the monthly report the view opens on is labelled 2026-01 too: wait for the clerks' own
        page.wait_for_selector("#r-label:has-text('客服人员工作量'):has-text('2026-01')")
        row = page.wait_for_selector("#r-sections .r-table tbody tr")
        assert row.inner_text().split()[0] == "张敏"
        assert page.locator("#r-sections .r-empty").count() == 0
        assert "zhangmin" not in page.inner_text("#r-sections")
        page.screenshot(path=str(artifacts / "02-first-entries.png"), full_page=True)

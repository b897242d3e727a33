"""The disk alarm as clerks and supervisors see it, in real headless Chromium: the header chip
(live system.alarm event) and the bell (stored notice), raised by a really filling tmpfs and
cleared when space comes back. Screenshots: test-artifacts/browser/<test name>/."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from callcenter.accounts import Accounts
from callcenter.clock import ManualClock
from callcenter.events import EventBus
from callcenter.ledger.service import LedgerService
from callcenter.recordings.disk_monitor import DiskMonitor, Watch
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from callcenter.workflow.cases import CaseWorkflow
from callcenter.workflow.notices import NoticeBoard
from callcenter.workflow.settings import WorkflowSettings
from tests.browser.conftest import PanelServer, login
from tests.storage.smalldisk import fill, small_disk

MB = 1024 * 1024


def test_clerk_and_supervisor_see_the_disk_alarm_come_and_go(engine: Engine, chromium, artifacts: Path,  # type: ignore[no-untyped-def]
                                                            tmp_path: Path) -> None:
    clock = ManualClock()
    bus = EventBus()
    ledger = LedgerService(engine, clock, bus)
    notices = NoticeBoard(engine, clock, bus)
    wf = CaseWorkflow(ledger, clock, WorkflowSettings(), notices, inline=True)
    accounts = Accounts(engine, clock)
    accounts.add_user("clerk1", "clerk", "clerk-password")
    accounts.add_user("boss", "supervisor", "boss-password")
    with small_disk(tmp_path / "rec", "8m") as disk:
        store = WavRecordingStore(RecordingSettings(root=disk), background_flush=False)
        app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=bus, recordings=store,
                                     settings=WebSettings(secret_file=tmp_path / "secret.key"), workflow=wf))
        monitor = DiskMonitor([Watch("录音磁盘", disk, 4)], bus, notices)
        with PanelServer(app) as server:
            pages = []
            for user, password in (("clerk1", "clerk-password"), ("boss", "boss-password")):
                page = chromium.new_page(viewport={"width": 1400, "height": 700}, locale="zh-CN")
                errors: list[str] = []
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                login(page, server.url, user, password)
                page.wait_for_selector("#bell:not([hidden])")
                assert page.is_hidden("#disk-alarm")
                pages.append((page, errors))

            filler = fill(disk, 3 * MB)
            monitor.check()
            for page, _ in pages:
                chip = page.wait_for_selector("#disk-alarm:not([hidden])", timeout=2000)
                assert chip.inner_text() == "录音磁盘空间不足：剩余 3.0 MB"
                page.wait_for_selector("#bell-count:has-text('1')", timeout=2000)
                page.click("#bell-button")
                item = page.wait_for_selector("#bell-list li.note.warning")
                assert "录音磁盘空间不足：剩余 3.0 MB" in item.inner_text() and "来电仍会接听并登记" in item.inner_text()
            pages[0][0].screenshot(path=str(artifacts / "01-clerk-disk-low.png"))

            fill(disk, MB // 2)
            monitor.check()
            pages[1][0].wait_for_selector("#disk-alarm.critical:has-text('剩余 0.5 MB')", timeout=2000)
            pages[1][0].wait_for_selector("#bell-button.flash", timeout=2000)
            pages[1][0].screenshot(path=str(artifacts / "02-supervisor-disk-critical.png"))

            filler.unlink()
            monitor.check()
            for page, errors in pages:
                page.wait_for_selector("#disk-alarm", state="hidden", timeout=2000)
                page.wait_for_selector("#bell-count:has-text('3')", timeout=2000)
                assert errors == []
            pages[0][0].screenshot(path=str(artifacts / "03-clerk-disk-recovered.png"))
            for page, _ in pages:
                page.close()
    wf.shutdown()

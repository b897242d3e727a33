"""The panel on a busy database, in real headless Chromium (issue 16): another connection holds the
SQLite file while a clerk saves; the server answers 503 「数据库忙，请稍后重试」 after its busy
timeout, the panel says it is retrying and sends the save again — it goes through once the lock is
gone; a lock that outlasts the retries is reported plainly, and nothing the clerk typed is lost.
The server's busy timeout is set short here (database.busy_timeout_s) so the retries run quickly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from callcenter.accounts import Accounts
from callcenter.clock import SystemClock
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from tests.browser.conftest import PanelServer, login
from tests.faults.conftest import sqlite_locked

pytestmark = pytest.mark.only_db("sqlite")  # the lock is SQLite's; the 503 itself: tests/web/test_db_busy.py


@pytest.fixture
def busy_desk(tmp_path: Path, db_url: str, chromium):  # type: ignore[no-untyped-def]
    engine = db.make_engine(db_url, busy_timeout_s=0.3)
    ledger = LedgerService(engine, SystemClock(), EventBus())
    accounts = Accounts(engine, SystemClock())
    clerk_id = accounts.add_user("clerk1", "clerk", "clerk-password", display_name="张敏")
    ledger.call_ringing("busy-1", "13800138000", "", "hotline", datetime.now(UTC))
    entry_id = ledger.call_answered("busy-1").entry_id
    ledger.call_ended("busy-1", "caller_hangup", None)
    ledger.confirm_entry(entry_id, {"summary": "楼道灯不亮", "unit": "3-1-502"}, "clerk1", clerk_id)
    store = WavRecordingStore(RecordingSettings(root=tmp_path / "rec"), background_flush=False)
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=ledger.bus, recordings=store,
                                 settings=WebSettings(secret_file=tmp_path / "secret.key")))
    context = chromium.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    with PanelServer(app) as server:
        login(page, server.url, "clerk1", "clerk-password")
        page.goto(f"{server.url}/#entry/{entry_id}")
        page.wait_for_selector(f"#e-id:has-text('#{entry_id}')")
        yield SimpleNamespace(page=page, ledger=ledger, entry_id=entry_id, db_url=db_url)
    context.close()
    store.shutdown()
    engine.dispose()
    assert errors == []


def test_a_save_during_a_lock_is_retried_and_goes_through(busy_desk, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    page, ledger, entry_id = busy_desk.page, busy_desk.ledger, busy_desk.entry_id
    page.fill("#f-summary", "楼道灯不亮，三楼东侧")
    with sqlite_locked(busy_desk.db_url):
        with page.expect_response(lambda r: r.url.endswith(f"/api/entries/{entry_id}") and r.status == 503) as busy:
            page.click("#e-confirm")
        assert busy.value.json()["detail"].startswith("数据库忙，请稍后重试")
        page.wait_for_selector("#e-msg:has-text('数据库忙，正在重试')")
        page.screenshot(path=str(artifacts / "01-retrying.png"))
        assert ledger.get_entry(entry_id).summary == "楼道灯不亮"
    page.wait_for_selector("#e-msg:has-text('已保存')")  # a retry after the lock went
    assert ledger.get_entry(entry_id).summary == "楼道灯不亮，三楼东侧"
    assert page.input_value("#f-summary") == "楼道灯不亮，三楼东侧"


def test_a_lock_outlasting_the_retries_is_reported_and_the_text_kept(busy_desk, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    page, ledger, entry_id = busy_desk.page, busy_desk.ledger, busy_desk.entry_id
    page.fill("#f-summary", "楼道灯不亮，业主说晚上看不见路")
    with sqlite_locked(busy_desk.db_url):
        page.click("#e-confirm")
        msg = page.wait_for_selector("#e-msg.error:has-text('保存失败')")  # after the last retry
        assert "数据库忙，请稍后重试" in msg.inner_text()
        page.screenshot(path=str(artifacts / "02-gave-up.png"))
        assert page.input_value("#f-summary") == "楼道灯不亮，业主说晚上看不见路"  # nothing typed is lost
        assert ledger.get_entry(entry_id).summary == "楼道灯不亮"
    page.click("#e-confirm")  # the clerk saves again once the database is free
    page.wait_for_selector("#e-msg:has-text('已保存')")
    assert ledger.get_entry(entry_id).summary == "楼道灯不亮，业主说晚上看不见路"

"""The live board while the database is locked, in real headless Chromium (issue 16): a call
arrives while another connection holds the SQLite file; its writes wait in the outbox, and the
board shows the call at once from the live-only `call.provisional` events (marked 「暂存本机，待写入
台账」); the lock goes, the outbox drains, and the same card becomes the stored call — one card,
no duplicate, with the call's number and its entry link."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from callcenter.accounts import Accounts
from callcenter.calls.drafter import CallDrafter
from callcenter.clock import SystemClock
from callcenter.drafting.rules import DraftingRules
from callcenter.events import EventBus
from callcenter.ledger.outbox import CallWrites, Outbox
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.scale.event_log import EventJournal, EventStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from tests.browser.conftest import PanelServer, login
from tests.faults.conftest import sqlite_locked

pytestmark = pytest.mark.only_db("sqlite")  # the lock is SQLite's; the events' side: tests/web/test_board_while_db_away.py


def test_a_call_during_a_lock_is_on_the_board_and_one_card_after(engine: Engine, db_url: str, chromium,  # type: ignore[no-untyped-def]
                                                                  artifacts: Path, tmp_path: Path) -> None:
    bus = EventBus()
    journal = EventJournal(EventStore(engine), origin="web")
    journal.start()
    bus.set_journal(journal)
    ledger = LedgerService(engine, SystemClock(), bus, call_write_timeout_s=0.2)
    accounts = Accounts(engine, SystemClock())
    accounts.add_user("clerk1", "clerk", "clerk-password")
    outbox = Outbox(tmp_path / "outbox", bus, drain_interval_s=0.2)
    writes = CallWrites(ledger, outbox, CallDrafter(ledger, DraftingRules.load()).draft)
    store = WavRecordingStore(RecordingSettings(root=tmp_path / "rec"), background_flush=False)
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=bus, recordings=store,
                                 settings=WebSettings(secret_file=tmp_path / "secret.key")))
    page = chromium.new_page(viewport={"width": 1400, "height": 800}, locale="zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        with PanelServer(app) as server:
            login(page, server.url, "clerk1", "clerk-password")
            cards = page.locator("#live > li.call")
            with sqlite_locked(db_url):
                writes.ringing("locked-call-1", "13800138000", "", "8001", datetime.now(UTC))
                card = page.wait_for_selector("#live > li.call:has-text('暂存本机，待写入台账')", timeout=5000)
                assert "13800138000" in card.inner_text() and "振铃中" in card.inner_text()
                writes.answered("locked-call-1", datetime.now(UTC))
                page.wait_for_selector("#live > li.call:has-text('通话中')", timeout=5000)
                assert cards.count() == 1
                assert page.locator("#live > li.call button.take").count() == 0  # no call id to take yet
                page.screenshot(path=str(artifacts / "01-provisional-card.png"))
                assert ledger.list_calls() == []
            outbox.start()
            page.wait_for_selector("#live > li.call:not(:has-text('暂存本机'))", timeout=15_000)
            [call] = ledger.list_calls()
            page.wait_for_selector(f"#call-{call.id} a.open", timeout=10_000)  # the answer replayed: its entry
            assert cards.count() == 1
            writes.ended("locked-call-1", "caller_hangup", None, datetime.now(UTC))
            page.wait_for_selector(f"#call-{call.id}:has-text('已结束')", timeout=5000)
            page.screenshot(path=str(artifacts / "02-caught-up.png"))
            assert cards.count() == 1 and "13800138000" in page.inner_text(f"#call-{call.id}")
    finally:
        outbox.close()
        journal.stop()
        store.shutdown()
        page.close()
    assert errors == []

"""The board after the web process restarts, in real headless Chromium: a call is live on the
board; the web process goes away (its websockets close); the call ends while no panel listens (the
event is stored in the event log); a web process serves again on the same address; the panel's
live-events module reconnects with the last sequence number it saw and the board shows the call
ended — no phantom live call."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from callcenter.accounts import Accounts
from callcenter.clock import SystemClock
from callcenter.events import EventBus
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.scale.event_log import EventJournal, EventStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from tests.browser.conftest import PanelServer, login

pytestmark = pytest.mark.only_db("sqlite")  # the event log on PostgreSQL: tests/scale/test_event_resume.py


def test_the_board_drops_a_call_that_ended_while_the_web_process_was_away(engine: Engine, chromium,  # type: ignore[no-untyped-def]
                                                                          artifacts: Path, tmp_path: Path) -> None:
    bus = EventBus()
    journal = EventJournal(EventStore(engine), origin="web")
    journal.start()
    bus.set_journal(journal)
    ledger = LedgerService(engine, SystemClock(), bus)
    accounts = Accounts(engine, SystemClock())
    accounts.add_user("clerk1", "clerk", "clerk-password")
    store = WavRecordingStore(RecordingSettings(root=tmp_path / "rec"), background_flush=False)

    def web_process():  # type: ignore[no-untyped-def]
        return create_app(WebServices(ledger=ledger, accounts=accounts, bus=bus, recordings=store,
                                      settings=WebSettings(secret_file=tmp_path / "secret.key")))

    page = chromium.new_page(viewport={"width": 1400, "height": 700}, locale="zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        with PanelServer(web_process()) as first:
            login(page, first.url, "clerk1", "clerk-password")
            pk = ledger.call_ringing("resume-1", "13800138000", "", "8001", datetime.now(UTC))
            ledger.call_answered("resume-1")
            page.wait_for_selector(f"#call-{pk}:has-text('通话中')", timeout=5000)
            port = first.port
        page.wait_for_selector("#link-state.down", timeout=10_000)
        ledger.call_ended("resume-1", "caller_hangup", None)  # stored; no panel hears it now
        page.screenshot(path=str(artifacts / "01-web-away.png"))
        assert "通话中" in page.inner_text(f"#call-{pk}")
        with PanelServer(web_process(), port=port):
            page.wait_for_selector("#link-state:not(.down)", timeout=15_000)
            page.wait_for_selector(f"#call-{pk}:has-text('已结束')", timeout=10_000)
            page.screenshot(path=str(artifacts / "02-caught-up.png"))
            assert "通话中" not in page.inner_text(f"#call-{pk}")
            # the next event arrives once, live, on the resumed stream
            pk2 = ledger.call_ringing("resume-2", "13900139000", "", "8001", datetime.now(UTC))
            page.wait_for_selector(f"#call-{pk2}:has-text('振铃中')", timeout=5000)
            assert page.locator(f"#call-{pk2}").count() == 1
    finally:
        journal.stop()
        store.shutdown()
    # the panel's periodic requests fail while no web process answers ("Failed to fetch"); nothing else
    assert [e for e in errors if "Failed to fetch" not in e] == []

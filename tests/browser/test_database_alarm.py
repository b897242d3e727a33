"""The database-unreachable alarm as a clerk sees it in real headless Chromium: the SQLite file is
held locked by another connection while a call is logged, the write goes to the outbox, the
header chip says so; the lock goes, the outbox drains and the chip clears."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from callcenter.accounts import Accounts
from callcenter.calls.drafter import CallDrafter
from callcenter.clock import ManualClock
from callcenter.drafting.rules import DraftingRules
from callcenter.events import EventBus
from callcenter.ledger.outbox import CallWrites, Outbox
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from tests.browser.conftest import PanelServer, login
from tests.faults.conftest import sqlite_locked

pytestmark = pytest.mark.only_db("sqlite")  # the lock is SQLite's; PostgreSQL down: tests/faults/test_db_down.py


def test_clerk_sees_the_database_alarm_while_calls_wait_in_the_outbox(engine: Engine, db_url: str, chromium,  # type: ignore[no-untyped-def]
                                                                     artifacts: Path, tmp_path: Path) -> None:
    clock = ManualClock()
    bus = EventBus()
    ledger = LedgerService(engine, clock, bus, call_write_timeout_s=0.2)
    accounts = Accounts(engine, clock)
    accounts.add_user("clerk1", "clerk", "clerk-password")
    outbox = Outbox(tmp_path / "outbox", bus, drain_interval_s=0.2)
    writes = CallWrites(ledger, outbox, CallDrafter(ledger, DraftingRules.load()).draft)
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=bus,
                                 recordings=WavRecordingStore(RecordingSettings(root=tmp_path / "rec"),
                                                              background_flush=False),
                                 settings=WebSettings(secret_file=tmp_path / "secret.key")))
    with PanelServer(app) as server:
        page = chromium.new_page(viewport={"width": 1400, "height": 700}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        login(page, server.url, "clerk1", "clerk-password")
        assert page.is_hidden("#disk-alarm")
        with sqlite_locked(db_url):
            writes.ringing("alarm-call-1", "13800138000", "", "8001", datetime.now(UTC))
            chip = page.wait_for_selector("#disk-alarm.critical:not([hidden])", timeout=5000)
            assert chip.inner_text() == "数据库不可用：通话照常接听和录音，记录暂存本机，恢复后自动写入台账"
            assert outbox.pending() == 1
            page.screenshot(path=str(artifacts / "01-database-down.png"))
        outbox.start()
        try:
            page.wait_for_selector("#disk-alarm", state="hidden", timeout=10_000)
        finally:
            outbox.close()
        deadline = time.monotonic() + 5
        while outbox.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert outbox.pending() == 0
        assert [c.sip_call_id for c in ledger.list_calls()] == ["alarm-call-1"]
        page.screenshot(path=str(artifacts / "02-database-back.png"))
        assert errors == []

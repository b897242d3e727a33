"""The panel's header chip 「转写积压 N」 in Chromium: the figure from /api/system/status, amber above
asr.backlog_warn, and updated when a transcript is worked off."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from callcenter.app import Application
from callcenter.config import Settings
from tests.browser.conftest import PanelServer, login

pytestmark = pytest.mark.only_db("sqlite")


def test_backlog_chip_counts_queued_transcripts(chromium, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(database={"url": f"sqlite:///{tmp_path}/cc.db"},  # type: ignore[arg-type]
                        web={"secret_file": str(tmp_path / "secret.key")},  # type: ignore[arg-type]
                        recording={"root": str(tmp_path / "rec")},  # type: ignore[arg-type]
                        asr={"model_dir": str(tmp_path / "no-model"), "backlog_warn": 1})  # type: ignore[arg-type]
    app = Application(settings)  # not started: no SIP agent needed to read the ledger
    try:
        app.accounts.add_user("clerk1", "clerk", "clerk-password", "张敏")
        now = datetime.now(UTC)
        for n in range(2):  # two finished calls whose transcripts wait for a worker
            key = f"call-{n}@test"
            app.ledger.call_ringing(key, f"1380013800{n}", "", "hotline", now)
            app.ledger.call_answered(key)
            app.ledger.set_transcript(key, None, "queued")
        with PanelServer(app.web_app()) as server:
            page = chromium.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
            login(page, server.url, "clerk1", "clerk-password")
            chip = page.wait_for_selector("#backlog:has-text('转写积压 2')")
            assert chip is not None and "warn" in (chip.get_attribute("class") or "")  # 2 > 1: amber
            assert "排队 2" in (chip.get_attribute("title") or "")
            # one transcript arrives; a call ending (its event) makes the panel re-read the figure
            app.ledger.set_transcript("call-0@test", None, "done")
            app.ledger.call_ended("call-0@test", "caller_hangup", None)
            page.wait_for_selector("#backlog:has-text('转写积压 1')", timeout=10_000)
            assert "warn" not in (page.get_attribute("#backlog", "class") or "")
    finally:
        app.stop()

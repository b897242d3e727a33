"""The header chip for a missing speech model, in real headless Chromium (issue 16): with no model
a clerk and an administrator see 「语音识别模型缺失：来电改走按键登记」 (the fix in its tooltip);
once the model is in place the chip is gone after the next status read."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.app import Application
from callcenter.config import Settings
from tests.browser.conftest import PanelServer, login
from tests.web.test_speech_model_status import lay_out_model

pytestmark = pytest.mark.only_db("sqlite")


def test_a_missing_model_shows_a_chip_until_it_is_installed(chromium, tmp_path: Path, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    model_dir = tmp_path / "model"
    settings = Settings(database={"url": f"sqlite:///{tmp_path}/cc.db"},  # type: ignore[arg-type]
                        web={"secret_file": str(tmp_path / "secret.key")},  # type: ignore[arg-type]
                        recording={"root": str(tmp_path / "rec")},  # type: ignore[arg-type]
                        asr={"model_dir": str(model_dir)})  # type: ignore[arg-type]
    app = Application(settings)
    app.accounts.add_user("clerk1", "clerk", "clerk-password", "张敏")
    app.accounts.add_user("boss", "admin", "admin-password", "王经理")
    errors: list[str] = []
    try:
        with PanelServer(app.web_app()) as server:
            pages = []
            for user, password in (("clerk1", "clerk-password"), ("boss", "admin-password")):
                context = chromium.new_context(viewport={"width": 1400, "height": 700}, locale="zh-CN")
                page = context.new_page()
                page.on("pageerror", lambda e: errors.append(str(e)))
                login(page, server.url, user, password)
                chip = page.wait_for_selector("#speech-model:not([hidden])", timeout=10_000)
                assert chip.inner_text() == "语音识别模型缺失：来电改走按键登记"
                assert "callcenter models fetch" in (chip.get_attribute("title") or "")
                page.screenshot(path=str(artifacts / f"01-{user}-no-model.png"))
                pages.append(page)
            lay_out_model(model_dir)
            page = pages[0]
            with page.expect_response(lambda r: r.url.endswith("/api/system/status")):
                page.reload()  # the chip follows the status the panel reads (polled every 15 s)
            page.wait_for_selector("#backlog:not([hidden])", timeout=10_000)
            assert page.is_hidden("#speech-model")
            for p in pages:
                p.context.close()
    finally:
        app.stop()
    assert errors == []

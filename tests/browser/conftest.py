"""The panel in the system's headless Chromium (Playwright with /usr/bin/chromium; never a
downloaded browser), served by uvicorn on loopback over the real call pipeline's ledger."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from callcenter.drafting.units import parse_unit
from tests.calls.conftest import pipeline_factory, prompt_settings, speak  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("CALLCENTER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]


def normalize_unit(text: str) -> str | None:
    match = parse_unit(text)
    return match.unit if match else None


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PanelServer:
    def __init__(self, app: FastAPI) -> None:
        self.port = _free_tcp_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name="panel-server", daemon=True)

    def __enter__(self) -> PanelServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the panel server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)


@pytest.fixture(scope="session")
def chromium():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    out = ARTIFACTS / request.node.name.replace("[", "_").replace("]", "")
    out.mkdir(parents=True, exist_ok=True)
    return out



def login(page, url: str, user: str, password: str,  # type: ignore[no-untyped-def]
          ready: str = "#link-state:has-text('实时连接正常')") -> None:
    """Log in through the form and wait until the panel is `ready` (by default: live events flowing)."""
    page.goto(url + "/")
    page.fill("#login-form [name=username]", user)
    page.fill("#login-form [name=password]", password)
    page.press("#login-form [name=password]", "Enter")
    page.wait_for_selector(ready)

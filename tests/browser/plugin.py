"""pytest fixtures for browser tests, registered once for the whole suite (tests/conftest.py):
`chromium`, the system's headless Chromium driven by Playwright (never a downloaded browser), one
per session, the pages a test opened closed after it; `artifacts`, a folder for a test's
screenshots. Import the fixtures nowhere: a module that imports a session fixture gets its own
copy, and a second Playwright cannot start while the first runs.

One browser per worker: one shared by the workers over CDP was measured dearer in CI (Chromium
206 s of CPU against 155 s; every worker's CDP connection follows every page of the browser)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("CALLCENTER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]


def _screenshot_retried_once() -> None:
    """A screenshot is an artifact for people, not a check: Chromium under load now and then
    cannot capture a frame ("Unable to capture screenshot"); try once more before failing."""
    from playwright.sync_api import Error, Page

    shoot = Page.screenshot

    def screenshot(self: Page, *args: object, **kwargs: object) -> bytes:
        try:
            return shoot(self, *args, **kwargs)  # type: ignore[arg-type]
        except Error as exc:
            if "Unable to capture screenshot" not in str(exc):
                raise
            self.wait_for_timeout(500)
            return shoot(self, *args, **kwargs)  # type: ignore[arg-type]

    Page.screenshot = screenshot  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def chromium_browser():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"browser tests need Chromium at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    _screenshot_retried_once()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def chromium(chromium_browser):  # type: ignore[no-untyped-def]
    """The session's browser; the pages and contexts a test opened are closed after it. A panel
    left open keeps reconnecting to its stopped server for the rest of the session (the four
    workers' browsers used ~265 s of CI's CPU before this, ~155 s after)."""
    yield chromium_browser
    for context in chromium_browser.contexts:
        context.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    out = ARTIFACTS / request.node.name.replace("[", "_").replace("]", "")
    out.mkdir(parents=True, exist_ok=True)
    return out

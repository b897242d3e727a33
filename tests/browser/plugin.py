"""pytest fixtures for browser tests, registered once for the whole suite (tests/conftest.py):
`chromium`, the system's headless Chromium driven by Playwright (never a downloaded browser), the
pages a test opened closed after it; `artifacts`, a folder for a test's screenshots. Import the
fixtures nowhere: a module that imports a session fixture gets its own copy, and a second
Playwright cannot start while the first runs.

One browser for the whole run: in a parallel run (pytest-xdist) the controller starts Chromium
once and every worker connects to it over CDP, each test in contexts of its own, instead of one
browser per worker idling between its tests (four of them used ~155 s of CI's CPU). Run alone,
the session launches its own."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("CALLCENTER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]
CDP_ENV = "CALLCENTER_TEST_CHROMIUM_CDP"  # the shared browser's endpoint, for the workers


class SharedChromium:
    """Chromium started by the xdist controller, listening for CDP on loopback only."""

    def __init__(self) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="cc-chromium-"))
        self.proc = subprocess.Popen(
            [CHROMIUM, *CHROMIUM_ARGS, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        port_file = self.profile / "DevToolsActivePort"  # Chromium writes the port it chose here
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Chromium at {CHROMIUM} did not start for the browser tests")
            time.sleep(0.1)
        self.endpoint = f"http://127.0.0.1:{port_file.read_text().split()[0]}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def _die_with_parent() -> None:
    """In the child: a controller killed with SIGKILL takes its Chromium along (Linux prctl)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def pytest_configure(config: pytest.Config) -> None:
    parallel = bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")
    if parallel and not config.option.collectonly and CDP_ENV not in os.environ and Path(CHROMIUM).exists():
        shared = SharedChromium()
        config.stash[_SHARED] = shared
        os.environ[CDP_ENV] = shared.endpoint  # the workers, started after this, inherit it


def pytest_unconfigure(config: pytest.Config) -> None:
    shared = config.stash.get(_SHARED, None)
    if shared is not None:
        shared.stop()
        os.environ.pop(CDP_ENV, None)


_SHARED = pytest.StashKey[SharedChromium]()


@pytest.fixture(scope="session")
def chromium_browser():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"browser tests need Chromium at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        endpoint = os.environ.get(CDP_ENV)
        if endpoint:
            browser = pw.chromium.connect_over_cdp(endpoint)
        else:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()  # over CDP: closes this worker's contexts and disconnects


@pytest.fixture
def chromium(chromium_browser):  # type: ignore[no-untyped-def]
    """The session's browser; the contexts (and pages) a test opened are closed after it. A panel
    left open kept reconnecting to its stopped server for the rest of the session (the four
    workers' browsers used ~265 s of CI's CPU before this)."""
    before = list(chromium_browser.contexts)  # over CDP, the default context is one: never closed
    yield chromium_browser
    for context in chromium_browser.contexts:
        if context not in before:
            context.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    out = ARTIFACTS / request.node.name.replace("[", "_").replace("]", "")
    out.mkdir(parents=True, exist_ok=True)
    return out

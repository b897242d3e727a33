"""Helpers for the panel in headless Chromium: the panel served by uvicorn on loopback and a login.
The `chromium` and `artifacts` fixtures are in tests/browser/plugin.py (one browser per session)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from tests.calls.conftest import pipeline_factory, prompt_settings, speak  # noqa: F401  (fixtures)


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PanelServer:
    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.port = port or _free_tcp_port()  # a port again: the web process restarted
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


def login(page, url: str, user: str, password: str,  # type: ignore[no-untyped-def]
          ready: str = "#link-state:has-text('实时连接正常')") -> None:
    """Log in through the form and wait until the panel is `ready` (by default: live events flowing)
    and has routed (its nav links show what the role may open)."""
    page.goto(url + "/")
    page.fill("#login-form [name=username]", user)
    page.fill("#login-form [name=password]", password)
    page.press("#login-form [name=password]", "Enter")
    page.wait_for_selector(ready)
    page.wait_for_selector("body[data-started]", state="attached")  # start hooks done, first route shown

"""SIGTERM with live-events websockets open (issue 16): `callcenter serve` stops within 5 s
(it used to wait until the next call arrived), and the clients see their connection closed."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest
import websockets

from tests.faults.server import serve, stop, wait_ready, write_config
from tests.sipbench.tools import LOOPBACK

pytestmark = [pytest.mark.sip, pytest.mark.only_db("sqlite")]


async def _open_sockets(port: int, cookie: str, count: int) -> list[websockets.ClientConnection]:
    return [await websockets.connect(f"ws://{LOOPBACK}:{port}/api/events",
                                     additional_headers={"Cookie": f"cc_session={cookie}",
                                                         "Origin": f"http://{LOOPBACK}:{port}"})
            for _ in range(count)]


def test_sigterm_with_open_websockets_stops_within_5_s(prompt_settings, tmp_path: Path, db_url: str) -> None:
    config, web_port = write_config(tmp_path, kamailio_port=5060, username="stopline", db_url=db_url,
                                    prompts=prompt_settings, sip={"mode": "direct"})
    log = tmp_path / "serve.log"
    from callcenter.accounts import Accounts
    from callcenter.clock import SystemClock
    from callcenter.ledger import db

    Accounts(db.make_engine(db_url), SystemClock()).add_user("clerk1", "clerk", "clerk-password")
    proc = serve(config, log)
    try:
        wait_ready(web_port, proc, log)
        r = httpx.post(f"http://{LOOPBACK}:{web_port}/api/auth/login",
                       json={"username": "clerk1", "password": "clerk-password"})
        assert r.status_code == 200, r.text
        cookie = r.cookies["cc_session"]
        # The websockets' loop runs on its own thread: a worker that ran a browser test holds
        # Playwright's loop as the running one on this thread.
        loop = asyncio.new_event_loop()
        runner = threading.Thread(target=loop.run_forever, name="websockets", daemon=True)
        runner.start()

        def run(coro):  # type: ignore[no-untyped-def]
            return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)

        sockets = run(_open_sockets(web_port, cookie, 3))
        time.sleep(0.5)
        started = time.monotonic()
        proc.terminate()
        proc.wait(timeout=15)
        took = time.monotonic() - started
        print(f"SIGTERM with 3 websockets open: exited {proc.returncode} after {took:.1f} s")
        assert took < 5, log.read_text()[-3000:]

        async def closed(ws: websockets.ClientConnection) -> bool:
            # what the server sent before it stopped (stream.position) is read first; then the close
            try:
                async with asyncio.timeout(2):
                    while True:
                        await ws.recv()
            except websockets.ConnectionClosed:
                return True
            except TimeoutError:
                return False

        assert all(run(closed(ws)) for ws in sockets)
        loop.call_soon_threadsafe(loop.stop)
        runner.join(5)
        loop.close()
    finally:
        if proc.poll() is None:
            stop(proc)

"""A new call on the live board: websocket message -> the call's row in the page, in real headless
Chromium (issue 3: a new call shows within 100 ms of the event).

Serves the real app with uvicorn on loopback, logs a clerk in through the panel's form, then makes
calls ring through `LedgerService.call_ringing` (the real ledger event) at a steady rate. The page
carries bench/board_latency.js, which stamps `performance.now()` when each `call.ringing` message
arrives and when a MutationObserver sees that call's `li#call-N` row; the figure is the difference.

    .venv/bin/python bench/board_render.py [--calls 100] [--rate 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from callcenter.accounts import Accounts
from callcenter.clock import SystemClock
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings

HOOK = (Path(__file__).resolve().parent / "board_latency.js").read_text(encoding="utf-8")
CHROMIUM = os.environ.get("CALLCENTER_CHROMIUM", "/usr/bin/chromium")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--rate", type=float, default=5.0, help="new calls per second")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/board.db"
        db.upgrade(url)
        engine = db.make_engine(url)
        clock, bus = SystemClock(), EventBus()
        ledger = LedgerService(engine, clock, bus)
        accounts = Accounts(engine, clock)
        accounts.add_user("bench", "clerk", "bench-password-1234")
        app = create_app(WebServices(
            ledger=ledger, accounts=accounts, bus=bus,
            recordings=WavRecordingStore(RecordingSettings(root=Path(tmp) / "rec"), background_flush=False),
            settings=WebSettings(secret_file=Path(tmp) / "secret.key")))
        port = _port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            # bypass_csp: wait_for_function evaluates its predicate, which the panel's CSP forbids
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN", bypass_csp=True)
            page.add_init_script(HOOK)
            page.goto(f"http://127.0.0.1:{port}/")
            page.fill("#login-form [name=username]", "bench")
            page.fill("#login-form [name=password]", "bench-password-1234")
            page.press("#login-form [name=password]", "Enter")
            page.wait_for_selector("#link-state:has-text('实时连接正常')")
            ids = []
            for i in range(args.calls):  # from this (main) thread, as a telephony thread would
                ids.append(ledger.call_ringing(f"board-{i}", f"1390000{i:04d}", "", "hotline", clock.now()))
                time.sleep(1 / args.rate)
            last = ids[-1]
            page.wait_for_function(f"window.__rowAt['{last}'] !== undefined", timeout=30_000)
            stamps = page.evaluate("[window.__arrived, window.__rowAt]")
            browser.close()
        server.should_exit = True
        thread.join(5)
    arrived, row_at = stamps
    lat = sorted(row_at[str(pk)] - arrived[str(pk)] for pk in ids if str(pk) in row_at and str(pk) in arrived)
    q = statistics.quantiles(lat, n=100)
    print(f"{args.calls} calls at {args.rate:g}/s -> {len(lat)} rows on the board")
    print(f"websocket message -> row in the page (ms): p50 {q[49]:.2f}  p95 {q[94]:.2f}  p99 {q[98]:.2f}"
          f"  max {lat[-1]:.2f}")


if __name__ == "__main__":
    main()

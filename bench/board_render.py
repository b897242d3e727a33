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
import statistics
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from callcenter.clock import SystemClock

HOOK = (Path(__file__).resolve().parent / "board_latency.js").read_text(encoding="utf-8")
CHROMIUM = os.environ.get("CALLCENTER_CHROMIUM", "/usr/bin/chromium")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--rate", type=float, default=5.0, help="new calls per second")
    args = ap.parse_args()
    from panel_fanout import local_panel  # bench/, beside this script

    clock = SystemClock()
    with local_panel("bench", "bench-password-1234") as (port, ledger, _), sync_playwright() as pw:
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
    arrived, row_at = stamps
    lat = sorted(row_at[str(pk)] - arrived[str(pk)] for pk in ids if str(pk) in row_at and str(pk) in arrived)
    q = statistics.quantiles(lat, n=100)
    print(f"{args.calls} calls at {args.rate:g}/s -> {len(lat)} rows on the board")
    print(f"websocket message -> row in the page (ms): p50 {q[49]:.2f}  p95 {q[94]:.2f}  p99 {q[98]:.2f}"
          f"  max {lat[-1]:.2f}")


if __name__ == "__main__":
    main()

"""Websocket fan-out latency: one event published on a telephony thread until each of N connected
panels has received it (issue 3: a new call shows within 100 ms of the event).

Serves the real app with uvicorn on loopback, connects N websocket clients with API tokens,
publishes `call.ringing`-sized events from a plain thread (as pyVoIP's threads do) and measures
publish -> receive per panel.

    .venv/bin/python bench/panel_fanout.py [--panels 20] [--events 200] [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn
import websockets

from callcenter.accounts import Accounts
from callcenter.clock import SystemClock
from callcenter.events import CallRinging, Event, EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_panel(user: str, password: str) -> Iterator[tuple[int, LedgerService, Accounts]]:
    """The real app on a fresh SQLite file, served by uvicorn on a free loopback port, with one
    clerk `user`: (port, ledger, accounts). Also used by bench/board_render.py."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/panel.db"
        db.upgrade(url)
        engine = db.make_engine(url)
        bus = EventBus()
        ledger = LedgerService(engine, SystemClock(), bus)
        accounts = Accounts(engine, SystemClock())
        accounts.add_user(user, "clerk", password)
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
        try:
            yield port, ledger, accounts
        finally:
            server.should_exit = True
            thread.join(5)
            engine.dispose()


async def panel(url: str, n_events: int, latencies: list[float], ready: asyncio.Event, count: list[int]) -> None:
    async with websockets.connect(url) as ws:
        count[0] += 1
        if count[0] == count[1]:
            ready.set()
        got = 0
        while got < n_events:
            msg = json.loads(await ws.recv())
            latencies.append((time.perf_counter() - msg["data"]["sent"]) * 1000)
            got += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--panels", type=int, default=20)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--rate", type=float, default=20.0, help="events per second")
    args = ap.parse_args()
    with local_panel("bench", "bench-password") as (port, ledger, accounts):
        bus = ledger.bus
        token = accounts.create_token("bench")

        latencies: list[float] = []

        async def run() -> None:
            ready = asyncio.Event()
            count = [0, args.panels]
            ws_url = f"ws://127.0.0.1:{port}/api/events?token={token}"
            tasks = [asyncio.create_task(panel(ws_url, args.events, latencies, ready, count))
                     for _ in range(args.panels)]
            await ready.wait()
            await asyncio.sleep(0.3)  # every subscription registered on the server

            def publisher() -> None:  # a telephony thread
                for i in range(args.events):
                    # a call.ringing as the ledger sends it, plus the time it was sent (latency)
                    data = CallRinging(call_id=i, caller_number="13800138000", resident="王建国", unit="4-2-301",
                                       open_entries=[1, 2]).data()
                    bus.dispatch(Event(CallRinging.TYPE, {**data, "sent": time.perf_counter()}))
                    time.sleep(1 / args.rate)

            pub = threading.Thread(target=publisher)
            pub.start()
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.events / args.rate + 30)
            pub.join()

        asyncio.run(run())
        lat = sorted(latencies)
        q = statistics.quantiles(lat, n=100)
        print(f"{args.panels} panels, {args.events} events at {args.rate:g}/s -> {len(lat)} deliveries")
        print(f"publish -> received (ms): p50 {q[49]:.2f}  p95 {q[94]:.2f}  p99 {q[98]:.2f}  max {lat[-1]:.2f}")


if __name__ == "__main__":
    main()

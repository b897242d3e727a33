"""Huge request bodies before login (issue 16): how fast `callcenter serve`'s app refuses them,
how much memory the process gains, and how long an ordinary API call takes meanwhile.

Serves the real app with uvicorn on loopback (in this process, so its memory is ours), then sends
N bodies of SIZE MB to POST /api/auth/login — declared with Content-Length, and chunked — while a
second thread times GET /api/auth/me (401, through the whole auth path) every 50 ms.

    .venv/bin/python bench/hostile_bodies.py [--size-mb 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from callcenter.accounts import Accounts
from callcenter.clock import SystemClock
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings

MB = 1024 * 1024


def _rss_mb() -> tuple[float, float]:
    """(current, peak) resident size of this process in MB."""
    current = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            current = int(line.split()[1]) / 1024
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _send(port: int, size_mb: int, chunked: bool) -> tuple[float, int, bytes]:
    """Seconds until the answer's first bytes, MB sent by then, the status line."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        head += b"Transfer-Encoding: chunked\r\n\r\n" if chunked else b"Content-Length: %d\r\n\r\n" % (size_mb * MB)
        started = time.monotonic()
        sock.sendall(head)
        block = (b"%x\r\n" % MB + b" " * MB + b"\r\n") if chunked else b" " * MB
        sent, answer = 0, b""
        sock.setblocking(False)
        while sent < size_mb and not answer:
            try:
                sock.sendall(block)
                sent += 1
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                pass
            with contextlib.suppress(BlockingIOError):
                answer = sock.recv(200)
        sock.setblocking(True)
        sock.settimeout(30)
        if not answer:
            answer = sock.recv(200)
        return time.monotonic() - started, sent, answer.split(b"\r\n", 1)[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp}/ledger.db"
    db.upgrade(url)
    engine = db.make_engine(url)
    clock, bus = SystemClock(), EventBus()
    app = create_app(WebServices(ledger=LedgerService(engine, clock, bus), accounts=Accounts(engine, clock), bus=bus,
                                 recordings=WavRecordingStore(RecordingSettings(root=tmp / "rec")),
                                 settings=WebSettings(secret_file=tmp / "secret.key")))
    port = _port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    before = _rss_mb()
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(trust_env=False, timeout=30) as client:
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    client.get(f"http://127.0.0.1:{port}/api/auth/me")
                except httpx.HTTPError as exc:
                    print(f"probe failed: {exc!r}")
                latencies.append(time.monotonic() - t0)
                time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    rows = []
    for chunked in (False, True):
        for _ in range(args.rounds):
            rows.append((chunked, *_send(port, args.size_mb, chunked)))
    stop.set()
    prober.join()
    after = _rss_mb()
    server.should_exit = True
    for kind in (False, True):
        mine = [r for r in rows if r[0] == kind]
        print(f"{'chunked' if kind else 'declared'} {args.size_mb} MB x {len(mine)}: answer "
              f"{mine[0][3].decode()!r}, median {statistics.median(r[1] for r in mine) * 1000:.1f} ms, "
              f"max {max(r[1] for r in mine) * 1000:.1f} ms, MB sent before the answer: max {max(r[2] for r in mine)}")
    print(f"RSS {before[0]:.0f} -> {after[0]:.0f} MB; peak {before[1]:.0f} -> {after[1]:.0f} MB")
    lat = sorted(latencies)
    print(f"GET /api/auth/me meanwhile: n={len(lat)}, median {statistics.median(lat) * 1000:.1f} ms, "
          f"max {lat[-1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()

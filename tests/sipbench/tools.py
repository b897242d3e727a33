"""Finding tools and free loopback ports."""

from __future__ import annotations

import os
import random
import shutil
import socket
import threading
from pathlib import Path

LOOPBACK = "127.0.0.1"


def require_tool(name: str, package: str) -> str:
    """Path of a bench tool; fail loudly (never skip) when it is missing."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        raise RuntimeError(f"SIP test bench needs `{name}`: install the Debian package `{package}`")
    return path


def free_udp_port() -> int:
    """A port on 127.0.0.1 that is free now for UDP and for TCP (the kernel picks it): SIP
    listeners (the agent, kamailio with tcp) take both."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((LOOPBACK, 0))
            port = sock.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            try:
                tcp.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")


free_tcp_udp_port = free_udp_port


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


_block_lock = threading.Lock()
_block_cursor: int | None = None


def _worker_slice(low: int, high: int) -> tuple[int, int]:
    """This xdist worker's share of [low, high): parallel workers never hand out the same block."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ... (unset without xdist)
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or count <= 1:
        return low, high
    index = int(worker[2:])
    width = (high - low) // count & ~1
    return low + index * width, low + (index + 1) * width


def free_udp_block(size: int, low: int = 20000, high: int | None = None) -> int:
    """First port of `size` consecutive free UDP ports (RTP ranges of SIPp/baresip/agent).

    Blocks are handed out one after another (never overlapping within this test process, nor
    between parallel xdist workers, which each own a slice of the range) and below the kernel's
    ephemeral range, so no socket bound to port 0 elsewhere can take them between this check and
    the moment SIPp or the agent binds them."""
    global _block_cursor
    if high is None:
        high = min(_ephemeral_range()[0], 60000)
    low, high = _worker_slice(low, high)
    with _block_lock:
        if _block_cursor is None:
            _block_cursor = low + random.randrange(0, max(1, (high - low) // 2)) & ~1
        for _ in range(400):
            base = _block_cursor
            if base + size >= high:
                base = low
            _block_cursor = (base + size + 1) & ~1
            socks = []
            try:
                for port in range(base, base + size):
                    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    socks.append(sock)
                    sock.bind((LOOPBACK, port))
                return base
            except OSError:
                continue
            finally:
                for sock in socks:
                    sock.close()
    raise RuntimeError(f"no block of {size} free UDP ports on {LOOPBACK}")

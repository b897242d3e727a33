"""Finding tools and free loopback ports."""

from __future__ import annotations

import shutil
import socket

LOOPBACK = "127.0.0.1"


def require_tool(name: str, package: str) -> str:
    """Path of a bench tool; fail loudly (never skip) when it is missing."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        raise RuntimeError(f"SIP test bench needs `{name}`: install the Debian package `{package}`")
    return path


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that is free now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def free_udp_block(size: int, low: int = 20000, high: int = 60000) -> int:
    """First port of `size` consecutive free UDP ports (for RTP ranges of SIPp/baresip/agent)."""
    import random

    for _ in range(200):
        base = random.randrange(low, high - size) & ~1
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

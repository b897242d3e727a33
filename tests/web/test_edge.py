"""The app's edge (issue 16): a huge body is refused at once without being read (declared or
chunked, before login, memory flat), security headers with a strict CSP on every answer, client
addresses only from trusted proxies, login throttling that one attacker cannot turn into a
lock-out, and no token or phone number in the logs."""

from __future__ import annotations

import contextlib
import logging
import resource
import socket
import time

from fastapi.testclient import TestClient
from starlette.requests import Request

from callcenter.logs import Redactor
from callcenter.web.edge import PANEL_CSP, client_address
from callcenter.web.ratelimit import LoginLimiter
from tests.browser.conftest import PanelServer

MB = 1024 * 1024


def _rss() -> int:
    """The process's peak resident size: a body held in memory even briefly would raise it."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _answer(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_a_100_mb_login_is_refused_at_once_with_memory_flat(parts) -> None:  # type: ignore[no-untyped-def]
    app = parts[0]
    with PanelServer(app) as server:
        before = _rss()
        # declared: answered from the headers, the body is never read
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            t0 = time.monotonic()
            sock.sendall(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % (100 * MB) + b"{" + b" " * MB)
            head = _answer(sock)
            assert head.startswith(b"HTTP/1.1 413"), head[:200]
            assert time.monotonic() - t0 < 2
        # chunked: counted as it streams and cut off at the login's 4 KB
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n%s\r\n" % (MB, b" " * MB)
            sent, head = 0, b""
            sock.settimeout(5)
            try:
                while sent < 100 and not head:
                    sock.sendall(chunk)
                    sent += 1
                    sock.setblocking(False)
                    with contextlib.suppress(BlockingIOError):
                        head = sock.recv(65536)
                    sock.setblocking(True)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server closed on us: also a refusal; read what it said
            if not head:
                sock.setblocking(True)
                head = _answer(sock)
            assert head.startswith(b"HTTP/1.1 413"), head[:200]
            assert sent < 100, "the server read the whole 100 MB"
        grown = _rss() - before
        print(f"peak RSS before {before / MB:.0f} MB, growth {grown / MB:.1f} MB after 2 x 100 MB bodies refused "
              f"(chunked: {sent} MB sent before the answer)")
        assert grown < 30 * MB
        # an ordinary login still works
        with TestClient(app) as c:
            assert c.post("/api/auth/login", json={"username": "clerk1", "password": "clerk-password"}).status_code == 200


def test_body_limits_per_route(parts) -> None:  # type: ignore[no-untyped-def]
    app, _, accounts, _ = parts
    admin = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('admin')}"})
    big = {"source": "walk_in", "summary": "x" * (2 * MB)}
    r = admin.post("/api/entries", json=big)
    assert r.status_code == 413 and "过大" in r.json()["detail"]
    # the import takes up to its own, larger limit (then the route's 10 MB rule speaks)
    r = admin.post("/api/residents/import", files={"file": ("r.csv", b"unit,name,phones\n" + b"#" * (3 * MB))})
    assert r.status_code != 413, r.text
    r = admin.post("/api/residents/import", files={"file": ("r.csv", b"#" * (12 * MB))})
    assert r.status_code == 413


def test_security_headers_everywhere(parts) -> None:  # type: ignore[no-untyped-def]
    app = parts[0]
    client = TestClient(app)
    for path in ("/", "/static/main.js", "/api/meta", "/favicon.ico"):
        h = client.get(path).headers
        assert h["content-security-policy"] == PANEL_CSP, path
        assert h["x-content-type-options"] == "nosniff" and h["referrer-policy"] == "no-referrer"
        assert h["x-frame-options"] == "DENY"
    assert "unsafe-inline" not in PANEL_CSP and "frame-ancestors 'none'" in PANEL_CSP
    assert client.get("/favicon.ico").status_code == 200


def test_login_cookies_are_secure_when_configured(parts, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = parts[0]
    object.__setattr__(app.state.web.services.settings, "secure_cookies", True)  # frozen settings; a test value
    r = TestClient(app).post("/api/auth/login", json={"username": "clerk1", "password": "clerk-password"})
    cookies = r.headers.get_list("set-cookie")
    assert len(cookies) == 2 and all("Secure" in c for c in cookies)


def _request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": (peer, 1234)})


def test_client_address_believes_only_trusted_proxies() -> None:
    assert client_address(_request("203.0.113.9", "1.2.3.4"), []) == "203.0.113.9"  # nobody trusted
    assert client_address(_request("203.0.113.9", "1.2.3.4"), ["127.0.0.1"]) == "203.0.113.9"  # not a proxy
    assert client_address(_request("127.0.0.1", "1.2.3.4"), ["127.0.0.1"]) == "1.2.3.4"
    # what the client wrote itself (the left part) is ignored: the proxy's hop is believed
    assert client_address(_request("10.0.0.5", "6.6.6.6, 1.2.3.4"), ["10.0.0.0/8"]) == "1.2.3.4"
    assert client_address(_request("10.0.0.5", "1.2.3.4, 10.0.0.7"), ["10.0.0.0/8"]) == "1.2.3.4"


def test_login_throttling_cannot_lock_everyone_out() -> None:
    limiter = LoginLimiter("30/minute", "5 per 5 minutes", "20 per hour")
    for i in range(20):  # a botnet guesses clerk1's password from 20 addresses
        address = f"198.51.100.{i}"
        assert limiter.retry_after_s(address, "clerk1") is None
        limiter.failed(address, "clerk1")
    assert limiter.retry_after_s("198.51.100.3", "clerk1") is not None  # a guesser is refused
    assert limiter.retry_after_s("192.0.2.50", "clerk1") is None  # the clerk's own desk is not
    assert limiter.retry_after_s("198.51.100.3", "qa1") is None  # nor other accounts
    # one address guessing one account is stopped after 5
    for _ in range(5):
        assert limiter.retry_after_s("203.0.113.1", "admin") is None
        limiter.failed("203.0.113.1", "admin")
    assert limiter.retry_after_s("203.0.113.1", "admin") is not None
    limiter.succeeded("192.0.2.50", "clerk1")


def test_logs_carry_no_token_and_no_phone_number() -> None:
    redactor = Redactor(mask_numbers=True)
    access = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/api/events?token=cc_SECRETSECRET&x=1", "1.1", 101), None)
    redactor.filter(access)
    line = access.getMessage()
    assert "SECRETSECRET" not in line and "token=[redacted]&x=1" in line
    call = logging.LogRecord("callcenter", logging.INFO, "", 0, "INVITE from %s (%s)",
                             ("13912345678", "+86 139-1234-5678"), None)
    redactor.filter(call)
    assert call.getMessage() == "INVITE from 139****5678 (+86 139****5678)"
    plain = logging.LogRecord("x", logging.INFO, "", 0, "entry 12 for 13800138000 at 2026-12-07 10:00", None, None)
    Redactor(mask_numbers=False).filter(plain)
    assert "13800138000" in plain.getMessage()

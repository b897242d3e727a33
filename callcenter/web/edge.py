"""What the app does at its edge for every request, before any route runs: who the client is
(behind trusted proxies only), how large a body may be, and the security headers of every answer.

Body limits are checked before the body is read: a declared `Content-Length` over the route's
limit is answered 413 at once (the body is never received), and a chunked body is counted as it
streams and cut off at the limit, so an unauthenticated client cannot make the process (which by
default also runs the SIP agent) hold hundreds of megabytes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from fastapi import HTTPException
from starlette.requests import HTTPConnection

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KIB = 1024
MIB = 1024 * KIB
LOGIN_MAX_BYTES = 4 * KIB  # a username and a password
TOO_LARGE = "请求内容过大（上限 {limit}）/ request body too large"


def _networks(entries: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(e, strict=False) for e in entries]


def client_address(conn: HTTPConnection, trusted_proxies: Sequence[str]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy; then the nearest
    `X-Forwarded-For` hop that is not a trusted proxy (anything further left is what the client
    claimed, and a client can claim anything)."""
    peer = conn.client.host if conn.client else "unknown"
    if not trusted_proxies:
        return peer
    nets = _networks(trusted_proxies)

    def trusted(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in n for n in nets)

    if not trusted(peer):
        return peer
    hops = [h.strip() for h in ",".join(conn.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            return hop
    return peer


def _human(n: int) -> str:
    return f"{n // MIB} MB" if n >= MIB else f"{n // KIB} KB"


class BodyLimit:
    """ASGI middleware: per-route request body limits (see the module's docstring)."""

    def __init__(self, app: ASGIApp, default_bytes: int, limits: dict[str, int]) -> None:
        self.app, self.default_bytes, self.limits = app, default_bytes, limits

    def limit_for(self, path: str) -> int:
        return self.limits.get(path.rstrip("/") or "/", self.default_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
        if declared is not None and declared > limit:
            await _refuse(send, 413, TOO_LARGE.format(limit=_human(limit)))
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, TOO_LARGE.format(limit=_human(limit)))
            return message

        await self.app(scope, counted, send)


async def _refuse(send: Send, status: int, detail: str) -> None:
    import json

    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    # Connection: close: the client's unread body is not drained; the connection just ends.
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


# The panel has no inline script or style and talks only to its own origin.
PANEL_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
             "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
             "form-action 'self'; frame-ancestors 'none'")
# The API browser (/docs, behind login) loads Swagger UI's script from its CDN and starts it inline.
DOCS_CSP = "frame-ancestors 'none'; object-src 'none'; base-uri 'none'"


class SecurityHeaders:
    """ASGI middleware: the same security headers on every answer."""

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app, self.hsts = app, hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"] == "/docs" else PANEL_CSP

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", csp.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
                            (b"cross-origin-opener-policy", b"same-origin")]
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)

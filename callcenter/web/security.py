"""Authentication for every route: a bearer token (scripts) or the panel's session cookie.

The session cookie names a server-side session (accounts.WebSession), so a logout, a password
change or a disabled user ends it at once, even for a copied cookie. Cookie-authenticated
requests that change state must carry the CSRF token (double submit: the `cc_csrf` cookie echoed
in the `X-CSRF-Token` header) and, when the browser says where they come from (`Origin`), come
from the panel's own origin; bearer requests need neither, since a browser never attaches a
bearer token by itself. The live-events websocket checks the Origin too: browsers do not apply
the same-origin policy to websockets, so without it any page could read the clerk's events.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, WebSocket, status
from starlette.requests import HTTPConnection

from callcenter.accounts import Accounts, PanelSession, Principal
from callcenter.web.deps import web_state

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "current_principal", "require", "same_origin", "websocket_principal"]

SESSION_COOKIE = "cc_session"
CSRF_COOKIE = "cc_csrf"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _principal_from(headers_auth: str | None, cookie: str | None,
                    accounts: Accounts) -> tuple[Principal | None, PanelSession | None]:
    if headers_auth and headers_auth.lower().startswith("bearer "):
        return accounts.principal_for_token(headers_auth[7:].strip()), None
    if cookie:
        session = accounts.session_for(cookie)
        if session is not None:
            return session.principal, session
    return None, None


def same_origin(conn: HTTPConnection) -> bool:
    """True when the request carries no Origin (not a browser, or a same-origin GET) or one the
    panel is served from: its own host, or one listed in `web.allowed_origins` (a TLS proxy's)."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    allowed = web_state(conn).services.settings.allowed_origins
    if origin.rstrip("/") in allowed:
        return True
    parts = urlsplit(origin)
    host = conn.headers.get("host", "")
    return bool(parts.scheme in ("http", "https") and parts.netloc and hmac.compare_digest(parts.netloc.lower(),
                                                                                          host.lower()))


def current_principal(request: Request) -> Principal:
    state = web_state(request)
    principal, session = _principal_from(request.headers.get("authorization"),
                                         request.cookies.get(SESSION_COOKIE), state.services.accounts)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "请先登录 (authentication required)",
                            headers={"WWW-Authenticate": "Bearer"})
    if session is not None and request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent, session.csrf):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF token missing or wrong")
        if not same_origin(request):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "请求来源不被允许 (cross-origin request refused)")
    return principal


def websocket_principal(ws: WebSocket) -> Principal | None:
    """Bearer token in the Authorization header, or `?token=` (websocket clients that cannot set
    headers; logs.py redacts it from access logs), or the session cookie (the panel)."""
    state = web_state(ws)
    token = ws.query_params.get("token")
    auth = f"Bearer {token}" if token else ws.headers.get("authorization")
    principal, _ = _principal_from(auth, ws.cookies.get(SESSION_COOKIE), state.services.accounts)
    return principal


def require(permission: str):  # type: ignore[no-untyped-def]
    def dep(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.may(permission):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"当前角色无此权限 ({permission})")
        return principal

    return dep

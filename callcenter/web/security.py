"""Authentication for every route: a bearer token (scripts) or a signed session cookie (panel).

Cookie-authenticated requests that change state must carry the CSRF token (double submit:
the `cc_csrf` cookie echoed in the `X-CSRF-Token` header); bearer requests need none, since
a browser never attaches a bearer token by itself.
"""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request, WebSocket, status

from callcenter.accounts import Accounts, Principal
from callcenter.web.deps import web_state
from callcenter.web.sessions import SessionSigner, load_or_create_secret

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "SessionSigner", "current_principal", "load_or_create_secret",
           "require", "websocket_principal"]

SESSION_COOKIE = "cc_session"
CSRF_COOKIE = "cc_csrf"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _principal_from(headers_auth: str | None, cookie: str | None, accounts: Accounts,
                    signer: SessionSigner) -> tuple[Principal | None, dict | None]:
    if headers_auth and headers_auth.lower().startswith("bearer "):
        return accounts.principal_for_token(headers_auth[7:].strip()), None
    if cookie:
        data = signer.read(cookie)
        if data and isinstance(data.get("uid"), int):
            return accounts.principal_for_user_id(data["uid"]), data
    return None, None


def current_principal(request: Request) -> Principal:
    state = web_state(request)
    principal, session = _principal_from(request.headers.get("authorization"),
                                         request.cookies.get(SESSION_COOKIE), state.services.accounts, state.signer)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "请先登录 (authentication required)",
                            headers={"WWW-Authenticate": "Bearer"})
    if session is not None and request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent, str(session.get("csrf", ""))):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF token missing or wrong")
    return principal


def websocket_principal(ws: WebSocket) -> Principal | None:
    state = web_state(ws)
    token = ws.query_params.get("token")
    auth = f"Bearer {token}" if token else ws.headers.get("authorization")
    principal, _ = _principal_from(auth, ws.cookies.get(SESSION_COOKIE), state.services.accounts, state.signer)
    return principal


def require(permission: str):  # type: ignore[no-untyped-def]
    def dep(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.may(permission):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"当前角色无此权限 ({permission})")
        return principal

    return dep

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from callcenter.accounts import Principal
from callcenter.web.deps import AccountBook, Limiter, Live, Settings
from callcenter.web.edge import client_address
from callcenter.web.schemas import LoginIn, refusals
from callcenter.web.security import CSRF_COOKIE, SESSION_COOKIE, current_principal

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login", responses=refusals(401, 413, 422, 429))
def login(body: LoginIn, request: Request, response: Response, limiter: Limiter, accounts: AccountBook,
          settings: Settings) -> dict[str, str]:
    address = client_address(request, settings.trusted_proxies)
    wait_s = limiter.retry_after_s(address, body.username)
    if wait_s is not None:
        raise HTTPException(429, f"登录尝试过于频繁，请 {wait_s} 秒后再试", headers={"Retry-After": str(wait_s)})
    principal = accounts.authenticate(body.username, body.password)
    if principal is None:
        limiter.failed(address, body.username)
        raise HTTPException(401, "用户名或密码错误")
    limiter.succeeded(address, body.username)
    token, session = accounts.open_session(principal, address, settings.session_max_age_s)
    secure = settings.secure_cookies or request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, token, max_age=settings.session_max_age_s,
                        httponly=True, samesite="strict", secure=secure)
    # Readable by the page's script, which echoes it in X-CSRF-Token.
    response.set_cookie(CSRF_COOKIE, session.csrf, max_age=settings.session_max_age_s, samesite="strict",
                        secure=secure)
    return {"username": principal.username, "role": principal.role, "csrf": session.csrf}


@router.post("/logout", responses=refusals(401, 403))
def logout(response: Response, accounts: AccountBook, live: Live,
           who: Principal = Depends(current_principal)) -> dict[str, str]:
    """Ends this session on the server (a copy of the cookie stops working too) and closes its
    live-events connections."""
    if who.session_id is not None:
        accounts.end_session(who.session_id, "logout")
        live.end_session(who.session_id)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return {"status": "ok"}


@router.get("/me", responses=refusals(401))
def me(who: Principal = Depends(current_principal)) -> dict[str, str]:
    return {"username": who.username, "role": who.role}

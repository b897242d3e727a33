from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from callcenter.accounts import Principal
from callcenter.web.deps import AccountBook, Limiter, Settings, Signer
from callcenter.web.schemas import LoginIn, refusals
from callcenter.web.security import CSRF_COOKIE, SESSION_COOKIE, current_principal

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login", responses=refusals(401, 422, 429))
def login(body: LoginIn, request: Request, response: Response, limiter: Limiter, accounts: AccountBook,
          signer: Signer, settings: Settings) -> dict[str, str]:
    address = request.client.host if request.client else "unknown"
    wait_s = limiter.retry_after_s(address, body.username)
    if wait_s is not None:
        raise HTTPException(429, f"登录尝试过于频繁，请 {wait_s} 秒后再试", headers={"Retry-After": str(wait_s)})
    principal = accounts.authenticate(body.username, body.password)
    if principal is None:
        limiter.failed(address, body.username)
        raise HTTPException(401, "用户名或密码错误")
    csrf = secrets.token_urlsafe(24)
    secure = settings.secure_cookies
    response.set_cookie(SESSION_COOKIE, signer.issue(principal, csrf), max_age=signer.max_age_s,
                        httponly=True, samesite="strict", secure=secure)
    # Readable by the page's script, which echoes it in X-CSRF-Token.
    response.set_cookie(CSRF_COOKIE, csrf, max_age=signer.max_age_s, samesite="strict", secure=secure)
    return {"username": principal.username, "role": principal.role, "csrf": csrf}


@router.post("/logout", responses=refusals(401, 403))
def logout(response: Response, _: Principal = Depends(current_principal)) -> dict[str, str]:
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return {"status": "ok"}


@router.get("/me", responses=refusals(401))
def me(who: Principal = Depends(current_principal)) -> dict[str, str]:
    return {"username": who.username, "role": who.role}

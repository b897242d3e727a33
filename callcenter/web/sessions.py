"""The panel's session cookie: a signed, expiring token naming the user and the session's CSRF
secret (itsdangerous), signed with the site's secret key."""

from __future__ import annotations

import secrets
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from callcenter.accounts import Principal


def load_or_create_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


class SessionSigner:
    def __init__(self, secret: str, max_age_s: int) -> None:
        self._ser = URLSafeTimedSerializer(secret, salt="cc-session")
        self.max_age_s = max_age_s

    def issue(self, principal: Principal, csrf: str) -> str:
        return self._ser.dumps({"uid": principal.user_id, "csrf": csrf})

    def read(self, cookie: str) -> dict | None:
        try:
            data = self._ser.loads(cookie, max_age=self.max_age_s)
        except (BadSignature, SignatureExpired):
            return None
        return data if isinstance(data, dict) else None

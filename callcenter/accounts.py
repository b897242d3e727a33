"""Users, roles, passwords (Argon2id) and API tokens for scripts."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from callcenter.clock import Clock
from callcenter.ledger.models import ApiToken, User, WebSession

ROLES = ("clerk", "qa", "supervisor", "admin")
# What each role may do. Roles are not a ladder: QA staff replay and score calls but do not
# edit the ledger; supervisors do both; admins also manage users and the directory.
# "see_phone": full phone numbers; QA works on recordings and sees them masked (138****8000).
PERMISSIONS: dict[str, frozenset[str]] = {
    "clerk": frozenset({"read", "edit_entries", "see_phone"}),
    "qa": frozenset({"read", "score_calls"}),
    "supervisor": frozenset({"read", "edit_entries", "score_calls", "reports", "see_phone"}),
    "admin": frozenset({"read", "edit_entries", "score_calls", "reports", "admin", "see_phone"}),
}
ROLE_LABELS = {"clerk": "客服", "qa": "质检", "supervisor": "主管", "admin": "管理员"}
TOKEN_PREFIX = "cc_"
DEFAULT_MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: str
    session_id: int | None = None  # the panel login it came from; None for API tokens

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class PanelSession:
    """A live panel login: who, and the CSRF secret the page must echo."""

    principal: Principal
    csrf: str


class Accounts:
    def __init__(self, engine: Engine, clock: Clock, min_password_length: int = DEFAULT_MIN_PASSWORD_LENGTH) -> None:
        self.engine = engine
        self.clock = clock
        self.min_password_length = min_password_length

    def check_password(self, password: str) -> None:
        if len(password) < self.min_password_length:
            raise AccountError(f"password: at least {self.min_password_length} characters "
                               f"(密码至少 {self.min_password_length} 位)")

    def add_user(self, username: str, role: str, password: str = "", display_name: str = "") -> int:
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
        if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").isalnum():
            raise AccountError("username: 1-64 letters, digits, '_' or '.'")
        if password:
            self.check_password(password)
        with Session(self.engine) as s:
            if s.exec(select(User).where(User.username == username)).first():
                raise AccountError(f"user {username!r} already exists")
            user = User(username=username, role=role, display_name=display_name or username,
                        password_hash=_hasher.hash(password) if password else "",
                        created_at=self.clock.now())
            s.add(user)
            s.commit()
            assert user.id is not None
            return user.id

    def set_password(self, username: str, password: str) -> None:
        """A new password ends every panel session and API token of the user: whoever held the
        old password may have logged in or made a token with it."""
        self.check_password(password)
        with Session(self.engine) as s:
            user = self._user(s, username)
            user.password_hash = _hasher.hash(password)
            s.add(user)
            assert user.id is not None
            self._revoke_all_in(s, user.id, "password")
            s.commit()

    def disable_user(self, username: str) -> int:
        """The user can no longer log in; their sessions and tokens end now. Returns how many
        sessions were open. (Rows stay: the ledger's history names them.)"""
        with Session(self.engine) as s:
            user = self._user(s, username)
            user.active = False
            s.add(user)
            assert user.id is not None
            ended = self._revoke_all_in(s, user.id, "disabled")
            s.commit()
            return ended

    def enable_user(self, username: str) -> None:
        with Session(self.engine) as s:
            user = self._user(s, username)
            user.active = True
            s.add(user)
            s.commit()

    @staticmethod
    def _user(s: Session, username: str) -> User:
        user = s.exec(select(User).where(User.username == username)).first()
        if user is None:
            raise AccountError(f"no user {username!r}")
        return user

    def _revoke_all_in(self, s: Session, user_id: int, reason: str) -> int:
        now = self.clock.now()
        live = s.exec(select(WebSession).where(WebSession.user_id == user_id,
                                               WebSession.revoked_at == None)).all()  # noqa: E711
        for row in live:
            row.revoked_at, row.revoked_reason = now, reason
            s.add(row)
        for tok in s.exec(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked == False)).all():  # noqa: E712
            tok.revoked = True
            s.add(tok)
        return len(live)

    # ----- panel sessions ---------------------------------------------------------------------

    def open_session(self, principal: Principal, address: str, max_age_s: int) -> tuple[str, PanelSession]:
        """A new panel login: returns the cookie's token (only its SHA-256 is kept) and the session."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        now = self.clock.now()
        with Session(self.engine) as s:
            row = WebSession(token_sha256=_token_digest(token), user_id=principal.user_id, csrf=csrf,
                             address=address[:64], created_at=now, expires_at=now + timedelta(seconds=max_age_s))
            s.add(row)
            s.commit()
            assert row.id is not None
            return token, PanelSession(Principal(principal.user_id, principal.username, principal.role, row.id), csrf)

    def session_for(self, token: str) -> PanelSession | None:
        """The live session a cookie names: not ended, not expired, its user still active."""
        if not token or len(token) > 256:
            return None
        with Session(self.engine) as s:
            row = s.exec(select(WebSession, User).join(User, User.id == WebSession.user_id)  # type: ignore[arg-type]
                         .where(WebSession.token_sha256 == _token_digest(token))).first()
            if row is None:
                return None
            sess, user = row
            if sess.revoked_at is not None or sess.expires_at <= self.clock.now() or not user.active:
                return None
            assert user.id is not None
            return PanelSession(Principal(user.id, user.username, user.role, sess.id), sess.csrf)

    def session_alive(self, principal: Principal) -> Principal | None:
        """Re-check a principal (a websocket's, periodically): the same session or token still
        valid, with the user's current role. None once it has ended."""
        with Session(self.engine) as s:
            user = s.get(User, principal.user_id)
            if user is None or not user.active:
                return None
            if principal.session_id is not None:
                sess = s.get(WebSession, principal.session_id)
                if sess is None or sess.revoked_at is not None or sess.expires_at <= self.clock.now():
                    return None
            assert user.id is not None
            return Principal(user.id, user.username, user.role, principal.session_id)

    def end_session(self, session_id: int, reason: str = "logout") -> None:
        with Session(self.engine) as s:
            row = s.get(WebSession, session_id)
            if row is not None and row.revoked_at is None:
                row.revoked_at, row.revoked_reason = self.clock.now(), reason
                s.add(row)
                s.commit()

    def end_sessions_of(self, username: str, reason: str = "admin") -> int:
        with Session(self.engine) as s:
            user = self._user(s, username)
            assert user.id is not None
            now = self.clock.now()
            live = s.exec(select(WebSession).where(WebSession.user_id == user.id,
                                                   WebSession.revoked_at == None)).all()  # noqa: E711
            for row in live:
                row.revoked_at, row.revoked_reason = now, reason
                s.add(row)
            s.commit()
            return len(live)

    def authenticate(self, username: str, password: str) -> Principal | None:
        with Session(self.engine) as s:
            user = s.exec(select(User).where(User.username == username)).first()
            if user is None or not user.active or not user.password_hash:
                _hasher.hash(password)  # same cost whether or not the user exists
                return None
            try:
                _hasher.verify(user.password_hash, password)
            except (VerificationError, InvalidHashError):
                return None
            assert user.id is not None
            return Principal(user.id, user.username, user.role)

    def create_token(self, username: str, label: str = "") -> str:
        """Returns the token once; only its SHA-256 is kept."""
        with Session(self.engine) as s:
            user = s.exec(select(User).where(User.username == username)).first()
            if user is None:
                raise AccountError(f"no user {username!r}: add it with `callcenter users add {username} --role ROLE`")
            token = TOKEN_PREFIX + secrets.token_urlsafe(32)
            assert user.id is not None
            s.add(ApiToken(user_id=user.id, token_sha256=_token_digest(token), label=label,
                           created_at=self.clock.now()))
            s.commit()
            return token

    def tokens(self) -> list[tuple[int, str, str, str, bool]]:
        """(id, username, label, created, revoked) of every API token, for `callcenter token list`."""
        with Session(self.engine) as s:
            rows = s.exec(select(ApiToken, User).join(User, User.id == ApiToken.user_id)  # type: ignore[arg-type]
                          .order_by(col(ApiToken.id))).all()
            return [(t.id or 0, u.username, t.label, t.created_at.isoformat(timespec="seconds"), t.revoked)
                    for t, u in rows]

    def revoke_token(self, token_or_id: str) -> int:
        """Revoke one API token, named by its id (`callcenter token list`) or by the token itself.
        Returns the token's id."""
        with Session(self.engine) as s:
            if token_or_id.isdigit():
                tok = s.get(ApiToken, int(token_or_id))
            else:
                tok = s.exec(select(ApiToken).where(ApiToken.token_sha256 == _token_digest(token_or_id))).first()
            if tok is None:
                raise AccountError("no such token (give its id from `callcenter token list`, or the token)")
            tok.revoked = True
            s.add(tok)
            s.commit()
            assert tok.id is not None
            return tok.id

    def principal_for_token(self, token: str) -> Principal | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        with Session(self.engine) as s:
            row = s.exec(select(ApiToken, User).join(User, User.id == ApiToken.user_id)  # type: ignore[arg-type]
                         .where(ApiToken.token_sha256 == _token_digest(token))).first()
            if row is None:
                return None
            tok, user = row
            if tok.revoked or not user.active:
                return None
            assert user.id is not None
            return Principal(user.id, user.username, user.role)

    def users(self) -> list[tuple[int, str, str]]:
        """(id, username, display name) of active users: owner pickers and names in the ledger."""
        with Session(self.engine) as s:
            rows = s.exec(select(User).where(User.active == True).order_by(User.username)).all()  # noqa: E712
            return [(u.id, u.username, u.display_name or u.username) for u in rows if u.id is not None]

    def principal_for_user_id(self, user_id: int) -> Principal | None:
        with Session(self.engine) as s:
            user = s.get(User, user_id)
            if user is None or not user.active:
                return None
            assert user.id is not None
            return Principal(user.id, user.username, user.role)

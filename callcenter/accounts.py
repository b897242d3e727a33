"""Users, roles, passwords (Argon2id) and API tokens for scripts."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine
from sqlmodel import Session, select

from callcenter.clock import Clock
from callcenter.ledger.models import ApiToken, User

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

_hasher = PasswordHasher()


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: str

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def add_user(self, username: str, role: str, password: str = "", display_name: str = "") -> int:
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
        if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").isalnum():
            raise AccountError("username: 1-64 letters, digits, '_' or '.'")
        if password and len(password) < 8:
            raise AccountError("password: at least 8 characters")
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
        if len(password) < 8:
            raise AccountError("password: at least 8 characters")
        with Session(self.engine) as s:
            user = s.exec(select(User).where(User.username == username)).first()
            if user is None:
                raise AccountError(f"no user {username!r}")
            user.password_hash = _hasher.hash(password)
            s.add(user)
            s.commit()

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

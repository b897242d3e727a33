"""The ledger's tables: every call, every entry (台账), residents, users, the audit trail.

All times are stored as UTC. Status and category values are plain strings checked by the
service layer, so a site can rename categories in its rules without a schema migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Dialect, Index, Text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would otherwise hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger; use the injected UTC clock")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _utc_column(**kw: Any) -> Column:
    return Column(UTCDateTime(), **kw)


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=64)
    display_name: str = Field(default="", max_length=64)
    password_hash: str = Field(default="", max_length=255)
    role: str = Field(max_length=16)  # clerk / qa / supervisor / admin
    active: bool = True
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))


class ApiToken(SQLModel, table=True):
    """Bearer tokens for scripts. Only a SHA-256 of the token is stored."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    token_sha256: str = Field(index=True, unique=True, max_length=64)
    label: str = Field(default="", max_length=64)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    revoked: bool = False


class Resident(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    unit: str = Field(index=True, max_length=32)  # canonical "4-2-301"
    name: str = Field(max_length=64)
    key_customer: bool = False  # 重要客户: recognise and greet by surname
    note: str = Field(default="", max_length=255)


class ResidentPhone(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True)
    phone: str = Field(index=True, max_length=32)  # digits only


class Entry(SQLModel, table=True):
    """One ledger entry (台账). Several calls may link to it (first call, repeats, callback)."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False, index=True))
    updated_at: datetime = Field(sa_column=_utc_column(nullable=False))
    kind: str = Field(default="call", max_length=16)  # call / missed_call / manual
    source: str = Field(default="phone", max_length=16)  # phone / walk_in / staff / ...
    status: str = Field(default="draft", max_length=16, index=True)
    caller_number: str = Field(default="", max_length=32, index=True)
    caller_name: str = Field(default="", max_length=64)
    resident_id: int | None = Field(default=None, foreign_key="resident.id")
    unit: str = Field(default="", max_length=32, index=True)
    category: str = Field(default="", max_length=8, index=True)
    department: str = Field(default="", max_length=16, index=True)
    urgent: bool = Field(default=False, index=True)
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # What the drafting proposed, per field, with confidence and evidence: kept unchanged so
    # clerk corrections can be measured against it.
    draft: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    draft_ready_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    repeat_count: int = 0
    merged_into_id: int | None = Field(default=None, foreign_key="entry.id")
    interrupted: bool = False  # the call was cut by a crash or failure
    # 首接人: the clerk who confirmed (or took) it first owns it to the end (DOMAIN.md).
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    confirmed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class Call(SQLModel, table=True):
    """One phone call, logged from the moment the INVITE arrives. One recording per call."""

    __table_args__ = (Index("ix_call_received", "received_at"),)

    id: int | None = Field(default=None, primary_key=True)
    sip_call_id: str = Field(index=True, unique=True, max_length=255)
    direction: str = Field(default="inbound", max_length=8)
    caller_number: str = Field(default="", max_length=32, index=True)
    caller_display: str = Field(default="", max_length=64)
    called_number: str = Field(default="", max_length=32)
    status: str = Field(default="ringing", max_length=16, index=True)
    # ringing / answered / ended / missed / interrupted / failed
    end_reason: str = Field(default="", max_length=32)
    received_at: datetime = Field(sa_column=_utc_column(nullable=False))
    answered_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    entry_id: int | None = Field(default=None, foreign_key="entry.id", index=True)
    dtmf: str = Field(default="", max_length=64)
    recording_key: str = Field(default="", max_length=255)
    recording_duration_ms: int | None = None
    recording_size_bytes: int | None = None
    recording_sha256: str = Field(default="", max_length=64)
    recording_interrupted: bool = False
    transcript_status: str = Field(default="pending", max_length=16)
    # pending / live / queued / done / failed / unavailable
    transcript_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    transcript_words: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    transcript_engine: str = Field(default="", max_length=128)


class AuditLog(SQLModel, table=True):
    """Every change to an entry: who, when, old -> new."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_utc_column(nullable=False, index=True))
    actor: str = Field(max_length=64)  # username, or "system"
    entry_id: int | None = Field(default=None, foreign_key="entry.id", index=True)
    call_id: int | None = Field(default=None, foreign_key="call.id")
    action: str = Field(max_length=32)
    field: str = Field(default="", max_length=32)
    old: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    new: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Correction(SQLModel, table=True):
    """At confirmation, per drafted field: what the draft said vs what the clerk confirmed.
    The basis of drafting-accuracy statistics; one row per field per confirmation."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_utc_column(nullable=False, index=True))
    entry_id: int = Field(foreign_key="entry.id", index=True)
    actor: str = Field(max_length=64)
    field: str = Field(max_length=32, index=True)
    draft_value: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    confirmed_value: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    confidence: float | None = None
    changed: bool = Field(default=False, index=True)

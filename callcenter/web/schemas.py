"""API shapes (pydantic at the edge); built from the ledger's rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from callcenter.ledger.models import Call, Entry


class CallOut(BaseModel):
    id: int
    caller_number: str
    caller_display: str
    called_number: str
    status: str
    end_reason: str
    received_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    entry_id: int | None
    dtmf: str
    recording_url: str | None
    recording_duration_ms: int | None
    recording_size_bytes: int | None
    recording_sha256: str
    recording_interrupted: bool
    transcript_status: str
    transcript: str
    transcript_words: list[dict[str, Any]] | None = None
    transcript_engine: str

    @classmethod
    def of(cls, c: Call, *, words: bool = False) -> CallOut:
        assert c.id is not None
        return cls(id=c.id, caller_number=c.caller_number, caller_display=c.caller_display,
                   called_number=c.called_number, status=c.status, end_reason=c.end_reason,
                   received_at=c.received_at, answered_at=c.answered_at, ended_at=c.ended_at,
                   entry_id=c.entry_id, dtmf=c.dtmf,
                   recording_url=f"/api/calls/{c.id}/recording" if c.recording_key else None,
                   recording_duration_ms=c.recording_duration_ms, recording_size_bytes=c.recording_size_bytes,
                   recording_sha256=c.recording_sha256, recording_interrupted=c.recording_interrupted,
                   transcript_status=c.transcript_status, transcript=c.transcript_text,
                   transcript_words=c.transcript_words if words else None,
                   transcript_engine=c.transcript_engine)


class EntryOut(BaseModel):
    id: int
    created_at: datetime
    updated_at: datetime
    kind: str
    source: str
    status: str
    caller_number: str
    caller_name: str
    unit: str
    category: str
    department: str
    urgent: bool
    summary: str
    transcript: str
    recording_url: str | None
    draft: dict[str, Any] | None
    draft_ready_at: datetime | None
    repeat_count: int
    merged_into_id: int | None
    interrupted: bool
    calls: list[CallOut] = Field(default_factory=list)

    @classmethod
    def of(cls, e: Entry, calls: list[Call]) -> EntryOut:
        assert e.id is not None
        first = next((c for c in calls if c.recording_key), None)
        return cls(id=e.id, created_at=e.created_at, updated_at=e.updated_at, kind=e.kind, source=e.source,
                   status=e.status, caller_number=e.caller_number, caller_name=e.caller_name, unit=e.unit,
                   category=e.category, department=e.department, urgent=e.urgent, summary=e.summary,
                   transcript="\n".join(c.transcript_text for c in calls if c.transcript_text),
                   recording_url=f"/api/calls/{first.id}/recording" if first else None,
                   draft=e.draft, draft_ready_at=e.draft_ready_at, repeat_count=e.repeat_count,
                   merged_into_id=e.merged_into_id, interrupted=e.interrupted,
                   calls=[CallOut.of(c) for c in calls])


class EntryPage(BaseModel):
    total: int
    items: list[EntryOut]


class EntryPatch(BaseModel):
    """Fields a clerk may correct; omitted fields stay as they are."""

    model_config = {"extra": "forbid"}

    caller_name: str | None = Field(None, max_length=64)
    unit: str | None = Field(None, max_length=32)
    category: str | None = None
    department: str | None = None
    urgent: bool | None = None
    summary: str | None = Field(None, max_length=500)
    status: str | None = None


class AuditOut(BaseModel):
    at: datetime
    actor: str
    action: str
    field: str
    old: str
    new: str


class LoginIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class ImportReport(BaseModel):
    imported: int
    errors: list[str]

"""API shapes (pydantic at the edge); built from the ledger's rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, Field

from callcenter.ledger.models import Call, Correction, Entry, Resident
from callcenter.ledger.service import CallerHistory
from callcenter.ledger.vocabulary import MANUAL_SOURCES
from callcenter.web.export import DISPLAY_TIMEZONE
from callcenter.web.masking import mask_phone, mask_phones_in_text, mask_text, mask_words

# ----- ids and numbers ---------------------------------------------------------------------
# The ledger's ids and counters are 32-bit integers in PostgreSQL (and SQLite stops at 64 bits):
# a larger number from a request is refused here (422), never sent to the database (500).
INT_MAX = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=INT_MAX, description="行号 / row id")]
Offset = Annotated[int, Query(ge=0, le=INT_MAX)]
OwnerId = Annotated[int | None, Query(ge=1, le=INT_MAX, description="首接人（用户 id）/ owner's user id")]


def _utc_instant(value: datetime) -> datetime:
    """The ledger compares aware UTC instants: one without an offset is the estate's local time;
    one that has no UTC equivalent (year 1 at +14:00) is refused, not sent to the database."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(DISPLAY_TIMEZONE))
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("时间超出范围 / instant out of range") from exc


Instant = Annotated[datetime, AfterValidator(_utc_instant),
                    Field(description="ISO 8601；不带时区时按北京时间 / without an offset: Asia/Shanghai")]


# ----- refusals ---------------------------------------------------------------------------
# Every refusal is JSON {"detail": "..."}: one sentence in Chinese (often with English). A 422
# carries FastAPI's per-field list instead when the request itself does not fit the schema.
_PROBLEM: dict[str, Any] = {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}}
_FIELD_ERRORS: dict[str, Any] = {"type": "array", "items": {
    "type": "object", "required": ["loc", "msg", "type"],
    "properties": {"loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                   "msg": {"type": "string"}, "type": {"type": "string"}}}}
_INVALID: dict[str, Any] = {"type": "object", "required": ["detail"],
                            "properties": {"detail": {"anyOf": [{"type": "string"}, _FIELD_ERRORS]}}}
_WHY = {400: "请求体无法解析（不是 UTF-8 JSON）/ the body cannot be parsed",
        401: "未登录或登录已过期 / not authenticated",
        403: "当前角色无此权限，或缺少 CSRF 令牌 / forbidden for this role, or CSRF token missing",
        404: "没有这条记录 / not found",
        409: "与现有数据冲突 / conflicts with the current state",
        410: "已按保留期限删除 / deleted under the retention policy",
        413: "文件太大 / file too large",
        422: "输入无效：逐字段的错误，或拒绝它的业务规则 / invalid input: per-field errors, or the rule that refused it",
        429: "尝试过于频繁 / too many attempts",
        503: "本进程未启用此服务 / the service is not running in this process"}


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the refusals a route may answer with (always JSON, whatever the
    route's own media type)."""
    return {code: {"description": _WHY[code],
                   "content": {"application/json": {"schema": _INVALID if code == 422 else _PROBLEM}}}
            for code in codes}


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
    recording_url: str | None  # None without a recording, or once retention has deleted it
    recording_duration_ms: int | None
    recording_size_bytes: int | None
    recording_sha256: str
    recording_interrupted: bool
    recording_deleted: bool = False
    transcript_status: str
    transcript: str
    transcript_words: list[dict[str, Any]] | None = None
    transcript_engine: str
    intake_path: str = ""  # speech / keypad (vocab intake_paths); "" for calls before it was recorded
    estate_id: int = 1  # the estate (项目) whose hotline was dialled

    @classmethod
    def of(cls, c: Call, *, words: bool = False, mask: bool = False) -> CallOut:
        """mask: the reader's role may not see phone numbers and ID numbers in full."""
        assert c.id is not None
        number = mask_phone(c.caller_number) if mask else c.caller_number
        # a display name may be a number in any format ("+86 139-1234-5678") or hold one
        display = (mask_phone(c.caller_display) if c.caller_display.isdigit() else mask_phones_in_text(c.caller_display)
                   ) if mask else c.caller_display
        text = mask_text(c.transcript_text) if mask else c.transcript_text
        return cls(id=c.id, caller_number=number, caller_display=display,
                   called_number=c.called_number, status=c.status, end_reason=c.end_reason,
                   received_at=c.received_at, answered_at=c.answered_at, ended_at=c.ended_at,
                   entry_id=c.entry_id, dtmf=c.dtmf,
                   recording_url=f"/api/calls/{c.id}/recording" if _playable(c) else None,
                   recording_duration_ms=c.recording_duration_ms, recording_size_bytes=c.recording_size_bytes,
                   recording_sha256=c.recording_sha256, recording_interrupted=c.recording_interrupted,
                   recording_deleted=c.recording_deleted_at is not None,
                   transcript_status=c.transcript_status, transcript=text,
                   transcript_words=(mask_words(c.transcript_words) if mask else c.transcript_words) if words else None,
                   transcript_engine=c.transcript_engine, intake_path=c.intake_path, estate_id=c.estate_id)


def _playable(c: Call) -> bool:
    return bool(c.recording_key) and c.recording_deleted_at is None


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
    owner_id: int | None = None
    confirmed_at: datetime | None = None
    calls: list[CallOut] = Field(default_factory=list)
    version: int = 1  # send it back with a change: a newer one on the server refuses the change (409)
    estate_id: int = 1  # the estate (项目) it concerns

    @classmethod
    def of(cls, e: Entry, calls: list[Call], *, mask: bool = False, words: bool = False) -> EntryOut:
        assert e.id is not None
        first = next((c for c in calls if _playable(c)), None)
        call_out = [CallOut.of(c, mask=mask, words=words) for c in calls]
        draft = _masked_json(e.draft) if mask else e.draft
        return cls(id=e.id, created_at=e.created_at, updated_at=e.updated_at, kind=e.kind, source=e.source,
                   status=e.status, caller_number=mask_phone(e.caller_number) if mask else e.caller_number,
                   caller_name=e.caller_name, unit=e.unit,
                   category=e.category, department=e.department, urgent=e.urgent,
                   summary=mask_text(e.summary) if mask else e.summary,
                   transcript="\n".join(c.transcript for c in call_out if c.transcript),
                   recording_url=f"/api/calls/{first.id}/recording" if first else None,
                   draft=draft, draft_ready_at=e.draft_ready_at, repeat_count=e.repeat_count,
                   merged_into_id=e.merged_into_id, interrupted=e.interrupted, owner_id=e.owner_id,
                   estate_id=e.estate_id,
                   confirmed_at=e.confirmed_at, calls=call_out, version=e.version)


def _masked_json(value: Any) -> Any:
    """Every string inside a JSON value (a draft: its transcript, each field's value and evidence)
    with phone and ID numbers masked. A plain run of digits keeps its length, so evidence offsets
    into the transcript stay valid."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list):
        return [_masked_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _masked_json(v) for k, v in value.items()}
    return value


class EntryPage(BaseModel):
    total: int  # exact up to the list's count cap; beyond it the cap itself, with total_exact false
    items: list[EntryOut]
    total_exact: bool = True
    next_cursor: str | None = None  # pass as `cursor` for the next page; None on the last page


class ConfirmIn(BaseModel):
    """The clerk's confirmed values (corrections included); omitted fields keep the draft's."""

    model_config = {"extra": "forbid"}

    caller_name: str | None = Field(None, max_length=64)
    unit: str | None = Field(None, max_length=32)
    category: str | None = None
    department: str | None = None
    urgent: bool | None = None
    summary: str | None = Field(None, max_length=500)
    version: int | None = Field(None, ge=1, le=INT_MAX,
                                description="the entry's version the form showed; a newer one refuses the change (409)")


class EntryPatch(ConfirmIn):
    """Fields a clerk may correct, and the status; omitted fields stay as they are."""

    status: str | None = None


class ManualEntryIn(BaseModel):
    """Walk-ins and other sources: the same fields as a call, no recording."""

    model_config = {"extra": "forbid"}

    source: str = Field(description="/".join(MANUAL_SOURCES))
    caller_number: str = Field("", max_length=32)
    caller_name: str = Field("", max_length=64)
    unit: str = Field("", max_length=32)
    category: str = Field("", description="empty: the site's fallback category (其他)")
    department: str = Field("", description="empty: the fallback category's department (客服)")
    urgent: bool = False
    summary: str = Field(min_length=1, max_length=500)
    estate_id: int | None = Field(None, ge=1, le=2**31 - 1,
                                  description="the estate (项目); empty: the clerk's first estate")


class LinkIn(BaseModel):
    entry_id: int = Field(ge=1, le=INT_MAX)


class CorrectionOut(BaseModel):
    field: str
    draft_value: str
    confirmed_value: str
    confidence: float | None
    changed: bool
    actor: str
    at: datetime

    @classmethod
    def of(cls, c: Correction) -> CorrectionOut:
        return cls(field=c.field, draft_value=c.draft_value, confirmed_value=c.confirmed_value,
                   confidence=c.confidence, changed=c.changed, actor=c.actor, at=c.at)


class FieldAccuracy(BaseModel):
    field: str
    confirmed: int
    corrected: int
    accuracy: float


class BriefEntry(BaseModel):
    """An entry as the screen pop lists it."""

    id: int
    created_at: datetime
    status: str
    caller_number: str
    caller_name: str
    unit: str
    category: str
    department: str
    urgent: bool
    summary: str
    repeat_count: int
    owner_id: int | None

    @classmethod
    def of(cls, e: Entry, *, mask: bool = False) -> BriefEntry:
        assert e.id is not None
        return cls(id=e.id, created_at=e.created_at, status=e.status,
                   caller_number=mask_phone(e.caller_number) if mask else e.caller_number,
                   caller_name=e.caller_name, unit=e.unit, category=e.category, department=e.department,
                   urgent=e.urgent, summary=e.summary, repeat_count=e.repeat_count, owner_id=e.owner_id)


class ResidentOut(BaseModel):
    name: str
    unit: str
    key_customer: bool
    note: str

    @classmethod
    def of(cls, r: Resident) -> ResidentOut:
        return cls(name=r.name, unit=r.unit, key_customer=r.key_customer, note=r.note)


class CallerHistoryOut(BaseModel):
    number: str
    unit: str
    resident: ResidentOut | None
    open_entries: list[BriefEntry]
    caller_recent: list[BriefEntry]
    unit_recent: list[BriefEntry]

    @classmethod
    def of(cls, h: CallerHistory, *, mask: bool = False) -> CallerHistoryOut:
        return cls(number=mask_phone(h.number) if mask else h.number, unit=h.unit,
                   resident=ResidentOut.of(h.resident) if h.resident else None,
                   open_entries=[BriefEntry.of(e, mask=mask) for e in h.open_entries],
                   caller_recent=[BriefEntry.of(e, mask=mask) for e in h.caller_recent],
                   unit_recent=[BriefEntry.of(e, mask=mask) for e in h.unit_recent])


class UserBrief(BaseModel):
    id: int
    username: str
    display_name: str


class Term(BaseModel):
    """One code and the label people read for it."""

    code: str
    label: str


class Vocab(BaseModel):
    """Every code the panel shows, with its label, in display order (web/vocab.py builds it from
    the definitions of the packages that own them and the site's rules file)."""

    entry_statuses: list[Term] = Field(description="the lifecycle, in order")
    open_statuses: list[str]
    reopened_from: list[str] = Field(description="statuses whose move back to in_progress is a reopen")
    entry_kinds: list[Term]
    categories: list[Term] = Field(description="from the site's rules file")
    departments: list[Term] = Field(description="from the site's rules file")
    complaint_subjects: list[Term] = Field(description="from the site's rules file")
    sources: list[Term]
    end_reasons: list[Term]
    missed_reasons: list[Term]
    entry_fields: list[Term] = Field(description="audit/corrections field names")
    audit_actions: list[Term]
    work_order_kinds: list[Term]
    work_order_statuses: list[Term]
    work_order_moves: list[Term] = Field(description="button labels of the moves")
    work_order_fields: list[Term] = Field(default_factory=list, description="a work order's fields, as audited")
    work_order_transitions: dict[str, list[str]]
    task_kinds: list[Term]
    callback_reasons: list[Term] = Field(default_factory=list,
                                         description="why a call is owed on the missed-call clock (a task's reason)")
    task_statuses: list[Term]
    callback_outcomes: list[Term]
    satisfactions: list[Term]
    severities: list[Term]
    qa_verdicts: list[Term]
    clock_kinds: list[Term]
    period_hints: list[Term] = Field(description="an example input per report period kind")
    roles: list[Term]
    transcript_statuses: list[Term]
    evidence_kinds: list[Term] = Field(description="what a QA pre-score's evidence span is")
    presence: list[Term] = Field(description="a user's state for the ring group: 在岗/离开/通话中")
    intake_paths: list[Term] = Field(description="how the agent took a call: speech or keypad")
    person_steps: list[Term] = Field(description="转人工 and urgent escalation during a call (call.person steps)")
    entry_defaults: dict[str, str] = Field(description="category and department of an entry not yet classified")


class EstateBrief(BaseModel):
    id: int
    code: str
    name: str


class Meta(BaseModel):
    """What the panel's pickers offer, and what the signed-in user may do."""

    username: str
    role: str
    permissions: list[str]
    categories: list[str]
    departments: list[str]
    statuses: list[str]
    sources: dict[str, str]
    users: list[UserBrief]
    vocab: Vocab
    review_threshold: float = Field(description="a drafted field below this confidence is marked 「请核对」 "
                                                "(confidences are calibrated: 0.9 is right 9 times in 10)")
    estates: list[EstateBrief] = Field(default_factory=list,
                                       description="the estates (项目) this user may see; the panel shows "
                                                   "estates only when the installation has more than one")
    all_estates: int = Field(1, description="how many estates the installation serves")


class UnitSuggestion(BaseModel):
    unit: str
    name: str


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

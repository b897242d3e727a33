"""The ledger's tables: every call, every entry (台账), residents, users, the audit trail.

All times are stored as UTC. Status and category values are plain strings checked by the
service layer, so a site can rename categories in its rules without a schema migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Dialect, Index, Text, UniqueConstraint
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


class WebSession(SQLModel, table=True):
    """A panel login, kept server-side so it can be ended: on logout, password change, a disabled
    user, or `callcenter users disable`. The cookie holds a random token; only its SHA-256 is kept."""

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(index=True, unique=True, max_length=64)
    user_id: int = Field(foreign_key="user.id", index=True)
    csrf: str = Field(max_length=64)
    address: str = Field(default="", max_length=64)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    expires_at: datetime = Field(sa_column=_utc_column(nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    revoked_reason: str = Field(default="", max_length=32)  # logout / password / disabled / admin


class Resident(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    unit: str = Field(index=True, max_length=32)  # canonical "4-2-301"
    name: str = Field(max_length=64)
    key_customer: bool = False  # 重要客户: recognise and greet by surname
    note: str = Field(default="", max_length=255)
    # The estate (项目) the unit belongs to: the same unit number exists in several estates.
    estate_id: int = Field(default=1, index=True)


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
    # When the lifecycle first reached these steps: the clocks and the statistics read them.
    dispatched_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    completed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    satisfaction: str = Field(default="", max_length=8)  # latest callback result (满意/基本满意/不满意)
    # Optimistic concurrency (ledger/versions.py): every write bumps it; a clerk's write names the
    # version it was based on and is refused (409) when someone else wrote in between.
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    # The estate (项目) it concerns: the call's (selected by the number dialled), or the clerk's choice.
    estate_id: int = Field(default=1, index=True)


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
    # Bridged to a clerk or duty person (转人工, urgent ring, 「接听」): the spans, in seconds from the
    # recording's start, when that person was on the right channel; their words, transcribed after
    # the call, with times on the recording's timeline. Status as transcript_status; "" = none owed.
    clerk_spans: list[list[float]] | None = Field(default=None, sa_column=Column(JSON))
    clerk_transcript_status: str = Field(default="", max_length=16, sa_column_kwargs={"server_default": ""})
    clerk_transcript_text: str = Field(default="", sa_column=Column(Text, nullable=False, default="",
                                                                    server_default=""))
    clerk_transcript_words: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    # Outbound calls (回访) are placed by a clerk; inbound calls have no user.
    user_id: int | None = Field(default=None, foreign_key="user.id")
    # The agent process that carries the call and writes its recording (sip.instance_id; None for
    # an all-in-one process): another process recovers its calls when its lease lapses.
    agent_id: str | None = Field(default=None, max_length=64, index=True)
    # Set when the retention policy removed the audio; the row and transcript stay.
    recording_deleted_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # Time the caller kept the call on hold (RFC 3264 sendonly/inactive), for QA's hold rule.
    hold_ms: int = 0
    # Calls the agent refused: the SIP answer and why ("488 Not Acceptable Here: IPv6 media ...").
    sip_detail: str = Field(default="", max_length=255)
    # How the agent took the call: 'speech' (a live recognizer listened) or 'keypad' (none was free).
    intake_path: str = Field(default="", max_length=16)
    # The estate (项目) whose hotline was dialled (callcenter/estates: by the called number).
    estate_id: int = Field(default=1, index=True)


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


# ----- the case workflow (issue 4) ----------------------------------------------------------

class WorkOrder(SQLModel, table=True):
    """派工单 (kind dispatch) or 工程维修单 (kind engineering: paid and public-area repairs),
    sent to one department for one entry. Several may hang off one entry."""

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="entry.id", index=True)
    kind: str = Field(default="dispatch", max_length=16)  # dispatch / engineering
    department: str = Field(max_length=16, index=True)
    status: str = Field(default="open", max_length=16, index=True)
    # open / accepted / in_progress / done / cancelled
    location: str = Field(default="", max_length=64)  # the unit, or a public area (3栋电梯)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    paid: bool = False  # 有偿服务: the resident pays (the slip records the fee)
    fee: str = Field(default="", max_length=32)
    assignee: str = Field(default="", max_length=64)  # technician / team leader
    result: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False, index=True))
    updated_at: datetime = Field(sa_column=_utc_column(nullable=False))
    accepted_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    completed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})  # as Entry.version


class CallbackTask(SQLModel, table=True):
    """A call to make: a callback (回访) after completion, or returning a missed call.
    Each has its own clock (due_at); the result of a 回访 is its satisfaction."""

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="entry.id", index=True)
    kind: str = Field(default="callback", max_length=16)  # callback / missed_call
    # a missed_call task: why the resident is owed a call (vocabulary.CALLBACK_REASONS)
    reason: str = Field(default="", max_length=24, sa_column_kwargs={"server_default": ""})
    status: str = Field(default="open", max_length=16, index=True)  # open / done / cancelled
    number: str = Field(default="", max_length=32)  # whom to call
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    due_at: datetime = Field(sa_column=_utc_column(nullable=False, index=True))
    attempts: int = 0
    done_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    actor: str = Field(default="", max_length=64)
    method: str = Field(default="", max_length=16)  # sip (placed by the agent) / manual (logged)
    outcome: str = Field(default="", max_length=16)  # connected / no_answer / busy / ...
    satisfaction: str = Field(default="", max_length=8)
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    call_id: int | None = Field(default=None, foreign_key="call.id")  # the recorded callback call
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})  # as Entry.version


class ClockAlert(SQLModel, table=True):
    """One row per clock level reached (amber, overdue, escalated) of one subject. The unique
    key is what makes an alert fire once, even when a restarted scheduler runs a job again."""

    __table_args__ = (UniqueConstraint("subject", "clock", "level", name="uq_clockalert_once"),)

    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=32)  # "entry:12", "task:5", "work_order:3"
    clock: str = Field(max_length=16)  # register / dispatch / callback / missed_call
    level: str = Field(max_length=16)  # overdue / escalated
    entry_id: int | None = Field(default=None, foreign_key="entry.id", index=True)
    at: datetime = Field(sa_column=_utc_column(nullable=False))
    due_at: datetime = Field(sa_column=_utc_column(nullable=False))


class Notification(SQLModel, table=True):
    """What on-duty staff were told, shown in the panel until acknowledged."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_utc_column(nullable=False, index=True))
    kind: str = Field(max_length=16)  # overdue / escalation / urgent / missed_call / unsatisfied / handover
    severity: str = Field(default="info", max_length=8)  # info / warning / critical
    audience: str = Field(default="clerk", max_length=64)  # comma-separated roles
    title: str = Field(max_length=128)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    entry_id: int | None = Field(default=None, foreign_key="entry.id", index=True)
    link: str = Field(default="", max_length=128)
    acknowledged_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    acknowledged_by: str = Field(default="", max_length=64)


class Handover(SQLModel, table=True):
    """交接班: the outgoing shift's open items, compiled at a shift change and acknowledged
    by the incoming clerk. One per shift change (unique), however often the job runs."""

    id: int | None = Field(default=None, primary_key=True)
    shift_change_at: datetime = Field(sa_column=_utc_column(nullable=False, unique=True))
    shift_name: str = Field(default="", max_length=32)  # the incoming shift
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    items: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    open_count: int = 0
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    acknowledged_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    acknowledged_by: str = Field(default="", max_length=64)


# ----- quality assurance (issue 5) ----------------------------------------------------------

class QaReview(SQLModel, table=True):
    """One scoring of one call against a scorecard: the automatic pre-scores with their
    evidence, and the QA person's confirmed or overridden result per item."""

    id: int | None = Field(default=None, primary_key=True)
    call_id: int = Field(foreign_key="call.id", index=True)
    scorecard: str = Field(max_length=64)  # scorecard name@version
    status: str = Field(default="auto", max_length=16)  # auto / reviewed
    auto: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    final: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    score: float | None = None
    passed: bool | None = None
    reviewer: str = Field(default="", max_length=64)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    reviewed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True, index=True))


class TrainingSet(SQLModel, table=True):
    """典型案例: a named collection of calls for training."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))


class TrainingItem(SQLModel, table=True):
    """One call (or a segment of it) in a training set, with the trainer's note."""

    id: int | None = Field(default=None, primary_key=True)
    set_id: int = Field(foreign_key="trainingset.id", index=True)
    call_id: int = Field(foreign_key="call.id", index=True)
    start_ms: int = 0
    end_ms: int | None = None  # None: to the end of the recording
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    added_by: str = Field(max_length=64)
    added_at: datetime = Field(sa_column=_utc_column(nullable=False))


class StaffLine(SQLModel, table=True):
    """A user's phone extension and presence (在岗/离开/通话中): who the ring group rings."""

    user_id: int = Field(foreign_key="user.id", primary_key=True)
    extension: str = Field(default="", max_length=32, index=True)
    presence: str = Field(default="away", max_length=16)
    updated_at: datetime = Field(sa_column=_utc_column(nullable=False))


class AgentLease(SQLModel, table=True):
    """An agent process's presence (callcenter/scale/presence.py): held while its heartbeat renews
    it; a lease left unrenewed past `lease_s` means the agent died and its calls are recovered."""

    __tablename__ = "agent_lease"

    agent_id: str = Field(primary_key=True, max_length=64)
    token: str = Field(max_length=36)  # this run of the agent: a restarted agent takes a new one
    node: str = Field(default="", max_length=128)  # host:pid, for the administrator
    line: str = Field(default="", max_length=64)  # sip.username
    lease_s: int = 30
    started_at: datetime = Field(sa_column=_utc_column(nullable=False))
    heartbeat_at: datetime = Field(sa_column=_utc_column(nullable=False))
    released: bool = False  # stopped cleanly: nothing to recover


class AgentCommand(SQLModel, table=True):
    """A panel action on a live call (「接听」 take, 监听 listen) for the agent process that owns
    the call, sent by the web process (callcenter/scale/commands.py). Kept as a row, not only as a
    NOTIFY: an agent whose listening connection is reconnecting reads what it missed from here."""

    __tablename__ = "agent_command"

    id: int | None = Field(default=None, primary_key=True)
    agent_id: str = Field(max_length=64, index=True)  # the agent that owns the call
    kind: str = Field(max_length=16)  # take / listen
    sip_call_id: str = Field(max_length=255)
    extension: str = Field(max_length=32)  # the phone to ring
    asked_by: str = Field(default="", max_length=64)  # the panel user who pressed the button
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    taken_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))  # claimed by the agent
    outcome: str = Field(default="", max_length=16)  # run / refused / expired / invalid


class EventRecord(SQLModel, table=True):
    """A published event, kept for a while with its sequence number so a panel that reconnects
    (its own reconnect, a web process restart, a database restart) catches up from the last one it
    saw (callcenter/scale/event_log.py)."""

    __tablename__ = "event_log"

    seq: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_utc_column(nullable=False, index=True))
    type: str = Field(max_length=64)
    origin: str = Field(default="", max_length=128)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
# ----- estates (issue 17) -----------------------------------------------------------------------

class Estate(SQLModel, table=True):
    """One estate (项目) of the company. config.yaml's `estates:` is the source; the rows are
    synchronised at start (callcenter/estates) so data keeps its estate when the list changes.
    Row 1 is the default estate that migration 0009 carried the existing data into."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True, max_length=32)
    name: str = Field(default="", max_length=40)
    numbers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True  # still in config.yaml (an estate removed from it keeps its data)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))


class UserEstate(SQLModel, table=True):
    """Which estates a user works for. A clerk sees only these; a supervisor or admin with none
    has company scope (all estates)."""

    user_id: int = Field(foreign_key="user.id", primary_key=True)
    estate_id: int = Field(foreign_key="estate.id", primary_key=True)

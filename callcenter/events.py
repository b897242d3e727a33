"""Typed events about calls and entries, and the in-process bus that fans them out.

Each kind of event is a payload dataclass (CallAnswered, EntryUpdated...); `bus.publish(payload)`
wraps it in an `Event` envelope whose JSON (type, data, at) the panel and other processes read.

Publishers run on telephony threads, workers or the event loop; subscribers (websocket
connections) are asyncio queues. The bus is the one place where threads meet asyncio.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Protocol, Self

log = logging.getLogger(__name__)

EventType = Literal[
    "call.ringing",
    "call.answered",
    "call.partial_transcript",
    "call.ended",
    "call.missed",
    "call.provisional",  # a call's step the database could not take yet (live only: the outbox has it)
    "call.person",  # 转人工 / urgent escalation / take-over during a call: who was rung, who answered
    "entry.draft_ready",
    "entry.updated",
    "system.alarm",
    "system.asr_load",  # an agent process's live recognizers in use (for the web process's backlog)
    "sip.registration",  # an agent's SIP registration changed: state, registrar, status, reason, expires_s
    "notification",
    "work_order.updated",
    "callback.updated",
    "handover.created",
]

Listener = Callable[["Event"], None]


class Journal(Protocol):
    """Numbers and stores events for the panel (scale/event_log.py EventJournal)."""

    def number(self, event: Event, then: Callable[[Event], None]) -> None: ...

    def since(self, seq: int) -> list[Event]: ...

    def last_seq(self) -> int | None: ...


class Unset:
    """A payload field an event of this kind does not carry (it is left out of the JSON)."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET = Unset()


@dataclass(frozen=True, kw_only=True)
class Payload:
    """What an event says: one dataclass per kind of event. Its fields, in order and without the
    ones left UNSET, are the event's `data` on the bus, between processes and on the websocket."""

    TYPE: ClassVar[EventType]
    # Fields whose value tells apart payloads of the same TYPE (system.alarm: kind).
    MATCH: ClassVar[Mapping[str, Any]] = {}

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not UNSET:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Self | None:
        """The payload an event's data spells, or None when it is not one of these."""
        if any(data.get(k) != v for k, v in cls.MATCH.items()):
            return None
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in data:
                kwargs[f.name] = data[f.name]
            elif f.default is MISSING and f.default_factory is MISSING:
                return None  # a field this kind always carries is missing: not this kind
        return cls(**kwargs)


# ----- calls -----------------------------------------------------------------------------------

def call_key(sip_call_id: str) -> str:
    """A call's key on the live board before the database has numbered it: opaque (the SIP
    Call-ID may name hosts), stable, the same in the live and in the stored event."""
    return hashlib.sha256(sip_call_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(frozen=True, kw_only=True)
class CallRinging(Payload):
    TYPE: ClassVar[EventType] = "call.ringing"
    call_id: int | None
    caller_number: str
    resident: str | None
    unit: str | None
    open_entries: list[int | None]
    # the key its provisional card had (CallProvisional), so the board merges them into one
    call_key: str | Unset = UNSET


@dataclass(frozen=True, kw_only=True)
class CallProvisional(Payload):
    """A step of a call that the database could not take (SQLite locked, PostgreSQL down): the
    write waits in the outbox, and the board shows the call live under `call_key` until the
    stored call.ringing with the same key arrives (when the outbox drains). Never stored."""

    TYPE: ClassVar[EventType] = "call.provisional"
    call_key: str
    step: Literal["ringing", "answered", "ended", "missed"]
    caller_number: str
    estate_id: int | None  # the estate dialled (from the configuration: no database needed)
    reason: str = ""  # ended / missed: why


@dataclass(frozen=True, kw_only=True)
class CallAnswered(Payload):
    TYPE: ClassVar[EventType] = "call.answered"
    call_id: int
    entry_id: int
    caller_number: str
    unit: str


@dataclass(frozen=True, kw_only=True)
class PartialTranscript(Payload):
    TYPE: ClassVar[EventType] = "call.partial_transcript"
    call_id: int
    text: str


@dataclass(frozen=True, kw_only=True)
class CallEnded(Payload):
    TYPE: ClassVar[EventType] = "call.ended"
    call_id: int | None
    entry_id: int | None
    reason: str
    duration_ms: int | None


@dataclass(frozen=True, kw_only=True)
class CallPerson(Payload):
    """Something happened between the caller and the staff during the call: urgency detected
    ('urgent'), a ring group rung and its outcome ('answered' — the clerk's panel opens the entry —,
    'unanswered', 'nobody', 'caller_gone': the caller hung up before anyone took the call), the
    bridge ended ('ended'), a supervisor listens ('listening'), or a 「接听」/监听 sent to the agent
    found the call already over ('refused')."""

    TYPE: ClassVar[EventType] = "call.person"
    call_id: int
    entry_id: int | None
    step: Literal["urgent", "answered", "unanswered", "nobody", "caller_gone", "ended", "listening", "refused"]
    reason: str  # caller / urgent / takeover; the hazard class for 'urgent'
    number: str  # who answered (extension or roster number), "" otherwise
    username: str  # the panel user of that extension, "" if none
    unit: str = ""  # 'urgent': the unit heard so far (the notice names it)


@dataclass(frozen=True, kw_only=True)
class CallMissed(Payload):
    TYPE: ClassVar[EventType] = "call.missed"
    call_id: int | None
    entry_id: int
    caller_number: str
    reason: str


# ----- entries ---------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class DraftReady(Payload):
    TYPE: ClassVar[EventType] = "entry.draft_ready"
    call_id: int | None
    entry_id: int
    unit: str
    category: str
    department: str
    urgent: bool
    summary: str
    repeat_of: int | None


@dataclass(frozen=True, kw_only=True)
class EntryUpdated(Payload):
    """A clerk's (or the workflow's) change to an entry. `action` says which change; a status
    change carries the new and old status."""

    TYPE: ClassVar[EventType] = "entry.updated"
    entry_id: int | None
    fields: list[str]
    action: str | Unset = UNSET  # confirmed, transition, created, urgent_acknowledged, linked; none: an edit
    status: str | Unset = UNSET
    old_status: str | Unset = UNSET
    satisfaction: str | None | Unset = UNSET
    call_id: int | None | Unset = UNSET
    merged_entry_id: int | None | Unset = UNSET
    actor: str


# ----- the system ------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class DatabaseAlarm(Payload):
    TYPE: ClassVar[EventType] = "system.alarm"
    MATCH: ClassVar[Mapping[str, Any]] = {"kind": "database"}
    kind: str = "database"
    state: Literal["unavailable", "recovered"]
    message: str
    pending: int
    op: str | Unset = UNSET  # the write that found the database away


@dataclass(frozen=True, kw_only=True)
class DiskAlarm(Payload):
    TYPE: ClassVar[EventType] = "system.alarm"
    MATCH: ClassVar[Mapping[str, Any]] = {"kind": "disk_space"}
    kind: str = "disk_space"
    disk: str
    path: str
    level: str
    previous: str
    free_mb: float
    min_free_mb: float
    title: str


@dataclass(frozen=True, kw_only=True)
class DraftModelAlarm(Payload):
    """The draft model cannot be read (calls are drafted by the rules alone), or serves again."""

    TYPE: ClassVar[EventType] = "system.alarm"
    MATCH: ClassVar[Mapping[str, Any]] = {"kind": "draft_model"}
    kind: str = "draft_model"
    state: Literal["unusable", "recovered"]
    message: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class SipRegistration(Payload):
    """An agent's SIP registration changed (the panel's chip while it is not registered)."""

    TYPE: ClassVar[EventType] = "sip.registration"
    node: str
    line: str
    state: str  # registered / registering / unregistered / direct / stopped
    registrar: str
    status: int | None
    reason: str
    expires_s: int
    since: str  # ISO time of the last change


@dataclass(frozen=True, kw_only=True)
class AsrLoad(Payload):
    """An agent process's live recognizers in use, for the web process's backlog figure."""

    TYPE: ClassVar[EventType] = "system.asr_load"
    node: str
    live: int
    live_max: int
    files: int
    line: str


# ----- the case workflow -----------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class NoticePosted(Payload):
    TYPE: ClassVar[EventType] = "notification"
    id: int
    kind: str
    severity: str
    title: str
    body: str
    entry_id: int | None
    audience: list[str]


@dataclass(frozen=True, kw_only=True)
class NoticeAcknowledged(Payload):
    TYPE: ClassVar[EventType] = "notification"
    id: int
    acknowledged_by: str


@dataclass(frozen=True, kw_only=True)
class WorkOrderUpdated(Payload):
    TYPE: ClassVar[EventType] = "work_order.updated"
    id: int | None
    entry_id: int
    status: str
    department: str
    actor: str


@dataclass(frozen=True, kw_only=True)
class CallbackUpdated(Payload):
    TYPE: ClassVar[EventType] = "callback.updated"
    id: int | None
    entry_id: int
    kind: str
    status: str
    due_at: str


@dataclass(frozen=True, kw_only=True)
class HandoverCreated(Payload):
    TYPE: ClassVar[EventType] = "handover.created"
    id: int | None
    open_count: int


# Every payload kind by event type; where a type has several, the first that fits the data wins.
PAYLOADS: dict[str, tuple[type[Payload], ...]] = {}
for _kind in (CallRinging, CallProvisional, CallAnswered, PartialTranscript, CallEnded, CallMissed, CallPerson, DraftReady, EntryUpdated,
              DatabaseAlarm, DiskAlarm, AsrLoad, NoticeAcknowledged, NoticePosted, WorkOrderUpdated,
              CallbackUpdated, HandoverCreated):
    PAYLOADS[_kind.TYPE] = (*PAYLOADS.get(_kind.TYPE, ()), _kind)


@dataclass(frozen=True)
class Event:
    """The envelope: what travels on the bus, between processes (scale.relay) and to the panel."""

    type: EventType
    data: dict[str, Any]
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The event's number in the site's event log (scale/event_log.py), once stored: the panel
    # resumes from the last one it saw. None for live-only events.
    seq: int | None = None

    @classmethod
    def of(cls, payload: Payload) -> Event:
        return cls(payload.TYPE, payload.data())

    @property
    def payload(self) -> Payload | None:
        """The typed payload (also of an event relayed from another process), or None when the
        data fits none of its type's payloads."""
        for kind in PAYLOADS.get(self.type, ()):
            parsed = kind.from_data(self.data)
            if parsed is not None:
                return parsed
        return None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["at"] = self.at.isoformat()
        if d["seq"] is None:
            del d["seq"]
        return d


class EventBus:
    """Fan-out of events to any number of asyncio subscribers; publish() is thread-safe."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._journal: Journal | None = None

    def set_journal(self, journal: Journal) -> None:
        """Number events before they reach the websockets, so a panel can resume (web, all)."""
        self._journal = journal

    def history(self, since: int) -> list[Event]:
        """Stored events after `since` (with a margin: the caller drops what it has); [] without a journal."""
        return self._journal.since(since) if self._journal is not None else []

    def position(self) -> int | None:
        """The last stored event's number (None without a journal, or while the database is away)."""
        return self._journal.last_seq() if self._journal is not None else None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self) -> asyncio.Queue[Event]:
        q: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        with self._lock:
            self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[Event]) -> None:
        with self._lock:
            self._subscribers.discard(q)

    def add_listener(self, listener: Listener) -> None:
        """A synchronous in-process listener (the workflow's clocks and tasks), called on the
        publisher's thread: it must be quick and hand slow work to its own thread."""
        with self._lock:
            self._listeners.append(listener)

    def publish(self, payload: Payload) -> None:
        self.dispatch(Event.of(payload))

    def dispatch(self, event: Event) -> None:
        """Deliver an already-built event (one relayed from another process keeps its time)."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug must not break the call or the request
                log.exception("event listener failed on %s", event.type)
        journal = self._journal
        if journal is not None and event.seq is None:
            journal.number(event, self._to_subscribers)
        else:
            self._to_subscribers(event)

    def _to_subscribers(self, event: Event) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # no panel running (CLI, tests without web): events are informational
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._fan_out(event)
        else:
            loop.call_soon_threadsafe(self._fan_out, event)

    def _fan_out(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for q in subscribers:
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:
                # A stalled browser must not stall the others; it reloads state on reconnect.
                log.warning("event subscriber queue full; dropping %s", event.type)

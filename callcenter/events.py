"""Typed events about calls and entries, and the in-process bus that fans them out.

Publishers run on telephony threads, workers or the event loop; subscribers (websocket
connections) are asyncio queues. The bus is the one place where threads meet asyncio.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

log = logging.getLogger(__name__)

EventType = Literal[
    "call.ringing",
    "call.answered",
    "call.partial_transcript",
    "call.ended",
    "call.missed",
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


@dataclass(frozen=True)
class Event:
    type: EventType
    data: dict[str, Any]
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["at"] = self.at.isoformat()
        return d


class EventBus:
    """Fan-out of events to any number of asyncio subscribers; publish() is thread-safe."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

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

    def publish(self, type_: EventType, **data: Any) -> None:
        self.dispatch(Event(type_, data))

    def dispatch(self, event: Event) -> None:
        """Deliver an already-built event (one relayed from another process keeps its time)."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug must not break the call or the request
                log.exception("event listener failed on %s", event.type)
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

"""Durable events: every event the panel sees is stored with a sequence number (table `event_log`,
pruned by age), so a panel that reconnects — its own reconnect, a web process restart, a database
restart — asks for what came after the last sequence it saw and the board catches up (no phantom
live call, no missed draft).

Who stores: agents and workers insert their events together with the NOTIFY (scale/relay.py); the
web (or all-in-one) process stores its own on a journal thread (`EventJournal`), which then hands
them, numbered, to the websockets. The workflow's listeners still hear every event at once, on the
publisher's thread. Sequence numbers are given at insert but become visible at commit, so two
processes can commit out of order: readers ask from a margin before the last number they saw
(REPLAY_MARGIN) and drop what they already have.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, func, select

from callcenter.events import Event
from callcenter.ledger.models import EventRecord

log = logging.getLogger(__name__)

REPLAY_MARGIN = 200  # numbers before the last one seen that are read again (commits out of order)
REPLAY_MAX = 5000  # a panel away for long reloads its views anyway ("reconnected")
KEEP_HOURS = 48
# Live noise with no lasting meaning: not stored, never replayed.
# call.provisional: the outbox replays the step it stands for, and that step's event is stored.
NOT_STORED = frozenset({"system.asr_load", "call.partial_transcript", "call.provisional"})
_LOG: Table = EventRecord.__table__  # type: ignore[attr-defined]


def stored(event: Event) -> bool:
    return event.type not in NOT_STORED


class EventStore:
    """The `event_log` table (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def append(self, event: Event, origin: str = "") -> Event:
        """Store the event; returns it with its sequence number."""
        with self.engine.begin() as conn:
            seq = conn.execute(_LOG.insert().values(at=event.at, type=event.type, origin=origin[:128],
                                                    data=_jsonable(event.data)).returning(_LOG.c.seq)).scalar_one()
        return dataclasses.replace(event, seq=int(seq))

    def since(self, seq: int, limit: int = REPLAY_MAX) -> list[Event]:
        """Stored events numbered above `seq`, in order (at most `limit`, the newest)."""
        query = select(_LOG.c.seq, _LOG.c.type, _LOG.c.data, _LOG.c.at).where(_LOG.c.seq > seq) \
            .order_by(_LOG.c.seq.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [Event(t, dict(d), at, seq=int(s)) for s, t, d, at in reversed(rows)]

    def last_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(_LOG.c.seq), 0))).scalar_one())

    def prune(self, now: datetime, keep_hours: int = KEEP_HOURS) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(_LOG.delete().where(_LOG.c.at < now - timedelta(hours=keep_hours)))
        return int(result.rowcount or 0)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(data, ensure_ascii=False, default=str))


class SeenSeqs:
    """The sequence numbers recently handled (dedupe of replays)."""

    def __init__(self, size: int = 20_000) -> None:
        self._order: deque[int] = deque()
        self._set: set[int] = set()
        self._size = size
        self.last = 0

    def add(self, seq: int) -> bool:
        """False if it was seen already."""
        if seq in self._set:
            return False
        self._set.add(seq)
        self._order.append(seq)
        if len(self._order) > self._size:
            self._set.discard(self._order.popleft())
        self.last = max(self.last, seq)
        return True


class EventJournal:
    """The web (or all-in-one) process's events to the panel: numbered and stored on its own
    thread, so a publisher (a call's thread) never waits for the database. An event the database
    cannot take now still goes out live, without a number."""

    def __init__(self, store: EventStore, origin: str, max_queued: int = 10_000) -> None:
        self.store, self.origin = store, origin
        self._queue: queue.Queue[tuple[Event, Callable[[Event], None]] | None] = queue.Queue(max_queued)
        self._thread = threading.Thread(target=self._run, name="event-journal", daemon=True)
        self._started = False
        self.stored = 0

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._started:
            self._queue.put(None)
            self._thread.join(timeout_s)

    def number(self, event: Event, then: Callable[[Event], None]) -> None:
        """Store `event` and call `then` with it numbered (on the journal's thread)."""
        if not self._started or event.seq is not None or not stored(event):
            then(event)
            return
        try:
            self._queue.put_nowait((event, then))
        except queue.Full:
            then(event)

    def since(self, seq: int) -> list[Event]:
        return self.store.since(max(0, seq - REPLAY_MARGIN))

    def last_seq(self) -> int | None:
        try:
            return self.store.last_seq()
        except Exception as exc:  # the database is away: the panel resumes from what it saw
            log.warning("event log unreadable (%s)", str(exc).splitlines()[0][:160])
            return None

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            event, then = item
            try:
                event = self.store.append(event, self.origin)
                self.stored += 1
            except Exception as exc:  # the database is away: live only
                log.warning("event %s not stored (%s)", event.type, str(exc).splitlines()[0][:160])
            try:
                then(event)
            except Exception:
                log.exception("event fan-out failed")


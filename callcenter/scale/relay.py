"""Carries ledger events between processes over PostgreSQL LISTEN/NOTIFY.

Agents and transcription workers forward what their local EventBus publishes (calls answered and
ended, drafts ready...) as NOTIFY; the web process LISTENs and re-dispatches each event on its own
bus, where the panel's websockets and the workflow's listener pick it up. One LISTEN connection per
web process, so each event reaches the workflow exactly once. NOTIFY itself is not durable, so the
forwarder stores each event in the event log (scale/event_log.py) in the NOTIFY's transaction; the
listener reads what it missed from there after it reconnects, and the panel resumes from it.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from callcenter.events import Event, EventBus
from callcenter.scale.channel import RECONNECT_MAX_S, ChannelListener, libpq_url
from callcenter.scale.event_log import REPLAY_MARGIN, REPLAY_MAX, SeenSeqs, stored

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

CHANNEL = "callcenter_events"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
MAX_PAYLOAD = 7900


def node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def encode(event: Event, origin: str, seq: int | None = None) -> str | None:
    """The NOTIFY payload, shortening long texts to fit; None if it still cannot fit. `seq`: the
    event's number in the event log (the stored copy keeps the full texts)."""
    data = dict(event.data)
    for limit in (None, 1000, 200, 0):
        if limit is not None:
            data = {k: (v[:limit] if isinstance(v, str) and len(v) > limit else v) for k, v in data.items()}
        obj: dict[str, Any] = {"o": origin, "t": event.type, "d": data, "at": event.at.isoformat()}
        if seq is not None:
            obj["s"] = seq
        payload = json.dumps(obj, ensure_ascii=False, default=str, separators=(",", ":"))
        if len(payload.encode()) <= MAX_PAYLOAD:
            return payload
    return None


def decode(payload: str) -> tuple[str, Event]:
    obj = json.loads(payload)
    seq = obj.get("s")
    return obj["o"], Event(obj["t"], obj["d"], datetime.fromisoformat(obj["at"]),
                           seq=int(seq) if isinstance(seq, int) else None)


def _store_and_notify(conn: psycopg.Connection[Any], event: Event, origin: str) -> bool:
    """Insert the event into the log and NOTIFY, in one transaction (the NOTIFY goes at commit).
    False if it is too large to relay."""
    from psycopg.types.json import Json

    with conn.transaction():
        seq: int | None = None
        if stored(event):
            row = conn.execute("INSERT INTO event_log (at, type, origin, data) VALUES (%s, %s, %s, %s) "
                               "RETURNING seq", (event.at, event.type, origin[:128],
                                                 Json(event.data, dumps=_dumps))).fetchone()
            seq = int(row[0]) if row else None
        payload = encode(event, origin, seq)
        if payload is None:
            if seq is None:
                return False
            payload = json.dumps({"o": origin, "s": seq})  # the listener reads it from the log
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
    return True


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


class EventForwarder:
    """Publish side: a bus listener that queues every event; one thread sends them as NOTIFY, so a
    telephony thread never waits for the network. Reconnects after PostgreSQL restarts."""

    def __init__(self, url: str, bus: EventBus, origin: str, max_queued: int = 10_000) -> None:
        self._url, self.origin = libpq_url(url), origin
        self._queue: queue.Queue[Event | None] = queue.Queue(max_queued)
        self._thread = threading.Thread(target=self._run, name="event-forwarder", daemon=True)
        self._stopping = threading.Event()
        self.sent = 0
        bus.add_listener(self._enqueue)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (within timeout_s), then stop."""
        if self._thread.ident is None:  # never started
            return
        self._queue.put(None)
        self._thread.join(timeout_s)
        self._stopping.set()

    def _enqueue(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:  # the database is away for long: the panel reloads state anyway
            log.warning("event relay queue full; dropping %s", event.type)

    def _run(self) -> None:
        import psycopg  # the postgres extra; only processes of a multi-process site get here

        conn: psycopg.Connection[Any] | None = None
        delay = 0.2
        event = self._queue.get()
        while event is not None and not self._stopping.is_set():
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self._url, autocommit=True, application_name="callcenter event forwarder")
                    delay = 0.2
                if _store_and_notify(conn, event, self.origin):
                    self.sent += 1
                else:
                    log.warning("event %s too large to relay; dropped", event.type)
                event = self._queue.get()
            except psycopg.Error as exc:
                log.warning("event relay: database unreachable (%s); retrying in %.1f s", exc, delay)
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
        if conn is not None:
            conn.close()


class EventListener(ChannelListener):
    """Listen side (web process): re-dispatches other processes' events on the local bus."""

    def __init__(self, url: str, bus: EventBus, origin: str) -> None:
        super().__init__(url, CHANNEL, name="event-listener", application_name="callcenter event listener")
        self._bus, self.origin = bus, origin
        self.received = 0
        self.caught_up = 0  # events read from the log after a reconnect
        self._seen = SeenSeqs()
        self._since: int | None = None  # the log's number when we first listened

    def on_listening(self) -> None:
        log.info("event relay: listening on %s", CHANNEL)

    def catch_up(self, conn: psycopg.Connection[Any]) -> None:
        """After (re)connecting: what the log got while we were not listening (LISTEN is already
        on, so nothing falls between the two)."""
        if self._since is None:  # the first connection: from now on
            row = conn.execute("SELECT coalesce(max(seq), 0) FROM event_log").fetchone()
            self._since = int(row[0]) if row else 0
            self._seen.last = self._since
            return
        start = max(self._since, self._seen.last - REPLAY_MARGIN)
        rows = conn.execute("SELECT seq, type, data, at FROM event_log WHERE seq > %s AND origin <> %s "
                            "ORDER BY seq LIMIT %s", (start, self.origin, REPLAY_MAX)).fetchall()
        for seq, type_, data, at in rows:
            if self._seen.add(int(seq)):
                self.caught_up += 1
                self._bus.dispatch(Event(type_, data if isinstance(data, dict) else json.loads(data), at,
                                         seq=int(seq)))
        if rows:
            log.info("event relay: caught up on %d event(s) from the log", len(rows))

    def deliver(self, conn: psycopg.Connection[Any], payload: str) -> None:
        try:
            obj = json.loads(payload)
            event: Event | None
            if "t" in obj:
                origin, event = decode(payload)
            else:  # too large for NOTIFY: read from the log
                origin, event = obj["o"], self._read(conn, int(obj["s"]))
        except (ValueError, KeyError, TypeError):
            log.warning("event relay: unreadable payload %.80r", payload)
            return
        if origin == self.origin or event is None:
            return  # our own event, already dispatched locally
        if event.seq is not None and not self._seen.add(event.seq):
            return  # already read from the log
        self.received += 1
        self._bus.dispatch(event)

    @staticmethod
    def _read(conn: psycopg.Connection[Any], seq: int) -> Event | None:
        row = conn.execute("SELECT type, data, at FROM event_log WHERE seq = %s", (seq,)).fetchone()
        return Event(row[0], row[1], row[2], seq=seq) if row else None

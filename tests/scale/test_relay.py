"""The LISTEN/NOTIFY event relay on a real PostgreSQL: events cross from one bus to another once,
keep their time, shrink to fit NOTIFY's limit, flow again after the listening connection dies, and
what was sent while it was away is read from the event log, once and in order."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from callcenter.events import CallAnswered, CallEnded, EntryUpdated, Event, EventBus
from callcenter.ledger import db
from callcenter.scale.channel import libpq_url
from callcenter.scale.relay import MAX_PAYLOAD, EventForwarder, EventListener, decode, encode
from tests.dbs import PgDatabases


def _wait(pred: Callable[[], bool], timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


class Collect:
    def __init__(self, bus: EventBus) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()
        bus.add_listener(self._on)

    def _on(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def types(self) -> list[str]:
        with self._lock:
            return [e.type for e in self.events]


@pytest.fixture
def site_url(pg_databases: PgDatabases) -> Iterator[str]:
    """A migrated database (the relay stores events in its event log) on the session's server."""
    with pg_databases.database(pg_databases.migrated_template(db.upgrade)) as url:
        yield url


@pytest.fixture
def relay(site_url: str):  # type: ignore[no-untyped-def]
    pg_url = site_url
    agent_bus, web_bus = EventBus(), EventBus()
    forwarder = EventForwarder(pg_url, agent_bus, origin="agent-1")
    listener = EventListener(pg_url, web_bus, origin="web-1")
    seen = Collect(web_bus)
    listener.start()
    forwarder.start()
    assert listener.listening.wait(10)
    yield agent_bus, web_bus, seen, listener
    forwarder.stop()
    listener.stop()


def test_events_cross_once_and_keep_their_time(relay) -> None:  # type: ignore[no-untyped-def]
    agent_bus, web_bus, seen, _ = relay
    for i in range(50):
        agent_bus.publish(CallAnswered(call_id=i, entry_id=100 + i, caller_number="13800138000", unit=""))
    assert _wait(lambda: len(seen.events) >= 50)
    time.sleep(0.5)
    assert [e.data["call_id"] for e in seen.events] == list(range(50))  # once each, in order
    first = seen.events[0]
    assert first.type == "call.answered" and first.data["entry_id"] == 100
    # what the web process publishes itself is not sent back to it (no echo, no loop)
    web_bus.publish(EntryUpdated(entry_id=1, fields=[], actor="wang"))
    time.sleep(0.5)
    assert seen.types().count("entry.updated") == 1


def test_a_long_text_is_shortened_to_fit_notify() -> None:
    event = Event("entry.draft_ready", {"call_id": 1, "summary": "漏水" * 5000, "urgent": True})
    payload = encode(event, "agent-1")
    assert payload is not None and len(payload.encode()) <= MAX_PAYLOAD
    origin, back = decode(payload)
    assert origin == "agent-1" and back.data["call_id"] == 1 and back.data["urgent"] is True
    assert back.data["summary"].startswith("漏水") and back.at == event.at


def test_the_listener_reconnects_after_its_connection_is_killed(relay, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    agent_bus, _, seen, listener = relay
    agent_bus.publish(CallEnded(call_id=1, entry_id=1, reason="caller_hangup", duration_ms=1000))
    assert _wait(lambda: len(seen.events) == 1)
    # what a PostgreSQL restart does to the web process: its LISTEN connection dies
    with psycopg.connect(libpq_url(pg_url), autocommit=True) as conn:
        killed = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE application_name = 'callcenter event listener'").fetchall()
    assert killed, "no LISTEN connection found"
    assert _wait(lambda: not listener.listening.is_set(), 5)
    assert listener.listening.wait(15), "the listener did not reconnect"
    agent_bus.publish(CallEnded(call_id=2, entry_id=2, reason="caller_hangup", duration_ms=1000))
    assert _wait(lambda: len(seen.events) == 2), seen.types()
    assert [e.data["call_id"] for e in seen.events] == [1, 2]


def test_the_forwarder_resends_after_its_connection_is_killed(relay, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    agent_bus, _, seen, _ = relay
    agent_bus.publish(CallAnswered(call_id=1, entry_id=1, caller_number="", unit=""))
    assert _wait(lambda: len(seen.events) == 1)
    with psycopg.connect(libpq_url(pg_url), autocommit=True) as conn:
        killed = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE application_name = 'callcenter event forwarder'").fetchall()
    assert killed, "no forwarder connection found"
    for i in (2, 3):  # the first of these meets the dead connection: it is sent again, not dropped
        agent_bus.publish(CallAnswered(call_id=i, entry_id=i, caller_number="", unit=""))
    assert _wait(lambda: len(seen.events) == 3), seen.types()
    assert [e.data["call_id"] for e in seen.events] == [1, 2, 3]


def test_events_sent_while_the_listener_is_away_come_from_the_log_once_in_order(relay, site_url: str) -> None:  # type: ignore[no-untyped-def]
    agent_bus, _, seen, listener = relay

    def kill_listener() -> None:
        with psycopg.connect(libpq_url(site_url), autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE application_name = 'callcenter event listener'")

    for i in range(200):
        if i in (50, 120):  # what a database restart does to the web process, twice
            kill_listener()
        agent_bus.publish(CallAnswered(call_id=i, entry_id=i, caller_number="", unit=""))
        time.sleep(0.005)
    assert _wait(lambda: len(seen.events) >= 200, 20), len(seen.events)
    time.sleep(0.5)
    assert [e.data["call_id"] for e in seen.events] == list(range(200))  # none lost, none twice
    assert listener.caught_up > 0  # some came from the log, not from NOTIFY
    seqs = [e.seq for e in seen.events]
    assert None not in seqs and seqs == sorted(seqs)

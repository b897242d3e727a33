"""Fault injection helpers: a SQLite database held locked by another connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from callcenter.events import Event, EventBus
from tests.calls.conftest import pipeline_factory, prompt_settings, speak  # noqa: F401  (the call bench)


@contextmanager
def sqlite_locked(url: str) -> Iterator[None]:
    """Another process's view: a connection that holds the write lock (BEGIN EXCLUSIVE) until the
    block ends. In WAL mode readers go on; every writer waits for its busy timeout, then fails
    with "database is locked"."""
    conn = sqlite3.connect(url.split("///", 1)[1], isolation_level=None, timeout=30)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def alarms(bus: EventBus) -> list[Event]:
    """Every system.alarm the bus publishes from now on."""
    seen: list[Event] = []
    bus.add_listener(lambda e: seen.append(e) if e.type == "system.alarm" else None)
    return seen

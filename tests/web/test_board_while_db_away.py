"""A call while the database is locked (issue 16): the call is answered and its writes wait in the
outbox, and the live board still hears of it at once — `call.provisional` events, never stored —
then, when the lock is gone and the outbox drains, the stored `call.ringing` carries the same
call key, so the panel merges the two into one card; the ledger holds the call and its entry once."""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from callcenter.accounts import Accounts
from callcenter.clock import SystemClock
from callcenter.events import call_key
from callcenter.ledger.models import Call, Entry
from callcenter.scale.event_log import EventJournal, EventStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from tests.calls.conftest import HotlineDouble, hotline_double, prompt_settings  # noqa: F401  (fixtures)
from tests.faults.conftest import sqlite_locked

pytestmark = pytest.mark.only_db("sqlite")


def _reader(ws: Any, into: queue.Queue[dict[str, Any]]) -> None:
    try:
        while True:
            into.put(ws.receive_json())
    except Exception:  # the socket closed at the end of the test
        return


def _until(events: queue.Queue[dict[str, Any]], seen: list[dict[str, Any]], want: Any, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        for ev in seen:
            if want(ev):
                return ev
        try:
            seen.append(events.get(timeout=max(0.01, deadline - time.monotonic())))
        except queue.Empty:
            raise AssertionError(f"no such event within {timeout_s} s; got {[e['type'] for e in seen]}") from None


def test_a_call_during_a_lock_reaches_the_websocket_and_is_one_call_after(
        hotline_double, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    h: HotlineDouble = hotline_double(recognizer=None)
    h.ledger.call_write_timeout_s = 0.5  # the call's first write gives up on the lock quickly
    bus = h.ledger.bus
    journal = EventJournal(EventStore(h.ledger.engine), origin="web")
    journal.start()
    bus.set_journal(journal)
    accounts = Accounts(h.ledger.engine, SystemClock())
    accounts.add_user("clerk1", "clerk", "clerk-password")
    accounts.add_user("qa1", "qa", "qa-password")
    app = create_app(WebServices(ledger=h.ledger, accounts=accounts, bus=bus, recordings=h.store,
                                 settings=WebSettings(secret_file=tmp_path / "secret.key")))
    clerk_events: queue.Queue[dict[str, Any]] = queue.Queue()
    qa_events: queue.Queue[dict[str, Any]] = queue.Queue()
    clerk_seen: list[dict[str, Any]] = []
    qa_seen: list[dict[str, Any]] = []
    try:
        with TestClient(app) as c, \
                c.websocket_connect(f"/api/events?token={accounts.create_token('clerk1')}") as ws, \
                c.websocket_connect(f"/api/events?token={accounts.create_token('qa1')}") as qa_ws:
            for sock, into in ((ws, clerk_events), (qa_ws, qa_events)):
                threading.Thread(target=_reader, args=(sock, into), daemon=True).start()
            _until(clerk_events, clerk_seen, lambda e: e["type"] == "stream.position", 10)
            _until(qa_events, qa_seen, lambda e: e["type"] == "stream.position", 10)
            with sqlite_locked(db_url):
                call = h.call({}, caller="13912345678")  # answered, talked to (silence), hung up
                key = call_key(call.info.call_id)
                ringing = _until(clerk_events, clerk_seen, lambda e: e["type"] == "call.provisional"
                                 and e["data"]["step"] == "ringing", 10)
                assert ringing["data"]["call_key"] == key and "seq" not in ringing  # live only
                assert ringing["data"]["caller_number"] == "13912345678"
                assert isinstance(ringing["data"]["estate_id"], int)
                _until(clerk_events, clerk_seen, lambda e: e["type"] == "call.provisional"
                       and e["data"]["step"] == "answered", 10)
                ended = _until(clerk_events, clerk_seen, lambda e: e["type"] == "call.provisional"
                               and e["data"]["step"] == "ended", 10)
                assert ended["data"]["call_key"] == key and ended["data"]["reason"]
                # QA hears the call too, with the number masked
                qa_ringing = _until(qa_events, qa_seen, lambda e: e["type"] == "call.provisional", 10)
                assert qa_ringing["data"]["caller_number"] == "139****5678"
                assert h.handler.outbox.database_down and h.handler.outbox.pending() > 0
                assert h.ledger.list_calls() == []  # nothing went through the lock
            # the lock is gone: the outbox drains and the stored events follow, carrying the key
            stored = _until(clerk_events, clerk_seen, lambda e: e["type"] == "call.ringing", 30)
            assert stored["data"]["call_key"] == key and isinstance(stored["data"]["call_id"], int)
            assert isinstance(stored.get("seq"), int)  # numbered: a reconnecting panel gets it again
            _until(clerk_events, clerk_seen, lambda e: e["type"] == "call.ended"
                   and e["data"]["call_id"] == stored["data"]["call_id"], 30)
            deadline = time.monotonic() + 20
            while h.handler.outbox.pending() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert h.handler.outbox.pending() == 0
    finally:
        journal.stop()
    assert [e["data"]["step"] for e in clerk_seen if e["type"] == "call.provisional"] == [
        "ringing", "answered", "ended"]  # announced once each, though the call is logged twice
    assert len([e for e in clerk_seen if e["type"] == "call.ringing"]) == 1
    with Session(h.ledger.engine) as s:
        assert s.exec(select(func.count()).select_from(Call)).one() == 1
        assert s.exec(select(func.count()).select_from(Entry)).one() == 1
    [logged] = h.ledger.list_calls()
    assert logged.id == stored["data"]["call_id"] and logged.status == "ended"
    # the provisional events are not in the event log: a resumed panel gets only the stored ones
    assert "call.provisional" not in {e.type for e in EventStore(h.ledger.engine).since(0)}

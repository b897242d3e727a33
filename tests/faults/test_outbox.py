"""The call path's outbox against a real SQLite database held locked by another connection:
writes are queued in order, replayed once the lock is gone, replayed twice without duplicating
anything, and still there after the process that queued them was killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from callcenter.asr.interface import Transcript
from callcenter.calls.drafter import CallDrafter
from callcenter.clock import ManualClock
from callcenter.drafting.rules import DraftingRules
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.models import AuditLog, Call, Entry
from callcenter.ledger.outbox import CallWrites, Outbox
from callcenter.ledger.service import LedgerService
from callcenter.recordings.interface import RecordingInfo
from tests.faults.conftest import alarms, sqlite_locked

pytestmark = pytest.mark.only_db("sqlite")  # the lock is SQLite's; PostgreSQL down: test_db_down.py

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NUMBER = "13800138000"


def make(url: str, outbox_dir: Path | None, upgrade: bool = True) -> tuple[LedgerService, Outbox, CallWrites]:
    if upgrade:
        db.upgrade(url)
    bus = EventBus()
    ledger = LedgerService(db.make_engine(url), ManualClock(T0 + timedelta(hours=1)), bus,
                           call_write_timeout_s=0.2)
    ledger.list_calls()  # the first connection puts the file in WAL mode, as the app's start does
    outbox = Outbox(outbox_dir, bus, drain_interval_s=0.1)
    return ledger, outbox, CallWrites(ledger, outbox, CallDrafter(ledger, DraftingRules.load()).draft)


def recording(key: str) -> RecordingInfo:
    return RecordingInfo(call_id=key, key=f"2026/03/02/{key}.wav", duration_ms=12_340, size_bytes=197_484,
                         sha256="ab" * 32, sample_rate_hz=8000, channels=2, interrupted=False)


def whole_call(w: CallWrites, key: str, text: str, start: datetime, twice: bool = False) -> None:
    """The writes HotlineHandler makes for one answered call; `twice`: each one twice in a row,
    as a replay after a crash between the ledger's commit and the outbox's acknowledgement."""
    transcript = Transcript(text, (), "test")
    steps = [
        lambda: w.ringing(key, NUMBER, "", "8001", start),
        lambda: w.answered(key, start + timedelta(seconds=1)),
        lambda: w.transcript(key, None, "live"),
        lambda: w.ended(key, "caller_hangup", recording(key), start + timedelta(seconds=13)),
        lambda: w.dtmf(key, "4*2*301#"),
        lambda: w.transcript(key, transcript, "done"),
        lambda: w.draft(key, NUMBER, None, transcript, "4*2*301#"),
    ]
    for step in steps:
        for _ in range(2 if twice else 1):
            step()


def wait_drained(outbox: Outbox, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while outbox.pending() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert outbox.pending() == 0, f"{outbox.pending()} write(s) still pending"


def test_writes_wait_while_locked_and_land_in_order_with_their_own_times(db_url: str, tmp_path: Path) -> None:
    ledger, outbox, w = make(db_url, tmp_path / "outbox")
    ledger.upsert_resident("4-2-301", "张三", [NUMBER], key_customer=False)
    seen = alarms(ledger.bus)
    with sqlite_locked(db_url):
        started = time.monotonic()
        assert w.ringing("c-1", NUMBER, "", "8001", T0) is None
        assert w.answered("c-1", T0 + timedelta(seconds=1)) is None
        assert w.resident_for_number(NUMBER) is None  # degraded: an unknown caller
        whole_call(w, "c-1", "我家厨房水管爆了，水漫出来了", T0)
        assert time.monotonic() - started < 2, "only the first write may wait for the lock"
        assert outbox.pending() == 9 and outbox.database_down
        assert outbox.drain() == 0 and outbox.pending() == 9  # still locked: nothing lost, nothing skipped
        assert [a.data["state"] for a in seen] == ["unavailable"]
        assert ledger.list_calls() == []
    wait_drained(outbox)  # the drainer thread, on its own

    [call] = ledger.list_calls()
    assert (call.received_at, call.answered_at, call.ended_at) == (T0, T0 + timedelta(seconds=1),
                                                                    T0 + timedelta(seconds=13))
    assert call.status == "ended" and call.dtmf == "4*2*301#" and call.transcript_status == "done"
    assert call.recording_key == "2026/03/02/c-1.wav" and call.recording_duration_ms == 12_340
    entry = ledger.get_entry(call.entry_id or 0)
    assert entry.draft_ready_at is not None and entry.unit == "4-2-301" and entry.caller_name == "张三"
    assert entry.category == "报修" and "水管" in entry.summary
    assert [a.data["state"] for a in seen] == ["unavailable", "recovered"]
    assert not outbox.database_down and outbox.replayed == 9
    outbox.close()


def test_every_write_replayed_twice_changes_nothing_even_a_repeat_merge(db_url: str, tmp_path: Path) -> None:
    ledger, outbox, w = make(db_url, tmp_path / "outbox")
    whole_call(w, "first", "4栋2单元301，卫生间漏水了，楼下都湿了", T0)  # the database works: direct
    assert outbox.pending() == 0
    [first] = ledger.list_calls()
    with sqlite_locked(db_url):
        whole_call(w, "again", "还是卫生间漏水的问题，一直没人来修", T0 + timedelta(hours=1), twice=True)
        assert outbox.pending() == 14
    wait_drained(outbox)

    calls = {c.sip_call_id: c for c in ledger.list_calls()}
    assert sorted(calls) == ["again", "first"]
    again = calls["again"]
    assert again.entry_id == first.entry_id, "the repeat call joins the open entry"
    target = ledger.get_entry(first.entry_id or 0)
    assert target.repeat_count == 1 and target.category == "投诉"
    assert again.dtmf == "4*2*301#"
    with Session(ledger.engine) as s:
        entries = s.exec(select(Entry).order_by(col(Entry.id))).all()
        assert len(entries) == 2 and entries[1].status == "merged" and entries[1].merged_into_id == target.id
        actions = [a.action for a in s.exec(select(AuditLog).where(AuditLog.call_id == again.id)).all()]
    assert actions.count("registered") == 1 and actions.count("merged") == 1
    assert actions.count("repeat_call") == 1
    outbox.close()


def test_a_write_the_ledger_refuses_is_set_aside_and_blocks_nothing(db_url: str, tmp_path: Path) -> None:
    ledger, outbox, w = make(db_url, tmp_path / "outbox")
    with sqlite_locked(db_url):
        w.ringing("c-1", NUMBER, "", "8001", T0)
        w.dtmf("never-logged", "1#")  # NotFound on replay: a bug, not an outage
        w.ringing("c-2", NUMBER, "", "8001", T0)
    wait_drained(outbox)
    assert outbox.dead == 1 and sorted(c.sip_call_id for c in ledger.list_calls()) == ["c-1", "c-2"]
    outbox.close()


_CHILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from tests.faults.test_outbox import make, whole_call, T0
    ledger, outbox, w = make(sys.argv[1], Path(sys.argv[2]), upgrade=False)
    whole_call(w, "killed", "电梯困人了", T0)
    outbox._queue.get(block=False)  # the drainer took the first write and was killed replaying it
    print(outbox.pending(), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_pending_writes_survive_kill_9_and_replay_at_the_next_start(db_url: str, tmp_path: Path) -> None:
    db.upgrade(db_url)
    with db.make_engine(db_url).connect():  # WAL mode, as after any start of the app
        pass
    with sqlite_locked(db_url):
        child = subprocess.run([sys.executable, "-c", _CHILD, db_url, str(tmp_path / "outbox")],
                               capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert child.stdout.split() == ["7"], child.stderr  # 6 ready + the one taken when it died
    ledger, outbox, _ = make(db_url, tmp_path / "outbox")
    assert outbox.pending() == 7
    assert outbox.drain() == 7 and outbox.pending() == 0
    [call] = ledger.list_calls()
    assert call.sip_call_id == "killed" and call.status == "ended" and call.received_at == T0
    entry = ledger.get_entry(call.entry_id or 0)
    assert entry.draft_ready_at is not None and entry.urgent
    with Session(ledger.engine) as s:
        assert len(s.exec(select(Call)).all()) == 1 and len(s.exec(select(Entry)).all()) == 1
    outbox.close()

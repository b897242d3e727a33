"""A real SIPp call through kamailio while another connection holds the SQLite database locked:
the call is answered, recorded and hung up as usual; its ledger writes wait in the outbox and
land, once, when the lock is gone."""

from __future__ import annotations

import hashlib
import time
import wave
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from callcenter.ledger.models import Call, Entry
from tests.calls.callers import caller_scenario
from tests.calls.conftest import Pipeline
from tests.doubles import ScriptedFactoryDouble
from tests.faults.conftest import alarms, sqlite_locked

pytestmark = [pytest.mark.sip, pytest.mark.only_db("sqlite")]

TEXT = "我家厨房水管爆了，水一直往外冒"


def test_call_during_a_database_lock_is_answered_recorded_and_entered_once_after(
        pipeline_factory, speak, tmp_path: Path, db_url: str) -> None:
    p: Pipeline = pipeline_factory(recognizer=ScriptedFactoryDouble([TEXT]))
    p.ledger.call_write_timeout_s = 0.5
    p.ledger.upsert_resident("4-2-301", "王建国", ["13800138000"], key_customer=False)
    seen = alarms(p.ledger.bus)
    speech = speak(TEXT)
    scenario = caller_scenario(tmp_path / "locked.xml", [("speak", speech), ("pause", len(speech) // 16 + 1500)])
    recordings = tmp_path / "recordings"
    with sqlite_locked(db_url):
        started = time.monotonic()
        result = p.call(scenario)
        assert result.returncode == 0, result.explain()  # answered (200 OK), talked to, hung up
        # the call's chain finishes (recording closed, draft queued) while the lock is still held
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (
                p.handler.outbox.pending() < 7 or any(recordings.rglob("*.open"))):
            time.sleep(0.1)
        time.sleep(0.5)
        held_s = time.monotonic() - started
        assert p.ledger.list_calls() == [], "nothing can have been written through the lock"
        assert p.handler.outbox.database_down and p.handler.outbox.pending() >= 7
        [wav] = list(recordings.rglob("*.wav"))
        assert not any(recordings.rglob("*.open"))
    assert [a.data["state"] for a in seen] == ["unavailable"]

    calls = p.wait_drafted(1, timeout_s=20)
    assert p.handler.outbox.pending() == 0
    [call] = calls
    assert call.status == "ended" and call.end_reason == "caller_hangup"
    assert call.caller_number == "13800138000" and call.answered_at is not None
    assert call.received_at < call.answered_at < call.ended_at  # the times of the call, not of the replay
    assert Path(p.store.path_of(call.recording_key)) == wav
    assert hashlib.sha256(wav.read_bytes()).hexdigest() == call.recording_sha256
    with wave.open(str(wav)) as w:
        assert w.getnchannels() == 2 and w.getframerate() == 8000
        assert abs(w.getnframes() / 8 - call.recording_duration_ms) < 50
        assert wav.stat().st_size == 44 + w.getnframes() * 4
    assert call.transcript_status == "done" and call.transcript_text == TEXT
    entry = p.ledger.get_entry(call.entry_id or 0)
    assert entry.draft_ready_at is not None and entry.unit == "4-2-301" and entry.caller_name == "王建国"
    assert entry.category == "报修" and entry.urgent
    with Session(p.ledger.engine) as s:
        assert s.exec(select(func.count()).select_from(Call)).one() == 1
        assert s.exec(select(func.count()).select_from(Entry)).one() == 1
    assert [a.data["state"] for a in seen] == ["unavailable", "recovered"]
    print(f"lock held {held_s:.1f} s over the call; {p.handler.outbox.replayed} writes replayed")

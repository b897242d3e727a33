"""PostgreSQL goes down during calls (its own throw-away cluster, stopped and started again):
calls are answered, recorded and hung up as usual, their writes wait in the outbox, and the
entries appear, once each, when the server is back."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session, func, select

from callcenter.events import Event
from callcenter.ledger.models import Call, Entry
from callcenter.ledger.outbox import is_unavailable
from tests.calls.callers import caller_scenario
from tests.calls.conftest import Pipeline
from tests.dbs import PG_BIN_CANDIDATES, _as_postgres, postgres_cluster
from tests.doubles import ScriptedFactoryDouble
from tests.faults.conftest import alarms

pytestmark = [pytest.mark.sip, pytest.mark.only_db("postgresql")]

TEXTS = ["小区东门的路灯坏了好几天了", "我家卫生间下水道堵了"]


class PgServer:
    """Stop and start the PostgreSQL server behind `url` (one this test session started itself)."""

    def __init__(self, url: str) -> None:
        self.url = url
        eng = create_engine(url)
        with eng.connect() as conn:
            self.data = Path(conn.execute(text("SHOW data_directory")).scalar_one())
        eng.dispose()
        self.bin = PG_BIN_CANDIDATES[0]
        # the server's own command line, to start it again exactly as it was
        argv = shlex.split((self.data / "postmaster.opts").read_text())[1:]
        i = argv.index("-D")
        self.options = shlex.join(argv[:i] + argv[i + 2:])

    def stop(self) -> None:
        subprocess.run(_as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
                       check=True, capture_output=True)

    def start(self) -> None:
        subprocess.run(_as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                                     str(self.data.parent / "restart.log"), "-w", "-o", self.options, "start"]),
                       check=True, capture_output=True)


@pytest.fixture(scope="module")
def own_pg() -> Iterator[str]:
    """A cluster of this module's own: stopping it must not disturb the session's server."""
    saved = os.environ.pop("CALLCENTER_TEST_PG_URL", None)  # never stop a server we did not start
    try:
        with postgres_cluster() as url:
            yield url
    finally:
        if saved is not None:
            os.environ["CALLCENTER_TEST_PG_URL"] = saved


@pytest.fixture
def db_url(own_pg: str) -> str:
    """The pipeline's database is the module's own cluster (overrides the session-wide db_url)."""
    return own_pg


def test_postgres_down_mid_call_and_between_calls_then_back(pipeline_factory, speak, tmp_path: Path,
                                                            own_pg: str) -> None:
    server = PgServer(own_pg)
    p: Pipeline = pipeline_factory(recognizer=ScriptedFactoryDouble(TEXTS))
    p.ledger.upsert_resident("4-2-301", "王建国", ["13800138000"], key_customer=False)
    seen = alarms(p.ledger.bus)
    board: list[Event] = []  # what the live board hears of the calls
    p.ledger.bus.add_listener(lambda e: board.append(e) if e.type in ("call.provisional", "call.ringing") else None)
    recordings = tmp_path / "recordings"
    speech = [speak(t) for t in TEXTS]

    def scenario(n: int, number: str) -> Path:
        return caller_scenario(tmp_path / f"pg{n}.xml", [("pause", 1000), ("speak", speech[n]),
                                                         ("pause", len(speech[n]) // 16 + 2500)], caller=number)

    # call 1: the server goes away while the caller speaks (answered with the database up)
    first = p.start_call(scenario(0, "13800138000"), timeout_s=60)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(recordings.rglob("*.wav.open")):
        time.sleep(0.05)
    time.sleep(0.8)
    [answered] = p.ledger.list_calls()
    assert answered.status == "answered" and answered.entry_id is not None
    server.stop()
    stopped = time.monotonic()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, f"{out[-2000:]}\n{err[-2000:]}"
    # call 2: placed while the server is down from ringing to hang-up
    result = p.call(scenario(1, "13900139000"), timeout_s=60)
    assert result.returncode == 0, result.explain()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (any(recordings.rglob("*.open")) or p.handler.outbox.pending() < 10):
        time.sleep(0.1)
    pending = p.handler.outbox.pending()
    assert pending >= 10, pending  # call 1's end, transcript and draft; all of call 2
    assert p.handler.outbox.database_down
    with pytest.raises(Exception) as down:
        p.ledger.list_calls()
    assert is_unavailable(down.value)
    assert [a.data["state"] for a in seen] == ["unavailable"]
    down_s = time.monotonic() - stopped
    # the board heard both calls while the server was down (issue 16): call 2 from its first ring
    provisional = [(e.data["caller_number"], e.data["step"]) for e in board if e.type == "call.provisional"]
    assert provisional == [("13800138000", "ended"), ("13900139000", "ringing"), ("13900139000", "answered"),
                           ("13900139000", "ended")], provisional

    server.start()
    t0 = time.monotonic()
    calls = p.wait_drafted(2, timeout_s=30)
    drained_s = time.monotonic() - t0
    assert p.handler.outbox.pending() == 0 and p.handler.outbox.dead == 0
    by_number = {c.caller_number: c for c in calls}
    assert sorted(by_number) == ["13800138000", "13900139000"]
    for n, number in enumerate(["13800138000", "13900139000"]):
        call = by_number[number]
        assert call.status == "ended" and call.end_reason == "caller_hangup", (number, call.status)
        assert call.received_at < call.answered_at < call.ended_at  # the times of the call, not the replay
        assert call.transcript_status == "done" and call.transcript_text == TEXTS[n]
        wav = Path(p.store.path_of(call.recording_key))
        assert hashlib.sha256(wav.read_bytes()).hexdigest() == call.recording_sha256
        with wave.open(str(wav)) as w:
            assert w.getnchannels() == 2 and abs(w.getnframes() / 8 - call.recording_duration_ms) < 50
        assert p.ledger.get_entry(call.entry_id or 0).draft_ready_at is not None
    assert by_number["13800138000"].entry_id == answered.entry_id
    assert p.ledger.get_entry(answered.entry_id).unit == "4-2-301"
    with Session(p.ledger.engine) as s:
        assert s.exec(select(func.count()).select_from(Call)).one() == 2
        assert s.exec(select(func.count()).select_from(Entry)).one() == 2
    assert [a.data["state"] for a in seen] == ["unavailable", "recovered"]
    # the stored call.ringing of each call carries the key its provisional events had: one card each
    keys = {e.data["caller_number"]: e.data["call_key"] for e in board if e.type == "call.provisional"}
    stored = [e for e in board if e.type == "call.ringing"]
    assert sorted((e.data["caller_number"], e.data["call_key"]) for e in stored) == sorted(keys.items())
    assert {e.data["call_id"] for e in stored} == {c.id for c in calls}
    print(f"PostgreSQL down {down_s:.1f} s; {p.handler.outbox.replayed} writes replayed, "
          f"drafted {drained_s:.1f} s after the server was started again")

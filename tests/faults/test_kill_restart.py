"""kill -9 the running service mid-call, over and over (20 rounds in the full tier, one round per
kill point in the fast tier), restarting it each time; some
calls complete in between and their entries' clocks run in the database job store.

Afterwards: every recording is a playable WAV whose header agrees with its data, every SIPp call
has exactly one Call row and one entry (interrupted where it was cut), every recording belongs to
exactly one call, no scheduler job is left behind or duplicated, and no alert fired twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
import wave
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from callcenter.ledger import db
from callcenter.ledger.models import Call, ClockAlert, Entry, Notification
from tests.calls.callers import caller_scenario
from tests.faults.server import serve, stop, wait_ready, write_config
from tests.sipbench.sipp import start_sipp
from tests.tiers import pick

pytestmark = [pytest.mark.sip, pytest.mark.slow]

ROUNDS = pick(fast=4, full=20)  # tests/tiers.py; 4 = one round per kill point
KILL_POINTS = ("ringing", "answered", "speech", "hangup")
COMPLETE_EVERY = 4  # before every 4th kill round, one call runs to its end


def _wait(predicate, timeout_s: float, what: str, log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log.read_text()[-3000:]}")
        time.sleep(0.02)


def _call_row(engine, number: str) -> Call | None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.exec(select(Call).where(Call.caller_number == number)).first()


def test_kill_9_mid_call_over_and_over_and_restart(kamailio, prompt_settings, speak, tmp_path: Path,
                                                  db_url: str) -> None:
    rng = random.Random(6)
    config, web_port = write_config(
        tmp_path, kamailio_port=kamailio.port, username="killline", db_url=db_url, prompts=prompt_settings,
        # one short ring, so that "killed while ringing" is a real point of the call
        sip={"answer_after_rings": 1, "ring_period_s": 1.5},
        database={"outbox_drain_interval_s": 0.5},
        # clocks that run out within the test, at any hour: the register clock after 20 s,
        # escalation 20 s later
        workflow={"register_within_s": 20, "escalate_after_s": 20, "business_open": "00:00",
                  "business_close": "23:59"})
    log = tmp_path / "serve.log"
    recordings = tmp_path / "recordings"
    speech = speak("你好，我家楼道的灯坏了，麻烦派人修一下。")
    speech_ms = len(speech) // 16
    db.upgrade(db_url)
    engine = db.make_engine(db_url)
    placed: dict[str, str] = {}  # caller number -> how the call ended (a kill point, or "complete")
    ready_s: list[float] = []  # kill -> the restarted service is up (registered, recovered)
    answer_s: list[float] = []  # kill -> the next call is answered (recording opened)
    proc = serve(config, log)
    wait_ready(web_port, proc, log)
    killed_at: float | None = None

    def place(number: str, kind: str, workdir: str) -> subprocess.Popen[str]:
        hold_ms = speech_ms + (1500 if kind == "complete" else 8000)
        scenario = caller_scenario(tmp_path / f"{workdir}.xml", [("speak", speech), ("pause", hold_ms)],
                                   caller=number)
        placed[number] = kind
        return start_sipp(str(scenario), kamailio.port, tmp_path / "sipp" / workdir, service="killline",
                          timeout_s=60)

    def opened() -> int:
        return len(list(recordings.rglob("*.wav.open")))

    try:
        for n in range(ROUNDS):
            if n % COMPLETE_EVERY == 1:
                number = f"1370000{n:04d}"
                caller = place(number, "complete", f"ok{n}")
                out, err = caller.communicate(timeout=60)
                assert caller.returncode == 0, f"{out[-2000:]}\n{err[-2000:]}\n{log.read_text()[-3000:]}"
                _wait(lambda number=number: (c := _call_row(engine, number)) is not None and c.status == "ended",
                      20, f"call {number} logged as ended", log)
            point = KILL_POINTS[n % len(KILL_POINTS)]
            number = f"1390000{n:04d}"
            before = opened()
            caller = place(number, point, f"r{n}")
            try:
                if point == "ringing":
                    _wait(lambda number=number: _call_row(engine, number) is not None, 20,
                          f"call {number} ringing", log)
                    time.sleep(rng.uniform(0, 0.5))
                else:
                    _wait(lambda before=before: opened() > before, 20, f"call {number} answered", log)
                    if killed_at is not None:
                        answer_s.append(time.monotonic() - killed_at)
                    if point == "answered":
                        time.sleep(rng.uniform(0, 0.3))
                    elif point == "speech":
                        time.sleep(rng.uniform(1.0, 4.0))
                    else:  # the caller hangs up: kill while the agent closes, logs and drafts
                        caller.wait(timeout=60)
                        time.sleep(rng.uniform(0, 0.3))
                os.kill(proc.pid, signal.SIGKILL)
                killed_at = time.monotonic()
                proc.wait()
            finally:
                if caller.poll() is None:
                    caller.kill()
                caller.communicate()
            proc = serve(config, log)
            wait_ready(web_port, proc, log)
            ready_s.append(time.monotonic() - killed_at)
        # a last complete call: the service answers after all that, and its clocks run
        number = "13600000000"
        caller = place(number, "complete", "last")
        out, err = caller.communicate(timeout=60)
        assert caller.returncode == 0, f"{out[-2000:]}\n{err[-2000:]}"
        _wait(lambda: (c := _call_row(engine, number)) is not None and c.status == "ended"
              and c.entry_id is not None, 20, "the last call drafted", log)
        # let the clocks of the first complete calls run out (register 20 s, escalation 20 s later)
        with Session(engine) as s:
            first = s.exec(select(Call).where(Call.caller_number == "13700000001")).one()
        assert first.answered_at is not None
        ripe = first.answered_at + timedelta(seconds=45)
        while datetime.now(UTC) < ripe:
            time.sleep(0.5)
        time.sleep(3)  # the date jobs (and the start-up sweep) have fired
        with engine.connect() as conn:
            jobs = conn.execute(text("SELECT id, next_run_time FROM apscheduler_jobs")).all()
    finally:
        if proc.poll() is None:
            stop(proc)
    restarts = len(ready_s)
    print(f"\n{restarts} kill -9 + restarts: kill -> ready median {median(ready_s):.2f} s, "
          f"max {max(ready_s):.2f} s; kill -> next call answered median {median(answer_s):.2f} s "
          f"(includes the 1.5 s ring), max {max(answer_s):.2f} s")
    assert restarts == ROUNDS

    with Session(engine) as s:
        calls = s.exec(select(Call)).all()
        entries = {e.id: e for e in s.exec(select(Entry)).all()}
        alerts = s.exec(select(ClockAlert)).all()
        notices = s.exec(select(Notification)).all()

    # every SIPp call: exactly one Call row, one entry, nothing left mid-flight
    by_number = Counter(c.caller_number for c in calls)
    assert by_number == Counter(placed.keys()), (by_number, placed)
    for call in calls:
        kind = placed[call.caller_number]
        assert call.status in ("ended", "interrupted"), (call.caller_number, kind, call.status)
        assert call.entry_id in entries, (call.caller_number, kind)
        entry = entries[call.entry_id]
        if kind == "complete":
            assert call.status == "ended" and call.end_reason == "caller_hangup"
            assert entry.draft_ready_at is not None and not entry.interrupted
        elif call.status == "interrupted":
            assert entry.interrupted, (call.caller_number, kind)
        else:  # killed after the caller hung up and the end was logged: a whole call
            assert kind == "hangup" and call.end_reason == "caller_hangup", (call.caller_number, kind)
        if kind != "ringing":
            assert call.recording_key, (call.caller_number, kind, call.status)
    assert sum(1 for c in calls if c.status == "interrupted") >= ROUNDS * 3 // 4 - 1

    # every recording: a playable WAV whose header matches its data, linked to exactly one call
    assert not list(recordings.rglob("*.open")), "a recording journal was left behind"
    files = {str(p.relative_to(recordings)) for p in recordings.rglob("*.wav")}
    keys = Counter(c.recording_key for c in calls if c.recording_key)
    assert set(keys) == files and all(v == 1 for v in keys.values()), (keys, files)
    for call in calls:
        if not call.recording_key:
            continue
        path = recordings / call.recording_key
        with wave.open(str(path)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
            frames = w.getnframes()
            assert len(w.readframes(frames)) == frames * 4
        assert path.stat().st_size == 44 + frames * 4, call.recording_key
        assert abs(frames / 8 - call.recording_duration_ms) < 50, call.recording_key
        # a repaired recording belongs to a cut call (a finished one may too: killed before its end was logged)
        assert call.status == "interrupted" or not call.recording_interrupted, call.recording_key

    # the scheduler resumed: nothing overdue left in the job store, no job twice
    ids = [j for j, _ in jobs]
    assert len(ids) == len(set(ids))
    now_ts = datetime.now(UTC).timestamp()
    late = [(j, t) for j, t in jobs if t is not None and t < now_ts - 10]
    assert not late, late
    assert any(j.startswith("handover:") for j in ids), ids
    # clocks ran out and alerted once each; no notice went out twice
    assert alerts, "the register clocks of the finished calls should have run out"
    assert len({(a.subject, a.clock, a.level) for a in alerts}) == len(alerts)
    levels = Counter(a.level for a in alerts)
    assert levels["overdue"] >= 1 and levels["escalated"] >= 1, levels
    told = Counter((n.kind, n.entry_id, n.title) for n in notices if n.kind in ("overdue", "escalation"))
    assert told and all(v == 1 for v in told.values()), told
    assert len(told) <= len(alerts)  # a kill between an alert and its notice loses the notice, never doubles it

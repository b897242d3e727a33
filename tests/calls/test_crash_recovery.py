"""kill -9 the running service mid-call, start it again: the recording is repaired and playable,
the call and its entry are in the ledger marked interrupted. No call goes unlogged.

Two calls are up at the kill: a caller speaking to the agent, and a caller bridged to a clerk
(SIPp clerk phone registered at kamailio, reached by key 0). The bridged call's recording up to
the kill keeps both parties — the caller on the left, the clerk on the right — and the clerk's
leg is in the audit log. The kill waits for what the bridged call's file holds (both tones), not
for a time, so a starved CPU only makes it wait longer. One kill and one restart for both calls:
the service's start-up is most of this test's time."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session, select

from callcenter.clock import SystemClock
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.models import AuditLog, CallbackTask, Notification
from callcenter.ledger.service import LedgerService
from callcenter.recordings.recovery import SIDECAR_SUFFIX
from tests.calls.callers import caller_scenario
from tests.calls.test_person_sip import CALLER_HZ, CLERK_HZ, SCENARIOS, clerk_phone, loud
from tests.faults.server import serve, stop, wait_ready, write_config
from tests.sipbench import audio
from tests.sipbench.sipp import start_sipp

pytestmark = [pytest.mark.sip, pytest.mark.both_dbs]

BRIDGED_CALLER = "13800138000"  # person_zero_tone_wait_bye.xml's From


def tone_seconds(x: np.ndarray, hz: float) -> float:
    """How long (s) the 100 ms windows are a loud, (nearly) pure tone of `hz`."""
    n = len(x) // 800
    return sum(0.1 for i in range(n) if np.sqrt((x[i * 800:(i + 1) * 800] ** 2).mean()) > 300
               and audio.tone_fraction(x[i * 800:(i + 1) * 800], hz) > 0.8)


def bridged_with_both_parties(recordings: Path) -> bool:
    """An open recording (its header not final yet) holds the clerk's tone on the right, with the
    caller's tone on the left."""
    for journal in recordings.rglob(f"*{SIDECAR_SUFFIX}"):
        wav = Path(str(journal)[: -len(SIDECAR_SUFFIX)])
        data = wav.read_bytes()[44:] if wav.exists() else b""
        frames = np.frombuffer(data[: len(data) // 4 * 4], dtype="<i2").reshape(-1, 2).astype(float)
        if tone_seconds(frames[:, 1], CLERK_HZ) > 0.5 and tone_seconds(frames[:, 0], CALLER_HZ) > 0.5:
            return True
    return False


def test_kill_9_mid_call_and_mid_bridge_then_restart_recovers_everything(kamailio, prompt_settings, speak,
                                                                         tmp_path: Path, db_url: str) -> None:
    clerk, phone = clerk_phone(kamailio, tmp_path / "clerk", "uas_answer_bye.xml", CLERK_HZ, tone_s=3.0,
                               duration_ms=60000)
    config, web_port = write_config(tmp_path, kamailio_port=kamailio.port, username="crashline", db_url=db_url,
                                    prompts=prompt_settings, transfer={"extensions": [clerk], "ring_timeout_s": 20},
                                    workflow={"business_open": "00:00", "business_close": "23:59"})
    log = tmp_path / "serve.log"
    recordings = tmp_path / "recordings"
    proc = serve(config, log)
    callers: list[subprocess.Popen[str]] = []
    try:
        wait_ready(web_port, proc, log)
        speech = speak("我家客厅天花板在漏水，已经滴了一个小时了，麻烦快点派人来。") * 3
        callers.append(start_sipp(str(caller_scenario(tmp_path / "long.xml", [("speak", speech), ("pause", 60000)],
                                                      caller="13900139000")),
                                  kamailio.port, tmp_path / "sipp", service="crashline", timeout_s=120))
        # the other caller presses 0 a second in and says a long tone; the clerk answers with its own
        bridged = tmp_path / "bridged"
        bridged.mkdir()
        audio.write_rtp_pcap(bridged / "caller.pcap", audio.tone(CALLER_HZ, 30.0), codec="PCMA")
        callers.append(start_sipp(str(SCENARIOS / "person_zero_tone_wait_bye.xml"), kamailio.port, bridged,
                                  service="crashline", duration_ms=1000, timeout_s=120))
        deadline = time.monotonic() + 60
        while not bridged_with_both_parties(recordings):
            assert time.monotonic() < deadline, f"the bridge never carried both parties\n{log.read_text()[-3000:]}"
            time.sleep(0.3)
        killed_at = datetime.now(UTC)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        for caller in (*callers, phone):
            caller.kill()
            caller.communicate()
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # restart: recovery runs before the agent takes calls
    proc = serve(config, log)
    try:
        wait_ready(web_port, proc, log)
    finally:
        stop(proc)

    ledger = LedgerService(db.make_engine(db_url), SystemClock(), EventBus())
    calls = {c.caller_number: c for c in ledger.list_calls()}
    assert sorted(calls) == [BRIDGED_CALLER, "13900139000"]
    assert not list(recordings.rglob(f"*{SIDECAR_SUFFIX}")), "the journal was not cleared"
    recorded: dict[str, np.ndarray] = {}
    for number, call in calls.items():
        assert call.status == "interrupted" and call.recording_interrupted, number
        assert call.entry_id is not None and ledger.get_entry(call.entry_id).interrupted, number
        path = recordings / call.recording_key
        assert hashlib.sha256(path.read_bytes()).hexdigest() == call.recording_sha256
        with wave.open(str(path)) as w:
            assert w.getnchannels() == 2 and w.getframerate() == 8000
            recorded[number] = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2).astype(float)
        assert call.answered_at is not None and call.ended_at is not None
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                str(path)], capture_output=True, text=True, check=True)
        assert abs(float(probe.stdout) - len(recorded[number]) / 8000) < 0.1
    # the speaking caller's recording lasts about as long as its call did before the kill (~1 s lost at most)
    speaking = calls["13900139000"]
    assert speaking.answered_at is not None
    lasted_s = (killed_at - speaking.answered_at.replace(tzinfo=speaking.answered_at.tzinfo or UTC)).total_seconds()
    seconds = len(recorded["13900139000"]) / 8000
    assert lasted_s - 2.0 < seconds < lasted_s + 1.0, (seconds, lasted_s)
    # the bridged call: the caller left, the clerk right, each only on its side; the clerk's leg logged
    left, right = recorded[BRIDGED_CALLER][:, 0], recorded[BRIDGED_CALLER][:, 1]
    assert audio.tone_fraction(loud(left), CALLER_HZ) > 0.8
    assert tone_seconds(right, CLERK_HZ) > 0.5 and tone_seconds(left, CLERK_HZ) == 0
    assert tone_seconds(right, CALLER_HZ) == 0
    with Session(ledger.engine) as s:
        actions = [(a.action, a.new) for a in s.exec(select(AuditLog).where(
            AuditLog.call_id == calls[BRIDGED_CALLER].id).order_by(AuditLog.id)).all()]
    assert ("person_answered", f"caller|{clerk}") in actions, actions
    assert "interrupted" in [a for a, _ in actions], actions
    # each resident cut off by the kill is called back: one task each, on the missed-call clock
    with Session(ledger.engine) as s:
        for number, call in calls.items():
            tasks = s.exec(select(CallbackTask).where(CallbackTask.entry_id == call.entry_id)).all()
            assert [(t.kind, t.reason, t.status, t.number) for t in tasks] == [
                ("missed_call", "interrupted", "open", number)], number
            notices = s.exec(select(Notification).where(Notification.entry_id == call.entry_id,
                                                        Notification.kind == "missed_call")).all()
            assert [n.title for n in notices] == [f"通话中断（系统故障），请回拨：{number}"], number

"""kill -9 the running service mid-call, start it again: the recording is repaired and playable,
the call and its entry are in the ledger marked interrupted. No call goes unlogged."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
import wave
from pathlib import Path

import pytest

from callcenter.clock import SystemClock
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from tests.calls.callers import caller_scenario
from tests.faults.server import serve, stop, wait_ready, write_config
from tests.sipbench.sipp import start_sipp

pytestmark = [pytest.mark.sip, pytest.mark.both_dbs]


def test_kill_9_mid_call_then_restart_recovers_everything(kamailio, prompt_settings, speak,
                                                          tmp_path: Path, db_url: str) -> None:
    config, web_port = write_config(tmp_path, kamailio_port=kamailio.port, username="crashline", db_url=db_url,
                                    prompts=prompt_settings)
    log = tmp_path / "serve.log"
    proc = serve(config, log)
    caller = None
    try:
        wait_ready(web_port, proc, log)
        speech = speak("我家客厅天花板在漏水，已经滴了一个小时了，麻烦快点派人来。") * 3
        caller = start_sipp(str(caller_scenario(tmp_path / "long.xml", [("speak", speech),
                                                                        ("pause", 60000)])),
                            kamailio.port, tmp_path / "sipp", service="crashline", timeout_s=120)
        recordings = tmp_path / "recordings"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(recordings.rglob("*.wav.open")):
            time.sleep(0.1)
        assert any(recordings.rglob("*.wav.open")), log.read_text()[-3000:]
        time.sleep(4.0)  # a few seconds into the call
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if caller is not None:
            caller.kill()
            caller.wait()
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
    calls = ledger.list_calls()
    assert len(calls) == 1
    call = calls[0]
    assert call.status == "interrupted" and call.recording_interrupted
    assert call.entry_id is not None and ledger.get_entry(call.entry_id).interrupted
    assert not list((tmp_path / "recordings").rglob("*.open")), "the journal was not cleared"
    path = tmp_path / "recordings" / call.recording_key
    assert hashlib.sha256(path.read_bytes()).hexdigest() == call.recording_sha256
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2 and w.getframerate() == 8000
        seconds = w.getnframes() / 8000
    assert 2.5 < seconds < 8.0, seconds  # about the 4 s the call lasted, at most ~1 s lost
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                            str(path)], capture_output=True, text=True, check=True)
    assert abs(float(probe.stdout) - seconds) < 0.1

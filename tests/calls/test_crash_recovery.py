"""kill -9 the running service mid-call, start it again: the recording is repaired and playable,
the call and its entry are in the ledger marked interrupted. No call goes unlogged."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest
import yaml

from callcenter.clock import SystemClock
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from tests.calls.callers import caller_scenario
from tests.sipbench.sipp import start_sipp
from tests.sipbench.tools import LOOPBACK, free_udp_block, free_udp_port

pytestmark = pytest.mark.sip


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _serve(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "callcenter.cli", "serve", "-c", str(config)],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=config.parent)


def _wait_http(port: int, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"callcenter serve exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"callcenter serve did not come up:\n{log.read_text()[-3000:]}")


def test_kill_9_mid_call_then_restart_recovers_everything(kamailio, prompt_settings, speak,
                                                          tmp_path: Path) -> None:
    rtp = free_udp_block(40)
    web_port = _free_tcp_port()
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "sip": {"server": LOOPBACK, "port": kamailio.port, "username": "crashline", "bind_ip": LOOPBACK,
                "bind_port": free_udp_port(), "rtp_port_low": rtp, "rtp_port_high": rtp + 39,
                "answer_after_rings": 0},
        "database": {"url": f"sqlite:///{tmp_path}/data/cc.db"},
        "web": {"port": web_port, "secret_file": str(tmp_path / "data" / "secret.key")},
        "recording": {"root": str(tmp_path / "recordings")},
        "asr": {"model_dir": str(tmp_path / "no-model")},
        "prompts": {"dir": str(prompt_settings.dir), "estate_name": prompt_settings.estate_name,
                    "texts": dict(prompt_settings.texts)},
    }, allow_unicode=True))
    log = tmp_path / "serve.log"
    proc = _serve(config, log)
    caller = None
    try:
        _wait_http(web_port, proc, log)
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
    proc = _serve(config, log)
    try:
        _wait_http(web_port, proc, log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    url = f"sqlite:///{tmp_path}/data/cc.db"
    ledger = LedgerService(db.make_engine(url), SystemClock(), EventBus())
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

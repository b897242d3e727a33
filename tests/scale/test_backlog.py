"""One all-in-one process (SQLite, in-process transcription) with a single live recognizer: a second
call while the first holds it is still answered and recorded, its transcript waits for the worker
process, and the panel's status shows the backlog until it is worked off."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from callcenter.app import Application
from callcenter.config import Settings
from tests.calls.callers import caller_scenario
from tests.sipbench.sipp import start_sipp
from tests.sipbench.tools import LOOPBACK, free_udp_block, free_udp_port

pytestmark = [pytest.mark.sip, pytest.mark.slow]


def test_calls_over_the_live_limit_are_answered_recorded_and_queued(kamailio, prompt_settings, speak,  # type: ignore[no-untyped-def]
                                                                    ko_model_dir: Path, db_url: str, tmp_path: Path) -> None:
    rtp = free_udp_block(40)
    settings = Settings(
        sip={"server": LOOPBACK, "port": kamailio.port, "username": "backlog-line", "bind_ip": LOOPBACK,  # type: ignore[arg-type]
             "bind_port": free_udp_port(), "rtp_port_low": rtp, "rtp_port_high": rtp + 39,
             "answer_after_rings": 0},
        database={"url": db_url, "outbox_dir": str(tmp_path / "outbox")},  # type: ignore[arg-type]
        web={"secret_file": str(tmp_path / "secret.key")},  # type: ignore[arg-type]
        recording={"root": str(tmp_path / "recordings")},  # type: ignore[arg-type]
        asr={"model_dir": str(ko_model_dir), "max_live_streams": 1, "workers": 1, "backlog_warn": 0},  # type: ignore[arg-type]
        prompts={"dir": str(prompt_settings.dir), "estate_name": prompt_settings.estate_name,  # type: ignore[arg-type]
                 "texts": dict(prompt_settings.texts)},
    )
    app = Application(settings)
    app.start()
    callers = []
    try:
        app.accounts.add_user("clerk1", "clerk", "pw-long-enough-1", "客服一")
        token = app.accounts.create_token("clerk1")
        client = TestClient(app.web_app(), headers={"Authorization": f"Bearer {token}"})
        idle = client.get("/api/system/status").json()
        assert idle["backlog"] == 0 and idle["live_streams"] == 0 and idle["live_streams_max"] == 1
        assert idle["mode"] == "inprocess" and idle["queue"] is None and idle["warn"] is False

        speech = speak("电梯坏了，麻烦尽快来修。")
        for n in (1, 2):
            scenario = caller_scenario(tmp_path / f"c{n}.xml", [("speak", speech), ("pause", 8000)],
                                       caller=f"1380000000{n}")
            callers.append(start_sipp(str(scenario), kamailio.port, tmp_path / f"sipp{n}",
                                      service="backlog-line", timeout_s=90))
            time.sleep(1.0)  # the first call takes the only live recognizer

        # Both calls up: one transcribed live, the other answered, recorded, transcript queued.
        deadline = time.monotonic() + 30
        busy = None
        while time.monotonic() < deadline:
            calls = app.ledger.list_calls()
            # answered, then its transcript's path written just after: read the status once both are
            if len(calls) == 2 and all(c.status == "answered" and c.transcript_status in ("live", "queued")
                                       for c in calls):
                busy = client.get("/api/system/status").json()
                break
            time.sleep(0.2)
        assert busy is not None, [(c.status, c.transcript_status) for c in app.ledger.list_calls()]
        assert busy["live_streams"] == 1 and busy["live_streams_max"] == 1
        assert busy["transcripts"]["live"] == 1 and busy["transcripts"]["queued"] == 1
        assert busy["backlog"] == 1 and busy["warn"] is True  # backlog_warn 0: amber

        for c in callers:
            c.communicate(timeout=90)
            assert c.returncode == 0
        deadline = time.monotonic() + 300  # a worker process starts and loads the model first
        while time.monotonic() < deadline:
            calls = app.ledger.list_calls()
            if all(c.transcript_status == "done" for c in calls):
                break
            time.sleep(0.5)
        assert [c.transcript_status for c in calls] == ["done", "done"]
        assert all(c.recording_key and c.recording_sha256 and c.status == "ended" for c in calls)
        done = client.get("/api/system/status").json()
        assert done["backlog"] == 0 and done["files_pending"] == 0 and done["live_streams"] == 0
        assert done["warn"] is False
    finally:
        for c in callers:
            if c.poll() is None:
                c.kill()
        app.stop()

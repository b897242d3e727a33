"""「接听」 from the web process, as real processes: `callcenter serve --role web` and `--role agent` on
one PostgreSQL database, kamailio between them and the phones. A SIPp caller is on the agent's
line; the clerk presses 「接听」 in the panel (HTTP to the web process, which has no desk); the
command reaches the agent through the database; the agent rings the clerk's phone (a SIPp called
party registered at kamailio), bridges the caller to it, and the panel hears of it over its
websocket (call.person relayed from the agent). The recording keeps both sides: the clerk's tone
on the right, the caller's echo of it on the left. Once the call is over, 「接听」 gets 409; on a
live call whose agent was just killed (SIGKILL), 409 too, not 503.

The branches (listen, a dead agent's call, malformed commands, missed commands) are in
test_commands.py at full speed."""

from __future__ import annotations

import os
import signal
import time
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest

from callcenter.accounts import Accounts
from callcenter.clock import SystemClock
from callcenter.ledger import db
from tests.calls.callers import caller_scenario
from tests.calls.test_person_sip import CLERK_HZ, clerk_phone, loud
from tests.scale.procs import Serve, agent_config, free_tcp_port, site_config
from tests.scale.test_processes import EventLog
from tests.sipbench import audio
from tests.sipbench.sipp import finish, start_sipp
from tests.sipbench.tools import LOOPBACK

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.only_db("postgresql")]

LINE = "line-east"


def test_take_from_the_web_process_bridges_the_caller_to_the_clerk_at_the_owning_agent(  # type: ignore[no-untyped-def]
        pg_clean: str, kamailio, prompt_settings, ko_model_dir: Path, tmp_path: Path) -> None:
    web_port = free_tcp_port()
    base = site_config(tmp_path, pg_clean, prompt_settings, ko_model_dir, web_port=web_port, mode="inprocess",
                       max_live_streams=0)
    base["vad"] = {"no_input_timeout_s": 60}  # the caller says nothing: the clerk's button decides
    procs: list[Serve] = []
    events: EventLog | None = None
    sipps = []
    try:
        web = Serve.start("web", base, tmp_path / "web", "web")
        procs.append(web)
        agent_cfg = agent_config(base, tmp_path, kamailio.port, LINE)
        agent_cfg["sip"]["agent_lease_s"] = 10  # within a lease of the server's start, the lock is not judged
        agent = Serve.start("agent", agent_cfg, tmp_path / LINE, LINE)
        procs.append(agent)
        web.wait_http(web_port)
        agent.wait_log("listening for panel commands")

        engine = db.make_engine(pg_clean)
        accounts = Accounts(engine, SystemClock())
        accounts.add_user("clerk1", "clerk", "pw-long-enough-1", "小王")
        token = accounts.create_token("clerk1")
        engine.dispose()
        events = EventLog(f"ws://{LOOPBACK}:{web_port}/api/events?token={token}")
        http = httpx.Client(base_url=f"http://{LOOPBACK}:{web_port}", headers={"Authorization": f"Bearer {token}"})

        # the clerk's desk phone: answers, says a 3 s tone, hangs up
        number, phone = clerk_phone(kamailio, tmp_path / "clerk", "uas_answer_bye.xml", CLERK_HZ, tone_s=3.0,
                                    duration_ms=5000)
        sipps.append(phone)
        assert http.put("/api/staff/me", json={"extension": number, "presence": "on_duty"}).status_code == 200
        # the caller says back what it hears, and waits for the agent's BYE
        scenario = caller_scenario(tmp_path / "caller.xml", [], caller="13900000001", hang_up="agent")
        caller = start_sipp(str(scenario), kamailio.port, tmp_path / "caller", service=LINE, timeout_s=90,
                            extra=("-rtp_echo",))
        sipps.append(caller)

        deadline = time.monotonic() + 30
        live: list[dict[str, object]] = []
        while time.monotonic() < deadline and not live:
            live = [c for c in http.get("/api/calls", params={"limit": 5}).json() if c["status"] == "answered"]
            time.sleep(0.2)
        assert live, "\n".join(p.tail() for p in procs)
        call_id = live[0]["id"]
        live = []
        time.sleep(1.0)  # the greeting has begun: the conversation is listening

        r = http.post(f"/api/calls/{call_id}/take", json={})
        assert r.status_code == 202, r.text
        assert r.json() == {"call_id": call_id, "extension": number, "status": "ringing"}

        rc, out = finish(phone, 60)
        assert rc == 0, out  # rung by the agent, answered, said its tone, hung up
        rc, out = finish(caller, 60)
        assert rc == 0, out  # the agent hung up on the caller once the clerk had
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            call = http.get(f"/api/calls/{call_id}").json()
            if call["status"] == "ended" and call["recording_url"]:
                break
            time.sleep(0.2)
        assert call["status"] == "ended" and call["recording_url"], (call, "\n".join(p.tail() for p in procs))

        # the panel heard it from the agent, as in one process
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(e["data"]["step"] == "ended" for e in events.of("call.person")):
            time.sleep(0.1)
        steps = [(e["data"]["step"], e["data"]["number"], e["data"]["username"]) for e in events.of("call.person")
                 if e["data"]["call_id"] == call_id]
        assert steps[0] == ("answered", number, "clerk1"), steps
        assert steps[-1][0] == "ended", steps

        # the recording keeps both: the clerk on the right, the caller's echo of the clerk on the left
        # (as the web process serves it to QA)
        wav = tmp_path / "call.wav"
        wav.write_bytes(http.get(str(call["recording_url"])).raise_for_status().content)
        with wave.open(str(wav)) as w:
            frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2).astype(float)
        left, right = frames[:, 0], frames[:, 1]
        tail = slice(-8000 * 6, None)
        assert audio.tone_fraction(loud(right[tail]), CLERK_HZ) > 0.5
        assert audio.tone_fraction(loud(left[tail]), CLERK_HZ) > 0.5

        # the call is over: 「接听」 is refused at once
        r = http.post(f"/api/calls/{call_id}/take", json={})
        assert r.status_code == 409 and "通话不在进行中" in r.json()["detail"]

        # a second call, then the agent is killed: its lock goes with it, so 「接听」 gets 409 at once
        # (not 503, and not "ringing" for a phone nobody will ring), before the sweep recovers the call
        scenario = caller_scenario(tmp_path / "caller2.xml", [("pause", 30000)], caller="13900000002")
        second = start_sipp(str(scenario), kamailio.port, tmp_path / "caller2", service=LINE, timeout_s=60)
        sipps.append(second)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not live:
            live = [c for c in http.get("/api/calls", params={"limit": 5}).json()
                    if c["status"] == "answered" and c["id"] != call_id]
            time.sleep(0.2)
        assert live, agent.tail()
        os.kill(agent.pid, signal.SIGKILL)
        assert agent.proc is not None
        agent.proc.wait(10)
        r = http.post(f"/api/calls/{live[0]['id']}/take", json={})
        assert r.status_code == 409 and "坐席进程已停止" in r.json()["detail"], r.text
        http.close()
    finally:
        for p in sipps:
            if p.poll() is None:
                p.kill()
                p.communicate()
        if events is not None:
            events.close()
        for proc in reversed(procs):
            proc.stop()

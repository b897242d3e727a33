"""Durable events across a web process restart, as real processes on PostgreSQL: a panel's
websocket sees a call answered; the web process is killed; the call ends and is drafted while no
web process listens (the agent stores those events in the event log); the web process starts again
and the panel, resuming from the last sequence number it saw, gets the end and the draft — once
each, so the board shows no phantom live call and misses no draft."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from callcenter.accounts import Accounts
from callcenter.clock import SystemClock
from callcenter.ledger import db
from tests.calls.callers import caller_scenario
from tests.scale.procs import Serve, agent_config, free_tcp_port, site_config
from tests.sipbench.sipp import start_sipp
from tests.sipbench.tools import LOOPBACK

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.only_db("postgresql")]


class Panel:
    """What web/static/core/events.js does with the stream: remembers the last sequence number,
    resumes after it, and drops numbered events it has already seen."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.events: list[dict[str, Any]] = []
        self.last = 0
        self.seen: set[int] = set()
        self.replayed = 0
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._thread: threading.Thread | None = None

    def connect(self) -> None:
        url = self.base + (f"&since={self.last}" if self.last else "")
        self._open.clear()
        self._thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self._thread.start()
        assert self._open.wait(15), "the panel's websocket did not open"

    def _run(self, url: str) -> None:
        try:
            with connect(url, open_timeout=10) as ws:
                self._open.set()
                for message in ws:
                    self._take(json.loads(message))
        except Exception:  # the web process went away
            return

    def _take(self, ev: dict[str, Any]) -> None:
        with self._lock:
            if ev["type"] == "stream.position":
                self.last = self.last or ev["data"]["seq"]
                return
            seq = ev.get("seq")
            if isinstance(seq, int):
                if seq in self.seen:
                    self.replayed += 1
                    return
                self.seen.add(seq)
                self.last = max(self.last, seq)
            self.events.append(ev)

    def of(self, type_: str, call_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["type"] == type_ and e["data"].get("call_id") == call_id]

    def wait(self, type_: str, call_id: int, timeout_s: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.of(type_, call_id):
            time.sleep(0.1)
        return self.of(type_, call_id)


def test_the_panel_catches_up_after_the_web_process_restarts(pg_clean: str, kamailio, prompt_settings, speak,  # type: ignore[no-untyped-def]
                                                             ko_model_dir: Path, tmp_path: Path) -> None:
    web_port = free_tcp_port()
    base = site_config(tmp_path, pg_clean, prompt_settings, ko_model_dir, web_port=web_port, mode="inprocess",
                       max_live_streams=0)
    procs: list[Serve] = []
    caller = None
    try:
        web = Serve.start("web", base, tmp_path / "web", "web")
        procs.append(web)
        web.wait_http(web_port)
        agent = Serve.start("agent", agent_config(base, tmp_path, kamailio.port, "line-east"), tmp_path / "agent",
                            "agent")
        procs.append(agent)
        agent.wait_log("callcenter agent started")
        engine = db.make_engine(pg_clean)
        accounts = Accounts(engine, SystemClock())
        accounts.add_user("clerk1", "clerk", "pw-long-enough-1", "小王")
        token = accounts.create_token("clerk1")
        engine.dispose()
        panel = Panel(f"ws://{LOOPBACK}:{web_port}/api/events?token={token}")
        panel.connect()

        speech = speak("小区东门的路灯坏了好几天了")
        scenario = caller_scenario(tmp_path / "call.xml", [("speak", speech), ("pause", len(speech) // 16 + 6000)],
                                   caller="13900001111")
        caller = start_sipp(str(scenario), kamailio.port, tmp_path / "sipp", service="line-east", timeout_s=90)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not [e for e in panel.events if e["type"] == "call.answered"]:
            time.sleep(0.1)
        [answered] = [e for e in panel.events if e["type"] == "call.answered"]
        call_id = answered["data"]["call_id"]
        assert isinstance(answered.get("seq"), int)

        web.proc.kill()  # type: ignore[union-attr]  # no clean stop: the websocket simply dies
        web.proc.wait()  # type: ignore[union-attr]
        out, err = caller.communicate(timeout=90)
        assert caller.returncode == 0, f"SIPp failed: {out[-1500:]} {err[-1500:]}"
        time.sleep(3)  # the end and the draft are stored while no web process listens
        assert not panel.of("call.ended", call_id)

        restarted = time.monotonic()
        web2 = Serve.start("web", base, tmp_path / "web2", "web2")
        procs.append(web2)
        web2.wait_http(web_port)
        listening_s = time.monotonic() - restarted
        reconnected = time.monotonic()
        panel.connect()
        ended = panel.wait("call.ended", call_id)
        caught_up_s = time.monotonic() - reconnected
        drafts = panel.wait("entry.draft_ready", call_id)
        time.sleep(1.0)
        print(f"web process listening {listening_s:.1f} s after its start; the panel had the missed end "
              f"{caught_up_s:.2f} s after reconnecting ({panel.replayed} repeated events dropped)")
        assert len(panel.of("call.ended", call_id)) == 1 and ended[0]["data"]["reason"] == "caller_hangup"
        assert len(drafts) >= 1 and drafts[0]["data"]["entry_id"] == answered["data"]["entry_id"]
        assert len(panel.of("call.answered", call_id)) == 1 and len(panel.of("call.ringing", call_id)) == 1
        seqs = [e["seq"] for e in panel.events if "seq" in e]
        assert len(seqs) == len(set(seqs))
    finally:
        if caller is not None and caller.poll() is None:
            caller.kill()
        for p in reversed(procs):
            p.stop()

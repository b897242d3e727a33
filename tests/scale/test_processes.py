"""One site as separate processes on one PostgreSQL database: two SIP agents (two lines), one web
process, one transcription worker. Calls to both lines reach the panel live (websocket, relayed over
LISTEN/NOTIFY) and over HTTP; the worker transcribes and drafts them from the job queue; the web
process's workflow gets every agent event once (a clock per entry); nothing is duplicated."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from websockets.sync.client import connect

from callcenter.accounts import Accounts
from callcenter.clock import SystemClock
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from tests.calls.callers import caller_scenario
from tests.scale.procs import Serve, agent_config, free_tcp_port, site_config
from tests.sipbench.sipp import start_sipp
from tests.sipbench.tools import LOOPBACK

pytestmark = [pytest.mark.sip, pytest.mark.slow]

LINES = ("line-east", "line-west")
CALLS_PER_LINE = 2


class EventLog:
    """Collects the panel's websocket events on a thread."""

    def __init__(self, url: str) -> None:
        self.events: list[dict[str, Any]] = []
        self._url = url
        self._ws: Any = None
        self._open = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._open.wait(10), "the panel's websocket did not open"

    def _run(self) -> None:
        try:
            with connect(self._url, open_timeout=10) as ws:
                self._ws = ws
                self._open.set()
                for message in ws:
                    self.events.append(json.loads(message))
        except Exception:  # closed at the end of the test
            return

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e["type"] == type_]

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()


def test_two_agents_web_and_worker_share_one_site(pg_clean: str, kamailio, prompt_settings, speak,  # type: ignore[no-untyped-def]
                                                  ko_model_dir: Path, tmp_path: Path) -> None:
    web_port = free_tcp_port()
    # live recognizers off: every transcript goes through the queue to the worker
    base = site_config(tmp_path, pg_clean, prompt_settings, ko_model_dir, web_port=web_port,
                       mode="queue", max_live_streams=0, workers=2)
    procs: list[Serve] = []
    events: EventLog | None = None
    callers = []
    try:
        web = Serve.start("web", base, tmp_path / "web", "web")
        procs.append(web)
        web.wait_http(web_port)
        worker = Serve.start("worker", base, tmp_path / "worker", "worker")
        procs.append(worker)
        agents = [Serve.start("agent", agent_config(base, tmp_path, kamailio.port, line), tmp_path / line, line)
                  for line in LINES]
        procs += agents
        worker.wait_log("transcription worker started")
        for agent in agents:
            agent.wait_log("callcenter agent started")

        engine = db.make_engine(pg_clean)
        accounts = Accounts(engine, SystemClock())
        accounts.add_user("boss", "supervisor", "pw-long-enough-1", "主管")
        token = accounts.create_token("boss")
        events = EventLog(f"ws://{LOOPBACK}:{web_port}/api/events?token={token}")
        time.sleep(0.5)  # the websocket subscribes on accept

        speech = speak("我家厨房的水管漏水了，请派师傅来修一下。")
        n = 0
        for line in LINES:
            for _ in range(CALLS_PER_LINE):
                n += 1
                scenario = caller_scenario(tmp_path / f"call{n}.xml", [("speak", speech), ("pause", 5000)],
                                           caller=f"1390000{n:04d}")
                callers.append(start_sipp(str(scenario), kamailio.port, tmp_path / f"sipp{n}", service=line,
                                          timeout_s=90))
        for c in callers:
            out, err = c.communicate(timeout=120)
            assert c.returncode == 0, f"SIPp failed: {out[-2000:]} {err[-2000:]}"

        ledger = LedgerService(engine, SystemClock(), EventBus())
        total = len(LINES) * CALLS_PER_LINE
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            calls = ledger.list_calls(limit=50)
            if len(calls) == total and all(c.transcript_status == "done" for c in calls):
                break
            time.sleep(0.5)
        calls = ledger.list_calls(limit=50)
        logs = "\n".join(p.tail(1500) for p in procs)
        assert len(calls) == total, logs
        assert all(c.transcript_status == "done" and c.transcript_engine for c in calls), \
            ([(c.id, c.transcript_status) for c in calls], logs)
        assert Counter(c.called_number for c in calls) == dict.fromkeys(LINES, CALLS_PER_LINE)
        entries = {c.entry_id for c in calls}
        assert len(entries) == total and None not in entries  # one entry per call, none merged or doubled
        for c in calls:
            entry = ledger.get_entry(c.entry_id)  # type: ignore[arg-type]
            assert entry.draft_ready_at is not None and entry.draft, c.id

        # The panel over HTTP: every call, with its entry.
        with httpx.Client(base_url=f"http://{LOOPBACK}:{web_port}",
                          headers={"Authorization": f"Bearer {token}"}) as http:
            listed = http.get("/api/calls", params={"limit": 50}).json()
            assert sorted(c["id"] for c in listed) == sorted(c.id for c in calls)
            deadline = time.monotonic() + 30  # a no-op re-deferred job may still be on its way
            while (status := http.get("/api/system/status").json())["queue"] != \
                    {"todo": 0, "doing": 0, "failed": 0} and time.monotonic() < deadline:
                time.sleep(0.5)
        assert status["mode"] == "queue" and status["role"] == "web"
        assert status["backlog"] == 0 and status["failed"] == 0, status
        assert status["queue"] == {"todo": 0, "doing": 0, "failed": 0}, status
        assert sorted(a["line"] for a in status["agents"]) == sorted(LINES), status

        # The panel live: each call's answer and end exactly once, drafts from the agent (at
        # hang-up) and from the worker (with the transcript).
        time.sleep(1.0)
        ids = {c.id for c in calls}
        for kind in ("call.ringing", "call.answered", "call.ended"):
            seen = Counter(e["data"]["call_id"] for e in events.of(kind))
            assert seen == dict.fromkeys(ids, 1), (kind, seen)
        drafts = Counter(e["data"]["call_id"] for e in events.of("entry.draft_ready"))
        assert drafts == dict.fromkeys(ids, 2), drafts

        # The web process's workflow heard the agents' events: each entry has its register clock
        # (its overdue level, or on a slow run already its escalation, which follows overdue firing).
        with engine.connect() as conn:
            jobs = set(conn.execute(text("SELECT id FROM apscheduler_jobs")).scalars())
        for entry_id in entries:
            levels = {f"entry:{entry_id}:register:{level}" for level in ("overdue", "escalated")}
            assert levels & jobs, (entry_id, sorted(jobs))
        engine.dispose()
    finally:
        if events is not None:
            events.close()
        for c in callers:
            if c.poll() is None:
                c.kill()
        for p in reversed(procs):
            p.stop()
    for p in procs:
        assert "Traceback" not in p.log.read_text(errors="replace"), p.tail()

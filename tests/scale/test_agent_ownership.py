"""Agents own their calls, as real processes on a PostgreSQL server of this module's own (stopped
and started again): one web process and two agents on two lines through kamailio.

- The database restarts while the east agent carries a call, then the west agent is restarted: the
  east call is left alone (it ends normally, its entry is not marked interrupted).
- The east agent is killed (SIGKILL) mid-call while the west agent carries a call too: the web
  process recovers the east call within a minute of the death (recording repaired and linked, call
  and entry interrupted, transcript queued), and the west call is left alone.
- A second agent started with an identity a live agent holds is refused with a clear message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from callcenter.clock import SystemClock
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.models import Call
from callcenter.ledger.service import LedgerService
from tests.calls.callers import caller_scenario
from tests.faults.test_db_down import PgServer, own_pg  # noqa: F401  (the module's own server)
from tests.scale.procs import Serve, agent_config, free_tcp_port, site_config
from tests.sipbench.sipp import start_sipp
from tests.sipbench.tools import free_udp_port
from tests.tiers import pick

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.only_db("postgresql")]

EAST, WEST = "line-east", "line-west"
IDS = {EAST: "urn:uuid:0e0e0e0e-0000-4000-8000-00000000ea57", WEST: "urn:uuid:0e0e0e0e-0000-4000-8000-0000000e5757"}
# The lease the agents renew (a third of it between heartbeats); recovery must follow a death
# within a minute with the default (30 s): the full tier runs the default, the fast tier a shorter one.
LEASE_S = pick(12, 30)


@pytest.fixture
def site_db(own_pg: str) -> Iterator[str]:  # noqa: F811
    eng = create_engine(own_pg)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    eng.dispose()
    yield own_pg


class Site:
    """One web process and an agent per line, on one database and one recordings directory."""

    def __init__(self, url: str, kamailio: Any, prompts: Any, model_dir: Path, root: Path,
                 lease_s: int = LEASE_S) -> None:
        self.url, self.root, self.kamailio, self.lease_s = url, root, kamailio, lease_s
        self.web_port = free_tcp_port()
        self.base = site_config(root, url, prompts, model_dir, web_port=self.web_port, mode="inprocess",
                                max_live_streams=0)
        # a caller who says nothing keeps the call up: the test decides when it ends
        self.base["vad"] = {"no_input_timeout_s": 90}
        self.procs: dict[str, Serve] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.ledger = LedgerService(db.make_engine(url), SystemClock(), EventBus())

    def start_web(self) -> None:
        web = Serve.start("web", self.base, self.root / "web", "web")
        self.procs["web"] = web
        web.wait_http(self.web_port)

    def agent_cfg(self, line: str) -> dict[str, Any]:
        if line not in self.configs:
            cfg = agent_config(self.base, self.root, self.kamailio.port, line)
            # a caller who sends no audio keeps the call up (no RTP time-out): the test decides when it ends
            cfg["sip"].update(instance_id=IDS[line], agent_lease_s=self.lease_s, rtp_timeout_s=600)
            self.configs[line] = cfg
        return self.configs[line]

    def start_agent(self, line: str, name: str | None = None) -> Serve:
        [agent] = self.start_agents((line,), name)
        return agent

    def start_agents(self, lines: tuple[str, ...], name: str | None = None) -> list[Serve]:
        """Start the agents together (they load in parallel), then wait for each."""
        agents = []
        for line in lines:
            agent = Serve.start("agent", self.agent_cfg(line), self.root / line, name or line)
            self.procs[name or line] = agent
            agents.append(agent)
        for agent in agents:
            agent.wait_log("callcenter agent started")
        return agents

    def call(self, line: str, n: int, seconds: int) -> subprocess.Popen[str]:
        scenario = caller_scenario(self.root / f"call{n}.xml", [("pause", seconds * 1000)], caller=f"1390000{n:04d}")
        return start_sipp(str(scenario), self.kamailio.port, self.root / f"sipp{n}", service=line,
                          timeout_s=seconds + 60)

    def wait_call(self, called: str, status: str, timeout_s: float = 30,
                  transcript: tuple[str, ...] = ()) -> Call:
        """The latest call on `called` once it has `status` (and, if given, a transcript status in
        `transcript`: recovery commits the call first and queues its transcript just after)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            calls = [c for c in self.ledger.list_calls(limit=50) if c.called_number == called]
            if calls and calls[0].status == status and (not transcript or calls[0].transcript_status in transcript):
                return calls[0]
            time.sleep(0.2)
        raise AssertionError(f"no {status} call on {called}: {[(c.called_number, c.status) for c in self.ledger.list_calls()]}"
                             f"\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{p.tail(2500)}" for name, p in self.procs.items())

    def stop(self) -> None:
        for p in reversed(list(self.procs.values())):
            p.stop()
        self.ledger.engine.dispose()


@pytest.fixture
def site(site_db: str, kamailio, prompt_settings, ko_model_dir: Path, tmp_path: Path) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    s = Site(site_db, kamailio, prompt_settings, ko_model_dir, tmp_path)
    try:
        yield s
    finally:
        s.stop()


def _finish(proc: subprocess.Popen[str], timeout_s: float = 120) -> None:
    out, err = proc.communicate(timeout=timeout_s)
    assert proc.returncode == 0, f"SIPp failed: {out[-1500:]} {err[-1500:]}"


def test_a_database_restart_then_an_agent_restart_leaves_the_other_agents_call_alone(site: Site, own_pg: str) -> None:  # noqa: F811
    server = PgServer(own_pg)
    site.start_web()
    site.start_agents((EAST, WEST))
    # Long enough to outlast a database restart, an agent restart and a whole lease on a starved
    # machine (load 40 took more than 45 s + a lease): the checks need the call still up.
    east_call = site.call(EAST, 1, 90 + LEASE_S)
    try:
        live = site.wait_call(EAST, "answered")
        server.stop()
        time.sleep(2)
        server.start()
        # the west agent restarts after the database came back (what an operator's deploy does)
        assert site.procs[WEST].stop() == 0
        site.start_agent(WEST, "west-again")
        assert east_call.poll() is None, "the east call must still be up while the west agent starts"
        still = site.ledger.call_by_key(live.sip_call_id)
        assert still.status == "answered", still.status
        # and the web process's sweep, once the server has been up for a whole lease, leaves it alone too
        time.sleep(LEASE_S + 12)
        assert site.ledger.call_by_key(live.sip_call_id).status == "answered"
        _finish(east_call)
    finally:
        if east_call.poll() is None:
            east_call.kill()
    ended = site.wait_call(EAST, "ended", 30)
    assert ended.sip_call_id == live.sip_call_id and ended.end_reason == "caller_hangup"
    assert ended.agent_id == IDS[EAST] and ended.recording_key and not ended.recording_interrupted
    assert not site.ledger.get_entry(ended.entry_id or 0).interrupted
    with site.ledger.engine.connect() as conn:
        leases = dict(conn.execute(text("SELECT agent_id, released FROM agent_lease")).all())
    assert leases == {IDS[EAST]: False, IDS[WEST]: False}  # both live, neither recovered
    for p in site.procs.values():
        text_ = p.log.read_text(errors="replace")
        at = text_.find("Traceback")
        assert at < 0, f"{p.role}: {text_[max(0, at - 800):at + 3000]}"


def test_a_killed_agents_calls_are_recovered_within_a_minute_while_the_other_runs(site: Site) -> None:
    site.start_web()
    east, _ = site.start_agents((EAST, WEST))
    east_call, west_call = site.call(EAST, 1, 90), site.call(WEST, 2, 20 + 2 * LEASE_S)
    try:
        site.wait_call(EAST, "answered")
        site.wait_call(WEST, "answered")
        time.sleep(2)  # some audio in the recording
        os.kill(east.pid, signal.SIGKILL)
        killed = time.monotonic()
        site.wait_call(EAST, "interrupted", 60)
        took = time.monotonic() - killed
        recovered = site.wait_call(EAST, "interrupted", 30, transcript=("queued", "done"))
        west_live = site.ledger.list_calls(limit=50)
        _finish(west_call, 180)
    finally:
        for proc in (east_call, west_call):
            if proc.poll() is None:
                proc.kill()
    print(f"dead agent's call recovered {took:.1f} s after SIGKILL (lease {LEASE_S} s)")
    assert took < 60
    assert recovered.agent_id == IDS[EAST]
    assert recovered.recording_key and recovered.recording_interrupted and recovered.recording_duration_ms
    wav = Path(site.base["recording"]["root"]) / recovered.recording_key
    assert wav.is_file() and not Path(f"{wav}.open").exists()
    assert site.ledger.get_entry(recovered.entry_id or 0).interrupted
    assert recovered.transcript_status in ("queued", "done"), recovered.transcript_status
    # the west call was never touched: live while the east one was recovered, then ended normally
    assert [c.status for c in west_live if c.called_number == WEST] == ["answered"]
    west = site.wait_call(WEST, "ended", 30)
    assert west.end_reason == "caller_hangup" and not site.ledger.get_entry(west.entry_id or 0).interrupted
    # the sweep that recovered it finished its work: the dead run's lease is released (read from
    # the database: the web log's line may trail the call's own row)
    deadline = time.monotonic() + 30
    while True:
        with site.ledger.engine.connect() as conn:
            released = conn.execute(text("SELECT released FROM agent_lease WHERE agent_id = :a"),
                                    {"a": IDS[EAST]}).scalar()
        if released or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert released, "the dead agent's lease was never released: the sweep did not finish"
    # the east agent comes back under its identity: nothing left to recover, its call stays as it was
    site.start_agent(EAST, "east-again")
    assert site.ledger.call_by_key(recovered.sip_call_id).status == "interrupted"
    web_log = site.procs["web"].log.read_text(errors="replace")
    assert "Traceback" not in web_log, web_log[web_log.find("Traceback") - 800:][:4000]


def test_an_agent_with_the_identity_of_a_live_agent_is_refused(site: Site) -> None:
    site.start_agent(EAST)
    twin_cfg = {k: dict(v) for k, v in site.agent_cfg(EAST).items()}
    twin_cfg["sip"]["bind_port"] = free_udp_port()
    twin_cfg["database"]["outbox_dir"] = str(site.root / "outbox-twin")
    twin = Serve.start("agent", twin_cfg, site.root / "twin", "twin")
    site.procs["twin"] = twin
    assert twin.proc is not None
    assert twin.proc.wait(60) != 0
    assert f"sip.instance_id {IDS[EAST]} is in use by another running agent" in twin.tail()

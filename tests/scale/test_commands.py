"""「接听」 and 监听 from a web process that holds no desk, to the agent that owns the call, over a real
PostgreSQL (scale/commands.py), in one test process: the web side is the real app with the
command sender and no desk; the agent side is a real StaffDesk (phones are doubles: the wire is
tests/scale/test_remote_take.py's), its command listener and a real agent lease; events go back
through the real relay. Covered: take and listen reach the owning agent's desk; a command for a
call that ended comes back as a relayed call.person 'refused'; a killed agent's call and a call of
no agent get 409, not 503; malformed payloads and rows are dropped and the listener goes on;
commands sent while the agent was not listening are run (or, too old, refused) once it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from callcenter.accounts import Accounts
from callcenter.calls.desk import StaffDesk
from callcenter.calls.understanding import Understanding
from callcenter.clock import SystemClock
from callcenter.drafting.rules import DraftingRules
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.scale.channel import libpq_url
from callcenter.scale.commands import CommandListener, CommandSender, DeskCommands, channel_of, prune
from callcenter.scale.presence import AgentLease
from callcenter.scale.relay import EventForwarder, EventListener
from callcenter.staffing.lines import StaffLines
from callcenter.staffing.settings import TransferSettings
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from callcenter.workflow.settings import WorkflowSettings
from tests.dbs import PgDatabases
from tests.doubles import DialerDouble, PhoneDouble
from tests.scale.test_relay import Collect as RelayCollect
from tests.scale.test_relay import _wait

pytestmark = pytest.mark.only_db("postgresql")

AGENT = "urn:uuid:7a7a7a7a-0000-4000-8000-00000000c0de"
OTHER = "urn:uuid:7a7a7a7a-0000-4000-8000-0000000d0de5"


class Collect(RelayCollect):
    """The relay test's event collector, plus the call.person events' data."""

    def person(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e.data) for e in self.events if e.type == "call.person"]


@pytest.fixture
def site_url(pg_databases: PgDatabases) -> Iterator[str]:
    with pg_databases.database(pg_databases.migrated_template(db.upgrade)) as url:
        yield url


class Site:
    """The web process's app (no desk, the command sender) and one agent (desk, lease, listener),
    relaying events agent -> web as the processes do."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        self.url = url
        self.engine = db.make_engine(url)
        clock = SystemClock()
        self.web_bus, self.agent_bus = EventBus(), EventBus()
        self.web_ledger = LedgerService(self.engine, clock, self.web_bus)
        self.agent_ledger = LedgerService(self.engine, clock, self.agent_bus)
        self.accounts = Accounts(self.engine, clock)
        self.app = create_app(WebServices(
            ledger=self.web_ledger, accounts=self.accounts, bus=self.web_bus,
            recordings=WavRecordingStore(RecordingSettings(root=tmp_path / "rec")),
            settings=WebSettings(secret_file=tmp_path / "secret.key"), staff=StaffLines(self.engine, clock),
            takeover=None, commands=CommandSender(url)))
        self.accounts.add_user("clerk1", "clerk", "clerk-password")
        self.accounts.add_user("boss", "supervisor", "boss-password")
        self.accounts.add_user("qa1", "qa", "qa-password")
        self.dialer = DialerDouble({"8200": PhoneDouble(answer_after_s=0.05, hangup_after_s=0.3)})
        self.desk = StaffDesk(Understanding(DraftingRules.load()), TransferSettings(), WorkflowSettings(),
                              StaffLines(self.engine, clock), agent=self.dialer)  # type: ignore[arg-type]
        self.lease = AgentLease(url, AGENT, node="test", line="line-east", lease_s=30, wait_s=0)
        self.listener = CommandListener(url, AGENT, DeskCommands(self.desk, self.agent_ledger, AGENT))
        self.forwarder = EventForwarder(url, self.agent_bus, origin="agent-1")
        self.relay = EventListener(url, self.web_bus, origin="web-1")
        self.panel = Collect(self.web_bus)
        self.lease.acquire()
        self.relay.start()
        self.forwarder.start()
        self.listener.start()
        assert self.relay.listening.wait(10) and self.listener.listening.wait(10)

    def client(self, user: str) -> TestClient:
        return TestClient(self.app, headers={"Authorization": f"Bearer {self.accounts.create_token(user)}"})

    def live_call(self, key: str, agent_id: str | None = AGENT, on_desk: bool = True) -> int:
        pk = self.agent_ledger.call_ringing(key, "13800138000", "", "line-east", datetime.now(UTC), agent_id=agent_id)
        self.agent_ledger.call_answered(key)
        if on_desk:  # the call's conversation on this agent (its session and writes are the ledger's)
            live = SimpleNamespace(info=SimpleNamespace(call_id=key), end_reason=lambda: "")
            session = SimpleNamespace(add_tap=lambda tap: None, remove_tap=lambda tap: None)
            writes = SimpleNamespace(person=self.agent_ledger.call_person)
            self.desk.open(writes, live, session, None, live=True, known_unit=None,  # type: ignore[arg-type]
                           entry_id=None)
        return pk

    def outcome(self, command_id: int) -> str:
        with psycopg.connect(libpq_url(self.url), autocommit=True) as conn:
            row = conn.execute("SELECT outcome FROM agent_command WHERE id = %s", (command_id,)).fetchone()
        return str(row[0]) if row else ""

    def notify(self, payload: str) -> None:
        with psycopg.connect(libpq_url(self.url), autocommit=True) as conn:
            conn.execute("SELECT pg_notify(%s, %s)", (channel_of(AGENT), payload))

    def stop(self) -> None:
        self.listener.stop()
        self.forwarder.stop()
        self.relay.stop()
        self.lease.release()
        self.engine.dispose()


@pytest.fixture
def site(site_url: str, tmp_path: Path) -> Iterator[Site]:
    s = Site(site_url, tmp_path)
    try:
        yield s
    finally:
        s.stop()


def _last_command(site: Site) -> int:
    with psycopg.connect(libpq_url(site.url), autocommit=True) as conn:
        row = conn.execute("SELECT max(id) FROM agent_command").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def test_take_from_the_web_reaches_the_owning_agents_desk(site: Site) -> None:
    pk = site.live_call("sip-remote-1")
    clerk = site.client("clerk1")
    assert clerk.put("/api/staff/me", json={"extension": "8101"}).status_code == 200
    r = clerk.post(f"/api/calls/{pk}/take", json={})
    assert r.status_code == 202, r.text
    assert r.json() == {"call_id": pk, "extension": "8101", "status": "ringing"}
    assert _wait(lambda: site.desk.takeover_for("sip-remote-1", pop=False) == "8101")
    assert _wait(lambda: site.outcome(_last_command(site)) == "run")
    # permissions stay in the web process: nothing is sent for a QA user
    before = _last_command(site)
    assert site.client("qa1").post(f"/api/calls/{pk}/take", json={}).status_code == 403
    assert _last_command(site) == before


def test_listen_from_the_web_rings_the_supervisors_phone_at_the_owning_agent(site: Site) -> None:
    pk = site.live_call("sip-remote-2")
    assert site.client("clerk1").post(f"/api/calls/{pk}/listen", json={"extension": "8200"}).status_code == 403
    r = site.client("boss").post(f"/api/calls/{pk}/listen", json={"extension": "8200"})
    assert r.status_code == 202, r.text
    assert _wait(lambda: [n for n, _ in site.dialer.dialled] == ["8200"])
    # the desk's 'listening' comes back to the web process's bus through the relay
    assert _wait(lambda: any(p["step"] == "listening" and p["number"] == "8200" for p in site.panel.person()))


def test_a_take_for_a_call_that_just_ended_comes_back_as_refused_never_silence(site: Site) -> None:
    # the ledger still says answered (the web's check passes), but the agent's call is over
    pk = site.live_call("sip-remote-3", on_desk=False)
    r = site.client("clerk1").post(f"/api/calls/{pk}/take", json={"extension": "8101"})
    assert r.status_code == 202, r.text
    assert _wait(lambda: any(p["step"] == "refused" for p in site.panel.person())), site.panel.person()
    [refused] = [p for p in site.panel.person() if p["step"] == "refused"]
    assert refused == {**refused, "call_id": pk, "reason": "takeover", "number": "8101", "username": "clerk1"}
    assert site.outcome(_last_command(site)) == "refused"
    labels = {t["code"]: t["label"] for t in site.client("clerk1").get("/api/meta").json()["vocab"]["person_steps"]}
    assert "通话已结束" in labels["refused"]  # what the board shows for it


def test_a_killed_agents_call_gets_409_not_503(site: Site, site_url: str) -> None:
    # another agent that died: its lease is still fresh, but its connection (and lock) went with it.
    # Within a lease of the server's start both signs are believed absent for a restart: wait past it.
    lease_s = 8
    with psycopg.connect(libpq_url(site_url), autocommit=True) as conn:
        row = conn.execute("SELECT extract(epoch FROM now() - pg_postmaster_start_time())").fetchone()
    assert row is not None
    time.sleep(max(0.0, lease_s + 0.5 - float(row[0])))
    dead = AgentLease(site_url, OTHER, node="test", line="line-west", lease_s=lease_s, wait_s=0)
    dead.acquire()
    pk = site.live_call("sip-remote-4", agent_id=OTHER, on_desk=False)
    assert dead._conn is not None
    dead._conn.close()  # what SIGKILL does to the agent's session
    clerk = site.client("clerk1")
    before = _last_command(site)
    r = clerk.post(f"/api/calls/{pk}/take", json={"extension": "8101"})
    assert r.status_code == 409 and "坐席进程已停止" in r.json()["detail"], r.text
    r = site.client("boss").post(f"/api/calls/{pk}/listen", json={"extension": "8200"})
    assert r.status_code == 409 and "监听" in r.json()["detail"], r.text
    assert _last_command(site) == before  # nothing sent to a dead agent
    # a call of no agent at all (an all-in-one run before): nobody can act on it
    orphan = site.live_call("sip-remote-5", agent_id=None, on_desk=False)
    r = clerk.post(f"/api/calls/{orphan}/take", json={"extension": "8101"})
    assert r.status_code == 409 and "坐席进程" in r.json()["detail"]
    # the live agent's lease released cleanly: its calls too get 409
    live = site.live_call("sip-remote-6")
    site.lease.release()
    r = clerk.post(f"/api/calls/{live}/take", json={"extension": "8101"})
    assert r.status_code == 409, r.text


def test_malformed_commands_are_dropped_and_the_listener_goes_on(site: Site) -> None:
    pk = site.live_call("sip-remote-7")
    bad_payloads = ["not json", "{}", '{"id": "1"}', '{"id": true}', '{"id": 1.5}', "[1]", '{"id": 99999999}',
                    "x" * 7000]
    for payload in bad_payloads:
        site.notify(payload)
    # rows a buggy or hostile writer put there: a bad extension, an unknown kind, a call that does not exist
    with psycopg.connect(libpq_url(site.url), autocommit=True) as conn:
        for kind, key, ext in (("take", "sip-remote-7", "81 01'; DROP TABLE call; --"),
                               ("hangup", "sip-remote-7", "8101"), ("take", "no-such-call", "8101")):
            row = conn.execute("INSERT INTO agent_command (agent_id, kind, sip_call_id, extension, asked_by, "
                               "created_at, outcome) VALUES (%s, %s, %s, %s, 'x', now(), '') RETURNING id",
                               (AGENT, kind, key, ext)).fetchone()
            assert row is not None
            conn.execute("SELECT pg_notify(%s, %s)", (channel_of(AGENT), f'{{"id": {row[0]}}}'))
    assert _wait(lambda: site.listener.dropped == len(bad_payloads) + 3), site.listener.dropped
    assert site.desk.takeover_for("sip-remote-7", pop=False) is None
    assert site.listener.listening.is_set()
    # then a good command is still run
    r = site.client("clerk1").post(f"/api/calls/{pk}/take", json={"extension": "8101"})
    assert r.status_code == 202
    assert _wait(lambda: site.desk.takeover_for("sip-remote-7", pop=False) == "8101")
    with psycopg.connect(libpq_url(site.url), autocommit=True) as conn:
        outcomes = [o for (o,) in conn.execute("SELECT outcome FROM agent_command ORDER BY id").fetchall()]
    assert outcomes == ["invalid", "invalid", "invalid", "run"]


def test_commands_sent_while_the_agent_was_not_listening_are_run_once_it_is_back(site: Site) -> None:
    pk = site.live_call("sip-remote-8")
    stale_pk = site.live_call("sip-remote-9")
    site.listener.stop()  # its listening connection is away; the lease still says alive
    r = site.client("clerk1").post(f"/api/calls/{pk}/take", json={"extension": "8101"})
    assert r.status_code == 202
    r = site.client("clerk1").post(f"/api/calls/{stale_pk}/take", json={"extension": "8102"})
    assert r.status_code == 202
    with psycopg.connect(libpq_url(site.url), autocommit=True) as conn:  # this one waited too long
        conn.execute("UPDATE agent_command SET created_at = now() - interval '5 minutes' WHERE sip_call_id = %s",
                     ("sip-remote-9",))
    assert site.desk.takeover_for("sip-remote-8", pop=False) is None
    back = CommandListener(site.url, AGENT, DeskCommands(site.desk, site.agent_ledger, AGENT))
    site.listener = back
    back.start()
    assert _wait(lambda: site.desk.takeover_for("sip-remote-8", pop=False) == "8101")
    assert _wait(lambda: any(p["step"] == "refused" and p["number"] == "8102" for p in site.panel.person()))
    assert site.desk.takeover_for("sip-remote-9", pop=False) is None  # the clerk has moved on: not rung
    assert sorted(o for _, o in back.outcomes) == ["expired", "run"]


def test_old_commands_are_pruned_recent_ones_kept(site: Site) -> None:
    pk = site.live_call("sip-remote-10")
    assert site.client("clerk1").post(f"/api/calls/{pk}/take", json={"extension": "8101"}).status_code == 202
    assert site.client("clerk1").post(f"/api/calls/{pk}/take", json={"extension": "8102"}).status_code == 202
    with psycopg.connect(libpq_url(site.url), autocommit=True) as conn:
        conn.execute("UPDATE agent_command SET created_at = now() - interval '4 days' WHERE extension = '8101'")
    assert prune(site.engine, datetime.now(UTC)) == 1
    with psycopg.connect(libpq_url(site.url), autocommit=True) as conn:
        assert [e for (e,) in conn.execute("SELECT extension FROM agent_command").fetchall()] == ["8102"]

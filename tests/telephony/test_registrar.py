"""The registrar's rules and failures, with kamailio: the granted expires, 423 Min-Expires, a
registrar restart, SIGTERM -> unREGISTER, a lost BYE retransmitted, and SIP over TCP.

Each test failed on the agent before the transaction layer and registration.py: the refresh was
fixed at 115 s (a 60 s grant left the binding dead half the time), 423 was retried with 120 s
forever, a restarted registrar answered every call 404 until the next refresh, SIGTERM skipped
the unREGISTER, our BYE went out once, and TCP was not listened on."""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.calls.callers import caller_scenario
from tests.seed_models import seed_models_into
from tests.sipbench import audio
from tests.sipbench.doubles import ScriptedHandler
from tests.sipbench.kamailio import Kamailio
from tests.sipbench.plugin import AgentFactory
from tests.sipbench.sipp import run_sipp
from tests.sipbench.tools import free_udp_block, free_udp_port
from tests.tiers import pick

pytestmark = pytest.mark.sip


def contacts(kam: Kamailio, user: str) -> list[str]:
    """The contacts kamailio holds for `user` (ul.dump), with their expires."""
    dump = kam.location()
    match = re.search(rf"AoR: {re.escape(user)}\s*\n(.*?)(?=AoR: |\Z)", dump, re.S)
    return re.findall(r"Address: (\S+)", match.group(1)) if match else []


def agent_on(kam: Kamailio, agent_factory: AgentFactory, handler: ScriptedHandler, **overrides):  # type: ignore[no-untyped-def]
    """agent_factory registers at the session's kamailio; point it at `kam` instead."""
    return agent_factory(handler, port=kam.port, **overrides)


def call_once(kam: Kamailio, username: str, workdir: Path) -> int:
    result = run_sipp("call_pcap_bye.xml", kam.port, workdir, service=username, duration_ms=200, timeout_s=6)
    return result.returncode


def test_the_registrars_grant_is_followed(agent_factory: AgentFactory, tmp_path: Path) -> None:
    grant = pick(6, 60)  # the registrar grants this however long we ask
    with Kamailio(tmp_path / "kam", max_expires=grant) as kam:
        agent, settings = agent_on(kam, agent_factory, ScriptedHandler(), register_expires_s=300, keepalive_s=0)
        state = agent.registration_state()
        assert state["state"] == "registered" and state["expires_s"] == grant, state
        # Over two grants the binding never lapses: we refresh at half of what was granted.
        missing = 0
        deadline = time.monotonic() + 2.2 * grant
        while time.monotonic() < deadline:
            if not contacts(kam, settings.username):
                missing += 1
            time.sleep(grant / 6)
        assert missing == 0, f"the binding lapsed {missing} times:\n{kam.location()}"
        assert call_once(kam, settings.username, tmp_path / "call") == 0


def test_423_min_expires_is_honoured(agent_factory: AgentFactory, tmp_path: Path,
                                     caplog: pytest.LogCaptureFixture) -> None:
    with Kamailio(tmp_path / "kam", min_expires=300, max_expires=3600) as kam:
        agent, settings = agent_on(kam, agent_factory, ScriptedHandler(), register_expires_s=60)
        state = agent.registration_state()
        assert state["state"] == "registered" and state["expires_s"] >= 300, state
        assert "423 Interval Too Brief, Min-Expires 300" in caplog.text  # status code and reason logged
        assert contacts(kam, settings.username)


@pytest.mark.slow
def test_registrar_restart_is_noticed_and_calls_are_answered_again(agent_factory: AgentFactory,
                                                                   tmp_path: Path) -> None:
    handler = ScriptedHandler()
    port = free_udp_port()
    kam = Kamailio(tmp_path / "kam", port=port).start()
    try:
        agent, settings = agent_on(kam, agent_factory, handler, register_expires_s=600, keepalive_s=2.0)
        assert call_once(kam, settings.username, tmp_path / "before") == 0
        # Our keep-alives come back to us through this registrar: its 404 will mean "binding lost".
        deadline = time.monotonic() + 5
        while agent._registration.looped_back == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert agent._registration.looped_back > 0
        kam.kill()  # a crash: its in-memory location table is gone
        time.sleep(1.0)
        kam = Kamailio(tmp_path / "kam", port=port).start()
        restarted = time.monotonic()
        answered_after = None
        attempt = 0
        while time.monotonic() - restarted < 15:
            attempt += 1
            if call_once(kam, settings.username, tmp_path / f"after{attempt}") == 0:
                answered_after = time.monotonic() - restarted
                break
            time.sleep(0.2)
        assert answered_after is not None and answered_after < 10, (answered_after, kam.log_tail())
        print(f"registrar restart -> calls answered again after {answered_after:.2f} s ({attempt} attempts)")
        assert agent.registration_state()["state"] == "registered"
    finally:
        kam.stop()


def test_our_bye_is_retransmitted_when_the_first_is_lost(agent_factory: AgentFactory, tmp_path: Path) -> None:
    handler = ScriptedHandler(hangup_after_s=1.0)
    with Kamailio(tmp_path / "kam", drop_first_bye=True) as kam:
        agent, settings = agent_on(kam, agent_factory, handler)
        scenario = caller_scenario(tmp_path / "await_bye.xml", [("speak", audio.tone(500, 1.0))], hang_up="agent")
        started = time.monotonic()
        result = run_sipp(str(scenario), kam.port, tmp_path / "sipp", service=settings.username, timeout_s=20)
        assert result.returncode == 0, result.explain()  # the caller got a BYE after all
        (record,) = handler.wait_calls_done(1)
        took = time.monotonic() - started
        assert "dropped the first BYE" in kam.log_tail(20000)
        assert record.end_reason == "agent_hangup"
        # Timer E: the second BYE goes out T1 (0.5 s) after the first, so the caller is released
        # within seconds, not never.
        assert took < 8, took
        assert agent.transactions.stats["client_retransmissions"] >= 1


def test_invite_over_tcp_through_kamailio(agent_factory: AgentFactory, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="callcenter.telephony")
    handler = ScriptedHandler(greeting=audio.tone(440, 1.0))
    with Kamailio(tmp_path / "kam", tcp=True) as kam:
        agent, settings = agent_on(kam, agent_factory, handler, transport="tcp")
        assert agent.registered
        assert any("transport=tcp" in c for c in contacts(kam, settings.username)), kam.location()
        result = run_sipp("call_pcap_bye.xml", kam.port, tmp_path / "sipp", service=settings.username,
                          duration_ms=2000, extra=("-t", "t1"))
        assert result.returncode == 0, result.explain()
        (record,) = handler.wait_calls_done(1)
        assert record.end_reason == "caller_hangup" and record.play_result is True
        assert len(record.caller_pcm) > 16000  # the caller's audio arrived
        assert re.search(r"INVITE from 13800138000 \(\S+ via tcp\)", caplog.text), caplog.text[-2000:]


def test_direct_invite_over_tcp(agent_factory: AgentFactory, tmp_path: Path) -> None:
    handler = ScriptedHandler()
    _, settings = agent_factory(handler, mode="direct")
    result = run_sipp("call_pcap_bye.xml", settings.bind_port, tmp_path / "sipp", service="hotline",
                      duration_ms=1000, extra=("-t", "t1"))
    assert result.returncode == 0, result.explain()  # 100/180/200 and the BYE's 200 came back on the connection
    (record,) = handler.wait_calls_done(1)
    assert record.end_reason == "caller_hangup"


def test_registration_state_is_reported(agent_factory: AgentFactory, tmp_path: Path) -> None:
    states: list[dict] = []
    port = free_udp_port()
    kam = Kamailio(tmp_path / "kam", port=port).start()
    try:
        agent, _ = agent_on(kam, agent_factory, ScriptedHandler(), keepalive_s=0.5)
        agent.add_registration_listener(states.append)
        assert agent.registration_state()["state"] == "registered"
        kam.kill()
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and agent.registration_state()["state"] == "registered":
            time.sleep(0.1)
        assert agent.registration_state()["state"] in ("unregistered", "registering"), agent.registration_state()
        kam = Kamailio(tmp_path / "kam", port=port).start()
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and agent.registration_state()["state"] != "registered":
            time.sleep(0.1)
        assert [s["state"] for s in states][-1] == "registered", states
        assert "unregistered" in [s["state"] for s in states]
    finally:
        kam.stop()


@pytest.mark.parametrize("role", ["all", pytest.param("agent", marks=pytest.mark.only_db("postgresql"))])
def test_sigterm_unregisters(kamailio: Kamailio, tmp_path: Path, db_url: str, prompt_settings, role: str) -> None:
    from tests.faults.server import stop, wait_ready, write_config

    username = f"sigterm-{role}-{free_udp_block(2)}"
    config, web_port = write_config(tmp_path, kamailio_port=kamailio.port, username=username, db_url=db_url,
                                    prompts=prompt_settings)
    log = tmp_path / "serve.log"
    seed_models_into(config.parent)
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "callcenter.cli", "serve", "-c", str(config), "--role", role],
                                stdout=out, stderr=subprocess.STDOUT, cwd=config.parent)
    try:
        if role == "all":
            wait_ready(web_port, proc, log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not contacts(kamailio, username):
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        assert contacts(kamailio, username), log.read_text()[-3000:]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert contacts(kamailio, username) == [], (kamailio.location(), log.read_text()[-3000:])
        assert "unREGISTER" in log.read_text()
    finally:
        stop(proc)


def test_a_registrar_answering_keepalives_404_itself_costs_one_extra_register(agent_factory: AgentFactory) -> None:
    """A PBX that answers OPTIONS for its users itself, 404 for a number outside its dial plan:
    its 404 does not mean 'binding lost'. One REGISTER to check, then the keep-alives go on
    without re-registering every few seconds."""
    import socket
    import threading

    from callcenter.telephony import sipmsg

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    seen: list[str] = []
    stop = threading.Event()

    def registrar() -> None:
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(65535)
            except TimeoutError:
                continue
            msg = sipmsg.parse(data)
            seen.append(msg.method)
            status = 200 if msg.method == "REGISTER" else 404
            extra = ["Expires: 300"] if status == 200 else []
            sock.sendto(sipmsg.build_response(msg, status, to_tag="pbx", extra=extra), addr)

    thread = threading.Thread(target=registrar, daemon=True)
    thread.start()
    try:
        agent, _ = agent_factory(ScriptedHandler(), port=sock.getsockname()[1], keepalive_s=0.5)
        time.sleep(4.0)
        assert agent.registration_state()["state"] == "registered"
        assert seen.count("OPTIONS") >= 5, seen
        assert seen.count("REGISTER") == 2, seen  # the first, and one check after the first 404
    finally:
        stop.set()
        thread.join(2)
        sock.close()

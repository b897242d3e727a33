"""Outbound calls (dial) through kamailio to real SIPp called parties: answer, busy, no answer
(CANCEL), BYE from either side, a digest-challenging registrar, an unknown number."""

from __future__ import annotations

import itertools
import subprocess
import time
from pathlib import Path

import pytest

from callcenter.telephony.interface import DialError
from tests.sipbench import audio
from tests.sipbench.doubles import CallRecord, ScriptedHandler
from tests.sipbench.kamailio import Kamailio
from tests.sipbench.plugin import AgentFactory
from tests.sipbench.sipp import finish, sipp_port, start_sipp, start_uas

pytestmark = pytest.mark.sip

_numbers = itertools.count(1)


def new_number() -> str:
    return f"1391000{next(_numbers):04d}"


def called_party(
    scenario: str, proxy_port: int, workdir: Path, tone_hz: float = 700, **kwargs: object
) -> tuple[subprocess.Popen[str], str]:
    """A SIPp called party registered at the proxy under a fresh number, saying a PCMU tone."""
    workdir.mkdir(parents=True, exist_ok=True)
    audio.write_rtp_pcap(workdir / "uas.pcap", audio.tone(tone_hz, 2.0), codec="PCMU")
    number = new_number()
    proc, _ = start_uas(scenario, proxy_port, workdir, number, extra=("-trace_msg",), **kwargs)
    return proc, number


def wait_until(predicate, timeout_s: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def messages(workdir: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted(workdir.glob("*_messages.log")))


def test_dial_answered_audio_flows_and_our_bye_ends_it(
    agent_factory: AgentFactory, kamailio: Kamailio, bench_dir: Path
) -> None:
    agent, settings = agent_factory(ScriptedHandler())
    uas, number = called_party("uas_answer_wait_bye.xml", kamailio.port, bench_dir / "uas")
    try:
        record_sink = CallRecord(info=None, on_call_at_s=0.0)  # type: ignore[arg-type]
        call = agent.dial(number, record_sink, timeout_s=10)
        assert call.info.direction == "outbound"
        assert call.info.called_number == number
        assert call.info.codec == "PCMU"
        assert call.is_active()
        assert wait_until(lambda: len(record_sink.caller_pcm) >= 2 * 8000 * 1.5)
        heard = audio.pcm(record_sink.caller_pcm)
        assert audio.tone_fraction(heard, 700) > 0.9  # the called party's tone, decoded
        assert call.play(audio.tone(1000, 0.5)) is True
        call.hangup()
    finally:
        rc, out = finish(uas)
    assert rc == 0, out  # SIPp got its ACK and our BYE (the scenario fails otherwise)
    assert call.end_reason() == "agent_hangup"
    assert wait_until(lambda: agent.rtp_ports_in_use == 0)
    text = messages(bench_dir / "uas")
    assert "ACK sip:" in text and "BYE sip:" in text


def test_busy_is_reported_and_acked(agent_factory: AgentFactory, kamailio: Kamailio, bench_dir: Path) -> None:
    agent, _ = agent_factory(ScriptedHandler())
    uas, number = called_party("uas_busy.xml", kamailio.port, bench_dir / "uas")
    try:
        with pytest.raises(DialError) as failure:
            agent.dial(number, timeout_s=10)
    finally:
        rc, out = finish(uas)
    assert failure.value.reason == "busy"
    assert failure.value.status == 486
    assert rc == 0, out  # the 486 was ACKed (RFC 3261 17.1.1.3) through the proxy
    assert agent.rtp_ports_in_use == 0 and agent.active_calls() == 0


def test_no_answer_sends_cancel(agent_factory: AgentFactory, kamailio: Kamailio, bench_dir: Path) -> None:
    agent, _ = agent_factory(ScriptedHandler())
    uas, number = called_party("uas_ring_cancel.xml", kamailio.port, bench_dir / "uas")
    started = time.monotonic()
    try:
        with pytest.raises(DialError) as failure:
            agent.dial(number, timeout_s=2.0)
    finally:
        rc, out = finish(uas)
    assert failure.value.reason == "no_answer"
    assert failure.value.status == 487
    assert time.monotonic() - started >= 2.0
    assert rc == 0, out  # SIPp saw CANCEL, answered 200 + 487, and got the ACK of its 487
    assert "CANCEL sip:" in messages(bench_dir / "uas")


def test_remote_bye_ends_the_call(agent_factory: AgentFactory, kamailio: Kamailio, bench_dir: Path) -> None:
    agent, _ = agent_factory(ScriptedHandler())
    uas, number = called_party("uas_answer_bye.xml", kamailio.port, bench_dir / "uas", duration_ms=1000)
    try:
        call = agent.dial(number, timeout_s=10)
        assert wait_until(lambda: not call.is_active(), 15)
    finally:
        rc, out = finish(uas)
    assert rc == 0, out  # SIPp's BYE was answered 200 by us
    assert call.end_reason() == "caller_hangup"
    assert agent.active_calls() == 0


def test_unknown_number_is_unreachable(agent_factory: AgentFactory) -> None:
    agent, _ = agent_factory(ScriptedHandler())
    with pytest.raises(DialError) as failure:
        agent.dial("19999999999", timeout_s=5)
    assert failure.value.reason == "unreachable"
    assert failure.value.status == 404  # kamailio: no such registered user
    assert agent.rtp_ports_in_use == 0


def test_dial_through_a_digest_challenging_registrar(
    agent_factory: AgentFactory, bench_dir: Path
) -> None:
    with Kamailio(bench_dir / "kamailio", register_password="s3cret") as proxy:
        agent, settings = agent_factory(ScriptedHandler(), port=proxy.port, password="s3cret")
        assert agent.registered  # the REGISTER passed the digest challenge
        uas, number = called_party(
            "uas_answer_bye.xml", proxy.port, bench_dir / "uas", duration_ms=1500, password="s3cret"
        )
        try:
            call = agent.dial(number, timeout_s=10)
            assert call.info.direction == "outbound"
            assert wait_until(lambda: not call.is_active(), 15)
        finally:
            rc, out = finish(uas)
        assert rc == 0, out
        assert call.end_reason() == "caller_hangup"


def test_direct_mode_dials_the_outbound_proxy_and_answers_a_digest_challenge(
    agent_factory: AgentFactory, bench_dir: Path
) -> None:
    """No registrar: the INVITE goes to sip.outbound_proxy, which demands digest auth (401)."""
    workdir = bench_dir / "uas"
    workdir.mkdir()
    uas = start_sipp("uas_auth_challenge.xml", 5060, workdir, service="callee", extra=("-trace_msg",))
    try:
        agent, _ = agent_factory(
            ScriptedHandler(),
            mode="direct",
            outbound_proxy=f"127.0.0.1:{sipp_port(uas)}",
            username="caller-auth",
            password="pw-4475",
        )
        call = agent.dial("callee", timeout_s=10)  # DialError('rejected', 403) if the digest were wrong
        assert call.info.direction == "outbound"
        call.hangup()
    finally:
        rc, out = finish(uas)
    assert rc == 0, out  # 401 ACKed, authenticated INVITE answered, ACK and BYE received
    text = messages(workdir)
    assert "Authorization: Digest" in text and 'username="caller-auth"' in text

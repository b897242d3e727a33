"""Media that moves and stops: re-INVITE to a new port (PJSIP), holds with a=inactive and a=sendonly
(SIPp, PJSIP), RTCP keeping a silent call alive, IPv6 offers, Require: 100rel, telephone-event at
8 kHz. Each failed on the agent that reused the first negotiation for the whole call."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np
import pytest

from callcenter.telephony import sdp
from tests.calls.callers import caller_scenario
from tests.sipbench import audio
from tests.sipbench.doubles import ScriptedHandler
from tests.sipbench.pjsip import finish_pjsip_call, run_pjsip_call, start_pjsip_call
from tests.sipbench.plugin import AgentFactory
from tests.sipbench.rawua import RawCaller
from tests.sipbench.sipp import run_sipp
from tests.tiers import pick

pytestmark = pytest.mark.sip

GREETING_HZ = 440
CALLER_HZ = 1000


def wait_until(predicate, timeout_s: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.parametrize("move", ["reinvite_new_port", "update_new_port"])
def test_pjsip_reinvite_to_a_new_port_moves_the_audio_both_ways(agent_factory: AgentFactory, kamailio,
                                                                 tmp_path: Path, move: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """PJSIP re-creates its media transport (a new RTP port) and offers it in a re-INVITE, or in an
    UPDATE (RFC 3311)."""
    caplog.set_level(logging.INFO, logger="callcenter.telephony")
    handler = ScriptedHandler(greeting=audio.tone(GREETING_HZ, 30.0))
    agent, settings = agent_factory(handler, answer_after_rings=0)
    say = audio.write_pcm16_wav(tmp_path / "say.wav", audio.tone(CALLER_HZ, 10.0, amplitude=6000))
    result = run_pjsip_call(tmp_path / "pj", f"sip:{settings.username}@127.0.0.1:{kamailio.port}", say,
                            duration_s=7, steps=[{"at": 3.0, "do": move}])
    assert result.returncode == 0, result.explain()
    media = result.all("media")
    assert len(media) >= 2 and media[0]["local"] != media[-1]["local"], media  # PJSIP moved its RTP port
    moved_at = result.first("step", do=move)["t"]  # type: ignore[index]
    (record,) = handler.wait_calls_done(1)
    assert record.end_reason == "caller_hangup"
    # Caller -> us after the move: the new source is taken (the latch re-armed), the tone intact.
    after = audio.pcm(record.caller_pcm_between(moved_at + 0.5, moved_at + 3.5))
    assert len(after) / 8000 > 2.0, f"only {len(after) / 8000:.2f} s of caller audio after the re-INVITE"
    assert audio.tone_fraction(after, CALLER_HZ) > 0.9
    # Us -> caller after the move: PJSIP's recording hears our tone on its new port.
    heard = audio.read_wav(result.heard_wav)
    start = moved_at - media[0]["t"]
    tail = heard[int((start + 0.5) * 8000): int((start + 3.0) * 8000)]
    assert audio.loud_seconds(tail, threshold=1000) > 2.0, "the caller heard nothing after the re-INVITE"
    assert audio.tone_fraction(tail, GREETING_HZ) > 0.9
    call = agent.find_call(record.info.call_id)
    assert call is not None and call.media_changes == 1
    method = "UPDATE" if move.startswith("update") else "re-INVITE"
    assert re.search(rf"{method}: media 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+", caplog.text), caplog.text[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("direction,answer", [("inactive", "inactive"), ("sendonly", "recvonly")])
def test_sipp_hold_is_not_cut_and_answered_per_rfc3264(agent_factory: AgentFactory, kamailio, tmp_path: Path,
                                                       direction: str, answer: str) -> None:
    """A hold longer than the RTP timeout (60 s against 15 s in the full tier; 6 s against 2 s in the
    fast one): the call survives, our answer mirrors the offer, and nothing is sent while held."""
    hold_s, rtp_timeout_s = pick(6.0, 60.0), pick(2.0, 15.0)
    handler = ScriptedHandler(greeting=audio.tone(GREETING_HZ, 120.0))
    agent, settings = agent_factory(handler, answer_after_rings=0, rtp_timeout_s=rtp_timeout_s)
    tone = audio.tone(700, 1.0)
    scenario = caller_scenario(tmp_path / "hold.xml", [
        ("speak", tone), ("pause", 1200),
        ("reinvite", {"direction": direction}), ("pause", int(hold_s * 1000)),
        ("reinvite", {"direction": "sendrecv"}), ("speak", tone), ("pause", 1500)])
    sent_during_hold: list[int] = []

    def sample() -> None:
        calls = list(agent.media_ports())
        call = agent.find_call(calls[0]) if calls else None
        if call is not None and call.held():
            sent_during_hold.append(call.rtp.packets_out)

    from tests.sipbench.sipp import finish, start_sipp

    proc = start_sipp(str(scenario), kamailio.port, tmp_path / "sipp", service=settings.username,
                      timeout_s=int(hold_s + 30), extra=("-trace_msg",))
    deadline = time.monotonic() + hold_s + 25
    while proc.poll() is None and time.monotonic() < deadline:
        sample()
        time.sleep(0.25)
    code, output = finish(proc)
    assert code == 0, output  # the agent did not hang up during the hold (SIPp would get a BYE)
    (record,) = handler.wait_calls_done(1)
    assert record.end_reason == "caller_hangup"
    messages = "".join(p.read_text(errors="replace") for p in (tmp_path / "sipp").glob("*_messages.log"))
    assert f"a={answer}" in messages, messages[-3000:]
    assert len(sent_during_hold) >= 4 and len(set(sent_during_hold[1:])) == 1, sent_during_hold  # silent
    call = agent.find_call(record.info.call_id)
    assert call is not None and call.hold_time_s() == pytest.approx(hold_s, abs=1.5)
    assert not call.held()


def test_pjsip_hold_and_resume(agent_factory: AgentFactory, kamailio, tmp_path: Path) -> None:
    """PJSIP (Asterisk's stack) holds with a sendonly re-INVITE, then with a=inactive, then resumes;
    holds longer than the RTP timeout, and nothing is sent while held."""
    handler = ScriptedHandler(greeting=audio.tone(GREETING_HZ, 60.0))
    agent, settings = agent_factory(handler, answer_after_rings=0, rtp_timeout_s=2.0)
    say = audio.write_pcm16_wav(tmp_path / "say.wav", audio.tone(CALLER_HZ, 3.0, amplitude=6000))
    proc, workdir = start_pjsip_call(tmp_path / "pj", f"sip:{settings.username}@127.0.0.1:{kamailio.port}", say,
                                     duration_s=14, steps=[{"at": 2, "do": "hold"}, {"at": 6, "do": "unhold"},
                                                           {"at": 8, "do": "hold_inactive"}, {"at": 11, "do": "unhold"}])
    held_samples: list[tuple[float, int]] = []
    while proc.poll() is None:
        for call_id in agent.media_ports():
            call = agent.find_call(call_id)
            if call is not None and call.held():
                held_samples.append((time.monotonic(), call.rtp.packets_out))
        time.sleep(0.2)
    result = finish_pjsip_call(proc, workdir, 10)
    assert result.returncode == 0, result.explain()
    (record,) = handler.wait_calls_done(1)
    assert record.end_reason == "caller_hangup", record.end_reason  # not rtp_timeout during the holds
    call = agent.find_call(record.info.call_id)
    assert call is not None and call.hold_time_s() == pytest.approx(7.0, abs=1.5)
    assert len(held_samples) > 20 and len({n for _, n in held_samples}) <= 2, held_samples  # nothing sent held
    # PJSIP heard our tone whenever it did not hold us (2 + 2 + 3 s).
    heard = audio.read_wav(result.heard_wav)
    assert audio.loud_seconds(heard, threshold=1000) == pytest.approx(7.0, abs=1.2)
    assert audio.tone_fraction(heard[np.abs(heard) > 0], GREETING_HZ) > 0.9


def test_rtcp_keeps_a_silent_call_alive_and_its_end_is_noticed(agent_factory: AgentFactory) -> None:
    """Silence suppression without comfort noise: no RTP, but RTCP every second. Not a dead call;
    once the RTCP stops too, it is one."""
    handler = ScriptedHandler()
    agent, settings = agent_factory(handler, mode="direct", answer_after_rings=0, rtp_timeout_s=1.5)
    caller = RawCaller(settings.bind_port)
    try:
        assert caller.invite() == 200
        caller.send_rtp(bytes(160))
        for _ in range(5):  # 5 s: more than three RTP timeouts
            caller.send_rtcp()
            time.sleep(1.0)
        assert agent.active_calls() == 1, "a caller sending RTCP was cut as dead"
        (record,) = handler.wait_for(lambda h: len(h.calls) == 1) and handler.calls
        assert not record.done.is_set()
        assert wait_until(lambda: record.done.is_set(), 4.0), "no RTP and no RTCP: the call must end"
        assert record.end_reason == "rtp_timeout"
    finally:
        caller.close()


def test_comfort_noise_is_accepted(agent_factory: AgentFactory) -> None:
    handler = ScriptedHandler()
    agent, settings = agent_factory(handler, mode="direct", answer_after_rings=0, rtp_timeout_s=1.5)
    caller = RawCaller(settings.bind_port)
    try:
        assert caller.invite() == 200
        assert caller.ok is not None and b"CN/8000" not in caller.ok.body  # not offered: not answered
        for _ in range(8):  # RFC 3389 packets only (PT 13), every 0.5 s for 4 s
            caller.send_rtp(bytes([40]), pt=13)
            time.sleep(0.5)
        assert agent.active_calls() == 1
        call = agent.find_call(caller.call_id)
        assert call is not None and call.rtp.cn_packets == 8 and not handler.calls[0].caller_audio
        caller.bye()
        handler.wait_calls_done(1)
    finally:
        caller.close()


def test_ipv6_offer_is_served_when_there_is_an_ipv6_address(agent_factory: AgentFactory) -> None:
    handler = ScriptedHandler(greeting=audio.tone(GREETING_HZ, 3.0))
    agent, settings = agent_factory(handler, mode="direct", answer_after_rings=0, bind_ip6="::1")
    caller = RawCaller(settings.bind_port, media_host="::1")
    try:
        assert caller.invite() == 200
        assert caller.answer is not None and caller.answer.address == "::1"
        assert b"c=IN IP6 ::1" in caller.ok.body  # type: ignore[union-attr]
        from callcenter.audio.g711 import encode_ulaw

        for _ in range(50):
            caller.send_rtp(encode_ulaw(audio.tone(CALLER_HZ, 0.02, amplitude=6000)))
        packets = caller.receive_rtp(1.0)
        assert len(packets) > 30, "no RTP to the caller's IPv6 address"
        assert wait_until(lambda: len(handler.calls[0].caller_audio) >= 40)
        caller.bye()
        handler.wait_calls_done(1)
    finally:
        caller.close()


def test_ipv6_offer_without_ipv6_is_refused_488_and_logged(agent_factory: AgentFactory, kamailio,
                                                           tmp_path: Path) -> None:
    handler = ScriptedHandler()
    _, settings = agent_factory(handler)
    result = run_sipp("ipv6_offer.xml", kamailio.port, tmp_path, service=settings.username,
                      extra=("-trace_msg",))
    assert result.returncode == 0, result.explain()  # SIPp expected the 488 (never a 200 and silence)
    assert handler.wait_for(lambda h: len(h.missed) == 1, 5)
    info, reason = handler.missed[0]
    assert reason == "refused_488" and "IPv6" in info.refusal
    messages = "".join(p.read_text(errors="replace") for p in result.files("*_messages.log"))
    assert re.search(r'Warning: 300 callcenter ".*IPv6', messages), messages[-2000:]
    assert handler.calls == []


def test_require_100rel_is_refused_420_and_logged(agent_factory: AgentFactory, kamailio, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    handler = ScriptedHandler()
    _, settings = agent_factory(handler)
    result = run_sipp("require_100rel.xml", kamailio.port, tmp_path, service=settings.username)
    assert result.returncode == 0, result.explain()
    assert handler.wait_for(lambda h: len(h.missed) == 1, 5)
    info, reason = handler.missed[0]
    assert reason == "refused_420" and "100rel" in info.refusal
    assert re.search(r"refused with 420 Bad Extension: Require: 100rel", caplog.text)


def test_pjsip_requiring_100rel_is_logged_as_a_refused_call(agent_factory: AgentFactory, kamailio,
                                                            tmp_path: Path) -> None:
    handler = ScriptedHandler()
    _, settings = agent_factory(handler)
    say = audio.write_pcm16_wav(tmp_path / "say.wav", audio.tone(CALLER_HZ, 1.0))
    result = run_pjsip_call(tmp_path / "pj", f"sip:{settings.username}@127.0.0.1:{kamailio.port}", say,
                            duration_s=2, require_100rel=True)
    assert result.first("state", state="DISCONNECTED", code=420) is not None, result.explain()
    assert handler.wait_for(lambda h: [r for _, r in h.missed] == ["refused_420"], 5)


def test_telephone_event_is_chosen_at_8khz() -> None:
    offer = sdp.parse_offer(
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 0 101 102 13\r\na=rtpmap:101 telephone-event/48000\r\n"
        b"a=rtpmap:102 telephone-event/8000\r\na=fmtp:102 0-15\r\n")
    chosen = sdp.negotiate(offer, ["PCMU"])
    assert chosen.event_payload_type == 102  # not the first one, which runs at 48 kHz
    assert chosen.cn_payload_type == 13
    answer = sdp.build_answer("127.0.0.1", 5000, 1, chosen).decode()
    assert "a=rtpmap:102 telephone-event/8000" in answer and "101" not in answer
    only_48k = sdp.parse_offer(
        b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/48000\r\n")
    assert sdp.negotiate(only_48k, ["PCMU"]).event_payload_type is None  # never relabelled as 8 kHz


@pytest.mark.parametrize("offered,answered", [("sendonly", "recvonly"), ("inactive", "inactive"),
                                              ("recvonly", "sendonly"), ("sendrecv", "sendrecv")])
def test_answer_direction_mirrors_the_offer(offered: str, answered: str) -> None:
    offer = sdp.parse_offer(f"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na={offered}\r\n".encode())
    chosen = sdp.negotiate(offer, ["PCMU"])
    assert chosen.direction == answered
    assert f"a={answered}" in sdp.build_answer("127.0.0.1", 5000, 1, chosen).decode()


def test_late_audio_after_the_transcript_is_dropped_quietly(caplog: pytest.LogCaptureFixture) -> None:
    from callcenter.calls.session import CallSession

    class Stream:
        backlog = 0
        finished = False

        def accept_pcm16(self, pcm16: bytes) -> str | None:
            if self.finished:
                raise RuntimeError("the recognizer is finished")
            return None

        def finish(self, timeout_s: float | None = None):  # type: ignore[no-untyped-def]
            self.finished = True
            return None

        def close(self) -> None: ...

    class Recorder:
        def write_caller(self, pcm16: bytes, ts: int) -> None: ...

        def write_agent(self, pcm16: bytes) -> None: ...

    session = CallSession("late", Recorder())  # type: ignore[arg-type]
    session.attach_stream(Stream(), lambda text: None)  # type: ignore[arg-type]
    session.on_caller_audio(bytes(320), 0)
    caplog.set_level(logging.INFO)
    session.finish_transcript()
    session.on_caller_audio(bytes(320), 160)  # RTP still trickling in after the BYE
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert not session.asr_overflowed

"""Real calls through kamailio: answer timing, audio both ways, teardown, CANCEL, RTP timeout, DTMF."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import pytest

from tests.sipbench import audio
from tests.sipbench.baresip import run_baresip_call
from tests.sipbench.doubles import ScriptedHandler
from tests.sipbench.plugin import AgentFactory
from tests.sipbench.sipp import run_sipp, start_sipp

pytestmark = pytest.mark.sip

G711A_PCAP_S = 7.08  # /usr/share/sip-tester/g711a.pcap


def wait_until(predicate, timeout_s: float = 2.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.parametrize("rings", [0, 2])
def test_answer_waits_for_the_configured_rings(
    agent_factory: AgentFactory, kamailio, bench_dir: Path, rings: int
) -> None:
    """INVITE -> 200 OK = rings * ring_period (pyVoIP alone: never under its fixed 1 s, SIP_NOTES #3)."""
    handler = ScriptedHandler()
    _, settings = agent_factory(handler, answer_after_rings=rings, ring_period_s=0.4)
    result = run_sipp(
        "call_pcap_bye.xml",
        kamailio.port,
        bench_dir,
        service=settings.username,
        duration_ms=300,
        extra=("-trace_rtt", "-rtt_freq", "1", "-trace_msg"),
    )
    assert result.returncode == 0, result.explain()
    (record,) = handler.wait_calls_done(1)
    ((ringing_info, ringing_at),) = handler.ringing
    # on_call comes ring_delay after the INVITE reached us (on_ringing runs at arrival).
    # Never early; late by less than one ring period even on a loaded machine (pyVoIP alone answers
    # a full 1 s late at rings=0; answer timing figures: bench/sip_answer.py).
    ring_period_s = 0.4
    assert settings.ring_delay_s - 0.02 <= record.on_call_at_s - ringing_at < settings.ring_delay_s + ring_period_s
    # SIPp's own INVITE -> 200 OK response time (ms) through the proxy.
    rtt_csv = result.files("*_rtt.csv")
    assert rtt_csv, result.explain()
    rows = [line.split(";") for line in rtt_csv[0].read_text().splitlines()[1:] if line.strip()]
    rtt_ms = float(rows[0][1])  # Date_ms;response_time_ms;rtd_no
    assert settings.ring_delay_s * 1000 <= rtt_ms < (settings.ring_delay_s + ring_period_s) * 1000, rtt_ms
    # The caller saw 100 Trying from us (relayed) and 180 Ringing before the 200.
    (messages,) = result.files("*_messages.log")
    text = messages.read_text()
    assert text.index("SIP/2.0 180 Ringing") < text.index("SIP/2.0 200 OK")
    assert ringing_info.caller_number == "13800138000"
    assert ringing_info.caller_display == "Bench Caller"
    assert ringing_info.called_number == settings.username


def test_caller_audio_reaches_the_sink_as_pcm16(
    agent_factory: AgentFactory, kamailio, bench_dir: Path
) -> None:
    handler = ScriptedHandler()
    agent, settings = agent_factory(handler)
    result = run_sipp(
        "call_pcap_bye.xml", kamailio.port, bench_dir, service=settings.username, duration_ms=8000
    )
    assert result.returncode == 0, result.explain()
    (record,) = handler.wait_calls_done(1)
    assert record.end_reason == "caller_hangup"
    assert record.info.codec == "PCMA"
    heard = audio.pcm(record.caller_pcm)
    # Right length: the whole pcap, decoded to 16-bit samples (160 per 20 ms packet).
    assert len(heard) / audio.RATE_HZ == pytest.approx(G711A_PCAP_S, abs=0.1)
    assert audio.loud_seconds(heard) > 3.0, "decoded caller speech is (nearly) silent"
    # Timestamps advance by the samples of each packet (this pcap has 30 ms packets): no gaps.
    chunks = record.caller_audio
    gaps = [
        (b_ts - a_ts) % 2**32 - len(a_pcm) // 2
        for (a_pcm, a_ts), (_, b_ts) in zip(chunks, chunks[1:], strict=False)
    ]
    assert set(gaps) == {0}, f"timestamp jumps: {sorted(set(gaps))[:5]}"
    assert wait_until(lambda: agent.rtp_ports_in_use == 0)  # released at call end (SIP_NOTES #11)


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_caller_hears_what_we_play(
    agent_factory: AgentFactory, kamailio, bench_dir: Path, codec: str
) -> None:
    greeting = audio.tone(440, 2.0)
    handler = ScriptedHandler(greeting=greeting)
    _, settings = agent_factory(handler, ring_period_s=0.2)
    said = audio.write_pcm16_wav(bench_dir / "said.wav", audio.tone(1000, 6.0, amplitude=3000))
    result = run_baresip_call(
        bench_dir / "baresip",
        f"sip:{settings.username}@127.0.0.1:{kamailio.port}",
        said,
        seconds=8,  # baresip's clock starts at its launch: room for a slow start on a loaded machine
        codec=codec,
    )
    assert handler.wait_for(lambda h: len(h.calls) >= 1, 30), result.output[-3000:]
    (record,) = handler.wait_calls_done(1)
    assert record.info.codec == codec
    assert record.play_result is True
    assert b"".join(record.agent_audio) == greeting  # echoed to the sink as it went out
    assert result.heard_wav is not None, result.output[-3000:]
    heard = audio.read_wav(result.heard_wav)
    loud = heard[np.abs(heard) > 0]
    assert audio.loud_seconds(heard, threshold=2000) == pytest.approx(2.0, abs=0.15)
    # It is our 440 Hz tone, not noise (PCMA encoded with the u-law table is noise: SIP_NOTES #4).
    assert audio.tone_fraction(loud, 440) > 0.9
    assert audio.rms(heard[np.abs(heard) > 2000]) == pytest.approx(audio.rms(audio.pcm(greeting)), rel=0.1)
    # And the caller's 1 kHz tone reached our sink.
    assert audio.tone_fraction(audio.pcm(record.caller_pcm), 1000) > 0.9


def test_cancel_while_ringing_is_a_missed_call(
    agent_factory: AgentFactory, kamailio, bench_dir: Path
) -> None:
    handler = ScriptedHandler()
    agent, settings = agent_factory(handler, ring_period_s=2.0)
    result = run_sipp("cancel.xml", kamailio.port, bench_dir, service=settings.username)
    assert result.returncode == 0, result.explain()  # SIPp got 200 for CANCEL and 487 for the INVITE
    assert handler.wait_for(lambda h: len(h.missed) == 1, 5)
    assert handler.missed[0][1] == "cancelled"
    time.sleep(2.2)  # past the ring delay: the call must never be handed to on_call
    assert handler.calls == []
    assert wait_until(lambda: agent.rtp_ports_in_use == 0)


def test_bye_during_greeting_stops_play_promptly(
    agent_factory: AgentFactory, kamailio, bench_dir: Path
) -> None:
    handler = ScriptedHandler(greeting=audio.tone(440, 10.0))
    _, settings = agent_factory(handler)
    result = run_sipp(
        "call_pcap_bye.xml", kamailio.port, bench_dir, service=settings.username, duration_ms=1000
    )
    assert result.returncode == 0, result.explain()
    (record,) = handler.wait_calls_done(1)
    assert record.play_result is False
    assert record.end_reason == "caller_hangup"
    played_s = len(b"".join(record.agent_audio)) / 16000
    assert played_s < 2.5, f"play went on for {played_s:.1f} s after a BYE at ~1 s"


def test_rtp_silence_without_bye_ends_the_call(
    agent_factory: AgentFactory, kamailio, bench_dir: Path
) -> None:
    handler = ScriptedHandler()
    agent, settings = agent_factory(handler, rtp_timeout_s=1.5)
    sipp_dir = bench_dir / "sipp"
    sipp_dir.mkdir()
    audio.write_rtp_pcap(sipp_dir / "caller.pcap", audio.tone(700, 1.0), codec="PCMA")
    result = run_sipp("stream_nobye.xml", kamailio.port, sipp_dir, service=settings.username, timeout_s=30)
    assert result.returncode == 0, result.explain()  # SIPp received our BYE and answered it
    (record,) = handler.wait_calls_done(1)
    assert record.end_reason == "rtp_timeout"
    assert len(record.caller_audio) > 20  # the stream did flow before it stopped
    assert agent.active_calls() == 0


def test_dtmf_reaches_the_sink(agent_factory: AgentFactory, kamailio, bench_dir: Path) -> None:
    handler = ScriptedHandler()
    _, settings = agent_factory(handler)
    result = run_sipp("dtmf.xml", kamailio.port, bench_dir, service=settings.username)
    assert result.returncode == 0, result.explain()
    (record,) = handler.wait_calls_done(1)
    assert record.dtmf == ["1", "5", "#"]


def test_ten_concurrent_calls_are_all_answered(
    agent_factory: AgentFactory, kamailio, bench_dir: Path
) -> None:
    handler = ScriptedHandler(greeting=audio.tone(440, 1.0))
    agent, settings = agent_factory(handler)
    result = run_sipp(
        "call_pcap_bye.xml",
        kamailio.port,
        bench_dir,
        service=settings.username,
        calls=10,
        limit=10,
        rate=50,
        duration_ms=3000,
        timeout_s=40,
    )
    assert result.returncode == 0, result.explain()
    records = handler.wait_calls_done(10)
    assert all(r.play_result for r in records)
    assert all(r.end_reason == "caller_hangup" for r in records)
    heard_s = [len(r.caller_pcm) / 16000 for r in records]
    assert statistics.median(heard_s) > 2.5
    assert wait_until(lambda: agent.rtp_ports_in_use == 0)


def test_max_calls_exceeded_is_busy(agent_factory: AgentFactory, kamailio, bench_dir: Path) -> None:
    handler = ScriptedHandler()
    _, settings = agent_factory(handler, max_calls=1)
    holder = start_sipp(
        "call_pcap_bye.xml", kamailio.port, bench_dir / "holder", service=settings.username, duration_ms=3000
    )
    try:
        assert handler.wait_for(lambda h: len(h.calls) == 1, 10)
        result = run_sipp("busy.xml", kamailio.port, bench_dir / "busy", service=settings.username)
        assert result.returncode == 0, result.explain()
        assert handler.wait_for(lambda h: any(r == "busy" for _, r in h.missed), 5)
    finally:
        holder.wait(timeout=30)
    assert holder.returncode == 0


def test_invite_without_sdp_gets_488_and_agent_survives(
    agent_factory: AgentFactory, kamailio, bench_dir: Path
) -> None:
    handler = ScriptedHandler()
    _, settings = agent_factory(handler)
    result = run_sipp("nosdp.xml", kamailio.port, bench_dir / "nosdp", service=settings.username)
    assert result.returncode == 0, result.explain()
    # Logged as a refused call with the reason (it was "error" and no reason before).
    assert handler.wait_for(lambda h: [r for _, r in h.missed] == ["refused_488"], 5)
    assert handler.missed[0][0].refusal.startswith("488 Not Acceptable Here: INVITE without SDP")
    result = run_sipp(
        "call_pcap_bye.xml", kamailio.port, bench_dir / "after", service=settings.username, duration_ms=300
    )
    assert result.returncode == 0, result.explain()
    handler.wait_calls_done(1)

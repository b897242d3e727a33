"""The whole hotline when the media moves or stops: a re-INVITE to a new port mid-call (SIPp), a
hold during the conversation (PJSIP), a caller with silence suppression (SIPp, 50 packets in
95 s), and a refused call in the ledger. What is checked is what the site sees: the recording
(one timeline, both parties), the conversation going on, the call's row."""

from __future__ import annotations

import socket
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from callcenter.audio.g711 import decode_alaw, encode_alaw
from tests.calls.callers import caller_scenario
from tests.calls.conftest import Pipeline
from tests.sipbench import audio
from tests.sipbench.pjsip import run_pjsip_call
from tests.sipbench.sipp import finish, run_sipp

pytestmark = pytest.mark.sip

TONE_A, TONE_B = 700, 1300


def channels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path)) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    return frames[:, 0].astype(float), frames[:, 1].astype(float)


def tone_at(x: np.ndarray, start_s: float, end_s: float, hz: float) -> float:
    return audio.tone_fraction(x[int(start_s * 8000): int(end_s * 8000)], hz)


def wait_for(predicate, timeout_s: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    return None


def test_reinvite_to_a_new_port_keeps_both_directions_and_one_recording(pipeline_factory, tmp_path: Path) -> None:
    """Asterisk direct_media / an SBC fail-over: the caller's media moves to another port."""
    p: Pipeline = pipeline_factory(answer_after_rings=0)
    moved = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    moved.bind(("127.0.0.1", 0))
    moved.settimeout(0.1)
    new_port = moved.getsockname()[1]
    scenario = caller_scenario(tmp_path / "reinvite.xml", [
        ("speak", audio.tone(TONE_A, 2.0)), ("pause", 2500),
        ("reinvite", {"port": new_port}), ("pause", 4500)])
    proc = p.start_call(scenario)
    try:
        call_id = wait_for(lambda: next(iter(p.agent.media_ports()), None), 15)
        assert call_id, "the call was not answered"
        call = p.agent.find_call(call_id)
        assert wait_for(lambda: call.media_changes == 1, 15), "no re-INVITE applied"
        # The caller now speaks from the new address and listens there.
        agent_port = call.rtp.inPort
        received: list[tuple[float, bytes]] = []
        stop = threading.Event()

        def listen() -> None:
            while not stop.is_set():
                try:
                    received.append((time.monotonic(), moved.recv(2048)))
                except TimeoutError:
                    continue

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        tone_b = audio.tone(TONE_B, 3.0, amplitude=6000)
        speak_from = time.monotonic()
        next_at = speak_from
        for i in range(0, len(tone_b), 320):
            header = bytes([0x80, 8]) + (i // 320).to_bytes(2, "big") + (5000 + i // 2).to_bytes(4, "big") + b"NEW1"
            moved.sendto(header + encode_alaw(tone_b[i:i + 320]), ("127.0.0.1", agent_port))
            next_at += 0.02
            time.sleep(max(0.0, next_at - time.monotonic()))
        code, output = finish(proc, 30)
        stop.set()
        listener.join(2)
    finally:
        moved.close()
    assert code == 0, output
    # To the new address: our RTP arrived within a packet time of the re-INVITE, with the prompts in it.
    assert len(received) > 100, f"{len(received)} RTP packets reached the new address"
    latency_ms = (received[0][0] - call.rtp.repointed_at_s) * 1000
    print(f"re-INVITE -> first RTP at the new address after {latency_ms:.1f} ms")
    assert latency_ms < 500, latency_ms  # the benchmark's target is 100 ms; this bound holds on a loaded CI box
    decoded = audio.pcm(b"".join(decode_alaw(pkt[12:]) for _, pkt in received))
    assert audio.loud_seconds(decoded, threshold=300) > 0.5, "only silence reached the new address"

    logged = p.wait_drafted(1)[0]
    assert logged.status == "ended" and logged.end_reason == "caller_hangup"
    caller, agent = channels(Path(p.store.path_of(logged.recording_key)))
    # One timeline: the file is as long as the call, and tone B sits where it was spoken.
    duration_s = len(caller) / 8000
    call_s = (logged.ended_at - logged.answered_at).total_seconds()
    assert duration_s == pytest.approx(call_s, abs=0.6), (duration_s, call_s)
    b_at = speak_from - call.answered_at_s
    assert tone_at(caller, 0.2, 1.8, TONE_A) > 0.8  # before the move
    assert tone_at(caller, b_at + 0.3, b_at + 2.7, TONE_B) > 0.8, "the moved caller is not in the recording"
    assert audio.loud_seconds(agent) > 2.0  # the prompts, on the right channel


@pytest.mark.slow
@pytest.mark.both_dbs  # call.hold_ms (migration 0005)
def test_hold_pauses_the_conversation_which_resumes_after_it(pipeline_factory, tmp_path: Path) -> None:
    p: Pipeline = pipeline_factory(answer_after_rings=0, rtp_timeout_s=2.0)
    hold_s = 6.0
    silence = audio.write_pcm16_wav(tmp_path / "silence.wav", bytes(16000))
    result = run_pjsip_call(tmp_path / "pj", f"sip:{p.sip.username}@127.0.0.1:{p.sip_target_port}", silence,
                            duration_s=60, steps=[{"at": 1.0, "do": "hold"}, {"at": 1.0 + hold_s, "do": "unhold"}])
    assert result.returncode == 0, result.explain()
    logged = p.wait_drafted(1)[0]
    # The agent finished its script after the hold and hung up (PJSIP did not have to).
    assert logged.status == "ended" and logged.end_reason == "agent_hangup", logged.end_reason
    assert logged.hold_ms == pytest.approx(hold_s * 1000, abs=1000)
    steps = {e["do"]: e["t"] for e in result.all("step")}
    assert "hangup" not in steps
    call = p.agent.find_call(logged.sip_call_id)
    held_from, held_to = steps["hold"] - call.answered_at_s, steps["unhold"] - call.answered_at_s
    _, agent = channels(Path(p.store.path_of(logged.recording_key)))
    assert audio.loud_seconds(agent[int((held_from + 0.4) * 8000): int((held_to - 0.2) * 8000)]) < 0.1, \
        "prompts were played into the hold"
    assert audio.loud_seconds(agent[int((held_to + 0.3) * 8000):]) > 2.0, "the conversation did not resume"


def test_caller_with_silence_suppression_still_gets_through_the_script(pipeline_factory, tmp_path: Path) -> None:
    """A trunk with VAD/DTX: 50 packets in 95 s (a comfort-noise packet now and then, a little
    audio). The conversation's timers run on the wall clock: the script ends in seconds."""
    p: Pipeline = pipeline_factory(answer_after_rings=0)
    packets = [(i * 1.9, 13 if i % 3 else 8, bytes([42]) if i % 3 else encode_alaw(bytes(320)))
               for i in range(50)]
    sparse = audio.write_rtp_pcap_packets(tmp_path / "sparse.pcap", packets)
    scenario = caller_scenario(tmp_path / "sparse.xml", [], hang_up="agent")
    text = scenario.read_text().replace(
        '  <recv request="BYE"',
        f'  <nop><action><exec play_pcap_audio="{sparse}"/></action></nop>\n  <recv request="BYE"', 1)
    scenario.write_text(text)
    started = time.monotonic()
    result = run_sipp(str(scenario), p.sip_target_port, tmp_path / "sipp", service=p.sip.username, timeout_s=100)
    took = time.monotonic() - started
    assert result.returncode == 0, result.explain()
    logged = p.wait_drafted(1)[0]
    assert logged.end_reason == "agent_hangup"  # the agent reached 「谢谢」 and hung up; no RTP timeout
    assert took < 45, f"the conversation took {took:.0f} s (it stalled waiting for frames before)"
    call = p.agent.find_call(logged.sip_call_id)
    assert call.rtp.cn_packets > 0


@pytest.mark.both_dbs  # call.sip_detail (migration 0005)
def test_a_refused_call_is_a_missed_call_with_its_reason(pipeline_factory, tmp_path: Path) -> None:
    p: Pipeline = pipeline_factory()
    result = run_sipp("require_100rel.xml", p.sip_target_port, tmp_path, service=p.sip.username)
    assert result.returncode == 0, result.explain()
    calls = p.wait_for(lambda cs: any(c.status == "missed" for c in cs), 10)
    (call,) = calls
    assert call.status == "missed" and call.end_reason == "refused_420"
    assert call.sip_detail.startswith("420 Bad Extension: Require: 100rel")
    entry = p.ledger.get_entry(call.entry_id)
    assert entry.kind == "missed_call" and "回拨" in entry.summary and "SIP扩展" in entry.summary

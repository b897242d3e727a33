"""Click-to-call callbacks on the loopback bench: the agent rings the clerk (baresip or SIPp,
registered at kamailio), then the resident (SIPp), bridges them and records both in stereo."""

from __future__ import annotations

import itertools
import subprocess
import time
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from callcenter.calls.bridge import CallbackOutcome, place_callback
from callcenter.calls.session import CallSession
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.telephony.agent import PyVoipAgent
from tests.sipbench import audio
from tests.sipbench.baresip import start_baresip_ua
from tests.sipbench.doubles import ScriptedHandler
from tests.sipbench.kamailio import Kamailio
from tests.sipbench.plugin import AgentFactory
from tests.sipbench.sipp import finish, start_uas

pytestmark = pytest.mark.sip

RESIDENT_HZ = 700
CLERK_HZ = 1100
_numbers = itertools.count(1)


def new_number(prefix: str) -> str:
    return f"{prefix}{next(_numbers):04d}"


def sipp_party(
    scenario: str, kamailio: Kamailio, workdir: Path, number: str, tone_hz: float, tone_s: float = 2.0,
    **kwargs: object,
) -> subprocess.Popen[str]:
    """A SIPp called party registered at kamailio as `number`, saying a PCMU tone when answered."""
    workdir.mkdir(parents=True, exist_ok=True)
    audio.write_rtp_pcap(workdir / "uas.pcap", audio.tone(tone_hz, tone_s), codec="PCMU")
    extra = ("-trace_msg", *kwargs.pop("extra", ()))  # type: ignore[misc]
    proc, _ = start_uas(scenario, kamailio.port, workdir, number, extra=extra, **kwargs)
    return proc


def loud(x: np.ndarray, threshold: float = 500.0, window: int = 160) -> np.ndarray:
    """The 20 ms windows louder than `threshold` RMS, joined (silence left out)."""
    n = len(x) // window
    frames = x[: n * window].reshape(n, window)
    return frames[np.sqrt((frames**2).mean(axis=1)) > threshold].ravel()


def messages(workdir: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted(workdir.glob("*_messages.log")))


def read_stereo(path: str) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(path, "rb") as wav:
        assert wav.getnchannels() == 2 and wav.getsampwidth() == 2 and wav.getframerate() == 8000
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
    return frames[0::2], frames[1::2]


class Recording:
    """The production sink (CallSession) over a real WavRecordingStore."""

    def __init__(self, root: Path) -> None:
        self.store = WavRecordingStore(RecordingSettings(root=root))
        self.recorder = self.store.open("callback-test", datetime.now(UTC))
        self.session = CallSession("callback-test", self.recorder)

    def close(self) -> tuple[np.ndarray, np.ndarray]:
        info = self.recorder.close()
        self.store.shutdown()
        return read_stereo(self.store.path_of(info.key))


def wait_registered(kamailio: Kamailio, user: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while user not in kamailio.location():
        assert time.monotonic() < deadline, f"{user} did not register:\n{kamailio.location()[-2000:]}"
        time.sleep(0.2)


def callback(agent: PyVoipAgent, clerk: str, resident: str, root: Path, ring_s: float = 10.0):  # type: ignore[no-untyped-def]
    recording = Recording(root)
    outcome: CallbackOutcome = place_callback(agent, clerk, resident, recording.session, ring_timeout_s=ring_s)
    left, right = recording.close()
    return outcome, left, right


def test_connected_callback_is_bridged_and_recorded_in_stereo(
    agent_factory: AgentFactory, kamailio: Kamailio, bench_dir: Path
) -> None:
    agent, _ = agent_factory(ScriptedHandler())
    clerk_user = new_number("80")
    clerk_says = audio.write_pcm16_wav(bench_dir / "clerk.wav", audio.tone(CLERK_HZ, 30.0, amplitude=6000))
    clerk = start_baresip_ua(bench_dir / "clerk", clerk_user, kamailio.port, clerk_says, seconds=12)
    resident_number = new_number("1380000")
    resident = sipp_party(
        "uas_answer_bye.xml", kamailio, bench_dir / "resident", resident_number, RESIDENT_HZ,
        tone_s=3.0, duration_ms=4000,
    )
    try:
        wait_registered(kamailio, clerk_user)
        outcome, left, right = callback(agent, clerk_user, resident_number, bench_dir / "rec")
    finally:
        rc, out = finish(resident)
        heard = clerk.finish()
        (bench_dir / "clerk.log").write_text(heard.output)
    assert rc == 0, out
    assert outcome.outcome == "connected", outcome
    assert outcome.end_reason == "resident_hangup"
    assert outcome.sip_call_id and outcome.answered_at is not None
    assert outcome.started_at <= outcome.answered_at <= outcome.ended_at
    # Left = the resident: its 3 s tone, nothing of the clerk.
    assert audio.loud_seconds(left) == pytest.approx(3.0, abs=0.5)
    assert audio.tone_fraction(loud(left), RESIDENT_HZ) > 0.9
    # Right = the clerk: its tone for the whole bridged call.
    assert audio.loud_seconds(right) > 3.0
    assert audio.tone_fraction(loud(right), CLERK_HZ) > 0.9
    # The clerk heard the resident (baresip's decoded speaker dump), relayed by the bridge.
    assert heard.heard_wav is not None, heard.output[-3000:]
    clerk_heard = audio.read_wav(heard.heard_wav)
    assert audio.loud_seconds(clerk_heard, threshold=2000) == pytest.approx(3.0, abs=0.5)
    assert audio.tone_fraction(loud(clerk_heard, 2000), RESIDENT_HZ) > 0.9
    # And the resident's BYE was passed on: we sent BYE to the clerk leg.
    assert agent.active_calls() == 0
    # baresip's words for "the peer sent BYE" (libre reports a received BYE as ECONNRESET).
    assert "session closed: Connection reset by peer" in heard.output, heard.output[-3000:]


def test_resident_hears_the_clerk(agent_factory: AgentFactory, kamailio: Kamailio, bench_dir: Path) -> None:
    """The resident echoes what it hears (SIPp -rtp_echo): the clerk's tone comes back on the left."""
    agent, _ = agent_factory(ScriptedHandler())
    clerk_number, resident_number = new_number("80"), new_number("1380000")
    clerk = sipp_party(
        "uas_answer_bye.xml", kamailio, bench_dir / "clerk", clerk_number, CLERK_HZ, tone_s=3.0,
        duration_ms=3500,
    )
    resident = sipp_party(
        "uas_answer_wait_bye.xml", kamailio, bench_dir / "resident", resident_number, RESIDENT_HZ,
        tone_s=0.02, extra=("-rtp_echo",),
    )
    try:
        outcome, left, right = callback(agent, clerk_number, resident_number, bench_dir / "rec")
    finally:
        rc_clerk, out_clerk = finish(clerk)
        rc_resident, out_resident = finish(resident)
    assert rc_clerk == 0, out_clerk
    assert rc_resident == 0, out_resident  # the resident got our BYE when the clerk hung up
    assert outcome.outcome == "connected" and outcome.end_reason == "clerk_hangup", outcome
    assert audio.tone_fraction(loud(right), CLERK_HZ) > 0.9
    # What the resident received and echoed: the clerk's tone, about as long.
    assert audio.loud_seconds(left) > 2.0
    assert audio.tone_fraction(loud(left), CLERK_HZ) > 0.9


def test_resident_busy_hangs_up_the_clerk(agent_factory: AgentFactory, kamailio: Kamailio, bench_dir: Path) -> None:
    agent, _ = agent_factory(ScriptedHandler())
    clerk_number, resident_number = new_number("80"), new_number("1380000")
    clerk = sipp_party("uas_answer_wait_bye.xml", kamailio, bench_dir / "clerk", clerk_number, CLERK_HZ)
    resident = sipp_party("uas_busy.xml", kamailio, bench_dir / "resident", resident_number, RESIDENT_HZ)
    try:
        outcome, _, _ = callback(agent, clerk_number, resident_number, bench_dir / "rec")
    finally:
        rc_clerk, out_clerk = finish(clerk)
        rc_resident, out_resident = finish(resident)
    assert outcome.outcome == "busy" and outcome.sip_status == 486, outcome
    assert outcome.end_reason == "resident_busy"
    assert outcome.sip_call_id and outcome.answered_at is None
    assert rc_resident == 0, out_resident  # the 486 was ACKed
    assert rc_clerk == 0, out_clerk  # the clerk leg got a BYE
    assert "BYE sip:" in messages(bench_dir / "clerk")
    assert agent.active_calls() == 0


def test_resident_no_answer_cancels(agent_factory: AgentFactory, kamailio: Kamailio, bench_dir: Path) -> None:
    agent, _ = agent_factory(ScriptedHandler())
    clerk_number, resident_number = new_number("80"), new_number("1380000")
    clerk = sipp_party("uas_answer_wait_bye.xml", kamailio, bench_dir / "clerk", clerk_number, CLERK_HZ)
    resident = sipp_party("uas_ring_cancel.xml", kamailio, bench_dir / "resident", resident_number, RESIDENT_HZ)
    try:
        outcome, _, _ = callback(agent, clerk_number, resident_number, bench_dir / "rec", ring_s=2.0)
    finally:
        rc_clerk, out_clerk = finish(clerk)
        rc_resident, out_resident = finish(resident)
    assert outcome.outcome == "no_answer" and outcome.end_reason == "resident_no_answer", outcome
    assert rc_resident == 0, out_resident  # CANCEL arrived, 487 ACKed
    assert "CANCEL sip:" in messages(bench_dir / "resident")
    assert rc_clerk == 0, out_clerk  # the clerk leg got a BYE


def test_resident_hangs_up_first_clerk_gets_bye(
    agent_factory: AgentFactory, kamailio: Kamailio, bench_dir: Path
) -> None:
    agent, _ = agent_factory(ScriptedHandler())
    clerk_number, resident_number = new_number("80"), new_number("1380000")
    clerk = sipp_party("uas_answer_wait_bye.xml", kamailio, bench_dir / "clerk", clerk_number, CLERK_HZ)
    resident = sipp_party(
        "uas_answer_bye.xml", kamailio, bench_dir / "resident", resident_number, RESIDENT_HZ, duration_ms=1500
    )
    try:
        outcome, left, _ = callback(agent, clerk_number, resident_number, bench_dir / "rec")
    finally:
        rc_clerk, out_clerk = finish(clerk)
        rc_resident, out_resident = finish(resident)
    assert rc_resident == 0, out_resident  # its BYE was answered
    assert rc_clerk == 0, out_clerk  # and a BYE reached the clerk
    assert outcome.outcome == "connected" and outcome.end_reason == "resident_hangup", outcome
    assert audio.tone_fraction(loud(left), RESIDENT_HZ) > 0.9


def test_clerk_unreachable(agent_factory: AgentFactory, kamailio: Kamailio, bench_dir: Path) -> None:
    agent, _ = agent_factory(ScriptedHandler())
    resident_number = new_number("1380000")
    resident = sipp_party(
        "uas_answer_wait_bye.xml", kamailio, bench_dir / "resident", resident_number, RESIDENT_HZ,
        timeout_s=5,
    )
    outcome, left, right = callback(agent, new_number("89"), resident_number, bench_dir / "rec")
    rc, _ = finish(resident)
    assert outcome.outcome == "clerk_unreachable" and outcome.sip_status == 404, outcome
    assert outcome.sip_call_id == ""
    assert rc != 0  # the resident's phone never rang (its SIPp timed out waiting)
    assert "INVITE sip:" not in messages(bench_dir / "resident")

"""转人工 on the wire: the real agent, hotline and recorder with kamailio; the caller is SIPp
(pressing 0 as RFC 4733), the clerks' phones are SIPp called parties registered at kamailio.
The first phone to answer is bridged to the caller (the other gets CANCEL), audio crosses the
bridge both ways (tones, cross-correlated), the recording goes on in the same file; nobody
answering sends the caller back to message-taking. Branches at full speed: test_person_on_the_line.py."""

from __future__ import annotations

import itertools
import time
import wave
from datetime import time as day_time
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session, select

from callcenter.calls.desk import StaffDesk
from callcenter.calls.understanding import Understanding
from callcenter.drafting.rules import DraftingRules
from callcenter.ledger.models import AuditLog
from callcenter.staffing.settings import RosterMember, TransferSettings
from callcenter.workflow.settings import WorkflowSettings
from tests.calls.callers import caller_scenario
from tests.calls.conftest import Pipeline
from tests.doubles import ScriptedFactoryDouble
from tests.sipbench import audio
from tests.sipbench.kamailio import Kamailio
from tests.sipbench.sipp import finish, start_sipp, start_uas

# The wire only: what the desk writes is tested on both databases with the call double
# (test_person_on_the_line.py).
pytestmark = pytest.mark.sip

SCENARIOS = Path(__file__).resolve().parents[1] / "sipbench" / "scenarios"
CALLER_HZ, CLERK_HZ = 700, 1100
_numbers = itertools.count(1)


def clerk_phone(kamailio: Kamailio, workdir: Path, scenario: str, tone_hz: float, tone_s: float = 0.02,
                **kw: object):  # type: ignore[no-untyped-def]
    number = f"86{next(_numbers):03d}"
    workdir.mkdir(parents=True, exist_ok=True)
    audio.write_rtp_pcap(workdir / "uas.pcap", audio.tone(tone_hz, tone_s), codec="PCMU")
    proc, _ = start_uas(scenario, kamailio.port, workdir, number, extra=("-trace_msg", *kw.pop("extra", ())),
                        **kw)  # type: ignore[arg-type]
    return number, proc


def with_desk(p: Pipeline, numbers: tuple[str, ...], ring_timeout_s: float = 8.0) -> StaffDesk:
    desk = StaffDesk(Understanding(DraftingRules.load()),
                     TransferSettings(extensions=numbers, ring_timeout_s=ring_timeout_s),
                     WorkflowSettings(business_open=day_time(0, 0), business_close=day_time(23, 59, 59)),
                     staff=None, agent=p.agent)
    p.handler.desk = desk
    return desk


def stereo(p: Pipeline, key: str) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(Path(p.store.path_of(key)))) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2).astype(float)
    return frames[:, 0], frames[:, 1]


def envelope_lag_ms(a: np.ndarray, b: np.ndarray) -> float:
    """How much later b's loudness envelope follows a's (10 ms windows, cross-correlated)."""
    def env(x: np.ndarray) -> np.ndarray:
        n = len(x) // 80
        e = np.sqrt((x[: n * 80].reshape(n, 80) ** 2).mean(axis=1))
        return (e - e.mean()) / (e.std() or 1.0)
    ea, eb = env(a), env(b)
    corr = np.correlate(eb, ea, mode="full")
    return float((int(np.argmax(corr)) - (len(ea) - 1)) * 10)


def loud(x: np.ndarray, threshold: float = 500.0, window: int = 160) -> np.ndarray:
    """The 20 ms windows louder than `threshold` RMS, joined (silence left out)."""
    n = len(x) // window
    frames = x[: n * window].reshape(n, window)
    return frames[np.sqrt((frames**2).mean(axis=1)) > threshold].ravel()


def audit_rows(p: Pipeline, call_pk: int) -> list[AuditLog]:
    with Session(p.ledger.engine) as s:
        return list(s.exec(select(AuditLog).where(AuditLog.call_id == call_pk).order_by(AuditLog.id)).all())


def test_key_zero_first_clerk_wins_the_other_gets_cancel_and_the_caller_hears_the_clerk(
        pipeline_factory, kamailio: Kamailio, tmp_path: Path) -> None:
    p: Pipeline = pipeline_factory()
    first, winner = clerk_phone(kamailio, tmp_path / "clerk-a", "uas_answer_bye.xml", CLERK_HZ, tone_s=3.0,
                                duration_ms=6000)
    second, loser = clerk_phone(kamailio, tmp_path / "clerk-b", "uas_ring_cancel.xml", CLERK_HZ)
    with_desk(p, (first, second))
    # the caller says back what it hears: the clerk's tone returns on the recording's left channel
    caller = p.start_call(SCENARIOS / "person_zero_wait_bye.xml", extra=("-rtp_echo",), timeout_s=60,
                          duration_ms=1000)
    rc_a, out_a = finish(winner, 60)
    rc_b, out_b = finish(loser, 60)
    rc_c, out_c = finish(caller, 60)
    assert rc_a == 0, out_a  # answered, said its tone, hung up (BYE answered)
    assert rc_b == 0, out_b  # rang, got CANCEL, answered 487
    assert "CANCEL sip:" in "".join(f.read_text(errors="replace") for f in (tmp_path / "clerk-b").glob("*_messages.log"))
    assert rc_c == 0, out_c  # the caller got our BYE when the clerk hung up
    [call] = p.wait_for(lambda cs: bool(cs) and cs[0].status == "ended" and bool(cs[0].recording_key))
    rows = [(a.action, a.new) for a in audit_rows(p, call.id) if a.action.startswith("person_")]
    assert rows[0] == ("person_answered", f"caller|{first}")
    assert rows[1][0] == "person_ended" and rows[1][1].startswith("clerk_hangup")
    left, right = stereo(p, call.recording_key)
    # right: the agent's prompts and hold music, then the clerk's 3 s tone; left: the caller's echo of it
    tail = slice(-8000 * 6, None)
    assert audio.tone_fraction(loud(right[tail]), CLERK_HZ) > 0.5
    assert audio.tone_fraction(loud(left[tail]), CLERK_HZ) > 0.5
    # the echo lines up with the clerk's tone (the recorder places each channel by its own clock)
    lag = envelope_lag_ms(right[tail], left[tail])
    assert abs(lag) < 400, lag


def test_the_clerk_hears_the_caller_and_the_recording_keeps_both(
        pipeline_factory, kamailio: Kamailio, tmp_path: Path) -> None:
    p: Pipeline = pipeline_factory()
    # the clerk's phone says back what it hears: the caller's tone returns on the right channel
    clerk, phone = clerk_phone(kamailio, tmp_path / "clerk", "uas_answer_bye.xml", CLERK_HZ, duration_ms=14000,
                               extra=("-rtp_echo",))
    with_desk(p, (clerk,))
    workdir = tmp_path / "caller"
    workdir.mkdir()
    audio.write_rtp_pcap(workdir / "caller.pcap", audio.tone(CALLER_HZ, 3.0), codec="PCMA")
    caller = start_sipp(str(SCENARIOS / "person_zero_tone_wait_bye.xml"), kamailio.port, workdir,
                        service=p.sip.username, duration_ms=11000, timeout_s=60)
    rc_a, out_a = finish(phone, 60)
    rc_c, out_c = finish(caller, 60)
    assert rc_a == 0, out_a
    assert rc_c == 0, out_c
    [call] = p.wait_for(lambda cs: bool(cs) and cs[0].status == "ended" and bool(cs[0].recording_key))
    left, right = stereo(p, call.recording_key)
    answered = next(a.at for a in audit_rows(p, call.id) if a.action == "person_answered")
    assert call.answered_at is not None
    bridged_s = (answered - call.answered_at).total_seconds()
    assert audio.tone_fraction(loud(left), CALLER_HZ) > 0.8  # the caller on the left, nothing else
    n = len(left) // 160
    spoken = np.flatnonzero(np.sqrt((left[: n * 160].reshape(n, 160) ** 2).mean(axis=1)) > 500)
    assert len(spoken) * 0.02 == pytest.approx(3.0, abs=0.5)
    assert spoken[0] * 0.02 > bridged_s + 0.5, (spoken[0] * 0.02, bridged_s)  # the caller spoke once bridged
    # right, before the bridge: the agent's prompts (speech and hold music), neither party's tone
    prompts = loud(right[: max(0, int((bridged_s - 0.2) * 8000))])
    assert len(prompts) / 8000 > 1.0, len(prompts) / 8000
    assert audio.tone_fraction(prompts, CALLER_HZ) < 0.2 and audio.tone_fraction(prompts, CLERK_HZ) < 0.2
    span = slice(spoken[0] * 160, (spoken[-1] + 25) * 160)  # the tone and half a second after
    assert audio.tone_fraction(loud(right[span]), CALLER_HZ) > 0.8  # it reached the clerk and came back
    # the echo starts when the caller's tone does, give or take the relay (an envelope
    # cross-correlation of two flat tones once picked a -3 s edge on a loaded machine)
    m = len(right) // 160
    loud_right = np.flatnonzero(np.sqrt((right[: m * 160].reshape(m, 160) ** 2).mean(axis=1)) > 500)
    after = loud_right[loud_right >= spoken[0] - 25]  # from half a second before the caller spoke
    assert len(after), "nothing came back on the clerk's channel"
    lag = float((after[0] - spoken[0]) * 20)
    assert -100 < lag < 400, lag


def test_nobody_answers_the_caller_goes_back_to_message_taking(
        pipeline_factory, kamailio: Kamailio, tmp_path: Path) -> None:
    p: Pipeline = pipeline_factory()
    clerk, phone = clerk_phone(kamailio, tmp_path / "clerk", "uas_ring_cancel.xml", CLERK_HZ)
    with_desk(p, (clerk,), ring_timeout_s=3.0)
    started = time.monotonic()
    caller = p.start_call(SCENARIOS / "person_zero_wait_bye.xml", timeout_s=60, duration_ms=1000)
    rc_a, out_a = finish(phone, 60)
    assert rc_a == 0, out_a  # rang 3 s, then CANCEL
    rc_c, out_c = finish(caller, 90)
    assert rc_c == 0, out_c  # the conversation went on to its end and hung up
    [call] = p.wait_for(lambda cs: bool(cs) and cs[0].status == "ended")
    actions = [a.action for a in audit_rows(p, call.id)]
    assert "person_unanswered" in actions and "person_answered" not in actions
    assert call.intake_path == "keypad"  # no model in this pipeline: the keypad path, and it says so
    assert time.monotonic() - started > 3.0



def test_urgent_speech_rings_the_duty_phone_and_the_notice_goes_out_first(
        pipeline_factory, kamailio: Kamailio, speak, tmp_path: Path) -> None:
    """Synthesized Mandarin through the named Mandarin double: gas heard → the urgent step (the
    notice's trigger: its event and audit row) before the duty phone's INVITE, which leaves while
    the caller hears the safety prompt (not after it); the caller is bridged."""
    text = "我家燃气漏了，屋里全是味，赶紧派人来"
    p: Pipeline = pipeline_factory(recognizer=ScriptedFactoryDouble([text]))
    safety_s = len(p.handler.prompts.get("safety_gas")) / 16000
    connecting_s = len(p.handler.prompts.get("urgent_connecting")) / 16000
    # the duty person answers at once and stays on past what the caller hears before the bridge
    duty, phone = clerk_phone(kamailio, tmp_path / "duty", "uas_answer_bye.xml", CLERK_HZ, tone_s=1.0,
                              duration_ms=int((safety_s + connecting_s) * 1000) + 2000)
    desk = with_desk(p, ())
    desk.transfer = TransferSettings(ring_timeout_s=8, duty_roster=(RosterMember(name="保安室", number=duty),))
    seen: list[tuple[str, float]] = []
    p.ledger.bus.add_listener(lambda e: seen.append((e.data["step"], time.monotonic()))
                              if e.type == "call.person" else None)
    send = p.agent._send

    def timed_send(data: bytes, peer):  # type: ignore[no-untyped-def]
        # the first INVITE (a loaded duty phone may answer late and get the retransmission too)
        if data.startswith(f"INVITE sip:{duty}".encode()) and not any(k == "invite" for k, _ in seen):
            seen.append(("invite", time.monotonic()))
        return send(data, peer)

    p.agent._send = timed_send  # InviteClient takes the agent's _send when dialling
    speech = speak(text)
    scenario = caller_scenario(tmp_path / "gas.xml", [("speak", speech), ("pause", len(speech) // 16 + 500)],
                               hang_up="agent")
    # the caller says back what it hears once its speech is over: its RTP keeps flowing (a phone
    # sends RTP all call long; a silent SIPp would be timed out while the safety prompt plays)
    caller = p.start_call(scenario, timeout_s=60, extra=("-rtp_echo",))
    rc_phone, out_phone = finish(phone, 60)
    rc_caller, out_caller = finish(caller, 60)
    assert rc_phone == 0, out_phone  # the duty phone rang, answered, hung up
    assert rc_caller == 0, out_caller  # the caller was bridged, then got our BYE
    [call] = p.wait_for(lambda cs: bool(cs) and cs[0].status == "ended")
    rows = [(a.action, a.new, a.at) for a in audit_rows(p, call.id) if a.action.startswith("person_")]
    assert [r[0] for r in rows] == ["person_urgent", "person_answered", "person_ended"]
    assert rows[0][1] == "gas" and rows[1][1] == f"urgent|{duty}"
    assert rows[0][2] <= rows[1][2]
    # the urgent step (its notice) before the duty phone's INVITE left the agent
    assert [kind for kind, _ in seen][:3] == ["urgent", "invite", "answered"], seen
    # the duty phone rang at once: its INVITE left before the safety prompt could have ended
    assert seen[1][1] - seen[0][1] < safety_s, (seen, safety_s)
    assert p.ledger.get_entry(call.entry_id).urgent

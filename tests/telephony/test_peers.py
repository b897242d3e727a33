"""Linphone (linphone-cli) and baresip as callers through kamailio: their holds (pause, /hold),
Linphone's telephone-event offers (48, 16 and 8 kHz) and its dual-stack IPv6 offer."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.sipbench import audio
from tests.sipbench.baresip import start_baresip_caller
from tests.sipbench.doubles import ScriptedHandler
from tests.sipbench.linphone import run_linphone_call
from tests.sipbench.plugin import AgentFactory
from tests.tiers import pick

pytestmark = pytest.mark.sip


@pytest.mark.slow
def test_linphone_hold_and_telephone_event_at_8khz(agent_factory: AgentFactory, kamailio, tmp_path: Path) -> None:
    hold_s, rtp_timeout_s = pick(6.0, 60.0), pick(2.0, 15.0)
    handler = ScriptedHandler(greeting=audio.tone(440, 200.0))
    agent, settings = agent_factory(handler, answer_after_rings=0, rtp_timeout_s=rtp_timeout_s)
    say = audio.write_pcm16_wav(tmp_path / "say.wav", audio.tone(1000, 3.0, amplitude=6000))
    result = run_linphone_call(tmp_path / "linphone", f"sip:{settings.username}@127.0.0.1:{kamailio.port}", say,
                               [(3.0, "pause"), (3.0 + hold_s, "resume"), (6.0 + hold_s, "terminate")])
    log = result.log.read_text(errors="replace")
    (record,) = handler.wait_calls_done(1)
    assert record.end_reason == "caller_hangup", result.explain()  # the hold outlasted the RTP timeout
    call = agent.find_call(record.info.call_id)
    assert call is not None and call.hold_time_s() == pytest.approx(hold_s, abs=1.5)
    # Linphone offered telephone-event at 48, 16 and 8 kHz: the 8 kHz one is answered, unchanged.
    offered = dict(re.findall(r"a=rtpmap:(\d+) telephone-event/(\d+)", log))
    assert "48000" in offered.values() and "8000" in offered.values(), offered
    eight_khz = int(next(pt for pt, rate in offered.items() if rate == "8000"))
    assert call.negotiated.event_payload_type == eight_khz
    assert "a=recvonly" in log  # our answer to its pause (sendonly)


def test_linphone_ipv6_offer_is_refused_with_the_reason(agent_factory: AgentFactory, kamailio,
                                                        tmp_path: Path) -> None:
    handler = ScriptedHandler()
    _, settings = agent_factory(handler)
    say = audio.write_pcm16_wav(tmp_path / "say.wav", audio.tone(1000, 3.0))
    result = run_linphone_call(tmp_path / "linphone", f"sip:{settings.username}@127.0.0.1:{kamailio.port}", say,
                               [(3.0, "terminate")], ipv6=True)
    log = result.log.read_text(errors="replace")
    if "c=IN IP6" not in log:
        pytest.fail(f"this host gave Linphone no IPv6 address to offer:\n{result.explain()}")
    assert handler.wait_for(lambda h: len(h.missed) == 1, 5), result.explain()
    info, reason = handler.missed[0]
    assert reason == "refused_488" and "IPv6" in info.refusal
    assert "488" in log and handler.calls == []


@pytest.mark.slow
def test_baresip_hold_outlasts_the_rtp_timeout(agent_factory: AgentFactory, kamailio, tmp_path: Path) -> None:
    hold_s, rtp_timeout_s = pick(6.0, 60.0), pick(2.0, 15.0)
    handler = ScriptedHandler(greeting=audio.tone(440, 200.0))
    agent, settings = agent_factory(handler, answer_after_rings=0, rtp_timeout_s=rtp_timeout_s)
    say = audio.write_pcm16_wav(tmp_path / "say.wav", audio.tone(1000, hold_s + 30, amplitude=6000))
    caller = start_baresip_caller(tmp_path / "baresip", f"sip:{settings.username}@127.0.0.1:{kamailio.port}", say,
                                  seconds=int(hold_s + 8))
    time.sleep(3.0)
    caller.command("/hold")
    time.sleep(hold_s)
    caller.command("/resume")
    result = caller.finish(hold_s + 30)
    (record,) = handler.wait_calls_done(1)
    assert record.end_reason == "caller_hangup", result.output[-3000:]
    call = agent.find_call(record.info.call_id)
    assert call is not None and call.hold_time_s() == pytest.approx(hold_s, abs=1.5)
    # baresip restarts its decoder dump when the hold ends: the last dump is what it heard after.
    assert result.heard_wav is not None, result.output[-3000:]
    after = audio.loud_seconds(audio.read_wav(result.heard_wav), threshold=1000)
    assert after > 1.5, after  # our audio flows again once the hold is over

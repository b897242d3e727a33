"""Thousands of generated and mutated SIP datagrams, garbage UDP and garbage RTP against the live
agent of the real pipeline (kamailio, recorder, ledger), while real SIPp calls come and go.

SIP_FUZZ_CASES (default: 2,500 in the fast tier, 50,000 in the full one) sets the number of SIP cases; each is judged by the oracle in
sipgen.expect_for (RFC 3261's answers), see runner.judge.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.calls.callers import caller_scenario
from tests.calls.conftest import Pipeline
from tests.doubles import ScriptedFactoryDouble
from tests.fuzz import sipgen
from tests.fuzz.runner import FuzzClient, Tally, wait_until
from tests.sipbench import audio
from tests.sipbench.sipp import finish
from tests.tiers import pick

pytestmark = [pytest.mark.sip, pytest.mark.slow]

CASES = int(os.environ.get("SIP_FUZZ_CASES", pick(fast=2500, full=50_000)))  # tests/tiers.py
# Every class of answer the oracle knows must have been exercised, or the run proves little.
CASE = sipgen.sip_case()
RTP, INDEX, RTP_COUNT = sipgen.rtp_garbage(), st.integers(0, 1000), st.integers(0, 3)
MUST_SEE = {"silence", "100,180", "200", "400", "405", "415", "416", "420", "481", "488", "501", "505"}


def _call(p: Pipeline, tmp: Path, name: str, caller: str, agent_hangs_up: bool = False) -> Path:
    steps: list[tuple[str, object]] = [("speak", audio.tone(600, 2.5)), ("pause", 4000)]
    if agent_hangs_up:
        steps = [("speak", audio.tone(600, 2.5)), ("pause", 2600)]
    return caller_scenario(tmp / f"{name}.xml", steps, caller=caller,
                           hang_up="agent" if agent_hangs_up else "caller")


def _check_recording(p: Pipeline, caller: str) -> None:
    calls = [c for c in p.ledger.list_calls(limit=100_000) if c.caller_number == caller]
    assert len(calls) == 1, f"ledger rows for {caller}: {calls}"
    call = calls[0]
    assert call.status == "ended" and call.answered_at is not None, call
    path = Path(p.store.path_of(call.recording_key))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == call.recording_sha256
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert len(frames) / 8000 > 2.5, f"{caller}: recording of {len(frames) / 8000:.1f} s"
    caller_channel = frames[:, 0].astype(float)
    windows = caller_channel[: len(caller_channel) // 160 * 160].reshape(-1, 160)
    loud_s = float((np.sqrt((windows**2).mean(axis=1)) > 300).sum() * 0.02)
    assert loud_s > 1.5, f"{caller}: the caller's 2.5 s tone is missing from the recording ({loud_s:.2f} s)"


def test_agent_keeps_answering_under_sip_and_rtp_fuzzing(pipeline_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p: Pipeline = pipeline_factory(recognizer=ScriptedFactoryDouble(["3号楼2单元501，楼道灯坏了"]))
    agent = p.agent
    callers = {"before": "13800000001", "after": "13800000099"}

    before = p.call(_call(p, tmp_path, "before", callers["before"]))
    assert before.returncode == 0, before.explain()

    client = FuzzClient(p.sip.bind_port)
    tally = Tally()
    during: list[tuple[str, subprocess.Popen[str]]] = []
    # Real calls start at these case numbers; the first one lasts until the agent hangs up.
    starts = {0: True, CASES // 3: False, 2 * CASES // 3: False}

    @settings(max_examples=CASES, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        index = tally.cases
        if index in starts:
            number = f"138000000{10 + len(during)}"
            scenario = _call(p, tmp_path, f"during{len(during)}", number, agent_hangs_up=starts[index])
            during.append((number, p.start_call(scenario, timeout_s=90)))
        client.run(data.draw(CASE, label="case"), tally)
        # Drawn whether or not a call is up: what Hypothesis draws must not depend on outside state.
        packets = [(data.draw(RTP), data.draw(INDEX)) for _ in range(data.draw(RTP_COUNT))]
        ports = sorted(agent.media_ports().values())
        for packet, index in packets if ports else []:
            client.send_rtp(packet, ports[index % len(ports)])
            tally.rtp_packets += 1

    try:
        fuzz()
    finally:
        client.close()
        print("\n" + tally.report())
    results = [(number, *finish(proc, timeout_s=120)) for number, proc in during]
    assert tally.cases >= CASES
    assert not tally.problems, tally.report()
    missing = MUST_SEE - {key.split(",")[-1] if key != "100,180" else key for key in tally.by_status}
    assert not missing, f"no case drew these answers: {missing}\n{tally.report()}"
    assert tally.rtp_packets > 200, tally.report()

    for number, code, output in results:
        assert code == 0, f"real call {number} during the fuzzing failed:\n{output}"
    after = p.call(_call(p, tmp_path, "after", callers["after"]))
    assert after.returncode == 0, after.explain()

    # Every real call was answered, ended and recorded with its audio; nothing leaked.
    for number in [callers["before"], *(n for n, _ in during), callers["after"]]:
        assert wait_until(lambda n=number: any(c.caller_number == n and c.recording_key and c.status == "ended"
                                               for c in p.ledger.list_calls(limit=100_000)), 30), number
        _check_recording(p, number)
    assert wait_until(lambda: agent.active_calls() == 0 and agent.rtp_ports_in_use == 0, 10), (
        agent.active_calls(), agent.rtp_ports_in_use)
    sip = agent._transport  # the receive loop and housekeeping threads are still the original ones
    assert sip is not None and sip._thread is not None and sip._thread.is_alive()
    assert agent._timers is not None and agent._timers.is_alive()
    assert agent._housekeeper is not None and agent._housekeeper.is_alive()
    assert agent.registered

"""The fuzz runner's attribution against a live agent: the late repeats of an earlier case's reply
are strays, never a later case's answer (the full tier's 50,000-case runs counted them as problems)."""

from __future__ import annotations

import time

import pytest

from tests.fuzz.runner import FuzzClient, Tally
from tests.sipbench.doubles import ScriptedHandler
from tests.sipbench.plugin import AgentFactory

# A re-INVITE for a dialog the agent does not know: 481, sent again until an ACK that never comes.
REINVITE = (
    b"INVITE sip:hotline@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-late-1\r\n"
    b"From: <sip:13800138000@127.0.0.1>;tag=a\r\n"
    b"To: <sip:hotline@127.0.0.1>;tag=unknown-dialog\r\n"
    b"Call-ID: mutant-late-1\r\n"
    b"CSeq: 2 INVITE\r\n"
    b"Content-Length: 0\r\n\r\n"
)
SILENT = b"\xfe\xac+\xcd"  # random bytes: no answer


@pytest.mark.sip
def test_a_repeated_final_of_an_earlier_case_is_a_stray(agent_factory: AgentFactory) -> None:
    _, settings = agent_factory(ScriptedHandler())
    client = FuzzClient(settings.bind_port)
    tally = Tally()
    try:
        # as a byte mutant would be: the runner does not know its Call-ID
        first = client.exchange(REINVITE, tally, call_id="")
        assert [r.split(b" ", 2)[1] for r in first] == [b"481"]
        # Timer G repeats the 481 after 0.5 s and 1.5 s, while later cases run
        deadline = time.monotonic() + 2.0
        later: list[bytes] = []
        while time.monotonic() < deadline:
            later += client.exchange(SILENT, tally)
            time.sleep(0.05)
        assert later == [], later
        assert tally.strays >= 2, "the agent sent the 481 once only: the test saw no repeat to attribute"
    finally:
        client.close()

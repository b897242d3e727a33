"""In-process fuzzing of the SIP/SDP/RTP parsers with Hypothesis: they may only refuse input with
their own error types, and whatever they accept must be answerable."""

from __future__ import annotations

import contextlib
import os
import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcenter.telephony import sdp, sipmsg
from tests.fuzz import sipgen
from tests.tiers import pick

EXAMPLES = int(os.environ.get("SIP_FUZZ_PARSER_EXAMPLES", pick(fast=500, full=5000)))  # tests/tiers.py
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def parse_or_refuse(data: bytes) -> sipmsg.SipMessage | None:
    try:
        msg = sipmsg.parse(data)
    except sipmsg.SipParseError as exc:
        if exc.message is not None:  # a rejection must be sendable
            assert exc.status in (400, 505)
            assert exc.message.is_request and exc.message.method != "ACK" or exc.status
            sipmsg.build_response(exc.message, exc.status, to_tag="t")
        return None
    # Whatever parses is usable by the agent without further surprises.
    number, method = msg.cseq
    assert 0 <= number < 2**31 and (not msg.is_request or method == msg.method)
    if msg.is_request:
        sipmsg.build_response(msg, 200, to_tag="t", record_route=True)
        sipmsg.user_part(msg.get("from") or "")
        sipmsg.display_name(msg.get("from") or "")
        sipmsg.uri_hostport(msg.uri)
    return msg


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes(data: bytes) -> None:
    parse_or_refuse(data)


@FUZZ
@given(sipgen.sip_case())
def test_generated_and_mutated_messages(case: sipgen.Case) -> None:
    msg = parse_or_refuse(case.data)
    if msg is not None and msg.is_request and msg.method == "INVITE" and msg.body:
        with contextlib.suppress(sdp.SdpError):
            sdp.negotiate(sdp.parse_offer(msg.body), ["PCMU", "PCMA"])


@FUZZ
@given(sipgen.grammar_case())
def test_parse_errors_match_the_oracle(case: sipgen.Case) -> None:
    """Where the oracle predicts 400/505 (or silence for an unroutable request), the parser agrees."""
    expected = case.expect.statuses
    try:
        msg = sipmsg.parse(case.data)
    except sipmsg.SipParseError as exc:
        got = exc.status if exc.message is not None else None
        assert (got in expected) or (got is None and not expected and not case.expect.weak), (
            f"{case.kind}: parser says {got}, oracle {sorted(expected)} ({case.expect.why})\n{case.data!r}")
        return
    assert not (expected and expected <= {400, 505}), (
        f"{case.kind}: parsed, but the oracle expects {sorted(expected)} ({case.expect.why})\n{case.data!r}")
    assert msg is not None


@FUZZ
@given(st.binary(max_size=2000))
def test_sdp_parser_only_raises_sdp_error(body: bytes) -> None:
    try:
        offer = sdp.parse_offer(body)
    except sdp.SdpError:
        return
    assert 0 < offer.port < 65536


@FUZZ
@given(sipgen.rtp_garbage())
def test_rtp_parser_survives_garbage(packet: bytes) -> None:
    from callcenter.telephony.compat import CompatRTPClient, PortPool
    from tests.sipbench.doubles import CallRecord

    pool = PortPool(0, 0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client = CompatRTPClient(sock, 0, pool, ("127.0.0.1", 9), "PCMA", 8, 101, "fuzz")
    record = CallRecord(info=None, on_call_at_s=0)  # type: ignore[arg-type]
    client.sink = record
    try:
        client.parse_packet(packet)
    finally:
        sock.close()
    for pcm, _ in record.caller_audio:
        assert pcm and len(pcm) % 2 == 0
    assert all(d in "0123456789*#ABCD" for d in record.dtmf)

"""One test per defect the fuzzer found in callcenter/telephony (each failed before its fix)."""

from __future__ import annotations

import socket
import time

import pytest

from callcenter.telephony import sdp, sipmsg
from callcenter.telephony.compat import CompatRTPClient, PortPool
from tests.fuzz.runner import FuzzClient
from tests.sipbench.doubles import CallRecord, ScriptedHandler
from tests.sipbench.plugin import AgentFactory

BASE = (
    "{method} {uri} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{n}\r\n"
    "From: <sip:13800138000@127.0.0.1>;tag=a\r\n"
    "To: <sip:hotline@127.0.0.1>\r\n"
    "Call-ID: found-{n}\r\n"
    "CSeq: {cseq} {method}\r\n"
    "{extra}"
    "Content-Length: 0\r\n\r\n"
)


def request(method: str = "OPTIONS", uri: str = "sip:hotline@127.0.0.1", cseq: str = "1", extra: str = "",
            n: int = 0) -> bytes:
    return BASE.format(method=method, uri=uri, cseq=cseq, extra=extra, n=n).encode()


def refused_with(data: bytes) -> int | None:
    with pytest.raises(sipmsg.SipParseError) as caught:
        sipmsg.parse(data)
    return caught.value.status if caught.value.message is not None else None


@pytest.mark.parametrize("number", ["²", "١٢", "1²"])
def test_non_ascii_digits_are_a_400_not_a_crash(number: str) -> None:
    # str.isdigit() said yes and int() raised ValueError out of parse(): the datagram was lost
    # in the receive loop's catch-all instead of answered.
    assert refused_with(request(cseq=number)) == 400
    assert refused_with(request(extra="").replace(b"Content-Length: 0", f"Content-Length: {number}".encode())) == 400
    with pytest.raises(sipmsg.SipParseError):
        sipmsg.parse(f"SIP/2.0 2{number} OK\r\nVia: SIP/2.0/UDP h\r\n\r\n".encode())


def test_bad_utf8_is_answered_400_with_the_bytes_echoed() -> None:
    # It used to be dropped without an answer although Via/From/To/Call-ID/CSeq were intact.
    data = request(extra="Subject: \xff\r\n").replace("Subject: \xff".encode(), b"Subject: \xff\xfe")
    data = data.replace(b"tag=a", b"tag=a\xc3\x28")
    with pytest.raises(sipmsg.SipParseError) as caught:
        sipmsg.parse(data)
    assert caught.value.status == 400 and caught.value.message is not None
    response = sipmsg.build_response(caught.value.message, 400, to_tag="t")
    assert b"From: <sip:13800138000@127.0.0.1>;tag=a\xc3\x28\r\n" in response


def test_control_characters_need_a_quoted_pair() -> None:
    assert refused_with(request(extra="Subject: a\x00b\r\n")) == 400
    assert refused_with(request(extra="X-Esc: a\x1bb\r\n")) == 400
    sipmsg.parse(request(extra='X-Quoted: "BEL:\\\x07"\r\n'))  # RFC 4475 intmeth: legal


def test_only_a_well_formed_version_gets_505() -> None:
    assert refused_with(request().replace(b"SIP/2.0\r\nVia", b"SIP/3.0\r\nVia")) == 505
    assert refused_with(request().replace(b"SIP/2.0\r\nVia", b"SIP/2\r\nVia")) == 400


def test_from_or_to_twice_is_a_400() -> None:
    assert refused_with(request(extra="From: <sip:other@127.0.0.1>;tag=b\r\n")) == 400
    assert refused_with(request(extra="To: <sip:other@127.0.0.1>\r\n")) == 400


def test_a_malformed_ack_is_never_answered() -> None:
    assert refused_with(request(method="ACK", cseq="x")) is None
    assert refused_with(request(method="ACK").replace(b"SIP/2.0\r\nVia", b"SIP/3.0\r\nVia")) is None


@pytest.mark.parametrize(
    ("media", "why"),
    [
        ("c=IN IP4 127.0.0.1\r\nm=audio 0 RTP/AVP 0", "declined"),  # RFC 3264: port 0 rejects the stream
        ("c=IN IP4 127.0.0.1\r\nm=audio 99999 RTP/AVP 0", "out of range"),  # sendto() raised OverflowError
        ("c=IN IP4 pbx.example.com\r\nm=audio 4000 RTP/AVP 0", "not an IP"),  # DNS on the RTP thread
    ],
)
def test_unusable_sdp_addresses_are_refused(media: str, why: str) -> None:
    with pytest.raises(sdp.SdpError, match=why):
        sdp.parse_offer(f"v=0\r\n{media}\r\n".encode())


def _rtp(pt: int = 8, ts: int = 0) -> bytes:
    return bytes([0x80, pt]) + (1).to_bytes(2, "big") + ts.to_bytes(4, "big") + (7).to_bytes(4, "big") + b"\xd5" * 160


def test_rtp_from_a_foreign_source_does_not_reach_the_call() -> None:
    """Any host could write into a call's recording by sending to its RTP port."""
    pool = PortPool(0, 0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    caller, stranger = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    caller.bind(("127.0.0.1", 0))
    stranger.bind(("127.0.0.1", 0))
    client = CompatRTPClient(sock, sock.getsockname()[1], pool, caller.getsockname(), "PCMA", 8, None, "t")
    record = CallRecord(info=None, on_call_at_s=0)  # type: ignore[arg-type]
    client.sink = record
    client.start()
    try:
        target = sock.getsockname()
        caller.sendto(_rtp(ts=0), target)
        time.sleep(0.1)
        for ts in range(160, 1600, 160):
            stranger.sendto(_rtp(ts=ts), target)
        time.sleep(0.2)
        assert len(record.caller_audio) == 1 and client.packets_dropped == 9
    finally:
        client.stop()
        caller.close()
        stranger.close()


def test_rtp_latches_to_the_first_source_while_the_sdp_address_is_silent() -> None:
    """Behind NAT the caller's packets come from elsewhere than its SDP says: still recorded."""
    pool = PortPool(0, 0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client = CompatRTPClient(sock, 0, pool, ("127.0.0.1", 9), "PCMA", 8, None, "t")
    record = CallRecord(info=None, on_call_at_s=0)  # type: ignore[arg-type]
    client.sink = record
    try:
        client.parse_packet(_rtp(ts=0), ("10.0.0.5", 4000))
        client.parse_packet(_rtp(ts=160), ("10.0.0.5", 4000))
        client.parse_packet(_rtp(ts=320), ("10.0.0.6", 4000))
        assert len(record.caller_audio) == 2 and client.packets_dropped == 1
        client.parse_packet(_rtp(ts=480), ("127.0.0.1", 9))  # the SDP address wins once it speaks
        client.parse_packet(_rtp(ts=640), ("10.0.0.5", 4000))
        assert len(record.caller_audio) == 3 and client.packets_dropped == 2
    finally:
        sock.close()


@pytest.mark.sip
def test_rfc3261_order_of_checks_and_every_require(agent_factory: AgentFactory) -> None:
    _, settings = agent_factory(ScriptedHandler())
    client = FuzzClient(settings.bind_port)
    try:
        def status(data: bytes) -> list[bytes]:
            return [r.split(b" ", 2)[1] for r in client.exchange(data)]

        # 8.2.1 before 8.2.2.1: an unknown method is 501 even with a tel: URI (was 416).
        assert status(request(method="FOO", uri="tel:+8610", n=1)) == [b"501"]
        assert status(request(method="SUBSCRIBE", uri="tel:+8610", n=2)) == [b"405"]
        # Every Require header counts, not only the first (an empty first one hid "foo").
        replies = client.exchange(request(extra="Require:\r\nRequire: foo, bar\r\n", n=3))
        assert [r.split(b" ", 2)[1] for r in replies] == [b"420"]
        assert b"\r\nUnsupported: foo, bar\r\n" in replies[0]
        # INFO is served, so Allow lists it.
        assert b"INFO" in client.exchange(request(method="PUBLISH", n=4))[0].split(b"Allow:")[1]
    finally:
        client.close()


def test_a_call_id_the_ledger_cannot_store_is_a_400() -> None:
    # A 300-character Call-ID rang, then failed the ledger write on PostgreSQL (varchar 255):
    # a call answered but never logged.
    long_id = request().replace(b"Call-ID: found-0", b"Call-ID: " + b"x" * 300)
    assert refused_with(long_id) == 400
    assert sipmsg.parse(request().replace(b"Call-ID: found-0", b"Call-ID: " + b"x" * 255)).call_id == "x" * 255

"""Pure parts of the telephony layer: settings, SIP message parsing, SDP negotiation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from callcenter.telephony import sdp, sipmsg
from callcenter.telephony.settings import DEFAULT_INSTANCE_ID, SipSettings


def test_settings_defaults_and_validation() -> None:
    s = SipSettings()
    assert (s.mode, s.port, s.bind_port, s.codecs, s.instance_id) == (
        "register",
        5060,
        5080,
        ["PCMU", "PCMA"],
        DEFAULT_INSTANCE_ID,
    )
    assert s.ring_delay_s == 5.0  # one ring of China's 1 s on / 4 s off cadence
    with pytest.raises(ValidationError, match="three rings"):
        SipSettings(answer_after_rings=4)
    with pytest.raises(ValidationError):
        SipSettings(bind_prot=5081)  # typo: unknown keys are errors
    with pytest.raises(ValidationError):
        SipSettings(rtp_port_low=20000, rtp_port_high=10000)
    with pytest.raises(ValidationError):
        SipSettings(codecs=["G729"])
    with pytest.raises(ValidationError):
        SipSettings(instance_id="not-a-urn")
    with pytest.raises(ValidationError):
        s.port = 5061  # frozen


INVITE = (
    b"INVITE sip:hotline@127.0.0.1:5060 SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport\r\n"
    b'f: "Zhang San" <sip:13800138000@127.0.0.1>;tag=abc\r\n'
    b"t: <sip:hotline@127.0.0.1>\r\n"
    b"i: call-1\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"Subject:\r\n"
    b"Record-Route: <sip:127.0.0.1:5060;lr>\r\n"
    b"c: application/sdp\r\n"
    b"l: 129\r\n\r\n"
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    b"trailing junk beyond Content-Length"
)


def test_parse_compact_forms_and_empty_values() -> None:
    msg = sipmsg.parse(INVITE)
    assert msg.method == "INVITE" and msg.call_id == "call-1" and msg.cseq == (7, "INVITE")
    assert msg.get("subject") == ""
    assert sipmsg.user_part(msg.get("from") or "") == "13800138000"
    assert sipmsg.display_name(msg.get("from") or "") == "Zhang San"
    assert len(msg.body) == 129 and msg.body.endswith(b"telephone-event/8000\r\n")


def test_response_copies_headers_verbatim_and_adds_to_tag() -> None:
    msg = sipmsg.parse(INVITE)
    response = sipmsg.build_response(msg, 180, to_tag="xyz", record_route=True).decode()
    assert response.startswith("SIP/2.0 180 Ringing\r\n")
    assert "v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport\r\n" in response
    assert "t: <sip:hotline@127.0.0.1>;tag=xyz\r\n" in response
    assert "Record-Route: <sip:127.0.0.1:5060;lr>\r\n" in response
    assert sipmsg.build_response(msg, 100).decode().count("tag=") == 1  # no To tag on 100


@pytest.mark.parametrize(
    ("datagram", "status"),
    [
        (INVITE.replace(b"SIP/2.0\r\nv:", b"SIP/3.0\r\nv:"), 505),
        (INVITE.replace(b"CSeq: 7 INVITE", b"CSeq: 7 BYE"), 400),
        (INVITE.replace(b"CSeq: 7 INVITE", b"CSeq: 4294967296 INVITE"), 400),
        (INVITE.replace(b"l: 129", b"l: 9999"), 400),
        (INVITE.replace(b"i: call-1\r\n", b""), 400),
        (b"SIP/2.0 99999 Huge\r\nVia: SIP/2.0/UDP x\r\n\r\n", 0),
        (b"\x00\x01garbage", 0),
    ],
)
def test_malformed_messages(datagram: bytes, status: int) -> None:
    with pytest.raises(sipmsg.SipParseError) as caught:
        sipmsg.parse(datagram)
    assert (caught.value.status if caught.value.message is not None else 0) == status


def test_sdp_negotiation_follows_our_preference() -> None:
    offer = sdp.parse_offer(sipmsg.parse(INVITE).body)
    assert (offer.address, offer.port) == ("127.0.0.1", 40000)
    chosen = sdp.negotiate(offer, ["PCMU", "PCMA"])
    assert (chosen.codec, chosen.payload_type, chosen.event_payload_type) == ("PCMU", 0, 101)
    assert sdp.negotiate(offer, ["PCMA"]).codec == "PCMA"
    answer = sdp.build_answer("127.0.0.1", 30000, 1, chosen).decode()
    assert "m=audio 30000 RTP/AVP 0 101\r\n" in answer
    with pytest.raises(sdp.SdpError, match="no common codec"):
        sdp.negotiate(sdp.AudioOffer("127.0.0.1", 1, {18: "G729"}), ["PCMU"])
    with pytest.raises(sdp.SdpError):
        sdp.parse_offer(b"v=0\r\nm=video 1 RTP/AVP 31\r\n")


@pytest.mark.parametrize(("accept", "ok"), [
    ([], True),  # no Accept: application/sdp is the default (RFC 3261 20.1)
    (["text/nobodyKnowsThis"], False),  # RFC 4475 sdp01
    ([""], False),  # an empty Accept accepts nothing
    (["application/sdp"], True),
    (["Application/SDP;level=1"], True),  # case-insensitive, parameters ignored
    (["text/html, application/sdp;q=0.2"], True),
    (["application/sdp;q=0"], False),  # q=0: explicitly not acceptable
    (["application/sdp;q=0.000"], False),
    (["application/*"], True),
    (["*/*"], True),
    (["*/*;q=0.1"], True),
    (["*/*", "application/sdp;q=0"], False),  # the most specific range decides
    (["text/plain", "multipart/mixed"], False),
    (["text/plain", "application/sdp"], True),  # several Accept fields
    (["application/sdp;q=junk"], True),  # a garbled q reads as the default
])
def test_accept_decides_whether_an_sdp_answer_may_be_sent(accept: list[str], ok: bool) -> None:
    assert sipmsg.accepts(accept, "application/sdp") is ok

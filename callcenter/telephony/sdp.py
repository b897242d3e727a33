"""Just enough SDP (RFC 4566/3264) for one audio stream of G.711 plus telephone-event and comfort noise.

Offer/answer (RFC 3264): the answer's direction mirrors the offer's (sendonly -> recvonly,
recvonly -> sendonly, inactive -> inactive, 6.1); telephone-event is taken only at the audio
codec's 8 kHz clock (RFC 4733 7.1.1: a 48 kHz one is not relabelled); comfort noise (RFC 3389,
static PT 13 or CN/8000) is accepted when offered.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

STATIC_PAYLOADS = {0: "PCMU", 8: "PCMA", 13: "CN"}
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
ANSWER_DIRECTION = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}


class SdpError(ValueError):
    """The offer cannot be answered (no audio, no address, no common codec)."""


@dataclass(frozen=True)
class AudioOffer:
    address: str
    port: int
    payloads: dict[int, str]  # payload type -> upper-case encoding name
    direction: str = "sendrecv"  # the offerer's: media-level attribute, else session-level
    rates: dict[int, int] = field(default_factory=dict)  # payload type -> clock rate (rtpmap), if given

    @property
    def ipv6(self) -> bool:
        return ":" in self.address

    @property
    def held_by_address(self) -> bool:
        """RFC 2543 hold: c=0.0.0.0 (RFC 3264 8.4 still asks answerers to understand it)."""
        return self.address in ("0.0.0.0", "::")


@dataclass(frozen=True)
class Negotiated:
    remote_address: str
    remote_port: int
    codec: str  # "PCMU" / "PCMA"
    payload_type: int
    event_payload_type: int | None  # RFC 4733 telephone-event at 8 kHz, if offered
    direction: str = "sendrecv"  # of our answer (what we do): sendrecv / sendonly / recvonly / inactive
    cn_payload_type: int | None = None  # RFC 3389 comfort noise, if offered

    @property
    def we_send(self) -> bool:
        return self.direction in ("sendrecv", "sendonly")

    @property
    def held(self) -> bool:
        """The peer put us on hold: it will not receive our audio (sendonly or inactive offer)."""
        return self.direction in ("recvonly", "inactive")


def parse_offer(body: bytes) -> AudioOffer:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SdpError("SDP is not UTF-8") from exc
    session_addr = ""
    media_addr = ""
    port = -1
    payloads: dict[int, str] = {}
    rates: dict[int, int] = {}
    session_direction = ""
    media_direction = ""
    in_audio = False
    seen_audio = False
    for raw in text.splitlines():
        kind, eq, value = raw.strip().partition("=")
        if not eq:
            continue
        if kind == "m":
            fields = value.split()
            in_audio = not seen_audio and len(fields) >= 4 and fields[0] == "audio"
            if in_audio:
                seen_audio = True
                try:
                    port = int(fields[1].split("/")[0])
                    for fmt in fields[3:]:
                        pt = int(fmt)
                        payloads[pt] = STATIC_PAYLOADS.get(pt, "")
                except ValueError as exc:
                    raise SdpError(f"bad m= line {raw!r}") from exc
        elif kind == "c":
            fields = value.split()
            address = fields[2].split("/")[0] if len(fields) >= 3 else ""
            if in_audio:
                media_addr = address
            elif not seen_audio:
                session_addr = address
        elif kind == "a" and in_audio and value.startswith("rtpmap:"):
            pt_text, _, encoding = value[len("rtpmap:") :].partition(" ")
            if pt_text.isdigit() and int(pt_text) in payloads:
                name, _, rate = encoding.strip().partition("/")
                payloads[int(pt_text)] = name.upper()
                rate = rate.split("/")[0]
                if rate.isdigit():
                    rates[int(pt_text)] = int(rate)
        elif kind == "a" and value.strip() in DIRECTIONS:
            if in_audio:
                media_direction = value.strip()
            elif not seen_audio:
                session_direction = value.strip()
    if not seen_audio:
        raise SdpError("no m=audio line")
    address = media_addr or session_addr
    if not address or port < 0:
        raise SdpError("no connection address or port for audio")
    if port == 0:
        raise SdpError("the audio stream is declined (port 0)")  # RFC 3264 5.1
    if port > 65535:
        raise SdpError(f"audio port {port} out of range")  # sendto() would raise on every packet
    try:
        # An IP literal only: a host name would be resolved on the RTP thread every 20 ms.
        ipaddress.ip_address(address)
    except ValueError as exc:
        raise SdpError(f"connection address {address!r} is not an IP address") from exc
    direction = media_direction or session_direction or "sendrecv"
    return AudioOffer(address=address, port=port, payloads=payloads, direction=direction, rates=rates)


def negotiate(offer: AudioOffer, preference: list[str]) -> Negotiated:
    """Pick our most preferred codec that the caller offered; telephone-event and CN at 8 kHz."""
    for codec in preference:
        for pt, name in offer.payloads.items():
            if name == codec:
                event = _at_8khz(offer, "TELEPHONE-EVENT")
                cn = _at_8khz(offer, "CN")
                direction = ANSWER_DIRECTION[offer.direction]
                if offer.held_by_address and direction == "sendrecv":
                    direction = "recvonly"  # c=0.0.0.0: the peer takes no audio
                return Negotiated(offer.address, offer.port, codec, pt, event, direction, cn)
    offered = ", ".join(n or str(p) for p, n in offer.payloads.items())
    raise SdpError(f"no common codec: offered {offered}, we accept {', '.join(preference)}")


def _at_8khz(offer: AudioOffer, encoding: str) -> int | None:
    """The payload type of `encoding` at 8000 Hz (a static one has no rtpmap: 8000 by definition)."""
    for pt, name in offer.payloads.items():
        if name == encoding and offer.rates.get(pt, 8000) == 8000:
            return pt
    return None


def build_answer(ip: str, port: int, session_id: int, chosen: Negotiated, version: int | None = None) -> bytes:
    """Our SDP answer; `version` is the o= line's session version (incremented on every change
    of our session within a dialog, RFC 3264 8)."""
    pts = [chosen.payload_type]
    if chosen.event_payload_type is not None:
        pts.append(chosen.event_payload_type)
    if chosen.cn_payload_type is not None:
        pts.append(chosen.cn_payload_type)
    family = "IP6" if ":" in ip else "IP4"
    lines = [
        "v=0",
        f"o=callcenter {session_id} {session_id if version is None else version} IN {family} {ip}",
        "s=callcenter",
        f"c=IN {family} {ip}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(map(str, pts))}",
        f"a=rtpmap:{chosen.payload_type} {chosen.codec}/8000",
    ]
    if chosen.event_payload_type is not None:
        lines += [
            f"a=rtpmap:{chosen.event_payload_type} telephone-event/8000",
            f"a=fmtp:{chosen.event_payload_type} 0-16",
        ]
    if chosen.cn_payload_type is not None:
        lines.append(f"a=rtpmap:{chosen.cn_payload_type} CN/8000")
    lines += ["a=ptime:20", f"a={chosen.direction}"]
    return ("\r\n".join(lines) + "\r\n").encode()


STATIC_PAYLOAD_TYPES = {name: pt for pt, name in STATIC_PAYLOADS.items()}
OFFER_EVENT_PT = 101


def build_offer(ip: str, port: int, session_id: int, codecs: list[str]) -> bytes:
    """Our offer for an outbound call: the codecs in preference order plus telephone-event."""
    pts = [STATIC_PAYLOAD_TYPES[c] for c in codecs]
    lines = [
        "v=0",
        f"o=callcenter {session_id} {session_id} IN IP4 {ip}",
        "s=callcenter",
        f"c=IN IP4 {ip}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(map(str, [*pts, OFFER_EVENT_PT]))}",
        *(f"a=rtpmap:{pt} {codec}/8000" for pt, codec in zip(pts, codecs, strict=True)),
        f"a=rtpmap:{OFFER_EVENT_PT} telephone-event/8000",
        f"a=fmtp:{OFFER_EVENT_PT} 0-16",
        "a=ptime:20",
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()

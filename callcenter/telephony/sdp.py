"""Just enough SDP (RFC 4566/3264) for one audio stream of G.711 plus telephone-event."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

STATIC_PAYLOADS = {0: "PCMU", 8: "PCMA"}


class SdpError(ValueError):
    """The offer cannot be answered (no audio, no address, no common codec)."""


@dataclass(frozen=True)
class AudioOffer:
    address: str
    port: int
    payloads: dict[int, str]  # payload type -> upper-case encoding name


@dataclass(frozen=True)
class Negotiated:
    remote_address: str
    remote_port: int
    codec: str  # "PCMU" / "PCMA"
    payload_type: int
    event_payload_type: int | None  # RFC 4733 telephone-event, if offered


def parse_offer(body: bytes) -> AudioOffer:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SdpError("SDP is not UTF-8") from exc
    session_addr = ""
    media_addr = ""
    port = -1
    payloads: dict[int, str] = {}
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
                payloads[int(pt_text)] = encoding.split("/")[0].upper()
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
    return AudioOffer(address=address, port=port, payloads=payloads)


def negotiate(offer: AudioOffer, preference: list[str]) -> Negotiated:
    """Pick our most preferred codec that the caller offered."""
    for codec in preference:
        for pt, name in offer.payloads.items():
            if name == codec:
                event = next((p for p, n in offer.payloads.items() if n == "TELEPHONE-EVENT"), None)
                return Negotiated(offer.address, offer.port, codec, pt, event)
    offered = ", ".join(n or str(p) for p, n in offer.payloads.items())
    raise SdpError(f"no common codec: offered {offered}, we accept {', '.join(preference)}")


def build_answer(ip: str, port: int, session_id: int, chosen: Negotiated) -> bytes:
    pts = [chosen.payload_type]
    if chosen.event_payload_type is not None:
        pts.append(chosen.event_payload_type)
    lines = [
        "v=0",
        f"o=callcenter {session_id} {session_id} IN IP4 {ip}",
        "s=callcenter",
        f"c=IN IP4 {ip}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(map(str, pts))}",
        f"a=rtpmap:{chosen.payload_type} {chosen.codec}/8000",
    ]
    if chosen.event_payload_type is not None:
        lines += [
            f"a=rtpmap:{chosen.event_payload_type} telephone-event/8000",
            f"a=fmtp:{chosen.event_payload_type} 0-16",
        ]
    lines += ["a=ptime:20", "a=sendrecv"]
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

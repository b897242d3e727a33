"""A minimal SIP caller on raw sockets, for what no packaged peer does on demand: media on IPv6,
RTCP without RTP. It speaks straight to an agent in direct mode (UDP)."""

from __future__ import annotations

import socket
import struct
import time
import uuid

from callcenter.telephony import sdp, sipmsg
from tests.sipbench.tools import LOOPBACK


class RawCaller:
    def __init__(self, agent_port: int, media_host: str = LOOPBACK) -> None:
        self.agent = (LOOPBACK, agent_port)
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((LOOPBACK, 0))
        self.sip.settimeout(5)
        family = socket.AF_INET6 if ":" in media_host else socket.AF_INET
        self.media_host = media_host
        self.rtp = socket.socket(family, socket.SOCK_DGRAM)
        self.rtcp = socket.socket(family, socket.SOCK_DGRAM)
        for _ in range(50):  # an even RTP port with its RTCP port free above it
            self.rtp.bind((media_host, 0))
            port = self.rtp.getsockname()[1]
            try:
                if port % 2:
                    raise OSError
                self.rtcp.bind((media_host, port + 1))
                break
            except OSError:
                self.rtp.close()
                self.rtp = socket.socket(family, socket.SOCK_DGRAM)
        self.rtp.settimeout(0.5)
        self.rtp_port = self.rtp.getsockname()[1]
        self.call_id = f"{uuid.uuid4().hex}@raw"
        self.tag = uuid.uuid4().hex[:8]
        self.me = self.sip.getsockname()
        self.ok: sipmsg.SipMessage | None = None
        self.answer: sdp.AudioOffer | None = None
        self.seq = 0
        self.ts = 0

    def _request(self, method: str, cseq: int, body: bytes = b"", to_tag: str = "") -> bytes:
        lines = [f"{method} sip:hotline@{LOOPBACK}:{self.agent[1]} SIP/2.0",
                 f"Via: SIP/2.0/UDP {self.me[0]}:{self.me[1]};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport",
                 "Max-Forwards: 70", f"From: <sip:13600136000@{LOOPBACK}>;tag={self.tag}",
                 f"To: <sip:hotline@{LOOPBACK}>" + (f";tag={to_tag}" if to_tag else ""),
                 f"Call-ID: {self.call_id}", f"CSeq: {cseq} {method}",
                 f"Contact: <sip:13600136000@{self.me[0]}:{self.me[1]}>"]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def offer(self) -> bytes:
        family = "IP6" if ":" in self.media_host else "IP4"
        return (f"v=0\r\no=raw 1 1 IN {family} {self.media_host}\r\ns=-\r\nc=IN {family} {self.media_host}\r\n"
                f"t=0 0\r\nm=audio {self.rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
                f"a=rtpmap:101 telephone-event/8000\r\n").encode()

    def invite(self, timeout_s: float = 10) -> int:
        """INVITE and wait for the final response; ACK it. Returns the status."""
        self.sip.sendto(self._request("INVITE", 1, self.offer()), self.agent)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = sipmsg.parse(self.sip.recv(65535))
            if msg.status < 200:
                continue
            to_tag = sipmsg.header_tag(msg.get("to") or "")
            self.sip.sendto(self._request("ACK", 1, to_tag=to_tag), self.agent)
            if msg.status == 200:
                self.ok = msg
                self.answer = sdp.parse_offer(msg.body)
            self.final = msg
            return msg.status
        raise TimeoutError("no final response to the INVITE")

    def bye(self) -> None:
        assert self.ok is not None
        self.sip.sendto(self._request("BYE", 2, to_tag=sipmsg.header_tag(self.ok.get("to") or "")), self.agent)

    def send_rtp(self, payload: bytes, pt: int = 0) -> None:
        assert self.answer is not None
        header = struct.pack("!BBHII", 0x80, pt, self.seq & 0xFFFF, self.ts & 0xFFFFFFFF, 0x5151)
        self.seq += 1
        self.ts += len(payload)
        self.rtp.sendto(header + payload, (self.answer.address, self.answer.port))

    def send_rtcp(self) -> None:
        """An empty receiver report (RFC 3550 6.4.2) to the agent's RTCP port."""
        assert self.answer is not None
        self.rtcp.sendto(struct.pack("!BBHI", 0x80, 201, 1, 0x5151), (self.answer.address, self.answer.port + 1))

    def receive_rtp(self, seconds: float) -> list[bytes]:
        packets, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                packets.append(self.rtp.recv(2048))
            except TimeoutError:
                continue
        return packets

    def close(self) -> None:
        for sock in (self.sip, self.rtp, self.rtcp):
            sock.close()

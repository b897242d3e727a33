"""Outbound calls (UAC side): the INVITE client transaction, digest auth, ACK and CANCEL.

pyVoIP 1.6.8's `VoIPPhone.call()` sends its INVITE to server:port with the same
defects as the inbound path (no CANCEL, no ACK for non-2xx, replies matched by
"next datagram"), so, like the inbound side, the SIP is written here and only
the RTP machinery (compat.CompatRTPClient) is reused.

`InviteClient.run()` runs on the dialling thread; the agent's receive loop
feeds it the responses that carry its Call-ID.
"""

from __future__ import annotations

import hashlib
import queue
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from callcenter.telephony import sipmsg
from callcenter.telephony.interface import DialError
from callcenter.telephony.settings import SipSettings
from callcenter.telephony.sipmsg import SipMessage
from callcenter.telephony.transport import Peer

T1_S = 0.5  # RFC 3261 timer T1
TIMER_B_S = 64 * T1_S  # INVITE transaction timeout without any response
CANCEL_WAIT_S = 4.0  # how long we wait for the 487 after CANCEL before giving up on it

Send = Callable[[bytes, Peer], object]


@dataclass(frozen=True)
class Dialog:
    """What an in-dialog request we send needs (RFC 3261 12.1): target, route set, From, To."""

    target: str  # remote target URI (the peer's Contact)
    route_set: tuple[str, ...]  # Route header values, in the order they are sent
    local: str  # our From header value, with our tag
    remote: str  # the peer's To header value, with its tag

    def destination(self, fallback: Peer) -> Peer:
        """Loose routing: the first route if any, else the target; `fallback` if neither parses.
        The transport is the URI's transport parameter, else the fallback's."""
        uri = sipmsg.addr_spec(self.route_set[0]) if self.route_set else self.target
        hostport = sipmsg.uri_hostport(uri)
        if hostport is None:
            return fallback
        return Peer(hostport[0], hostport[1], sipmsg.uri_transport(uri, fallback.transport))

    def request(self, method: str, cseq: int, via: str, call_id: str, extra: list[str] | None = None) -> bytes:
        lines = [f"{method} {self.target} SIP/2.0", f"Via: {via}", "Max-Forwards: 70"]
        if self.route_set:
            lines.append("Route: " + ", ".join(self.route_set))
        lines += [
            f"From: {self.local}",
            f"To: {self.remote}",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} {method}",
            *(extra or []),
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


def reason_for(status: int) -> str:
    """DialError reason of a final non-2xx status."""
    if status in (486, 600):
        return "busy"
    if status in (408, 487):
        return "no_answer"
    if status in (404, 410, 480, 484, 502, 503, 504):
        return "unreachable"
    return "rejected"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324  # RFC 2617 digest is MD5


def digest_authorization(challenge: str, method: str, uri: str, username: str, password: str) -> str:
    """The Authorization value answering a `Digest` challenge (RFC 2617, MD5, qop=auth or none)."""
    params = {k.lower(): q or t for k, q, t in re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]+))', challenge)}
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    value = f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", algorithm=MD5'
    qops = [q.strip() for q in params.get("qop", "").split(",")]
    if "auth" in qops:
        cnonce, nc = uuid.uuid4().hex[:16], "00000001"
        response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        value += f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        response = _md5(f"{ha1}:{nonce}:{ha2}")
    value += f', response="{response}"'
    if "opaque" in params:
        value += f', opaque="{params["opaque"]}"'
    return value


class InviteClient:
    """One outbound INVITE until it is answered or fails (RFC 3261 17.1.1, 9.1, 22.2)."""

    def __init__(self, settings: SipSettings, number: str, call_id: str, offer: bytes, send: Send) -> None:
        self.settings = settings
        self.transport = settings.transport
        host, port = settings.dial_target
        self.dest = Peer(host, port, self.transport)
        self.uri = f"sip:{number}@{host}:{port}"
        self.call_id = call_id
        self.offer = offer
        self.send = send
        self.from_tag = sipmsg.new_tag()
        self.local = f"<sip:{settings.username}@{self._from_domain()}>;tag={self.from_tag}"
        self.cseq = 1
        self.branch = sipmsg.new_branch()
        self.authorization = ""  # "Authorization: ..." / "Proxy-Authorization: ..." once challenged
        self.responses: queue.Queue[SipMessage] = queue.Queue()
        self.late_answer: SipMessage | None = None  # a 2xx that crossed our CANCEL: ACK it and BYE

    def _from_domain(self) -> str:
        s = self.settings
        return f"{s.server}:{s.port}" if s.mode == "register" else f"{s.bind_ip}:{s.bind_port}"

    def _via(self, branch: str) -> str:
        return f"SIP/2.0/{self.transport.upper()} {self.settings.bind_ip}:{self.settings.bind_port};branch={branch};rport"

    def invite(self) -> bytes:
        s = self.settings
        lines = [
            f"INVITE {self.uri} SIP/2.0",
            f"Via: {self._via(self.branch)}",
            "Max-Forwards: 70",
            f"From: {self.local}",
            f"To: <{self.uri}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} INVITE",
            f"Contact: <sip:{s.username}@{s.bind_ip}:{s.bind_port}{';transport=tcp' if self.transport == 'tcp' else ''}>",
            f"Allow: {sipmsg.ALLOW}",
            *([self.authorization] if self.authorization else []),
            "Content-Type: application/sdp",
            f"Content-Length: {len(self.offer)}",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.offer

    def _same_transaction(self, method: str, to_value: str) -> bytes:
        """ACK of a non-2xx (17.1.1.3) and CANCEL (9.1): the INVITE's branch, R-URI and CSeq number."""
        lines = [
            f"{method} {self.uri} SIP/2.0",
            f"Via: {self._via(self.branch)}",
            "Max-Forwards: 70",
            f"From: {self.local}",
            f"To: {to_value}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} {method}",
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def ack_failure(self, response: SipMessage) -> None:
        self.send(self._same_transaction("ACK", response.get("to") or f"<{self.uri}>"), self.dest)

    def dialog(self, ok: SipMessage) -> Dialog:
        """The dialog a 2xx creates (12.1.2): route set = Record-Route reversed, target = Contact."""
        routes = [r.strip() for value in ok.get_all("record-route") for r in value.split(",") if r.strip()]
        target = sipmsg.addr_spec(ok.get("contact") or "") or self.uri
        return Dialog(target, tuple(reversed(routes)), self.local, ok.get("to") or f"<{self.uri}>")

    def ack_2xx(self, ok: SipMessage) -> bytes:
        """The ACK of a 2xx is its own transaction (13.2.2.4), sent along the dialog's route."""
        dialog = self.dialog(ok)
        ack = dialog.request("ACK", self.cseq, self._via(sipmsg.new_branch()), self.call_id)
        self.send(ack, dialog.destination(self.dest))
        return ack

    # -- the transaction -------------------------------------------------------
    def run(self, timeout_s: float, abort: Callable[[], bool] | None = None) -> SipMessage:
        """Send the INVITE and wait; the 2xx on success, DialError otherwise."""
        start = time.monotonic()
        deadline = start + timeout_s
        request = self.invite()
        self.send(request, self.dest)
        retransmit_at, interval = start + T1_S, T1_S
        give_up_at = start + TIMER_B_S
        provisional = False
        while True:
            now = time.monotonic()
            if abort is not None and abort():
                return self._cancel(provisional, "cancelled")
            if now >= deadline or (not provisional and now >= give_up_at):
                if provisional:
                    return self._cancel(provisional, "no_answer")
                raise DialError("unreachable", call_id=self.call_id, detail="no response to INVITE")
            if not provisional and now >= retransmit_at and self.transport == "udp":  # timer A (UDP)
                self.send(request, self.dest)
                interval *= 2
                retransmit_at = now + interval
            try:
                response = self.responses.get(timeout=min(0.1, max(0.0, deadline - now)))
            except queue.Empty:
                continue
            if response.method != "INVITE" or response.cseq[0] != self.cseq:
                continue  # a response to our CANCEL, or to a superseded (challenged) INVITE
            if response.status < 200:
                provisional = True
            elif response.status < 300:
                return response
            elif response.status in (401, 407) and not self.authorization and self.settings.password:
                self.ack_failure(response)
                request = self._authenticated(response)
                self.send(request, self.dest)
                retransmit_at, interval, provisional = time.monotonic() + T1_S, T1_S, False
            else:
                self.ack_failure(response)
                raise DialError(reason_for(response.status), response.status, self.call_id)

    def _authenticated(self, challenge: SipMessage) -> bytes:
        """The INVITE again with credentials: new CSeq and branch (22.2)."""
        proxy = challenge.status == 407
        header = challenge.get("proxy-authenticate" if proxy else "www-authenticate") or ""
        value = digest_authorization(header, "INVITE", self.uri, self.settings.username, self.settings.password)
        self.authorization = f"{'Proxy-Authorization' if proxy else 'Authorization'}: {value}"
        self.cseq += 1
        self.branch = sipmsg.new_branch()
        return self.invite()

    def _cancel(self, provisional: bool, reason: str) -> SipMessage:
        """CANCEL a ringing INVITE, ACK its 487, and raise DialError(reason)."""
        if not provisional:
            # 9.1: no CANCEL before a provisional response; the INVITE is simply abandoned.
            raise DialError(reason, call_id=self.call_id, detail="given up before any provisional response")
        cancel = self._same_transaction("CANCEL", f"<{self.uri}>")
        self.send(cancel, self.dest)
        deadline = time.monotonic() + CANCEL_WAIT_S
        retransmit_at, interval, cancel_answered = time.monotonic() + T1_S, T1_S, False
        status: int | None = None
        while (remaining := deadline - time.monotonic()) > 0:
            if not cancel_answered and time.monotonic() >= retransmit_at and self.transport == "udp":
                self.send(cancel, self.dest)
                interval *= 2
                retransmit_at = time.monotonic() + interval
            try:
                response = self.responses.get(timeout=min(0.1, remaining))
            except queue.Empty:
                continue
            if response.method == "CANCEL":
                cancel_answered = True
            elif response.method == "INVITE" and response.status >= 300:
                self.ack_failure(response)
                status = response.status
                break
            elif response.method == "INVITE" and response.status >= 200:
                self.late_answer = response  # answered as we cancelled: the agent ACKs and hangs up
                break
        raise DialError(reason, status, self.call_id)

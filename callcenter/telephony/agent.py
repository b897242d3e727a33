"""The hotline's SIP user agent: answers calls and hands them to a CallHandler.

Layers (all ours; pyVoIP is only the RTP base, see compat.py):
- transport.py: UDP and TCP sockets, one receive thread, TCP connection reuse;
- transactions.py: RFC 3261 17 timers (our BYE/REGISTER/OPTIONS retransmitted, responses
  repeated for retransmitted requests, non-2xx answers repeated until their ACK);
- registration.py: REGISTER following the registrar's grant, 423, keep-alives, unREGISTER;
- this module: dialogs (RFC 3261 12-15) — INVITE, re-INVITE and UPDATE with RFC 3264
  offer/answer (media moved, codec changed, hold and resume), 2xx retransmitted until ACK,
  BYE, CANCEL, INFO, OPTIONS; refused calls reported to the handler as missed.

Threads: the SIP receive loop (never blocks on a handler), the transaction timer thread, one
thread per call that runs the handler (ring delay, on_call), two RTP threads per answered call,
and one housekeeping thread (2xx retransmission, RTP timeout, hold timeout).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from callcenter.telephony import nameaddr, sdp, sipmsg
from callcenter.telephony.compat import CompatRTPClient, PortPool, require_pyvoip
from callcenter.telephony.interface import ActiveCall, AudioSink, CallHandler, CallInfo, DialError
from callcenter.telephony.outbound import Dialog, InviteClient
from callcenter.telephony.registration import Registration, RegistrationState
from callcenter.telephony.settings import SipSettings
from callcenter.telephony.sipmsg import SipMessage, SipParseError, build_response
from callcenter.telephony.transactions import T1_S, T2_S, TransactionLayer
from callcenter.telephony.transport import Peer, SipTransport

log = logging.getLogger("callcenter.telephony")

TIMER_H_S = 64 * T1_S  # give up waiting for the ACK of a 2xx after 32 s
ENDED_KEEP_S = 32.0  # remember ended calls to answer retransmitted BYE/INVITE/CANCEL
# Methods we know but do not serve as a UA (405); anything else is 501 (RFC 3261 8.2.1).
KNOWN_NOT_ALLOWED = {"REGISTER", "PRACK", "MESSAGE", "SUBSCRIBE", "NOTIFY", "REFER", "PUBLISH"}

RegistrationListener = Callable[[dict[str, Any]], None]


class CallState(Enum):
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


@dataclasses.dataclass
class _Pending2xx:
    """A 2xx to an INVITE (initial or re-INVITE), repeated until its ACK (RFC 3261 13.3.1.4)."""

    data: bytes
    peer: Peer
    started_s: float
    next_s: float
    interval_s: float = T1_S


class PyVoipCall(ActiveCall):
    """One call (inbound, or outbound once answered). Its methods may be called from any thread."""

    def __init__(
        self,
        agent: PyVoipAgent,
        invite: SipMessage,
        peer: Peer,
        info: CallInfo,
        rtp: CompatRTPClient,
        negotiated: sdp.Negotiated,
        to_tag: str,
        dialog: Dialog | None = None,
        media_ip: str = "",
    ) -> None:
        self.info = info
        self._agent = agent
        self.invite = invite
        self.peer = peer
        self.rtp = rtp
        self.negotiated = negotiated
        self.to_tag = to_tag
        self.media_ip = media_ip or agent.settings.bind_ip
        self.lock = threading.RLock()
        self.state = CallState.RINGING
        self.reason = ""
        self.missed_reason = ""  # set when it ended before answer
        self.ended = threading.Event()
        self.last_response = b""
        self.acked = threading.Event()  # the ACK of the 2xx to the initial INVITE
        self.answered_at_s = 0.0
        self.ended_at_s = 0.0  # monotonic, when the call ended
        self.received_at_s = time.monotonic()
        self.local_cseq = random.randint(1, 10000)
        self.remote_cseq = invite.cseq[0] if info.direction == "inbound" else -1
        self.sink: AudioSink | None = None
        self.thread: threading.Thread | None = None
        self.dialog = dialog or self._uas_dialog()
        self.ack = b""  # outbound: our ACK of the 2xx, repeated if the 2xx is retransmitted
        self.pending_2xx: dict[int, _Pending2xx] = {}
        self.session_id = random.randint(1, 10**9)
        self.sdp_version = self.session_id
        self.answer_sdp = b""  # the SDP we last sent (a changed one gets a new o= version)
        self.offer_in_2xx = False  # a re-INVITE without SDP: our 2xx offers, its ACK answers
        self.held_since: float | None = None
        self.hold_total_s = 0.0
        self.media_changes = 0  # re-INVITEs/UPDATEs that moved or changed the media
        if negotiated.held:
            self.held_since = time.monotonic()
        self.byes: list[Any] = []  # our BYE transactions (ClientTransaction)
        self.last_refusal = ""  # why the last re-INVITE/UPDATE offer was refused

    def _uas_dialog(self) -> Dialog:
        """Inbound: the route set is Record-Route in the order received (12.1.1), target = Contact."""
        invite = self.invite
        routes = [r.strip() for value in invite.get_all("record-route") for r in value.split(",") if r.strip()]
        return Dialog(
            target=sipmsg.addr_spec(invite.get("contact") or invite.get("from") or ""),
            route_set=tuple(routes),
            local=f"{invite.get('to')};tag={self.to_tag}",
            remote=invite.get("from") or "",
        )

    def attach(self, sink: AudioSink) -> None:
        self.sink = sink
        self.rtp.sink = sink

    def answer(self) -> None:
        self._agent.answer_call(self)

    def play(self, pcm16: bytes) -> bool:
        if self.state is not CallState.ANSWERED:
            return False
        return self.rtp.play(pcm16, lambda: self.state is CallState.ANSWERED)

    def is_active(self) -> bool:
        return self.state is not CallState.ENDED

    def hangup(self) -> None:
        self._agent.hangup_call(self, "agent_hangup")

    def end_reason(self) -> str:
        return self.reason

    def ended_for_s(self) -> float:
        """Seconds since the call ended (the BYE arrived or was sent); 0 while it is live."""
        return time.monotonic() - self.ended_at_s if self.ended_at_s else 0.0

    def held(self) -> bool:
        return self.held_since is not None

    def hold_time_s(self) -> float:
        held_since = self.held_since
        return self.hold_total_s + (time.monotonic() - held_since if held_since is not None else 0.0)

    def _set_held(self, held: bool) -> None:
        now = time.monotonic()
        if held and self.held_since is None:
            self.held_since = now
        elif not held and self.held_since is not None:
            self.hold_total_s += now - self.held_since
            self.held_since = None


class PyVoipAgent:
    """TelephonyAgent: our SIP layers on pyVoIP 1.6.8's RTP base (with compat fixes)."""

    def __init__(self, settings: SipSettings, handler: CallHandler) -> None:
        self.settings = settings
        self.handler = handler
        self._calls: dict[str, PyVoipCall] = {}
        self._dialing: dict[str, InviteClient] = {}
        self._ended: dict[str, tuple[PyVoipCall, float]] = {}
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._accepting = False
        self._transport: SipTransport | None = None
        self._layer = TransactionLayer(self._send)
        self._registration: Registration | None = None
        self._ports: PortPool | None = None
        self._housekeeper: threading.Thread | None = None
        self._timers: threading.Thread | None = None
        self._notify: ThreadPoolExecutor | None = None
        self._registration_listeners: list[RegistrationListener] = []
        self.refused: list[tuple[str, int, str]] = []  # (Call-ID, status, why), the most recent 100

    # -- lifecycle -------------------------------------------------------
    def start(self) -> None:
        require_pyvoip()
        s = self.settings
        self._ports = PortPool(s.rtp_port_low, s.rtp_port_high)
        self._notify = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sip-notify")
        self._running.set()
        self._accepting = True
        self._transport = SipTransport(s.bind_ip, s.bind_port, self._on_message, tcp=s.tcp or s.transport == "tcp")
        self._transport.start()
        self._timers = threading.Thread(target=self._layer.run, args=(self._running.is_set,),
                                        name="sip-timers", daemon=True)
        self._timers.start()
        self._housekeeper = threading.Thread(target=self._housekeeping, name="sip-housekeeping", daemon=True)
        self._housekeeper.start()
        if s.mode == "register":
            self._registration = Registration(s, self._layer, s.transport, self._registration_changed)
            if not self._registration.start():
                log.error("REGISTER to %s:%s as %s failed (%s); retrying in the background",
                          s.server, s.port, s.username, self._registration.state.reason or "no response")
        log.info("SIP agent listening on %s:%s (udp%s, %s mode)", s.bind_ip, s.bind_port,
                 "+tcp" if s.tcp or s.transport == "tcp" else "", s.mode)

    @property
    def registered(self) -> bool:
        return self._registration is not None and self._registration.registered

    def registration_state(self) -> dict[str, Any]:
        """For the panel (GET /api/system/status, event sip.registration): state, registrar,
        last status and reason, granted expires, since when."""
        if self._registration is None:
            state = "direct" if self.settings.mode == "direct" else "stopped"
            return RegistrationState(state, "").as_dict()
        return self._registration.state.as_dict()

    def add_registration_listener(self, listener: RegistrationListener) -> None:
        """Called (on the registration thread) with registration_state() whenever it changes."""
        self._registration_listeners.append(listener)

    def _registration_changed(self, state: RegistrationState) -> None:
        for listener in list(self._registration_listeners):
            self._safe(listener, state.as_dict())

    @property
    def rtp_ports_in_use(self) -> int:
        return len(self._ports.in_use) if self._ports else 0

    def media_ports(self) -> dict[str, int]:
        """Local RTP port of each live call, by Call-ID (which call a port's traffic belongs to)."""
        with self._lock:
            return {cid: c.rtp.inPort for cid, c in self._calls.items() if c.state is not CallState.ENDED}

    def active_calls(self) -> int:
        with self._lock:
            return sum(1 for call in self._calls.values() if call.state is not CallState.ENDED)

    def find_call(self, call_id: str) -> PyVoipCall | None:
        return self._find(call_id)

    @property
    def transactions(self) -> TransactionLayer:
        return self._layer

    def stop(self) -> None:
        if not self._running.is_set():
            return
        self._accepting = False  # INVITEs from now on get 480 (the registrar may still send some)
        with self._lock:
            calls = list(self._calls.values())
        for call in calls:  # cut off, not finished: the resident is called back (ledger.vocabulary)
            self.hangup_call(call, "agent_stopped")
        for call in calls:
            if call.thread is not None and call.thread is not threading.current_thread():
                call.thread.join(timeout=2)
        # Our BYEs get a moment for their answers (and retransmissions) before the sockets close.
        deadline = time.monotonic() + 2.0
        for call in calls:
            for txn in call.byes:
                txn.wait(max(0.0, deadline - time.monotonic()))
        if self._registration is not None:
            self._registration.stop(unregister=True)  # unREGISTER (Expires: 0) while still receiving
        self._running.clear()
        self._layer.wake()
        for thread in (self._housekeeper, self._timers):
            if thread is not None:
                thread.join(timeout=2)
        if self._transport is not None:
            self._transport.stop()
        if self._notify is not None:
            self._notify.shutdown(wait=True)

    # -- SIP input ---------------------------------------------------------
    def _send(self, data: bytes, peer: Peer) -> bool:
        if self._transport is None:
            return False
        return self._transport.send(data, peer)

    def _on_message(self, data: bytes, peer: Peer) -> None:
        if not data.strip():
            return  # CRLF keep-alive (RFC 5626)
        try:
            msg = sipmsg.parse(data)
        except SipParseError as exc:
            log.info("malformed SIP from %s dropped or rejected: %s", peer, exc.reason)
            log.debug("malformed datagram: %r", data[:600])
            if exc.message is not None and exc.status and exc.message.method != "ACK":
                # Statelessly (RFC 3261 8.2): a malformed request opens no transaction.
                self._send(build_response(exc.message, exc.status, to_tag=sipmsg.new_tag()), peer)
            return
        if not msg.is_request:
            if not self._layer.on_response(msg):
                self._on_response(msg)
            return
        if self._layer.absorb(msg, peer):
            return  # a retransmission (answered again) or the ACK of a non-2xx
        method = msg.method
        if method == "ACK":
            self._on_ack(msg)
            return
        # RFC 3261 8.2: method inspection, then the Request-URI, then Require, then the method.
        handlers = {
            "INVITE": self._on_invite,
            "BYE": self._on_bye,
            "CANCEL": self._on_cancel,
            "OPTIONS": self._on_options,
            "INFO": self._on_info,
            "UPDATE": self._on_update,
        }
        if method not in handlers:
            status = 405 if method in KNOWN_NOT_ALLOWED else 501
            self._respond(msg, peer, status, extra=[f"Allow: {sipmsg.ALLOW}"])
            return
        if not msg.uri.lower().startswith(("sip:", "sips:")):
            self._respond(msg, peer, 416)
            return
        # We support no extension: every option tag in any Require header is unsupported (8.2.2.3).
        required = [tag.strip() for value in msg.get_all("require") for tag in value.split(",") if tag.strip()]
        if required and method != "CANCEL":
            why = f"Require: {', '.join(required)} (no SIP extension is supported)"
            if method == "INVITE" and self._find(msg.call_id) is None and not sipmsg.has_tag(msg.get("to") or ""):
                self._reject(msg, peer, self._call_info(msg, peer), 420, why, sipmsg.new_tag(), "refused_420",
                             extra=[f"Unsupported: {', '.join(required)}"])
            else:
                log.warning("call_id=%s %s refused with 420: %s", msg.call_id, method, why)
                self._respond(msg, peer, 420, extra=[f"Unsupported: {', '.join(required)}"])
            return
        handlers[method](msg, peer)

    def _respond(
        self,
        msg: SipMessage,
        peer: Peer,
        status: int,
        *,
        extra: list[str] | None = None,
        to_tag: str = "",
        body: bytes = b"",
        content_type: str = "",
        record_route: bool = False,
    ) -> bytes:
        """Answer `msg` and keep the answer in its server transaction (retransmissions get it)."""
        data = build_response(msg, status, to_tag=to_tag or (sipmsg.new_tag() if status != 100 else ""),
                              extra=extra, body=body, content_type=content_type, record_route=record_route)
        self._send(data, peer)
        self._layer.responded(msg, data, status, peer)
        return data

    def _find(self, call_id: str) -> PyVoipCall | None:
        with self._lock:
            call = self._calls.get(call_id)
            if call is None and call_id in self._ended:
                call = self._ended[call_id][0]
            return call

    def _on_options(self, msg: SipMessage, peer: Peer) -> None:
        # Item 8: a PBX that qualifies its peers needs an answer (and our keep-alive comes back here).
        if self._registration is not None:
            self._registration.note_looped_keepalive(msg)
        self._respond(msg, peer, 200, extra=[f"Allow: {sipmsg.ALLOW}", "Accept: application/sdp"])

    def _contact(self, peer: Peer | None = None) -> str:
        s = self.settings
        tcp = (peer is not None and peer.transport == "tcp") or (peer is None and s.transport == "tcp")
        return f"Contact: <sip:{s.username}@{s.bind_ip}:{s.bind_port}{';transport=tcp' if tcp else ''}>"

    def _call_info(self, msg: SipMessage, peer: Peer) -> CallInfo:
        # Bounded to the ledger's column sizes: a 10 kB From must not fail the call's ledger row.
        # The number from the URI only (RFC 3261 name-addr), P-Asserted-Identity from trusted proxies.
        number, display = nameaddr.caller_identity(msg.get("from") or "", msg.get_all("p-asserted-identity"),
                                                   peer.host, self.settings.trusted_proxies)
        return CallInfo(
            call_id=msg.call_id,
            caller_number=number[:32],
            caller_display=display[:64],
            called_number=(sipmsg.user_part(msg.uri) or sipmsg.user_part(msg.get("to") or ""))[:32],
            remote_addr=f"{peer.host}:{peer.port}",
            received_at=datetime.now(UTC),
        )

    def _media_ip_for(self, offer: sdp.AudioOffer) -> str | None:
        """Our address for this offer's family; None when we cannot serve it."""
        if offer.ipv6:
            return self.settings.bind_ip6 or None
        return self.settings.bind_ip if ":" not in self.settings.bind_ip else None

    def _on_invite(self, msg: SipMessage, peer: Peer) -> None:
        existing = self._find(msg.call_id)
        if existing is not None:
            self._on_invite_again(existing, msg, peer)
            return
        if sipmsg.has_tag(msg.get("to") or ""):
            self._respond(msg, peer, 481)  # re-INVITE for a dialog we do not know
            return
        if not self._accepting:
            self._respond(msg, peer, 480)
            return
        to_tag = sipmsg.new_tag()
        # Item 3: 100 Trying at once stops the caller's/proxy's INVITE retransmissions.
        self._respond(msg, peer, 100)
        info = self._call_info(msg, peer)
        content_type = (msg.get("content-type") or "").split(";")[0].strip().lower()
        if not msg.body:
            # Item 10: late offer is not supported; refuse cleanly instead of crashing.
            self._reject(msg, peer, info, 488, "INVITE without SDP offer (late offer is not supported)",
                         to_tag, "refused_488")
            return
        if content_type != "application/sdp":
            self._reject(msg, peer, info, 415, f"body is {content_type or 'untyped'}, not application/sdp",
                         to_tag, "refused_415", extra=["Accept: application/sdp"])
            return
        if not sipmsg.accepts(msg.get_all("accept"), "application/sdp"):
            # Our 200 OK must carry the SDP answer; the caller says it cannot take one (RFC 4475 sdp01).
            why = f"Accept: {', '.join(msg.get_all('accept'))[:120]} does not include application/sdp"
            self._reject(msg, peer, info, 406, why, to_tag, "refused_406", warning=399)
            return
        try:
            offer = sdp.parse_offer(msg.body)
            negotiated = sdp.negotiate(offer, list(self.settings.codecs))
        except sdp.SdpError as exc:
            self._reject(msg, peer, info, 488, str(exc), to_tag, "refused_488")
            return
        media_ip = self._media_ip_for(offer)
        if media_ip is None:
            self._reject(msg, peer, info, 488,
                         f"IPv6 media (c=IN IP6 {offer.address}) and no sip.bind_ip6 to serve it from",
                         to_tag, "refused_488", warning=300)
            return
        info = dataclasses.replace(info, codec=negotiated.codec)
        if self.active_calls() >= self.settings.max_calls:
            self._reject(msg, peer, info, 486, f"max_calls={self.settings.max_calls} reached", to_tag, "busy")
            return
        assert self._ports is not None
        try:
            sock, port = self._ports.bind(media_ip)
        except RuntimeError as exc:
            self._reject(msg, peer, info, 486, str(exc), to_tag, "busy")
            return
        rtp = self._rtp_client(sock, port, negotiated, msg.call_id)
        rtp.set_sending(negotiated.we_send)
        call = PyVoipCall(self, msg, peer, info, rtp, negotiated, to_tag, media_ip=media_ip)
        with self._lock:
            self._calls[msg.call_id] = call
        call.last_response = self._respond(msg, peer, 180, to_tag=to_tag, extra=[self._contact(peer)],
                                           record_route=True)
        log.info("call_id=%s INVITE from %s (%s via %s), ringing", msg.call_id, info.caller_number,
                 info.remote_addr, peer.transport)
        call.thread = threading.Thread(target=self._run_call, args=(call,), name=f"call {msg.call_id[:24]}")
        call.thread.daemon = True
        call.thread.start()

    def _on_invite_again(self, call: PyVoipCall, msg: SipMessage, peer: Peer) -> None:
        cseq = msg.cseq[0]
        if call.info.direction == "inbound" and cseq == call.invite.cseq[0]:
            # A retransmission the transaction layer did not match (another branch): repeat.
            if call.last_response:
                self._send(call.last_response, peer)
            return
        if call.state is not CallState.ANSWERED:
            self._respond(msg, peer, 481 if call.state is CallState.ENDED else 500, to_tag=call.to_tag)
            return
        if cseq <= call.remote_cseq:
            self._respond(msg, peer, 500, to_tag=call.to_tag)  # RFC 3261 12.2.2: CSeq out of order
            return
        call.remote_cseq = cseq
        # A new INVITE in the dialog means the peer has ACKed our earlier 2xx (it could not send
        # one otherwise, 14.1): stop repeating those.
        with call.lock:
            for earlier in [c for c in call.pending_2xx if c < cseq]:
                del call.pending_2xx[earlier]
            call.acked.set()
        if not msg.body:
            # An offerless re-INVITE: our 2xx carries an offer (our current session, sendrecv) and
            # the ACK brings the answer (RFC 3264 5, RFC 3261 14.2).
            call.offer_in_2xx = True
            self._send_2xx(call, msg, peer, offer=True)
            return
        applied = self._renegotiate(call, msg, "re-INVITE")
        if applied is None:
            self._respond(msg, peer, 488, to_tag=call.to_tag,
                          extra=[f'Warning: 399 callcenter "{call.last_refusal}"'])
            return
        self._send_2xx(call, msg, peer)

    def _on_update(self, msg: SipMessage, peer: Peer) -> None:
        """RFC 3311: a new offer (or a session refresh) inside the dialog; answered in the 200."""
        call = self._find(msg.call_id)
        if call is None or call.state is CallState.ENDED:
            self._respond(msg, peer, 481)
            return
        if msg.cseq[0] <= call.remote_cseq and call.info.direction == "inbound":
            self._respond(msg, peer, 500, to_tag=call.to_tag)
            return
        call.remote_cseq = max(call.remote_cseq, msg.cseq[0])
        if not msg.body:
            self._respond(msg, peer, 200, to_tag=call.to_tag, extra=[self._contact(peer)])
            return
        if self._renegotiate(call, msg, "UPDATE") is None:
            self._respond(msg, peer, 488, to_tag=call.to_tag,
                          extra=[f'Warning: 399 callcenter "{call.last_refusal}"'])
            return
        self._respond(msg, peer, 200, to_tag=call.to_tag, extra=[self._contact(peer), f"Allow: {sipmsg.ALLOW}"],
                      body=self._answer_sdp(call), content_type="application/sdp")

    def _renegotiate(self, call: PyVoipCall, msg: SipMessage, what: str) -> sdp.Negotiated | None:
        """Apply a new offer to the live call (RFC 3264 8): address, port, codec, direction."""
        # Keep the codec we use when it is still offered; else our preference order.
        preference = [call.negotiated.codec] + [c for c in self.settings.codecs if c != call.negotiated.codec]
        try:
            offer = sdp.parse_offer(msg.body)
            negotiated = sdp.negotiate(offer, preference)
        except sdp.SdpError as exc:
            call.last_refusal = str(exc)
            log.warning("call_id=%s %s refused with 488, the call goes on as it was: %s", call.info.call_id, what, exc)
            return None
        if offer.ipv6 != (":" in call.media_ip):
            call.last_refusal = f"address family change to {offer.address} is not supported"
            log.warning("call_id=%s %s refused with 488: %s", call.info.call_id, what, call.last_refusal)
            return None
        self._apply(call, negotiated, what)
        return negotiated

    def _apply(self, call: PyVoipCall, negotiated: sdp.Negotiated, what: str) -> None:
        old = call.negotiated
        with call.lock:
            call.negotiated = negotiated
            moved = (old.remote_address, old.remote_port) != (negotiated.remote_address, negotiated.remote_port)
            if negotiated.remote_address not in ("0.0.0.0", "::"):  # RFC 2543 hold keeps the old address
                call.rtp.repoint((negotiated.remote_address, negotiated.remote_port), negotiated.codec,
                                 negotiated.payload_type, negotiated.event_payload_type, negotiated.cn_payload_type)
            call.rtp.set_sending(negotiated.we_send)
            was_held = call.held()
            call._set_held(negotiated.held)
            if was_held and not negotiated.held:
                call.rtp.last_rx_s = time.monotonic()  # the RTP timeout counts again from now
            if moved:
                call.rtp.last_rx_s = time.monotonic()
            if moved or old.codec != negotiated.codec:
                call.media_changes += 1
        change = []
        if moved:
            change.append(f"media {old.remote_address}:{old.remote_port} -> "
                          f"{negotiated.remote_address}:{negotiated.remote_port}")
        if old.codec != negotiated.codec:
            change.append(f"codec {old.codec} -> {negotiated.codec}")
        if old.direction != negotiated.direction:
            change.append(f"we {old.direction} -> {negotiated.direction}")
        if not was_held and negotiated.held:
            change.append("on hold")
        elif was_held and not negotiated.held:
            change.append(f"off hold (held {call.hold_time_s():.1f} s in all)")
        log.info("call_id=%s %s: %s", call.info.call_id, what, ", ".join(change) or "session refreshed, no change")

    def _answer_sdp(self, call: PyVoipCall, offer: bool = False) -> bytes:
        negotiated = call.negotiated
        if offer:
            negotiated = dataclasses.replace(negotiated, direction="sendrecv")
        body = sdp.build_answer(call.media_ip, call.rtp.inPort, call.session_id, negotiated, call.sdp_version)
        if call.answer_sdp and body != call.answer_sdp:
            call.sdp_version += 1  # our session changed: a new version (RFC 3264 8)
            body = sdp.build_answer(call.media_ip, call.rtp.inPort, call.session_id, negotiated, call.sdp_version)
        call.answer_sdp = body
        return body

    def _send_2xx(self, call: PyVoipCall, request: SipMessage, peer: Peer, offer: bool = False) -> bytes:
        data = self._respond(request, peer, 200, to_tag=call.to_tag,
                             extra=[self._contact(peer), f"Allow: {sipmsg.ALLOW}"],
                             body=self._answer_sdp(call, offer), content_type="application/sdp", record_route=True)
        now = time.monotonic()
        with call.lock:
            call.pending_2xx[request.cseq[0]] = _Pending2xx(data, peer, now, now + T1_S)
        return data

    def _rtp_client(self, sock: socket.socket, port: int, negotiated: sdp.Negotiated,
                    call_id: str) -> CompatRTPClient:
        """The RTP side of a call (inbound or outbound) on a port taken from the pool."""
        assert self._ports is not None
        return CompatRTPClient(sock, port, self._ports, (negotiated.remote_address, negotiated.remote_port),
                               negotiated.codec, negotiated.payload_type, negotiated.event_payload_type, call_id,
                               negotiated.cn_payload_type)

    def _reject(
        self,
        msg: SipMessage,
        peer: Peer,
        info: CallInfo,
        status: int,
        why: str,
        to_tag: str,
        reason: str,
        extra: list[str] | None = None,
        warning: int = 399,
    ) -> None:
        """Refuse a new call with `status`, log why, and report it to the handler as missed."""
        phrase = sipmsg.reason_phrase(status)
        log.warning("call_id=%s from %s refused with %s %s: %s", msg.call_id, info.caller_number or "anonymous",
                    status, phrase, why)
        headers = list(extra or [])
        if status in (406, 488):
            headers.append(f'Warning: {warning} callcenter "{_quoted(why[:200])}"')
        self._respond(msg, peer, status, extra=headers, to_tag=to_tag)
        self.refused = [*self.refused[-99:], (msg.call_id, status, why)]
        self._missed_async(dataclasses.replace(info, refusal=f"{status} {phrase}: {why}"[:255]), reason)

    def _missed_async(self, info: CallInfo, reason: str) -> None:
        # The SIP receive loop never waits for a handler.
        if self._notify is not None:
            self._notify.submit(self._safe, self.handler.on_missed, info, reason)

    @staticmethod
    def _safe(fn, *args) -> None:  # type: ignore[no-untyped-def]
        try:
            fn(*args)
        except Exception:
            log.exception("handler %s failed", getattr(fn, "__name__", fn))

    def _on_ack(self, msg: SipMessage) -> None:
        call = self._find(msg.call_id)
        if call is None:
            return
        cseq = msg.cseq[0]
        with call.lock:
            call.pending_2xx.pop(cseq, None)
            if cseq == call.invite.cseq[0] or call.info.direction == "outbound":
                call.acked.set()
        if call.offer_in_2xx and msg.body and call.state is CallState.ANSWERED:
            call.offer_in_2xx = False
            try:
                answer = sdp.parse_offer(msg.body)
                negotiated = sdp.negotiate(answer, [call.negotiated.codec, *self.settings.codecs])
            except sdp.SdpError as exc:
                log.warning("call_id=%s unusable SDP answer in ACK (%s); hanging up", msg.call_id, exc)
                self.hangup_call(call, "error", wait_ack_s=0)
                return
            # The ACK carries an answer to our sendrecv offer: its direction is the peer's own.
            ours = {"sendrecv": "sendrecv", "recvonly": "sendonly", "sendonly": "recvonly",
                    "inactive": "inactive"}[answer.direction]
            self._apply(call, dataclasses.replace(negotiated, direction=ours), "re-INVITE (answer in ACK)")

    def _on_cancel(self, msg: SipMessage, peer: Peer) -> None:
        call = self._find(msg.call_id)
        if call is None:
            self._respond(msg, peer, 481)
            return
        self._respond(msg, peer, 200, to_tag=call.to_tag)
        with call.lock:
            if call.state is not CallState.RINGING:
                return  # too late: already answered (the caller will BYE) or ended
            # Item 6: the INVITE is terminated with 487 (repeated until its ACK) and counts as missed.
            call.last_response = self._respond(call.invite, call.peer, 487, to_tag=call.to_tag)
            self._end(call, "caller_hangup", missed="cancelled")
        log.info("call_id=%s cancelled by the caller while ringing", msg.call_id)

    def _on_bye(self, msg: SipMessage, peer: Peer) -> None:
        call = self._find(msg.call_id)
        if call is None:
            self._respond(msg, peer, 481)
            return
        self._respond(msg, peer, 200, to_tag=call.to_tag)
        self._end(call, "caller_hangup")
        log.info("call_id=%s caller hung up", msg.call_id)

    def _on_info(self, msg: SipMessage, peer: Peer) -> None:
        call = self._find(msg.call_id)
        if call is None:
            self._respond(msg, peer, 481)
            return
        self._respond(msg, peer, 200, to_tag=call.to_tag)
        # application/dtmf-relay: "Signal=5\r\nDuration=160"
        for line in msg.body.decode("utf-8", "replace").splitlines():
            key, _, value = line.partition("=")
            digit = value.strip()
            is_digit = len(digit) == 1 and digit in "0123456789*#"
            if key.strip().lower() == "signal" and is_digit and call.sink is not None:
                call.sink.on_dtmf(digit)

    # -- call control --------------------------------------------------------
    def answer_call(self, call: PyVoipCall) -> None:
        with call.lock:
            if call.state is not CallState.RINGING:
                return
            call.state = CallState.ANSWERED
            call.answered_at_s = time.monotonic()
            call.rtp.start()
            call.last_response = self._send_2xx(call, call.invite, call.peer)
        log.info(
            "call_id=%s answered after %.3f s (%s%s)",
            call.info.call_id,
            call.answered_at_s - call.received_at_s,
            call.negotiated.codec,
            "" if call.negotiated.direction == "sendrecv" else f", {call.negotiated.direction}",
        )

    def hangup_call(self, call: PyVoipCall, reason: str, wait_ack_s: float = 2.0) -> None:
        if call.state is CallState.ANSWERED and wait_ack_s > 0:
            # RFC 3261 15: no BYE before the ACK of our 2xx (it could overtake the 200 OK).
            call.acked.wait(wait_ack_s)
        with call.lock:
            if call.state is CallState.ANSWERED:
                self._send_bye(call)
                self._end(call, reason)
            elif call.state is CallState.RINGING:
                call.last_response = self._respond(call.invite, call.peer, 480, to_tag=call.to_tag)
                self._end(call, reason, missed="error")

    def _via(self, peer: Peer) -> str:
        s = self.settings
        return f"SIP/2.0/{peer.transport.upper()} {s.bind_ip}:{s.bind_port};branch={sipmsg.new_branch()};rport"

    def _send_bye(self, call: PyVoipCall) -> None:
        """BYE within the dialog (route set, remote target, our own Via), either direction,
        as a non-INVITE client transaction: retransmitted until answered (Timer E/F)."""
        call.local_cseq += 1
        dest = call.dialog.destination(call.peer)
        via = self._via(dest)
        branch = via.split("branch=", 1)[1].split(";", 1)[0]
        bye = call.dialog.request("BYE", call.local_cseq, via, call.info.call_id)
        call_id = call.info.call_id

        def answered(response: SipMessage | None) -> None:
            if response is None:
                log.warning("call_id=%s our BYE to %s was never answered (Timer F)", call_id, dest)
            else:
                log.info("call_id=%s our BYE answered %s", call_id, response.status)

        call.byes.append(self._layer.request(bye, dest, method="BYE", branch=branch, on_final=answered))

    def _end(self, call: PyVoipCall, reason: str, missed: str = "") -> None:
        with call.lock:
            if call.state is CallState.ENDED:
                return
            if call.state is CallState.RINGING and missed:
                call.missed_reason = missed
            call.state = CallState.ENDED
            call.ended_at_s = time.monotonic()
            call.reason = reason
            call._set_held(False)
            call.pending_2xx.clear()
            call.rtp.stop()
            call.ended.set()
        with self._lock:
            self._calls.pop(call.info.call_id, None)
            self._ended[call.info.call_id] = (call, time.monotonic() + ENDED_KEEP_S)
        hold = f", {call.hold_total_s:.1f} s on hold" if call.hold_total_s else ""
        log.info("call_id=%s ended: %s%s", call.info.call_id, reason, hold)

    # -- outbound calls ------------------------------------------------------------
    def dial(
        self,
        number: str,
        sink: AudioSink | None = None,
        timeout_s: float = 30.0,
        abort: Callable[[], bool] | None = None,
    ) -> ActiveCall:
        """INVITE `number` through the registrar/proxy (or outbound_proxy in direct mode); block
        until it is answered. Raises DialError('busy'/'no_answer'/'rejected'/'unreachable'/
        'cancelled'/'error'). The returned call is live: RTP flows, BYE from either side ends it."""
        if not self._running.is_set() or self._transport is None or self._ports is None:
            raise DialError("error", detail="the agent is not started")
        s = self.settings
        call_id = f"{uuid.uuid4().hex}@{s.bind_ip}"
        try:
            sock, port = self._ports.bind(s.bind_ip)
        except RuntimeError as exc:
            raise DialError("error", call_id=call_id, detail=str(exc)) from exc
        session_id = random.randint(1, 10**9)
        offer = sdp.build_offer(s.bind_ip, port, session_id, list(s.codecs))
        client = InviteClient(s, number, call_id, offer, self._send)
        with self._lock:
            self._dialing[call_id] = client
        started = datetime.now(UTC)
        log.info("call_id=%s dialling %s via %s", call_id, number, client.dest)
        try:
            ok = client.run(timeout_s, abort)
            negotiated = sdp.negotiate(sdp.parse_offer(ok.body), list(s.codecs))
        except (DialError, sdp.SdpError) as exc:
            sock.close()
            self._ports.release(port)
            answered = client.late_answer if isinstance(exc, DialError) else ok
            if answered is not None:  # answered after all (CANCEL race) or with unusable SDP
                client.ack_2xx(answered)
                self._bye_unwanted(client, answered)
            if isinstance(exc, DialError):
                log.info("call_id=%s to %s not answered: %s", call_id, number, exc)
                raise
            raise DialError("error", 200, call_id, f"unusable SDP answer: {exc}") from exc
        finally:
            with self._lock:
                self._dialing.pop(call_id, None)
        # The peer's answer direction is its own; ours mirrors it.
        negotiated = dataclasses.replace(negotiated, direction=sdp.ANSWER_DIRECTION[negotiated.direction])
        call = self._outbound_answered(client, ok, negotiated, sock, port, number, started, sink)
        # Our later answers (to the peer's re-INVITEs) keep the offer's o= session id, with a new
        # version each time (RFC 3264 8).
        call.session_id = call.sdp_version = session_id
        call.answer_sdp = offer
        return call

    def _outbound_answered(
        self,
        client: InviteClient,
        ok: SipMessage,
        negotiated: sdp.Negotiated,
        sock: socket.socket,
        port: int,
        number: str,
        started: datetime,
        sink: AudioSink | None,
    ) -> PyVoipCall:
        assert self._ports is not None
        info = CallInfo(
            call_id=client.call_id,
            caller_number=self.settings.username,
            caller_display="",
            called_number=number,
            remote_addr=f"{client.dest.host}:{client.dest.port}",
            received_at=started,
            codec=negotiated.codec,
            direction="outbound",
        )
        rtp = self._rtp_client(sock, port, negotiated, client.call_id)
        rtp.set_sending(negotiated.we_send)
        invite = sipmsg.parse(client.invite())
        call = PyVoipCall(self, invite, client.dest, info, rtp, negotiated, client.from_tag, client.dialog(ok))
        call.local_cseq = client.cseq
        if sink is not None:
            call.attach(sink)
        with call.lock:
            call.state = CallState.ANSWERED
            call.answered_at_s = time.monotonic()
            call.acked.set()  # we are the UAC: nothing of ours waits for an ACK
            call.ack = client.ack_2xx(ok)
            rtp.start()
        with self._lock:
            self._calls[client.call_id] = call
        log.info(
            "call_id=%s to %s answered after %.3f s (%s)",
            client.call_id,
            number,
            call.answered_at_s - call.received_at_s,
            negotiated.codec,
        )
        return call

    def _bye_unwanted(self, client: InviteClient, ok: SipMessage) -> None:
        dialog = client.dialog(ok)
        dest = dialog.destination(client.dest)
        via = self._via(dest)
        branch = via.split("branch=", 1)[1].split(";", 1)[0]
        self._layer.request(dialog.request("BYE", client.cseq + 1, via, client.call_id), dest,
                            method="BYE", branch=branch)

    def _on_response(self, msg: SipMessage) -> None:
        with self._lock:
            client = self._dialing.get(msg.call_id)
        if client is not None:
            client.responses.put(msg)
            return
        call = self._find(msg.call_id)
        if call is not None and call.ack and msg.method == "INVITE" and 200 <= msg.status < 300:
            # Our ACK was lost and the 2xx retransmitted (13.2.2.4): ACK it again.
            self._send(call.ack, call.dialog.destination(call.peer))
        # Anything else (stray responses) needs nothing from us.

    def _run_call(self, call: PyVoipCall) -> None:
        info = call.info
        self._safe(self.handler.on_ringing, info)
        # The ring delay counts from the INVITE's arrival; CANCEL wakes us early.
        remaining = call.received_at_s + self.settings.ring_delay_s - time.monotonic()
        if remaining > 0:
            call.ended.wait(remaining)
        try:
            if call.state is CallState.RINGING:
                self.handler.on_call(call)
        except Exception:
            log.exception("call_id=%s handler on_call failed", info.call_id)
        finally:
            if call.state is CallState.RINGING:
                log.warning("call_id=%s handler returned without answering", info.call_id)
            self.hangup_call(call, "agent_hangup")
            if call.missed_reason:
                self._safe(self.handler.on_missed, info, call.missed_reason)

    def _housekeeping(self) -> None:
        while self._running.is_set():
            now = time.monotonic()
            with self._lock:
                calls = list(self._calls.values())
                for call_id, (_, expires) in list(self._ended.items()):
                    if expires < now:
                        del self._ended[call_id]
            for call in calls:
                if call.state is not CallState.ANSWERED:
                    continue
                if self._retransmit_2xx(call, now):
                    continue
                if call.held():
                    # No RTP timeout on hold (a=inactive sends nothing), but a hold has a limit.
                    if call.held_since is not None and now - call.held_since > self.settings.hold_timeout_s:
                        log.warning("call_id=%s on hold for %.0f s; ending", call.info.call_id,
                                    self.settings.hold_timeout_s)
                        self.hangup_call(call, "hold_timeout", wait_ack_s=0)
                    continue
                # Item 7: a dead network ends the call; RTCP (or comfort noise) keeps a silent caller alive.
                alive = max(call.rtp.last_rx_s, call.rtp.last_rtcp_s)
                if now - alive > self.settings.rtp_timeout_s:
                    log.warning(
                        "call_id=%s no RTP and no RTCP for %.1f s; ending", call.info.call_id,
                        self.settings.rtp_timeout_s,
                    )
                    self.hangup_call(call, "rtp_timeout", wait_ack_s=0)
            time.sleep(0.1)

    def _retransmit_2xx(self, call: PyVoipCall, now: float) -> bool:
        """Repeat unacknowledged 2xx responses (T1 doubling to T2); True if the call was ended
        because one was never ACKed (RFC 3261 14.2: then BYE)."""
        resend: list[_Pending2xx] = []
        expired = False
        with call.lock:
            for cseq, pending in list(call.pending_2xx.items()):
                if now - pending.started_s > TIMER_H_S:
                    del call.pending_2xx[cseq]
                    expired = True
                elif now >= pending.next_s:
                    if pending.peer.transport == "udp":
                        resend.append(pending)
                    pending.interval_s = min(pending.interval_s * 2, T2_S)
                    pending.next_s = now + pending.interval_s
        for pending in resend:
            self._send(pending.data, pending.peer)
        if expired:
            log.warning("call_id=%s no ACK for our 200 OK; ending", call.info.call_id)
            call.acked.set()
            self.hangup_call(call, "error", wait_ack_s=0)
            return True
        return False


def _quoted(text: str) -> str:
    """Text for a quoted-string (a Warning's text): no quote or backslash to break out of it."""
    return text.replace("\\", "/").replace('"', "'")

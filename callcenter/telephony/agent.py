"""The hotline's SIP user agent: answers calls and hands them to a CallHandler.

Threads: one SIP receive loop (never blocks on a handler), one thread per call
that runs the handler (ring delay, on_call), two RTP threads per answered
call, and one housekeeping thread (200 OK retransmission until ACK, RTP
timeout). pyVoIP supplies REGISTER/unREGISTER; see compat.py for what is
replaced and why.
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

from callcenter.telephony import sdp, sipmsg
from callcenter.telephony.compat import CompatRTPClient, CompatSIPClient, PortPool, require_pyvoip
from callcenter.telephony.interface import ActiveCall, AudioSink, CallHandler, CallInfo, DialError
from callcenter.telephony.outbound import Dialog, InviteClient
from callcenter.telephony.settings import SipSettings
from callcenter.telephony.sipmsg import SipMessage, SipParseError, build_response

log = logging.getLogger("callcenter.telephony")

T1_S = 0.5  # RFC 3261 timer T1
T2_S = 4.0
TIMER_H_S = 64 * T1_S / 2  # give up waiting for the ACK after 32 s
ENDED_KEEP_S = 32.0  # remember ended calls to answer retransmitted BYE/INVITE/CANCEL
# Methods we know but do not serve as a UA (405); anything else is 501 (RFC 3261 8.2.1).
KNOWN_NOT_ALLOWED = {"REGISTER", "UPDATE", "PRACK", "MESSAGE", "SUBSCRIBE", "NOTIFY", "REFER", "PUBLISH"}


class CallState(Enum):
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


class PyVoipCall(ActiveCall):
    """One call (inbound, or outbound once answered). Its methods may be called from any thread."""

    def __init__(
        self,
        agent: PyVoipAgent,
        invite: SipMessage,
        source: tuple[str, int],
        info: CallInfo,
        rtp: CompatRTPClient,
        negotiated: sdp.Negotiated,
        to_tag: str,
        dialog: Dialog | None = None,
    ) -> None:
        self.info = info
        self._agent = agent
        self.invite = invite
        self.source = source
        self.rtp = rtp
        self.negotiated = negotiated
        self.to_tag = to_tag
        self.lock = threading.RLock()
        self.state = CallState.RINGING
        self.reason = ""
        self.missed_reason = ""  # set when it ended before answer
        self.ended = threading.Event()
        self.last_response = b""
        self.acked = threading.Event()
        self.answered_at_s = 0.0
        self.next_retransmit_s = 0.0
        self.retransmit_interval_s = T1_S
        self.received_at_s = time.monotonic()
        self.local_cseq = random.randint(1, 10000)
        self.sink: AudioSink | None = None
        self.thread: threading.Thread | None = None
        self.dialog = dialog or self._uas_dialog()
        self.ack = b""  # outbound: our ACK of the 2xx, repeated if the 2xx is retransmitted

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


class PyVoipAgent:
    """TelephonyAgent on pyVoIP 1.6.8 (with compat fixes)."""

    def __init__(self, settings: SipSettings, handler: CallHandler) -> None:
        self.settings = settings
        self.handler = handler
        self._calls: dict[str, PyVoipCall] = {}
        self._dialing: dict[str, InviteClient] = {}
        self._ended: dict[str, tuple[PyVoipCall, float]] = {}
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._accepting = False
        self._sip: CompatSIPClient | None = None
        self._ports: PortPool | None = None
        self._housekeeper: threading.Thread | None = None
        self._notify: ThreadPoolExecutor | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> None:
        require_pyvoip()
        self._ports = PortPool(self.settings.rtp_port_low, self.settings.rtp_port_high)
        self._notify = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sip-notify")
        self._running.set()
        self._accepting = True
        self._housekeeper = threading.Thread(target=self._housekeeping, name="sip-housekeeping", daemon=True)
        self._housekeeper.start()
        self._sip = CompatSIPClient(self.settings, self._on_datagram)
        self._sip.start()
        if self.settings.mode == "register" and not self._sip.registered:
            log.error(
                "REGISTER to %s:%s as %s failed; retrying in the background with back-off",
                self.settings.server,
                self.settings.port,
                self.settings.username,
            )
        log.info(
            "SIP agent listening on %s:%s (%s mode)",
            self.settings.bind_ip,
            self.settings.bind_port,
            self.settings.mode,
        )

    @property
    def registered(self) -> bool:
        return self._sip is not None and self._sip.registered

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

    def stop(self) -> None:
        if not self._running.is_set():
            return
        self._accepting = False  # INVITEs from now on get 480 (the registrar may still send some)
        with self._lock:
            calls = list(self._calls.values())
        for call in calls:
            self.hangup_call(call, "agent_hangup")
        for call in calls:
            if call.thread is not None and call.thread is not threading.current_thread():
                call.thread.join(timeout=2)
        self._running.clear()
        if self._housekeeper is not None:
            self._housekeeper.join(timeout=2)
        if self._sip is not None:
            self._sip.stop()  # unregisters (Expires: 0)
        if self._notify is not None:
            self._notify.shutdown(wait=True)

    # -- SIP input ---------------------------------------------------------
    def _send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._sip is not None:
            self._sip.send_to(data, addr)

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        if not data.strip():
            return  # CRLF keep-alive (RFC 5626)
        try:
            msg = sipmsg.parse(data)
        except SipParseError as exc:
            log.info("malformed SIP from %s:%s dropped or rejected: %s", addr[0], addr[1], exc.reason)
            log.debug("malformed datagram: %r", data[:600])
            if exc.message is not None and exc.status and exc.message.method != "ACK":
                self._send(build_response(exc.message, exc.status, to_tag=sipmsg.new_tag()), addr)
            return
        if not msg.is_request:
            self._on_response(msg)
            return
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
        }
        if method not in handlers:
            status = 405 if method in KNOWN_NOT_ALLOWED else 501
            self._reply(msg, addr, status, extra=[f"Allow: {sipmsg.ALLOW}"])
            return
        if not msg.uri.lower().startswith(("sip:", "sips:")):
            self._reply(msg, addr, 416)
            return
        # We support no extension: every option tag in any Require header is unsupported (8.2.2.3).
        required = [tag.strip() for value in msg.get_all("require") for tag in value.split(",") if tag.strip()]
        if required and method != "CANCEL":
            self._reply(msg, addr, 420, extra=[f"Unsupported: {', '.join(required)}"])
            return
        handlers[method](msg, addr)

    def _reply(
        self,
        msg: SipMessage,
        addr: tuple[str, int],
        status: int,
        extra: list[str] | None = None,
        to_tag: str = "",
    ) -> bytes:
        data = build_response(msg, status, to_tag=to_tag or sipmsg.new_tag(), extra=extra)
        self._send(data, addr)
        return data

    def _find(self, call_id: str) -> PyVoipCall | None:
        with self._lock:
            call = self._calls.get(call_id)
            if call is None and call_id in self._ended:
                call = self._ended[call_id][0]
            return call

    def _on_options(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        # Item 8: a PBX that qualifies its peers needs an answer.
        self._reply(msg, addr, 200, extra=[f"Allow: {sipmsg.ALLOW}", "Accept: application/sdp"])

    def _contact(self) -> str:
        s = self.settings
        return f"Contact: <sip:{s.username}@{s.bind_ip}:{s.bind_port}>"

    def _on_invite(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        existing = self._find(msg.call_id)
        if existing is not None:
            self._on_invite_again(existing, msg, addr)
            return
        if sipmsg.has_tag(msg.get("to") or ""):
            self._reply(msg, addr, 481)  # re-INVITE for a dialog we do not know
            return
        if not self._accepting:
            self._reply(msg, addr, 480)
            return
        to_tag = sipmsg.new_tag()
        # Item 3: 100 Trying at once stops the caller's/proxy's INVITE retransmissions.
        self._send(build_response(msg, 100), addr)
        # Bounded to the ledger's column sizes: a 10 kB From must not fail the call's ledger row.
        info = CallInfo(
            call_id=msg.call_id,
            caller_number=sipmsg.user_part(msg.get("from") or "")[:32],
            caller_display=sipmsg.display_name(msg.get("from") or "")[:64],
            called_number=(sipmsg.user_part(msg.uri) or sipmsg.user_part(msg.get("to") or ""))[:32],
            remote_addr=f"{addr[0]}:{addr[1]}",
            received_at=datetime.now(UTC),
        )
        content_type = (msg.get("content-type") or "").split(";")[0].strip().lower()
        if not msg.body:
            # Item 10: late offer is not supported; refuse cleanly instead of crashing.
            self._reject(msg, addr, info, 488, "INVITE without SDP offer", to_tag)
            return
        if content_type != "application/sdp":
            self._reply(msg, addr, 415, extra=["Accept: application/sdp"], to_tag=to_tag)
            self._missed_async(info, "error")
            return
        try:
            negotiated = sdp.negotiate(sdp.parse_offer(msg.body), list(self.settings.codecs))
        except sdp.SdpError as exc:
            self._reject(msg, addr, info, 488, str(exc), to_tag)
            return
        info = dataclasses.replace(info, codec=negotiated.codec)
        if self.active_calls() >= self.settings.max_calls:
            self._reject(msg, addr, info, 486, f"max_calls={self.settings.max_calls} reached", to_tag, "busy")
            return
        assert self._ports is not None
        try:
            sock, port = self._ports.bind(self.settings.bind_ip)
        except RuntimeError as exc:
            self._reject(msg, addr, info, 486, str(exc), to_tag, "busy")
            return
        rtp = self._rtp_client(sock, port, negotiated, msg.call_id)
        call = PyVoipCall(self, msg, addr, info, rtp, negotiated, to_tag)
        with self._lock:
            self._calls[msg.call_id] = call
        call.last_response = build_response(
            msg, 180, to_tag=to_tag, extra=[self._contact()], record_route=True
        )
        self._send(call.last_response, addr)
        log.info("call_id=%s INVITE from %s (%s), ringing", msg.call_id, info.caller_number, info.remote_addr)
        call.thread = threading.Thread(target=self._run_call, args=(call,), name=f"call {msg.call_id[:24]}")
        call.thread.daemon = True
        call.thread.start()

    def _on_invite_again(self, call: PyVoipCall, msg: SipMessage, addr: tuple[str, int]) -> None:
        # On a call we dialled, the peer's CSeq space is its own: any INVITE from it is a re-INVITE.
        if call.info.direction == "inbound" and msg.cseq == call.invite.cseq:  # retransmission: repeat our last answer
            if call.last_response:
                self._send(call.last_response, addr)
            return
        if call.state is CallState.ANSWERED:
            # re-INVITE (session refresh, hold): keep our media as it is and answer with the same SDP.
            self._send(self._ok_with_sdp(call, msg), addr)
        else:
            self._reply(msg, addr, 481 if call.state is CallState.ENDED else 500, to_tag=call.to_tag)

    def _rtp_client(self, sock: socket.socket, port: int, negotiated: sdp.Negotiated,
                    call_id: str) -> CompatRTPClient:
        """The RTP side of a call (inbound or outbound) on a port taken from the pool."""
        assert self._ports is not None
        return CompatRTPClient(sock, port, self._ports, (negotiated.remote_address, negotiated.remote_port),
                               negotiated.codec, negotiated.payload_type, negotiated.event_payload_type, call_id)

    def _reject(
        self,
        msg: SipMessage,
        addr: tuple[str, int],
        info: CallInfo,
        status: int,
        why: str,
        to_tag: str,
        reason: str = "error",
    ) -> None:
        log.warning("call_id=%s rejected with %s: %s", msg.call_id, status, why)
        extra = [f'Warning: 399 callcenter "{why}"'] if status == 488 else None
        self._reply(msg, addr, status, extra=extra, to_tag=to_tag)
        self._missed_async(info, reason)

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
        if call is not None:
            call.acked.set()

    def _on_cancel(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        call = self._find(msg.call_id)
        if call is None:
            self._reply(msg, addr, 481)
            return
        self._reply(msg, addr, 200, to_tag=call.to_tag)
        with call.lock:
            if call.state is not CallState.RINGING:
                return  # too late: already answered (the caller will BYE) or ended
            # Item 6: the INVITE is terminated with 487 and the call counts as missed.
            call.last_response = build_response(call.invite, 487, to_tag=call.to_tag)
            self._send(call.last_response, call.source)
            self._end(call, "caller_hangup", missed="cancelled")
        log.info("call_id=%s cancelled by the caller while ringing", msg.call_id)

    def _on_bye(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        call = self._find(msg.call_id)
        if call is None:
            self._reply(msg, addr, 481)
            return
        self._reply(msg, addr, 200, to_tag=call.to_tag)
        self._end(call, "caller_hangup")
        log.info("call_id=%s caller hung up", msg.call_id)

    def _on_info(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        call = self._find(msg.call_id)
        if call is None:
            self._reply(msg, addr, 481)
            return
        self._reply(msg, addr, 200, to_tag=call.to_tag)
        # application/dtmf-relay: "Signal=5\r\nDuration=160"
        for line in msg.body.decode("utf-8", "replace").splitlines():
            key, _, value = line.partition("=")
            digit = value.strip()
            is_digit = len(digit) == 1 and digit in "0123456789*#"
            if key.strip().lower() == "signal" and is_digit and call.sink is not None:
                call.sink.on_dtmf(digit)

    # -- call control --------------------------------------------------------
    def _ok_with_sdp(self, call: PyVoipCall, request: SipMessage) -> bytes:
        body = sdp.build_answer(
            self.settings.bind_ip, call.rtp.inPort, abs(hash(call.info.call_id)) % 10**9, call.negotiated
        )
        return build_response(
            request,
            200,
            to_tag=call.to_tag,
            extra=[self._contact(), f"Allow: {sipmsg.ALLOW}"],
            body=body,
            content_type="application/sdp",
            record_route=True,
        )

    def answer_call(self, call: PyVoipCall) -> None:
        with call.lock:
            if call.state is not CallState.RINGING:
                return
            call.last_response = self._ok_with_sdp(call, call.invite)
            call.state = CallState.ANSWERED
            call.answered_at_s = time.monotonic()
            call.next_retransmit_s = call.answered_at_s + T1_S
            call.rtp.start()
            self._send(call.last_response, call.source)
        log.info(
            "call_id=%s answered after %.3f s (%s)",
            call.info.call_id,
            call.answered_at_s - call.received_at_s,
            call.negotiated.codec,
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
                call.last_response = build_response(call.invite, 480, to_tag=call.to_tag)
                self._send(call.last_response, call.source)
                self._end(call, reason, missed="error")

    def _send_bye(self, call: PyVoipCall) -> None:
        """BYE within the dialog (route set, remote target, our own Via), either direction."""
        call.local_cseq += 1
        s = self.settings
        via = f"SIP/2.0/UDP {s.bind_ip}:{s.bind_port};branch={sipmsg.new_branch()};rport"
        bye = call.dialog.request("BYE", call.local_cseq, via, call.info.call_id)
        self._send(bye, call.dialog.destination(call.source))

    def _end(self, call: PyVoipCall, reason: str, missed: str = "") -> None:
        with call.lock:
            if call.state is CallState.ENDED:
                return
            if call.state is CallState.RINGING and missed:
                call.missed_reason = missed
            call.state = CallState.ENDED
            call.reason = reason
            call.rtp.stop()
            call.ended.set()
        with self._lock:
            self._calls.pop(call.info.call_id, None)
            self._ended[call.info.call_id] = (call, time.monotonic() + ENDED_KEEP_S)
        log.info("call_id=%s ended: %s", call.info.call_id, reason)

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
        if not self._running.is_set() or self._sip is None or self._ports is None:
            raise DialError("error", detail="the agent is not started")
        s = self.settings
        call_id = f"{uuid.uuid4().hex}@{s.bind_ip}"
        try:
            sock, port = self._ports.bind(s.bind_ip)
        except RuntimeError as exc:
            raise DialError("error", call_id=call_id, detail=str(exc)) from exc
        offer = sdp.build_offer(s.bind_ip, port, random.randint(1, 10**9), list(s.codecs))
        client = InviteClient(s, number, call_id, offer, self._send)
        with self._lock:
            self._dialing[call_id] = client
        started = datetime.now(UTC)
        log.info("call_id=%s dialling %s via %s:%s", call_id, number, *client.dest)
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
        return self._outbound_answered(client, ok, negotiated, sock, port, number, started, sink)

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
            remote_addr=f"{client.dest[0]}:{client.dest[1]}",
            received_at=started,
            codec=negotiated.codec,
            direction="outbound",
        )
        rtp = self._rtp_client(sock, port, negotiated, client.call_id)
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
        s = self.settings
        via = f"SIP/2.0/UDP {s.bind_ip}:{s.bind_port};branch={sipmsg.new_branch()};rport"
        self._send(dialog.request("BYE", client.cseq + 1, via, client.call_id), dialog.destination(client.dest))

    def _on_response(self, msg: SipMessage) -> None:
        with self._lock:
            client = self._dialing.get(msg.call_id)
        if client is not None:
            client.responses.put(msg)
            return
        call = self._find(msg.call_id)
        if call is not None and call.ack and msg.method == "INVITE" and 200 <= msg.status < 300:
            # Our ACK was lost and the 2xx retransmitted (13.2.2.4): ACK it again.
            self._send(call.ack, call.dialog.destination(call.source))
        # Anything else (responses to our BYEs) needs nothing from us.

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
                if not call.acked.is_set() and now >= call.next_retransmit_s:
                    if now - call.answered_at_s > TIMER_H_S:
                        log.warning("call_id=%s no ACK for our 200 OK; ending", call.info.call_id)
                        self.hangup_call(call, "error", wait_ack_s=0)
                        continue
                    self._send(call.last_response, call.source)
                    call.retransmit_interval_s = min(call.retransmit_interval_s * 2, T2_S)
                    call.next_retransmit_s = now + call.retransmit_interval_s
                # Item 7: media silence of the network ends the call.
                if now - call.rtp.last_rx_s > self.settings.rtp_timeout_s:
                    log.warning(
                        "call_id=%s no RTP for %.1f s; ending", call.info.call_id, self.settings.rtp_timeout_s
                    )
                    self.hangup_call(call, "rtp_timeout", wait_ack_s=0)
            time.sleep(0.1)

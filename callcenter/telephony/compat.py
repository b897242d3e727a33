"""Narrow fixes for pyVoIP 1.6.8, as subclasses (nothing is patched in place).

Each class/method names the SIP_NOTES.md item it addresses. The fixes were
written against the 1.6.8 source; `require_pyvoip()` refuses any other
version, because a different release may have moved or fixed the code we
override.

| item | defect in 1.6.8 | fix here | test (tests/telephony/) |
|---|---|---|---|
| 1 | replies go to server:port, never to the request's source | `CompatSIPClient.send_to`: responses go to the datagram's source (RFC 3581 rport behaviour); no REGISTER in direct mode | test_direct_mode_without_a_proxy, test_agent_hangup_reaches_the_caller[direct] |
| 2 | new +sip.instance on every start | `urnUUID` from settings; `stop()` unregisters (Expires: 0) | test_instance_id_is_stable_and_unregistered_on_stop |
| - | REGISTER to `sip:<server>` without its port; `register()` takes the next datagram as its answer and gives up for good after 3 failures | `_registrar_uri`; REGISTER responses matched by Call-ID in our receive loop; retry with back-off forever | every register-mode test (kamailio on a free port) |
| 3 | 1 s Timer before the call callback, no 100 Trying | agent: 100 Trying at once, 180, its own ring delay | test_answer_waits_for_the_configured_rings[0/2] |
| 4 | PCMA encoded with the u-law table | `CompatRTPClient.encode_packet` uses the negotiated codec | test_caller_hears_what_we_play[PCMA], test_pyvoip_defects_still_present_in_the_pinned_release |
| 5 | 8-bit read_audio, silence skipped | `CompatRTPClient.parse_packet` decodes each payload to PCM16 with its RTP timestamp | test_caller_audio_reaches_the_sink_as_pcm16 |
| 6 | CANCEL ignored | agent: 200 to CANCEL, 487 to the INVITE, on_missed(info, "cancelled") | test_cancel_while_ringing_is_a_missed_call |
| 7 | no RTP timeout | `CompatRTPClient.last_rx_s`; agent housekeeping ends silent calls | test_rtp_silence_without_bye_ends_the_call |
| 8 | OPTIONS unanswered | agent answers 200 with Allow | test_options_gets_200 |
| 9 | header parser splits on ": " | requests are parsed by `sipmsg.parse` | test_pyvoip_defects_..., every SIPp call (sends an empty `Subject:`) |
| 10 | INVITE without SDP raises KeyError | agent answers 488 + on_missed(info, "error") | test_invite_without_sdp_gets_488_and_agent_survives |
| 11 | RTP ports never released | `PortPool`; the port returns when the RTP receive thread exits | test_small_rtp_range_is_reused |
| - | RTP from any source address is decoded into the call | `CompatRTPClient.accepts_source`: the SDP's address:port, else the first source latched (NAT) | tests/fuzz/test_found_bugs.py::test_rtp_from_a_foreign_source_does_not_reach_the_call |
| - | BYE reuses the INVITE's Via and goes to server:port; 200 OK drops Record-Route | agent builds its 200 OK (Record-Route echoed) and BYE (route set, own Via), and waits for the ACK before BYE | test_agent_hangup_reaches_the_caller |
"""

from __future__ import annotations

import logging
import queue
import random
import re
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pyVoIP
import pyVoIP.VoIP  # noqa: F401  # first: importing pyVoIP.SIP alone hits pyVoIP's circular import
from pyVoIP import RTP, SIP
from pyVoIP.VoIP.status import PhoneStatus

from callcenter.audio.g711 import DECODERS, ENCODERS
from callcenter.telephony import sipmsg
from callcenter.telephony.interface import FRAME_BYTES, AudioSink
from callcenter.telephony.settings import SipSettings
from callcenter.telephony.sipmsg import SipMessage

SUPPORTED_PYVOIP = "1.6.8"
log_name = "callcenter.telephony"


class PyVoipVersionError(RuntimeError):
    pass


def require_pyvoip() -> None:
    """Refuse to run our overrides on a pyVoIP they were not written for."""
    if pyVoIP.__version__ != SUPPORTED_PYVOIP:
        raise PyVoipVersionError(
            f"callcenter.telephony.compat targets pyVoIP {SUPPORTED_PYVOIP}, found {pyVoIP.__version__}: "
            f"re-check each override in compat.py against that release, then update SUPPORTED_PYVOIP"
        )


class _StatusHolder:
    """SIPClient writes `phone._status` during (de)registration; it needs nothing else of a phone."""

    def __init__(self) -> None:
        self._status = PhoneStatus.INACTIVE


class CompatSIPClient(SIP.SIPClient):
    """pyVoIP's SIP client, kept for its REGISTER/digest message generation.

    Replaced: the receive loop (select-based, hands every request to
    `on_datagram`), and the registration transaction. pyVoIP's `register()`
    reads the *next datagram* from the socket as the REGISTER response, so an
    INVITE arriving during a refresh is swallowed and counted as a failed
    registration, and after three failures pyVoIP stops the phone for good.
    Here REGISTER responses are matched by Call-ID in the receive loop, and a
    failed registration is retried with back-off for as long as we run.
    """

    def __init__(self, settings: SipSettings, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        require_pyvoip()
        self.status_holder = _StatusHolder()
        super().__init__(
            settings.server,
            settings.port,
            settings.username,
            settings.password,
            phone=self.status_holder,  # type: ignore[arg-type]
            myIP=settings.bind_ip,
            myPort=settings.bind_port,
            callCallback=None,
            fatalCallback=None,
        )
        self.settings = settings
        self.on_datagram = on_datagram
        # Item 2: a stable instance id so the registrar replaces our old binding.
        self.urnUUID = settings.instance_id.removeprefix("urn:uuid:")
        self.register_timeout = 5  # pyVoIP waits 30 s; a registrar on site answers in ms
        self._thread: threading.Thread | None = None
        self._reg_lock = threading.Lock()
        self._reg_waiting: dict[str, queue.Queue[SipMessage]] = {}
        self._refresh: threading.Timer | None = None
        self._failures = 0

    def _registrar_uri(self, request: str) -> str:
        """pyVoIP writes `REGISTER sip:<server>`, dropping a non-default registrar port, so a
        registrar on another port sees a request for someone else (kamailio: 403 Not relaying)."""
        if self.port == 5060:
            return request
        return request.replace(
            f"REGISTER sip:{self.server} SIP/2.0", f"REGISTER sip:{self.server}:{self.port} SIP/2.0", 1
        )

    def gen_first_response(self, deregister: bool = False) -> str:
        return self._registrar_uri(super().gen_first_response(deregister))

    def gen_register(self, request: SIP.SIPMessage, deregister: bool = False) -> str:
        return self._registrar_uri(super().gen_register(request, deregister))

    # -- lifecycle -------------------------------------------------------
    def start(self) -> None:
        """Bind, start receiving, and (register mode) REGISTER once synchronously."""
        if self.NSD:
            raise RuntimeError("SIP client already started")
        self.NSD = True
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.s.bind((self.myIP, self.myPort))
        except OSError as exc:
            self.NSD = False
            self.s.close()
            raise OSError(
                f"cannot bind SIP socket {self.myIP}:{self.myPort} ({exc}); set sip.bind_port to a free port"
            ) from exc
        self.out = self.s
        # No 1 s start delay (pyVoIP uses Timer(1, recv_loop)): INVITEs may arrive right after REGISTER.
        self._thread = threading.Thread(target=self.recv_loop, name="sip-recv", daemon=True)
        self._thread.start()
        if self.settings.mode == "register":
            self.register()

    def stop(self) -> None:
        """Unregister (Expires: 0) while still receiving, then stop the loop and close."""
        if not self.NSD:
            return
        if self._refresh is not None:
            self._refresh.cancel()
        if self.settings.mode == "register" and self.registered:
            if self._transaction(deregister=True):
                self.status_holder._status = PhoneStatus.INACTIVE
            else:
                logging.getLogger(log_name).warning("unREGISTER of %s got no 200", self.username)
        self.NSD = False
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._close_sockets()

    @property
    def registered(self) -> bool:
        return self.status_holder._status == PhoneStatus.REGISTERED

    # -- registration ------------------------------------------------------
    def register(self) -> bool:
        ok = self._transaction(deregister=False)
        self.status_holder._status = PhoneStatus.REGISTERED if ok else PhoneStatus.FAILED
        self._failures = 0 if ok else self._failures + 1
        if not ok:
            logging.getLogger(log_name).error(
                "REGISTER %s at %s:%s failed (%d in a row); retrying",
                self.username,
                self.server,
                self.port,
                self._failures,
            )
        if self.NSD:
            delay = self.default_expires - 5 if ok else min(60, 2**self._failures)
            self._refresh = threading.Timer(delay, self.register)
            self._refresh.daemon = True
            self._refresh.start()
        return ok

    def _transaction(self, deregister: bool) -> bool:
        """REGISTER (answering one digest challenge); True on 200."""
        with self._reg_lock:
            request = self.gen_first_response(deregister=deregister)
            response = self._send_and_wait(request)
            if response is not None and response.status in (401, 407):
                challenge = SIP.SIPMessage(response.raw)
                response = self._send_and_wait(self.gen_register(challenge, deregister=deregister))
            return response is not None and response.status == 200

    def _send_and_wait(self, request: str) -> SipMessage | None:
        call_id = re.search(r"\r\nCall-ID: ([^\r]+)", request)
        if call_id is None:
            return None
        waiter: queue.Queue[SipMessage] = queue.Queue()
        self._reg_waiting[call_id.group(1)] = waiter
        try:
            self.s.sendto(request.encode(), (self.server, self.port))
            deadline = time.monotonic() + self.register_timeout
            while (remaining := deadline - time.monotonic()) > 0:
                try:
                    response = waiter.get(timeout=remaining)
                except queue.Empty:
                    break
                if response.status >= 200:
                    return response
            return None
        except OSError:
            return None
        finally:
            self._reg_waiting.pop(call_id.group(1), None)

    # -- receive -------------------------------------------------------------
    def recv_loop(self) -> None:
        while self.NSD:
            try:
                ready, _, _ = select.select([self.s], [], [], 0.2)
                if not ready:
                    continue
                data, addr = self.s.recvfrom(65535, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except (OSError, ValueError):
                if not self.NSD:
                    return
                continue
            try:
                if (
                    data.startswith(b"SIP/2.0 ")
                    and self._reg_waiting
                    and self._deliver_register_response(data)
                ):
                    continue
                self.on_datagram(data, addr)
            except Exception:  # one bad datagram must never stop the receive loop
                logging.getLogger(log_name).exception("SIP datagram handler failed (from %s)", addr)

    def _deliver_register_response(self, data: bytes) -> bool:
        try:
            message = sipmsg.parse(data)
        except sipmsg.SipParseError:
            return False
        waiter = self._reg_waiting.get(message.call_id)
        if waiter is None or message.method != "REGISTER":
            return False
        waiter.put(message)
        return True

    def send_to(self, data: bytes, addr: tuple[str, int]) -> None:
        """Item 1: send to an explicit address (the request's source), not to server:port."""
        try:
            self.s.sendto(data, addr)
        except OSError:
            logging.getLogger(log_name).warning("SIP send to %s failed", addr)


class PortPool:
    """Item 11: RTP ports handed out and given back (pyVoIP never returns them)."""

    def __init__(self, low: int, high: int) -> None:
        # RTP on even ports; the odd one above is left for RTCP (RFC 3550 11).
        first = low + (low % 2)
        self._free = deque(range(first, high, 2))
        random.shuffle(self._free)
        self._lock = threading.Lock()
        self.in_use: set[int] = set()

    def bind(self, ip: str) -> tuple[socket.socket, int]:
        """A bound UDP socket on a free port of the range; skips ports other processes hold."""
        with self._lock:
            for _ in range(len(self._free)):
                port = self._free.popleft()
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    sock.bind((ip, port))
                except OSError:
                    sock.close()
                    self._free.append(port)
                    continue
                self.in_use.add(port)
                return sock, port
        raise RuntimeError("no free RTP port in sip.rtp_port_low..rtp_port_high; widen the range")

    def release(self, port: int) -> None:
        with self._lock:
            if port in self.in_use:
                self.in_use.discard(port)
                self._free.append(port)


_RTP_HEADER = struct.Struct("!BBHII")
_DTMF_KEYS = "0123456789*#ABCD"
SILENCE_PCM16 = bytes(FRAME_BYTES)
FRAME_S = 0.02


class CompatRTPClient(RTP.RTPClient):
    """One G.711 RTP stream: PCM16 in and out, DTMF, and the time of the last packet.

    Replaces RTPClient's transport loops because they poll every 10 ms, keep
    audio as 8-bit linear (item 5) and encode PCMA with the u-law table
    (item 4). Sending is paced on an absolute 20 ms schedule; frames queued by
    `play` go out in order, silence fills the gaps.
    """

    def __init__(
        self,
        sock: socket.socket,
        port: int,
        pool: PortPool,
        remote: tuple[str, int],
        codec: str,
        payload_type: int,
        event_payload_type: int | None,
        call_id: str,
    ) -> None:
        assoc: dict[int, Any] = {payload_type: RTP.PayloadType[codec]}
        if event_payload_type is not None:
            assoc[event_payload_type] = RTP.PayloadType.EVENT
        super().__init__(assoc, sock.getsockname()[0], port, remote[0], remote[1], RTP.TransmitType.SENDRECV)
        self.NSD = False
        self.sin = self.sout = sock
        self.pool = pool
        self.codec = codec
        self.payload_type = payload_type
        self.event_payload_type = event_payload_type
        self.call_id = call_id
        self.sink: AudioSink | None = None
        self.last_rx_s = time.monotonic()
        self.packets_in = 0
        self._decode = DECODERS[codec]
        self._encode = ENCODERS[codec]
        self._queue: deque[bytes] = deque()
        self._cond = threading.Condition()
        self._last_event_ts: int | None = None
        self._remote = remote
        self._heard_remote = False
        self._latched: tuple[str, int] | None = None
        self.packets_dropped = 0  # from a source other than the call's
        self._stopped = False
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self.NSD = True
        self.last_rx_s = time.monotonic()
        self.sin.settimeout(0.2)
        for target, name in ((self.recv, "rtp-rx"), (self.trans, "rtp-tx")):
            thread = threading.Thread(target=target, name=f"{name} {self.call_id[:16]}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """Idempotent and non-blocking (it runs on the SIP thread): the receive thread closes the socket."""
        with self._cond:
            if self._stopped:
                return
            self._stopped = True
            started = self.NSD
            self.NSD = False
            self._queue.clear()
            self._cond.notify_all()
        if not started:
            self._close()

    def _close(self) -> None:
        self.sin.close()
        self.pool.release(self.inPort)

    # -- receive ---------------------------------------------------------
    def recv(self) -> None:
        try:
            self._recv_loop()
        finally:
            self._close()

    def _recv_loop(self) -> None:
        while self.NSD:
            try:
                packet, source = self.sin.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                self.parse_packet(packet, (source[0], source[1]))  # IPv6 adds flowinfo, scope
            except Exception:  # a bad packet or a failing sink must not end the stream
                logging.getLogger(log_name).debug("call %s: RTP packet dropped", self.call_id, exc_info=True)

    def accepts_source(self, source: tuple[str, int]) -> bool:
        """Only the call's stream may write into its audio. Packets from the SDP's address:port
        are always taken; until the first of them arrives, the first other source is latched (a
        caller behind NAT); anything else (stray or forged RTP) is dropped."""
        if source == self._remote:
            self._heard_remote = True
            return True
        if self._heard_remote:
            return False
        if self._latched is None:
            self._latched = source
        return source == self._latched

    def parse_packet(self, packet: bytes, source: tuple[str, int] | None = None) -> None:
        if source is not None and not self.accepts_source(source):
            self.packets_dropped += 1
            return
        if len(packet) < _RTP_HEADER.size:
            return
        first, second, _seq, timestamp, _ssrc = _RTP_HEADER.unpack_from(packet)
        if first >> 6 != 2:
            return
        offset = _RTP_HEADER.size + 4 * (first & 0x0F)
        if first & 0x10:  # header extension: 4-byte header with its length in words
            if len(packet) < offset + 4:
                return
            offset += 4 + 4 * struct.unpack_from("!H", packet, offset + 2)[0]
        end = len(packet)
        if first & 0x20 and end > offset:  # padding: last octet says how much
            end -= packet[-1]
        payload = packet[offset:end]
        pt = second & 0x7F
        self.last_rx_s = time.monotonic()
        self.packets_in += 1
        sink = self.sink
        if pt == self.payload_type:
            if sink is not None and payload:
                sink.on_caller_audio(self._decode(payload), timestamp)
        elif pt == self.event_payload_type and len(payload) >= 4 and timestamp != self._last_event_ts:
            # RFC 4733: one event spans several packets with the same timestamp; report it once.
            self._last_event_ts = timestamp
            if sink is not None and payload[0] < 12:
                sink.on_dtmf(_DTMF_KEYS[payload[0]])

    # -- send ------------------------------------------------------------
    def encode_packet(self, payload: bytes) -> bytes:
        """Item 4: PCM16 -> the negotiated codec (pyVoIP used lin2ulaw for PCMA too)."""
        return self._encode(payload)

    def trans(self) -> None:
        seq = random.randint(0, 0xFFFF)
        timestamp = random.randint(0, 0xFFFFFFFF)
        ssrc = random.randint(1, 0xFFFFFFFF)
        next_send = time.monotonic()
        marker = 0x80
        while self.NSD:
            with self._cond:
                frame = self._queue.popleft() if self._queue else None
                self._cond.notify_all()
            pcm = frame if frame is not None else SILENCE_PCM16
            header = _RTP_HEADER.pack(0x80, marker | self.payload_type, seq, timestamp, ssrc)
            marker = 0
            try:
                self.sout.sendto(header + self.encode_packet(pcm), (self.outIP, self.outPort))
            except OSError:
                if not self.NSD:
                    return
            if frame is not None and self.sink is not None:
                try:
                    self.sink.on_agent_audio(frame)
                except Exception:
                    logging.getLogger(log_name).exception("call %s: on_agent_audio failed", self.call_id)
            seq = (seq + 1) & 0xFFFF
            timestamp = (timestamp + FRAME_BYTES // 2) & 0xFFFFFFFF
            next_send += FRAME_S
            delay = next_send - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.2:  # we were starved (CPU); resynchronise instead of bursting
                next_send = time.monotonic()

    def play(self, pcm16: bytes, active: Callable[[], bool]) -> bool:
        """Queue PCM16 in 20 ms frames, at most ~60 ms ahead of the wire; wait until all went out."""
        for start in range(0, len(pcm16), FRAME_BYTES):
            frame = pcm16[start : start + FRAME_BYTES]
            if len(frame) < FRAME_BYTES:
                frame += bytes(FRAME_BYTES - len(frame))
            with self._cond:
                while len(self._queue) >= 3 and not self._stopped and active():
                    self._cond.wait(0.1)
                if self._stopped or not active():
                    return False
                self._queue.append(frame)
        with self._cond:
            while self._queue and not self._stopped and active():
                self._cond.wait(0.1)
            return not self._stopped and active()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

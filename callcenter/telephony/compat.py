"""Narrow fixes for pyVoIP 1.6.8, as subclasses (nothing is patched in place).

Each class/method names the SIP_NOTES.md item it addresses. The fixes were
written against the 1.6.8 source; `require_pyvoip()` refuses any other
version, because a different release may have moved or fixed the code we
override.

pyVoIP's SIP side is no longer used: its SIPClient's REGISTER has a fixed Expires: 120, a
hard-coded transport=UDP Contact and digest uri, no 423 handling and "next datagram" response
matching, and none of its requests are retransmitted. The SIP stack is ours, by composition
(transport.py, transactions.py, registration.py, agent.py); pyVoIP is the RTP base here.

| item | defect in 1.6.8 | fix | test (tests/telephony/) |
|---|---|---|---|
| 1 | replies go to server:port, never to the request's source | transport.py: responses go to the source (rport) or back on the TCP connection; no REGISTER in direct mode | test_direct_mode_without_a_proxy, test_agent_hangup_reaches_the_caller[direct] |
| 2 | new +sip.instance on every start | registration.py: instance id from settings; `stop()` unregisters (Expires: 0), SIGTERM too | test_instance_id_is_stable_and_unregistered_on_stop, test_sigterm_unregisters |
| - | REGISTER: fixed 120 s, no 423, port dropped from the R-URI, gives up after 3 failures | registration.py: the registrar's grant, Min-Expires, keep-alives, retries forever | test_registrar.py |
| 3 | 1 s Timer before the call callback, no 100 Trying | agent: 100 Trying at once, 180, its own ring delay | test_answer_waits_for_the_configured_rings[0/2] |
| 4 | PCMA encoded with the u-law table | `CompatRTPClient.encode_packet` uses the negotiated codec | test_caller_hears_what_we_play[PCMA], test_pyvoip_defects_still_present_in_the_pinned_release |
| 5 | 8-bit read_audio, silence skipped | `CompatRTPClient.parse_packet` decodes each payload to PCM16 with its RTP timestamp | test_caller_audio_reaches_the_sink_as_pcm16 |
| 6 | CANCEL ignored | agent: 200 to CANCEL, 487 to the INVITE, on_missed(info, "cancelled") | test_cancel_while_ringing_is_a_missed_call |
| 7 | no RTP timeout | `CompatRTPClient.last_rx_s`/`last_rtcp_s`; agent housekeeping ends calls with neither RTP nor RTCP, never while on hold | test_rtp_silence_without_bye_ends_the_call, test_media.py |
| 8 | OPTIONS unanswered | agent answers 200 with Allow | test_options_gets_200 |
| 9 | header parser splits on ": " | requests are parsed by `sipmsg.parse` | test_pyvoip_defects_..., every SIPp call (sends an empty `Subject:`) |
| 10 | INVITE without SDP raises KeyError | agent answers 488 + on_missed(info, "refused_488") | test_invite_without_sdp_gets_488_and_agent_survives |
| 11 | RTP ports never released | `PortPool`; the port returns when the RTP receive thread exits | test_small_rtp_range_is_reused |
| - | RTP from any source address is decoded into the call | `CompatRTPClient.accepts_source`: the SDP's address:port, else the first source latched (NAT); re-armed by `repoint` | tests/fuzz/test_found_bugs.py::test_rtp_from_a_foreign_source_does_not_reach_the_call |
| - | the stream is fixed at the first negotiation | `CompatRTPClient.repoint`/`set_sending` for re-INVITE/UPDATE and hold | test_media.py |
"""

from __future__ import annotations

import logging
import random
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pyVoIP
import pyVoIP.VoIP  # noqa: F401  # first: importing pyVoIP.SIP alone hits pyVoIP's circular import
from pyVoIP import RTP

from callcenter.audio.g711 import DECODERS, ENCODERS
from callcenter.telephony.interface import FRAME_BYTES, AudioSink

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


class PortPool:
    """Item 11: RTP ports handed out and given back (pyVoIP never returns them)."""

    def __init__(self, low: int, high: int) -> None:
        # RTP on even ports; the odd one above is left for RTCP (RFC 3550 11).
        first = low + (low % 2)
        self._free = deque(range(first, high, 2))
        random.shuffle(self._free)
        self._lock = threading.Lock()
        self.in_use: set[int] = set()
        self._rtcp: dict[int, socket.socket] = {}

    def bind(self, ip: str) -> tuple[socket.socket, int]:
        """A bound UDP socket on a free port of the range; skips ports other processes hold.
        The RTCP port above it (port + 1) is bound too when free: `rtcp_socket(port)`."""
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        with self._lock:
            for _ in range(len(self._free)):
                port = self._free.popleft()
                sock = socket.socket(family, socket.SOCK_DGRAM)
                try:
                    sock.bind((ip, port))
                except OSError:
                    sock.close()
                    self._free.append(port)
                    continue
                rtcp = socket.socket(family, socket.SOCK_DGRAM)
                try:
                    rtcp.bind((ip, port + 1))
                    self._rtcp[port] = rtcp
                except OSError:
                    rtcp.close()  # RTCP is only a liveness hint; the call works without it
                self.in_use.add(port)
                return sock, port
        raise RuntimeError("no free RTP port in sip.rtp_port_low..rtp_port_high; widen the range")

    def rtcp_socket(self, port: int) -> socket.socket | None:
        with self._lock:
            return self._rtcp.get(port)

    def release(self, port: int) -> None:
        with self._lock:
            rtcp = self._rtcp.pop(port, None)
            if rtcp is not None:
                rtcp.close()
            if port in self.in_use:
                self.in_use.discard(port)
                self._free.append(port)


_RTP_HEADER = struct.Struct("!BBHII")
_DTMF_KEYS = "0123456789*#ABCD"
SILENCE_PCM16 = bytes(FRAME_BYTES)
FRAME_S = 0.02
CN_STATIC_PT = 13  # RFC 3389 comfort noise (RFC 3551 static payload type)


class CompatRTPClient(RTP.RTPClient):
    """One G.711 RTP stream: PCM16 in and out, DTMF, comfort noise, and liveness (RTP and RTCP).

    Replaces RTPClient's transport loops because they poll every 10 ms, keep
    audio as 8-bit linear (item 5) and encode PCMA with the u-law table
    (item 4). Sending is paced on an absolute 20 ms schedule; frames queued by
    `play` go out in order, silence fills the gaps.

    A re-INVITE or UPDATE moves the stream with `repoint` (new address, port, codec): packets go
    to the new address from the next 20 ms tick, the source latch is re-armed for it, and the
    timestamps handed to the sink stay on one timeline across the change of stream (a new SSRC
    continues where the old one stopped, plus the wall-clock time between them). `sending`
    follows the negotiated direction: while the peer holds the call (we answered recvonly or
    inactive) nothing is sent and queued prompts wait.
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
        cn_payload_type: int | None = None,
    ) -> None:
        assoc: dict[int, Any] = {payload_type: RTP.PayloadType[codec]}
        if event_payload_type is not None:
            assoc[event_payload_type] = RTP.PayloadType.EVENT
        super().__init__(assoc, sock.getsockname()[0], port, remote[0], remote[1], RTP.TransmitType.SENDRECV)
        self.NSD = False
        self.sin = self.sout = sock
        self.rtcp = pool.rtcp_socket(port)
        self.pool = pool
        self.codec = codec
        self.payload_type = payload_type
        self.event_payload_type = event_payload_type
        self.cn_payload_type = cn_payload_type
        self.call_id = call_id
        self.sink: AudioSink | None = None
        self.last_rx_s = time.monotonic()  # last RTP packet of the call's stream (CN included)
        self.last_rtcp_s = 0.0  # last RTCP packet from the call's peer (0: none yet)
        self.last_audio_s = 0.0  # last audio payload (not CN, not events)
        self.packets_in = 0
        self.packets_out = 0
        self.cn_packets = 0
        self.rtcp_packets = 0
        self.sending = True
        self._decode = DECODERS[codec]
        self._encode = ENCODERS[codec]
        self._queue: deque[bytes] = deque()
        self._cond = threading.Condition()
        self._last_event_ts: int | None = None
        self._remote = remote
        self._heard_remote = False
        self._latched: tuple[str, int] | None = None
        self._retired: set[tuple[str, int]] = set()  # earlier remotes: their late packets are dropped
        self.packets_dropped = 0  # from a source other than the call's
        self._stopped = False
        self._threads: list[threading.Thread] = []
        self._resync = False  # next packet out carries the marker bit (new stream, end of hold)
        # One timeline for the sink across streams (re-INVITE, SSRC change).
        self._ssrc: int | None = None
        self._ts_offset = 0
        self._next_ts: int | None = None  # sink timeline: where the next packet would start
        self._next_ts_at = 0.0
        self.repointed_at_s = 0.0
        self.first_rx_after_repoint_s = 0.0

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

    # -- re-negotiation (SIP thread) ----------------------------------------------------------
    def repoint(self, remote: tuple[str, int], codec: str, payload_type: int, event_payload_type: int | None,
                cn_payload_type: int | None = None) -> None:
        """Send to `remote` from now on and take its packets (the latch is re-armed for it)."""
        with self._cond:
            if remote != self._remote:
                self._retired.add(self._remote)
                if self._latched is not None:
                    self._retired.add(self._latched)
                self._retired.discard(remote)
                self._remote = remote
                self.outIP, self.outPort = remote
                self._heard_remote = False
                self._latched = None
                self._resync = True
                self.repointed_at_s = time.monotonic()
                self.first_rx_after_repoint_s = 0.0
            if codec != self.codec:
                self.codec = codec
                self._decode = DECODERS[codec]
                self._encode = ENCODERS[codec]
            self.payload_type = payload_type
            self.event_payload_type = event_payload_type
            self.cn_payload_type = cn_payload_type

    def set_sending(self, sending: bool) -> None:
        with self._cond:
            if sending and not self.sending:
                self._resync = True
            self.sending = sending
            self._cond.notify_all()

    @property
    def remote(self) -> tuple[str, int]:
        return self._remote

    # -- receive ---------------------------------------------------------
    def recv(self) -> None:
        try:
            self._recv_loop()
        finally:
            self._close()

    def _recv_loop(self) -> None:
        # One blocking recvfrom per RTP packet (as before RTCP was read): the RTCP socket, whose
        # packets come every few seconds, is drained without blocking twice a second.
        if self.rtcp is not None:
            self.rtcp.setblocking(False)
        next_rtcp_poll = 0.0
        while self.NSD:
            try:
                packet, source = self.sin.recvfrom(2048)
            except TimeoutError:
                packet = b""
            except OSError:
                return
            if packet:
                try:
                    self.parse_packet(packet, (source[0], source[1]))  # IPv6 adds flowinfo, scope
                except Exception:  # a bad packet or a failing sink must not end the stream
                    logging.getLogger(log_name).debug("call %s: RTP packet dropped", self.call_id, exc_info=True)
            if self.rtcp is not None and (now := time.monotonic()) >= next_rtcp_poll:
                next_rtcp_poll = now + 0.5
                self._drain_rtcp()

    def _drain_rtcp(self) -> None:
        assert self.rtcp is not None
        while True:
            try:
                packet, source = self.rtcp.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self._rtcp_packet(packet, (source[0], source[1]))

    def _rtcp_packet(self, packet: bytes, source: tuple[str, int]) -> None:
        """RTCP (RFC 3550 6) from the peer's host: the call is alive even when no RTP flows."""
        if len(packet) < 8 or packet[0] >> 6 != 2 or not 200 <= packet[1] <= 204:
            return
        if source[0] != self._remote[0] and (self._latched is None or source[0] != self._latched[0]):
            return
        self.last_rtcp_s = time.monotonic()
        self.rtcp_packets += 1

    def accepts_source(self, source: tuple[str, int]) -> bool:
        """Only the call's stream may write into its audio. Packets from the SDP's address:port
        are always taken; until the first of them arrives, the first other source is latched (a
        caller behind NAT); anything else (stray or forged RTP, the stream a re-INVITE moved
        away from) is dropped."""
        if source == self._remote:
            self._heard_remote = True
            return True
        if self._heard_remote or source in self._retired:
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
        first, second, _seq, timestamp, ssrc = _RTP_HEADER.unpack_from(packet)
        if first >> 6 != 2:
            return
        pt = second & 0x7F
        if 72 <= pt <= 76:  # RTCP on the RTP port (rtcp-mux, RFC 5761 4)
            self.last_rtcp_s = time.monotonic()
            self.rtcp_packets += 1
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
        now = time.monotonic()
        self.last_rx_s = now
        self.packets_in += 1
        if self.repointed_at_s and not self.first_rx_after_repoint_s and source == self._remote:
            self.first_rx_after_repoint_s = now
        sink = self.sink
        if pt == self.payload_type:
            self.last_audio_s = now
            if sink is not None and payload:
                sink.on_caller_audio(self._decode(payload), self._timeline(ssrc, timestamp, len(payload), now))
        elif pt == self.event_payload_type and len(payload) >= 4 and timestamp != self._last_event_ts:
            # RFC 4733: one event spans several packets with the same timestamp; report it once.
            self._last_event_ts = timestamp
            if sink is not None and payload[0] < 12:
                sink.on_dtmf(_DTMF_KEYS[payload[0]])
        elif pt in (CN_STATIC_PT, self.cn_payload_type):
            # RFC 3389: the caller is silent and says so; nothing to decode, the call is alive.
            self.cn_packets += 1

    def _timeline(self, ssrc: int, timestamp: int, samples: int, now: float) -> int:
        """The packet's timestamp on the call's single timeline (see the class docstring)."""
        if ssrc != self._ssrc:
            if self._next_ts is None:
                self._ts_offset = 0
            else:
                elapsed = max(0, round((now - self._next_ts_at) * 8000))
                self._ts_offset = (self._next_ts + elapsed - timestamp) & 0xFFFFFFFF
            self._ssrc = ssrc
        mapped = (timestamp + self._ts_offset) & 0xFFFFFFFF
        following = (mapped + samples) & 0xFFFFFFFF
        if self._next_ts is None or ((following - self._next_ts) & 0xFFFFFFFF) < 0x80000000:
            self._next_ts, self._next_ts_at = following, now
        return mapped

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
                sending = self.sending
                # On hold nothing goes out and queued prompts wait (RFC 3264 6.1: recvonly/inactive).
                frame = self._queue.popleft() if self._queue and sending else None
                if self._resync:
                    marker, self._resync = 0x80, False
                self._cond.notify_all()
                out = (self.outIP, self.outPort)
                payload_type, encode = self.payload_type, self._encode
            if sending:
                pcm = frame if frame is not None else SILENCE_PCM16
                header = _RTP_HEADER.pack(0x80, marker | payload_type, seq, timestamp, ssrc)
                marker = 0
                try:
                    self.sout.sendto(header + encode(pcm), out)
                    self.packets_out += 1
                except OSError:
                    if not self.NSD:
                        return
                seq = (seq + 1) & 0xFFFF
            if frame is not None and self.sink is not None:
                try:
                    self.sink.on_agent_audio(frame)
                except Exception:
                    logging.getLogger(log_name).exception("call %s: on_agent_audio failed", self.call_id)
            timestamp = (timestamp + FRAME_BYTES // 2) & 0xFFFFFFFF
            next_send += FRAME_S
            delay = next_send - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.2:  # we were starved (CPU); resynchronise instead of bursting
                next_send = time.monotonic()

    def play(self, pcm16: bytes, active: Callable[[], bool]) -> bool:
        """Queue PCM16 in 20 ms frames, at most ~60 ms ahead of the wire; wait until all went out.
        While the call is held nothing drains: play waits, and goes on when the hold ends."""
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

"""RFC 3261 section 17 transactions for what the agent sends and receives.

Client side (non-INVITE requests we send: BYE, REGISTER, OPTIONS keep-alives, INFO): Timer E
retransmits over UDP from T1 doubling to T2 (T2 from the first provisional response on), Timer F
gives up after 64*T1; the final response (or the timeout, as a synthetic 408) goes to the
waiter. Outbound INVITEs keep their own client transaction in outbound.py (Timer A/B).

Server side: every response we send is kept with its request's transaction key (the top Via's
branch and sent-by, and the method, ACK counting as INVITE; RFC 2543 requests without a magic
cookie by Call-ID, CSeq and From tag). A retransmitted request gets the kept response again
instead of reaching the call logic twice (17.2.1, 17.2.2). A non-2xx final response to an
INVITE is retransmitted over UDP by Timer G until its ACK arrives (absorbed here) or Timer H
fires. 2xx responses to INVITE are the dialog's to retransmit (13.3.1.4, in agent.py).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from callcenter.telephony import sipmsg
from callcenter.telephony.sipmsg import SipMessage
from callcenter.telephony.transport import Peer

log = logging.getLogger("callcenter.telephony")

T1_S = 0.5
T2_S = 4.0
T4_S = 5.0
TIMER_F_S = 64 * T1_S  # non-INVITE client transaction timeout
TIMER_H_S = 64 * T1_S  # waiting for the ACK of a non-2xx final response
TIMER_J_S = 64 * T1_S  # how long a non-INVITE server transaction absorbs retransmissions
ACCEPTED_KEEP_S = 64 * T1_S  # INVITE server transactions after a 2xx (RFC 6026 Accepted)

Send = Callable[[bytes, Peer], bool]
_BRANCH = re.compile(r";\s*branch=([^;,\s]+)", re.IGNORECASE)
_SENT_BY = re.compile(r"^\s*SIP\s*/\s*2\.0\s*/\s*[A-Za-z]+\s+([^;,\s]+)", re.IGNORECASE)


def top_via(msg: SipMessage) -> str:
    value = msg.get("via") or ""
    return value.split(",", 1)[0]


def via_branch(via: str) -> str:
    match = _BRANCH.search(via)
    return match.group(1) if match else ""


def server_key(msg: SipMessage) -> tuple[str, ...]:
    """The server transaction a request belongs to (17.2.3); ACK matches its INVITE."""
    method = "INVITE" if msg.method == "ACK" else msg.method
    via = top_via(msg)
    branch = via_branch(via)
    sent_by = (_SENT_BY.match(via).group(1) if _SENT_BY.match(via) else "").lower()  # type: ignore[union-attr]
    if branch.startswith("z9hG4bK"):
        # Call-ID and CSeq number too: a retransmission repeats them, and a peer that reuses a
        # branch for different requests (seen in the wild) is not answered with another's response.
        return (branch, sent_by, method, msg.call_id, str(msg.cseq[0]))
    # RFC 2543 peers: no unique branch; the request's identity is Call-ID, CSeq number, From tag.
    return ("", msg.call_id, str(msg.cseq[0]), sipmsg.header_tag(msg.get("from") or ""), method)


@dataclass
class ClientTransaction:
    """One non-INVITE request we sent, until its final response or Timer F."""

    request: bytes
    method: str
    branch: str
    dest: Peer
    started_s: float
    on_final: Callable[[SipMessage | None], None] | None = None
    interval_s: float = T1_S
    next_retransmit_s: float = 0.0
    provisional: bool = False
    final: SipMessage | None = None
    timed_out: bool = False
    retransmissions: int = 0
    done: threading.Event = field(default_factory=threading.Event)

    def wait(self, timeout_s: float | None = None) -> SipMessage | None:
        """The final response; None on Timer F or when `timeout_s` passed first."""
        self.done.wait(timeout_s)
        return self.final


@dataclass
class _ServerTransaction:
    key: tuple[str, ...]
    method: str
    peer: Peer
    response: bytes = b""
    status: int = 0
    expires_s: float = 0.0
    # INVITE with a non-2xx final response over UDP: Timer G until the ACK.
    awaiting_ack: bool = False
    interval_s: float = T1_S
    next_retransmit_s: float = 0.0
    acked: bool = False


class TransactionLayer:
    """Client and server transactions; `tick()` runs their timers (the agent's timer thread)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], ClientTransaction] = {}
        self._servers: dict[tuple[str, ...], _ServerTransaction] = {}
        self._timers: list[tuple[float, int, tuple[str, ...] | tuple[str, str]]] = []
        self._seq = itertools.count()
        self._wake = threading.Condition(self._lock)
        self.stats = {"client_retransmissions": 0, "server_retransmissions": 0, "absorbed": 0,
                      "client_timeouts": 0}

    # -- client ------------------------------------------------------------------------------
    def request(self, data: bytes, dest: Peer, *, method: str, branch: str,
                on_final: Callable[[SipMessage | None], None] | None = None) -> ClientTransaction:
        now = time.monotonic()
        txn = ClientTransaction(data, method, branch, dest, now, on_final)
        txn.next_retransmit_s = now + T1_S
        with self._lock:
            self._clients[(branch, method)] = txn
            if dest.transport == "udp":
                self._schedule(txn.next_retransmit_s, (branch, method))
            self._schedule(now + TIMER_F_S, (branch, method))
        self._send(data, dest)
        return txn

    def on_response(self, msg: SipMessage) -> bool:
        """Give a response to its client transaction; True if one took it (17.1.3)."""
        branch = via_branch(top_via(msg))
        with self._lock:
            txn = self._clients.get((branch, msg.method))
            if txn is None:
                return False
            if msg.status < 200:
                txn.provisional = True
                return True
            if txn.final is not None:
                return True  # a retransmitted final response: already handled
            txn.final = msg
            del self._clients[(branch, msg.method)]
        txn.done.set()
        self._notify(txn)
        return True

    def abandon(self, txn: ClientTransaction) -> None:
        """Stop retransmitting (the caller gave up waiting)."""
        with self._lock:
            self._clients.pop((txn.branch, txn.method), None)
        txn.done.set()

    @staticmethod
    def _notify(txn: ClientTransaction) -> None:
        if txn.on_final is not None:
            try:
                txn.on_final(txn.final)
            except Exception:
                log.exception("%s transaction callback failed", txn.method)

    # -- server ------------------------------------------------------------------------------
    def absorb(self, msg: SipMessage, peer: Peer) -> bool:
        """True when the request belongs to a transaction that already answered it: the kept
        response went out again (a retransmission), or it is the ACK of a non-2xx."""
        key = server_key(msg)
        with self._lock:
            txn = self._servers.get(key)
            if txn is None:
                return False
            if msg.method == "ACK":
                if txn.status >= 300:
                    txn.awaiting_ack = False
                    txn.acked = True
                    self.stats["absorbed"] += 1
                    return True
                return False  # the ACK of a 2xx is a request of its own: the dialog takes it
            response = txn.response
            self.stats["absorbed"] += 1
        if response:
            self._send(response, peer)
        return True

    def responded(self, request: SipMessage, response: bytes, status: int, peer: Peer) -> None:
        """Keep what we answered to `request` (the latest response of its transaction)."""
        if request.method == "ACK":
            return
        key = server_key(request)
        now = time.monotonic()
        with self._lock:
            txn = self._servers.get(key)
            if txn is None:
                txn = _ServerTransaction(key, request.method, peer)
                self._servers[key] = txn
            txn.response, txn.status, txn.peer = response, status, peer
            if status < 200:
                txn.expires_s = now + 3600  # lives until its final response
                return
            if request.method == "INVITE" and status >= 300:
                txn.expires_s = now + TIMER_H_S
                if peer.transport == "udp":
                    txn.awaiting_ack = True
                    txn.interval_s = T1_S
                    txn.next_retransmit_s = now + T1_S
                    self._schedule(txn.next_retransmit_s, key)
            else:
                txn.expires_s = now + (ACCEPTED_KEEP_S if request.method == "INVITE" else TIMER_J_S)
            self._schedule(txn.expires_s, key)

    def pending_server(self) -> int:
        with self._lock:
            return len(self._servers)

    # -- timers ------------------------------------------------------------------------------
    def _schedule(self, at: float, key: tuple[str, ...] | tuple[str, str]) -> None:
        heapq.heappush(self._timers, (at, next(self._seq), key))
        self._wake.notify()

    def run(self, running: Callable[[], bool]) -> None:
        """The timer thread's loop: sleeps until the next timer is due."""
        while running():
            with self._lock:
                delay = self._timers[0][0] - time.monotonic() if self._timers else 0.5
                if delay > 0:
                    self._wake.wait(min(delay, 0.5))
            self.tick()

    def wake(self) -> None:
        with self._lock:
            self._wake.notify_all()

    def tick(self) -> None:
        now = time.monotonic()
        resend: list[tuple[bytes, Peer]] = []
        finished: list[ClientTransaction] = []
        with self._lock:
            while self._timers and self._timers[0][0] <= now:
                _, _, key = heapq.heappop(self._timers)
                if len(key) == 2:
                    self._client_timer(key, now, resend, finished)  # type: ignore[arg-type]
                else:
                    self._server_timer(key, now, resend)
        for data, peer in resend:
            self._send(data, peer)
        for txn in finished:
            txn.done.set()
            self._notify(txn)

    def _client_timer(self, key: tuple[str, str], now: float, resend: list[tuple[bytes, Peer]],
                      finished: list[ClientTransaction]) -> None:
        txn = self._clients.get(key)
        if txn is None:
            return
        if now - txn.started_s >= TIMER_F_S - 1e-3:
            del self._clients[key]
            txn.timed_out = True
            self.stats["client_timeouts"] += 1
            log.warning("%s to %s: no response in %.0f s (Timer F)", txn.method, txn.dest, TIMER_F_S)
            finished.append(txn)
            return
        if now + 1e-3 < txn.next_retransmit_s:
            return  # an old timer entry
        # Timer E: T1 doubling up to T2; after a provisional response, every T2 (17.1.2.2).
        txn.interval_s = T2_S if txn.provisional else min(txn.interval_s * 2, T2_S)
        txn.next_retransmit_s = now + txn.interval_s
        txn.retransmissions += 1
        self.stats["client_retransmissions"] += 1
        resend.append((txn.request, txn.dest))
        self._schedule(txn.next_retransmit_s, key)

    def _server_timer(self, key: tuple[str, ...], now: float, resend: list[tuple[bytes, Peer]]) -> None:
        txn = self._servers.get(key)
        if txn is None:
            return
        if now + 1e-3 >= txn.expires_s:
            if txn.awaiting_ack:
                log.warning("no ACK for our %s to %s (Timer H)", txn.status, txn.peer)
            del self._servers[key]
            return
        if txn.awaiting_ack and now + 1e-3 >= txn.next_retransmit_s:
            # Timer G: the non-2xx final response again until its ACK (17.2.1).
            txn.interval_s = min(txn.interval_s * 2, T2_S)
            txn.next_retransmit_s = now + txn.interval_s
            self.stats["server_retransmissions"] += 1
            resend.append((txn.response, txn.peer))
            self._schedule(txn.next_retransmit_s, key)

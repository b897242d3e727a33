"""Sends fuzz cases at a live agent over loopback UDP and judges each reply with the oracle.

Attribution: after each case the runner sends a well-formed OPTIONS probe from the same socket
and reads until the probe's 200 arrives. The agent handles datagrams one by one on its receive
thread, so everything before that 200 is its answer to the case; silence is proven the same way,
without waiting out a timer. A missing probe answer means the agent stopped answering.

Except the earlier cases' late messages, counted as strays: a message of an earlier case's call
(by Call-ID), and a byte-identical repeat of a reply an earlier case received. The agent sends an
INVITE's non-2xx final again until the ACK comes (RFC 3261 17.2.1, Timer G, for 32 s); the
fuzzer acknowledges none but the 487 of its own CANCEL, so those repeats arrive during later cases,
and a byte mutant's Call-ID may not be one the runner knows.
"""

from __future__ import annotations

import hashlib
import re
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from tests.fuzz.sipgen import ACCEPT, Case, Msg, canonical

LOOPBACK = "127.0.0.1"
_STATUS = re.compile(rb"^SIP/2\.0 ([0-9]{3}) [^\r\n]*\r\n")


class AgentSilent(AssertionError):
    """The agent did not answer the probe: it is dead, wedged, or dropped a valid OPTIONS."""


def reply_headers(reply: bytes) -> list[tuple[str, str]]:
    head = reply.split(b"\r\n\r\n", 1)[0].decode("utf-8", "surrogateescape")
    out = []
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        out.append((canonical(name), value.strip()))
    return out


def values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in headers if n == name]


@dataclass
class Tally:
    cases: int = 0
    rtp_packets: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)  # reply class -> count
    problems: list[str] = field(default_factory=list)
    problem_kinds: Counter[str] = field(default_factory=Counter)
    strays: int = 0
    calls_cancelled: int = 0

    def report(self) -> str:
        lines = [f"{self.cases} SIP cases, {self.rtp_packets} RTP garbage packets, "
                 f"{self.calls_cancelled} fuzz calls rung and cancelled, {self.strays} stray replies"]
        lines.append("replies: " + ", ".join(f"{k}={v}" for k, v in sorted(self.by_status.items())))
        lines.append("classes: " + ", ".join(f"{k}={v}" for k, v in sorted(self.by_kind.items())))
        if self.problems:
            lines.append(f"{len(self.problems)} problems by class: {dict(self.problem_kinds)}")
            lines += self.problems[:15]
        return "\n".join(lines)


class FuzzClient:
    def __init__(self, agent_port: int, timeout_s: float = 3.0) -> None:
        self.target = (LOOPBACK, agent_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.settimeout(timeout_s)
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((LOOPBACK, 0))
        self.me = self.sock.getsockname()
        self.seen_call_ids: set[str] = set()
        self.earlier_replies: set[bytes] = set()  # digests of the replies earlier exchanges received
        self.probes = 0

    def close(self) -> None:
        self.sock.close()
        self.rtp.close()

    def _probe(self) -> tuple[bytes, str]:
        self.probes += 1
        call_id = f"probe-{self.probes}-{uuid.uuid4().hex[:8]}"
        lines = [f"OPTIONS sip:probe@{LOOPBACK}:{self.target[1]} SIP/2.0",
                 f"Via: SIP/2.0/UDP {self.me[0]}:{self.me[1]};branch=z9hG4bK{uuid.uuid4().hex[:16]}",
                 f"From: <sip:fuzz@{LOOPBACK}>;tag=p", f"To: <sip:probe@{LOOPBACK}>", f"Call-ID: {call_id}",
                 "CSeq: 1 OPTIONS", "Content-Length: 0"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode(), call_id

    def exchange(self, data: bytes, tally: Tally | None = None, call_id: str = "") -> list[bytes]:
        """Send `data`, then a probe; everything received before the probe's answer, except late
        messages of earlier cases' calls (counted as strays)."""
        probe, probe_id = self._probe()
        self.sock.sendto(data, self.target)
        self.sock.sendto(probe, self.target)
        replies: list[bytes] = []
        while True:
            try:
                reply = self.sock.recv(65535)
            except TimeoutError as exc:
                raise AgentSilent(f"no answer to the probe after {data[:200]!r}") from exc
            if f"Call-ID: {probe_id}\r\n".encode() in reply:
                self.earlier_replies.update(hashlib.blake2b(r, digest_size=16).digest() for r in replies)
                return replies
            reply_id = values(reply_headers(reply), "call-id")
            late = reply_id and reply_id[0] != call_id and reply_id[0] in self.seen_call_ids
            if late or hashlib.blake2b(reply, digest_size=16).digest() in self.earlier_replies:
                if tally is not None:
                    tally.strays += 1
                continue
            replies.append(reply)

    def send_rtp(self, packet: bytes, port: int) -> None:
        self.rtp.sendto(packet, (LOOPBACK, port))

    # -- one case -------------------------------------------------------------------------------
    def run(self, case: Case, tally: Tally) -> None:
        tally.cases += 1
        tally.by_kind[case.kind] += 1
        if case.call_id:
            self.seen_call_ids.add(case.call_id)
        replies = self.exchange(case.data, tally, case.call_id)
        statuses = [m.group(1).decode() if (m := _STATUS.match(r)) else "junk" for r in replies]
        tally.by_status[",".join(statuses) or "silence"] += 1
        problem = judge(case, replies)
        ringing = next((r for r in replies if r.startswith(b"SIP/2.0 180 ")), None)
        if ringing is not None:  # end every call the fuzzer started, or its 200 OK outlives the case
            cancel_problem = self._cancel(case.data, ringing, tally)
            problem = problem or (None if case.expect.weak else cancel_problem)
        if problem:
            tally.problem_kinds[case.kind] += 1
            tally.problems.append(f"[{case.kind}] {problem} (expected {sorted(case.expect.statuses)}: "
                                  f"{case.expect.why})\n    sent {case.data[:300]!r}\n    got {[r[:200] for r in replies]}")

    def _cancel(self, invite: bytes, ringing: bytes, tally: Tally) -> str | None:
        """End a call the fuzzer started: CANCEL -> 200 + 487, then ACK the 487. The CANCEL is
        built from the 180, which copies the INVITE's Via, From, Call-ID and CSeq."""
        tally.calls_cancelled += 1
        first = invite.split(b"\n", 1)[0].decode("utf-8", "replace").split(" ")
        uri = first[1] if len(first) == 3 else f"sip:hotline@{LOOPBACK}"
        headers = reply_headers(ringing)
        call_id = values(headers, "call-id")[0]
        number = values(headers, "cseq")[0].split(" ")[0]
        to = re.sub(r";\s*tag=[^;]*", "", values(headers, "to")[0])
        common = [f"Via: {values(headers, 'via')[0]}", f"From: {values(headers, 'from')[0]}", f"To: {to}",
                  f"Call-ID: {call_id}"]
        cancel = "\r\n".join([f"CANCEL {uri} SIP/2.0", *common, f"CSeq: {number} CANCEL", "Content-Length: 0"])
        replies = self.exchange((cancel + "\r\n\r\n").encode(), tally, call_id)
        got = sorted((int(m.group(1)), values(reply_headers(r), "cseq")[0].split(" ")[-1])
                     for r in replies if (m := _STATUS.match(r)))
        if got != [(200, "CANCEL"), (487, "INVITE")]:
            return f"CANCEL of a ringing fuzz call got {got}"
        to_tag = next(values(reply_headers(r), "to")[0] for r in replies if b" 487 " in r[:12])
        ack = "\r\n".join([f"ACK {uri} SIP/2.0", *common[:2], f"To: {to_tag}", common[3],
                           f"CSeq: {number} ACK", "Content-Length: 0"])
        if self.exchange((ack + "\r\n\r\n").encode(), tally, call_id):
            return "the ACK of the 487 was answered"
        return None


def judge(case: Case, replies: list[bytes]) -> str | None:
    """None if the replies are what the oracle allows, else what is wrong."""
    statuses = []
    for reply in replies:
        m = _STATUS.match(reply)
        if m is None:
            return "a reply that is not a SIP response"
        statuses.append(int(m.group(1)))
    data = case.data
    if case.expect.weak:
        if replies and (data.startswith(b"SIP/") or data.startswith(b"ACK ")):
            return "answered a response or an ACK"
        for reply in replies:  # a response copies Call-ID and CSeq from its request (8.2.6.2)
            headers = reply_headers(reply)
            for name in ("call-id", "cseq"):
                for value in values(headers, name):
                    if value.encode("utf-8", "surrogateescape") not in data:
                        return f"reply {name} {value!r} is not from the request"
        return None
    expected = case.expect.statuses
    if not expected:
        return f"expected silence, got {statuses}" if replies else None
    # An INVITE's non-2xx final response is sent again until the ACK comes (RFC 3261 17.2.1,
    # Timer G): on a loaded machine the fuzzer's ACK can be late. The same final twice is one answer.
    while len(statuses) >= 2 and statuses[-1] >= 300 and statuses[-1] == statuses[-2] \
            and data.startswith(b"INVITE ") and replies[-1] == replies[-2]:
        statuses.pop()
        replies = replies[:-1]
    finals = [s for s in statuses if s >= 200]
    if ACCEPT in expected:
        allowed = [[100, 180]] + [[100, s] for s in expected if s != ACCEPT]
        if statuses not in allowed:
            return f"expected one of {allowed}, got {statuses}"
    elif len(finals) != 1 or finals[0] not in expected or any(s != 100 for s in statuses if s < 200):
        return f"got {statuses}"
    assert case.msg is not None
    return _check_copies(case.msg, replies, statuses)


def _check_copies(msg: Msg, replies: list[bytes], statuses: list[int]) -> str | None:
    for reply, status in zip(replies, statuses, strict=True):
        headers = reply_headers(reply)
        for name in ("via", "from", "call-id", "cseq"):
            sent = [_norm(v) for v in msg.values(name)]
            got = [_norm(v) for v in values(headers, name)]
            if got != sent and (name == "via" or got != sent[:1]):
                return f"{status} copies {name} as {got}, request had {sent}"
        to_sent = msg.first("to")
        to_got = [_norm(v) for v in values(headers, "to")]
        if to_sent is not None:
            if not to_got or not to_got[0].startswith(_norm(to_sent)):
                return f"{status} changed To: {to_got}"
            if status != 100 and not re.search(r";\s*tag=", to_got[0], re.I):
                return f"{status} without a To tag"
        if status in (405, 501) and not values(headers, "allow"):
            return f"{status} without Allow (RFC 3261 8.2.1)"
        if status == 420:
            unsupported = ",".join(values(headers, "unsupported"))
            wanted = [t.strip() for v in msg.values("require") for t in v.split(",") if t.strip()]
            if not wanted or any(t not in unsupported for t in wanted):
                return f"420 Unsupported {unsupported!r} does not list {wanted} (RFC 3261 8.2.2.3)"
        if status == 415 and not values(headers, "accept"):
            return "415 without Accept (RFC 3261 8.2.3)"
    return None


def _norm(value: str) -> str:
    return " ".join(value.split())


def wait_until(predicate, timeout_s: float, step_s: float = 0.1) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step_s)
    return True

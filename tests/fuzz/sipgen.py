"""SIP fuzz cases: a Hypothesis grammar of SIP requests, mutations of captured seeds, and an oracle.

Every case is a structured message (`Msg`) rendered to bytes, plus what RFC 3261 says a UAS
answers to it (`Expect`). The oracle is computed from the structure by rules written here (RFC
3261 8.2 order: parse errors 400/505, then method 405/501, Request-URI scheme 416, Require 420,
then the method: 481 without a dialog, 415/488 for an unusable offer), never by asking the
agent's own parser. Byte-level mutants (flips, truncation, random bytes) cannot be predicted;
for them the oracle only checks that any reply is a well-formed response to that datagram.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

CORPUS = Path(__file__).parent / "corpus"
NONE: frozenset[int] = frozenset()  # no reply at all
ACCEPT = 180  # pseudo-status: the INVITE starts ringing (100 + 180, or 486 when full)
KNOWN_NOT_ALLOWED = ("REGISTER", "PRACK", "MESSAGE", "SUBSCRIBE", "NOTIFY", "REFER", "PUBLISH")
SERVED = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE")  # UPDATE: RFC 3311, in a dialog
COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
           "c": "content-type", "k": "supported", "s": "subject", "e": "content-encoding"}
LONG = {v: k for k, v in COMPACT.items()}
_CTL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def canonical(name: str) -> str:
    low = name.strip().lower()
    return COMPACT.get(low, low)


@dataclass
class Msg:
    """A SIP message as lines; `body_ok` says whether the body is an SDP offer we can answer."""

    start: str  # request line or status line
    headers: list[tuple[str, str]]
    body: bytes = b""
    body_ok: bool = True
    content_length: str | None = "auto"  # "auto": the true length; None: no header; else verbatim
    eol: str = "\r\n"
    folds: frozenset[int] = frozenset()  # header indexes written as folded continuation lines
    raw_header_bytes: bytes = b""  # injected into the header section verbatim (NUL, bad UTF-8...)

    @property
    def is_response(self) -> bool:
        return self.start.startswith("SIP/")

    @property
    def method(self) -> str:
        return "" if self.is_response else self.start.split(" ", 1)[0]

    def values(self, name: str) -> list[str]:
        key = canonical(name)
        return [v for n, v in self.headers if canonical(n) == key]

    def first(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None

    def set(self, name: str, value: str) -> None:
        key = canonical(name)
        for i, (n, _) in enumerate(self.headers):
            if canonical(n) == key:
                self.headers[i] = (n, value)
                return
        self.headers.append((name, value))

    def remove(self, name: str) -> None:
        key = canonical(name)
        self.headers = [(n, v) for n, v in self.headers if canonical(n) != key]

    def render(self) -> bytes:
        lines = [self.start]
        for i, (name, value) in enumerate(self.headers):
            if i in self.folds and " " in value.strip():
                head, _, tail = value.strip().partition(" ")
                lines.append(f"{name}: {head}{self.eol} {tail}")  # RFC 3261 7.3.1 line folding
            else:
                lines.append(f"{name}: {value}")
        if self.content_length == "auto":
            lines.append(f"Content-Length: {len(self.body)}")
        elif self.content_length is not None:
            lines.append(f"Content-Length: {self.content_length}")
        head = self.eol.join(lines).encode("utf-8", "surrogateescape")
        if self.raw_header_bytes:
            head += self.eol.encode() + self.raw_header_bytes
        return head + (self.eol * 2).encode() + self.body


@dataclass(frozen=True)
class Expect:
    """Acceptable final statuses (NONE: silence; ACCEPT: ringing). `weak`: anything well-formed."""

    statuses: frozenset[int]
    weak: bool = False
    why: str = ""


@dataclass
class Case:
    data: bytes
    kind: str  # the class counted in the report
    msg: Msg | None
    expect: Expect
    call_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)


# -- the oracle ----------------------------------------------------------------------------------


def _digits(text: str) -> bool:
    return re.fullmatch(r"[0-9]+", text) is not None


def expect_for(msg: Msg) -> Expect:
    """What RFC 3261 asks a UA server to answer to `msg` (no dialogs exist for fuzz Call-IDs)."""
    if msg.is_response:
        return Expect(NONE, why="never answer a response (RFC 3261 8.1.3, 17.1.3)")
    method = msg.method
    if method == "ACK":
        return Expect(NONE, why="never answer an ACK (RFC 3261 17.2.1)")
    if not msg.values("via"):
        return Expect(NONE, why="no Via: no way to route a response")
    bad: set[int] = set()
    why: list[str] = []
    parts = msg.start.split(" ")
    if len(parts) != 3 or not re.fullmatch(r"[A-Za-z0-9.!%*_+`'~-]+", parts[0]) or parts[1].startswith("<"):
        bad.add(400)
        why.append("bad request line")
    elif parts[2] != "SIP/2.0":
        bad.add(505 if re.fullmatch(r"SIP/\d+\.\d+", parts[2]) else 400)
        why.append("version")
    for name in ("from", "to", "call-id", "cseq"):
        values = msg.values(name)
        if not values:
            bad.add(400)
            why.append(f"no {name}")
        elif len(set(values)) > 1:
            bad.add(400)
            why.append(f"{name} twice")
    cseq = msg.first("cseq")
    if cseq is not None:
        number, _, cmethod = cseq.partition(" ")
        if not _digits(number) or int(number) >= 2**31:
            bad.add(400)
            why.append("CSeq number")
        elif cmethod.strip() != method:
            bad.add(400)
            why.append("CSeq method")
    if msg.content_length not in ("auto", None):
        cl = msg.content_length or ""
        if not _digits(cl.strip()) or int(cl.strip()) > len(msg.body):
            bad.add(400)
            why.append("Content-Length")
    raw_head = "\n".join(f"{n}:{v}" for n, v in msg.headers).encode("utf-8", "surrogateescape")
    raw_head += msg.raw_header_bytes
    if _CTL.search(raw_head.replace(b"\n", b"")) or not _utf8(raw_head):
        bad.add(400)
        why.append("control character or bad UTF-8 in the header")
    names = [n for n, _ in msg.headers]
    if msg.raw_header_bytes:
        name, colon, _ = msg.raw_header_bytes.partition(b":")
        names.append(name.decode("latin-1") if colon else " ")
    if any(not re.fullmatch(r"[A-Za-z0-9.!%*_+`'~-]+", n.strip()) for n in names):
        bad.add(400)
        why.append("bad header name")
    if bad:
        return Expect(frozenset(bad), why="; ".join(why))
    if method not in SERVED:
        status = 405 if method in KNOWN_NOT_ALLOWED else 501
        return Expect(frozenset({status}), why="method (RFC 3261 8.2.1)")
    uri = parts[1]
    if not re.match(r"(?i)sips?:", uri):
        return Expect(frozenset({416}), why="Request-URI scheme (RFC 3261 8.2.2.1)")
    if method != "CANCEL" and any(v.strip() for v in msg.values("require")):
        return Expect(frozenset({420}), why="Require (RFC 3261 8.2.2.3)")
    if method != "INVITE":
        if method == "OPTIONS":
            return Expect(frozenset({200}), why="OPTIONS (RFC 3261 11.2)")
        return Expect(frozenset({481}), why=f"{method} outside a dialog (RFC 3261 15.1.2, 9.2)")
    if re.search(r";\s*tag=", msg.first("to") or "", re.I):
        return Expect(frozenset({481}), why="re-INVITE for an unknown dialog (RFC 3261 12.2.2)")
    body = _body_as_received(msg)
    if not body:
        return Expect(frozenset({488}), why="no offer: late offer not supported")
    ctype = (msg.first("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/sdp":
        return Expect(frozenset({415}), why="Content-Type (RFC 3261 8.2.3)")
    if body != msg.body:
        return Expect(frozenset({ACCEPT, 486, 488}), why="SDP cut by Content-Length")
    if not msg.body_ok:
        return Expect(frozenset({488}), why="SDP without a usable audio stream")
    return Expect(frozenset({ACCEPT, 486}), why="a new call")


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _body_as_received(msg: Msg) -> bytes:
    if msg.content_length in ("auto", None):
        return msg.body
    return msg.body[: int(msg.content_length.strip())]  # type: ignore[union-attr]


# -- the grammar ---------------------------------------------------------------------------------
# Strategies are built once at import: building them inside each draw costs Hypothesis more than
# the draw itself. `_n` picks an index; `_one_in(k)` is a k-sided die.

_N = st.integers(0, 2**16 - 1)
_DIE = {k: st.integers(0, k - 1) for k in (2, 3, 5, 8, 10, 15, 20)}


def _pick(draw: st.DrawFn, options: tuple | list):  # type: ignore[type-arg, no-untyped-def]
    return options[draw(_N) % len(options)]


def _one_in(draw: st.DrawFn, k: int) -> bool:
    return draw(_DIE[k]) == 0


token = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,11}\Z")
word = st.from_regex(r"\A[A-Za-z0-9_.-]{1,16}\Z")
_USERS = ("13800138000", "13912345678", "hotline", "alice", "a.b-c_d", "0", "x" * 40, "%E5%BC%A0")
_HOSTS = ("127.0.0.1", "localhost", "example.com", "[::1]", "10.0.0.5", "pbx.wuye.cn")
_DISPLAYS = ("", '"张三" ', '"Zhang San" ', "Resident ", '"\\"q\\"" ', '"物业 王" ', '"" ')
_URI_PARAMS = ("", "", ";transport=udp", ";lr", ";user=phone", ";x=1;lr")
_OTHER_URIS = ("tel:+86-10-1234-5678", "mailto:wuye@example.com", "urn:service:sos", "http://example.com/x")
_VIA_PARAMS = ("", "", ";rport", ";received=127.0.0.1", ";ttl=1", ";maddr=127.0.0.1;rport")
_TRANSPORTS = ("UDP", "UDP", "udp", "TCP", "TLS", "SCTP")
_EXTRA_HEADERS = (
    ("Via", "SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKproxy;received=10.1.1.1"),
    ("Record-Route", "<sip:127.0.0.1;lr>"), ("Subject", ""), ("Supported", ""),
    ("Supported", "timer, 100rel"), ("User-Agent", "fuzz/1.0"), ("Allow", "INVITE, ACK, BYE"),
    ("Accept", "application/sdp"), ("Require", ""), ("Proxy-Require", "foo"),
    ("X-Custom", "物业报修"), ("Date", "Sat, 13 Nov 2010 23:29:00 GMT"), ("Expires", "60"),
    ("Session-Expires", "1800"), ("Privacy", "none"), ("P-Asserted-Identity", "<sip:1@x>"),
)
_CODECS = (0, 8, 18, 9, 3, 101, 96)
_CODEC_NAMES = {0: "PCMU", 8: "PCMA", 18: "G729", 9: "G722", 3: "GSM", 101: "telephone-event", 96: "opus"}
_MEDIA = ("audio",) * 6 + ("video", "image")
_MPORTS = (9, 40000, 0, 65534)
_SDP_EXTRA = ("a=sendrecv", "a=ptime:20", "a=rtcp-mux", "b=AS:64")
_METHODS = SERVED * 3 + KNOWN_NOT_ALLOWED
_unknown_method = token.filter(lambda m: m.upper() not in SERVED + KNOWN_NOT_ALLOWED)
_BIG = st.integers(0, 2**31 - 1)
_SIZE = st.integers(1000, 30000)


def sip_uri(draw: st.DrawFn, scheme: str = "sip") -> str:
    port = "" if _one_in(draw, 3) else f":{draw(_N) % 65535 + 1}"
    return f"{scheme}:{_pick(draw, _USERS)}@{_pick(draw, _HOSTS)}{port}{_pick(draw, _URI_PARAMS)}"


def request_uri(draw: st.DrawFn) -> str:
    kind = draw(_N) % 12
    if kind < 10:
        return sip_uri(draw, "sips" if kind == 9 else "sip")
    return _pick(draw, _OTHER_URIS)


def via_value(draw: st.DrawFn) -> str:
    port = "" if _one_in(draw, 3) else f":{draw(_N) % 65535 + 1}"
    return (f"SIP/2.0/{_pick(draw, _TRANSPORTS)} {_pick(draw, _HOSTS)}{port}"
            f";branch=z9hG4bK{uuid.uuid4().hex[:12]}{_pick(draw, _VIA_PARAMS)}")


def sdp_body(draw: st.DrawFn) -> tuple[bytes, bool]:
    """(body, usable): usable = an m=audio line on a port with PCMU or PCMA and an address."""
    codecs = list(dict.fromkeys(_pick(draw, _CODECS) for _ in range(draw(_DIE[5]) + 1)))
    media, mport = _pick(draw, _MEDIA), _pick(draw, _MPORTS)
    lines = ["v=0", f"o=- {draw(_BIG)} 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
             f"m={media} {mport} RTP/AVP {' '.join(map(str, codecs))}"]
    lines += [f"a=rtpmap:{pt} {_CODEC_NAMES[pt]}/8000" for pt in codecs]
    lines += [_pick(draw, _SDP_EXTRA) for _ in range(draw(_DIE[3]))]
    usable = media == "audio" and mport != 0 and bool({0, 8} & set(codecs))  # port 0: declined
    return ("\r\n".join(lines) + "\r\n").encode(), usable


@st.composite
def grammar_request(draw: st.DrawFn) -> Msg:
    """A well-formed request of any method, with optional header variations (valid ones)."""
    method = draw(_unknown_method) if _one_in(draw, 10) else _pick(draw, _METHODS)
    uri = request_uri(draw)
    to = f"{_pick(draw, _DISPLAYS)}<{sip_uri(draw)}>"
    if _one_in(draw, 10):
        to += f";tag={uuid.uuid4().hex[:8]}"
    headers = [
        ("Via", via_value(draw)),
        ("From", f"{_pick(draw, _DISPLAYS)}<{sip_uri(draw)}>;tag={uuid.uuid4().hex[:8]}"),
        ("To", to),
        ("Call-ID", f"fz-{uuid.uuid4().hex}@{_pick(draw, _HOSTS)}"),
        ("CSeq", f"{draw(_BIG)} {method}"),
        ("Max-Forwards", str(draw(_N) % 256)),
    ]
    if _one_in(draw, 2):
        headers.append(("Contact", f"<{sip_uri(draw)}>"))
    headers += [_pick(draw, _EXTRA_HEADERS) for _ in range(draw(_DIE[5]))]
    body, ok = b"", True
    if method == "INVITE" and not _one_in(draw, 10):
        body, ok = sdp_body(draw)
        headers.append(("Content-Type", "application/sdp"))
    elif method == "INFO" and _one_in(draw, 2):
        body = b"Signal=5\r\nDuration=160\r\n"
        headers.append(("Content-Type", "application/dtmf-relay"))
    for i in range(len(headers) - 1, 0, -1):  # a drawn shuffle: header order is free (7.3.1)
        j = draw(_N) % (i + 1)
        headers[i], headers[j] = headers[j], headers[i]
    return variations(draw, Msg(f"{method} {uri} SIP/2.0", headers, body, ok))


def variations(draw: st.DrawFn, msg: Msg) -> Msg:
    """Changes that keep a message valid: compact names, name case, whitespace, folding, LF only,
    huge header values, no Content-Length (allowed over UDP)."""
    if _one_in(draw, 3):
        headers = []
        for name, value in msg.headers:
            if _one_in(draw, 5) and canonical(name) in LONG:
                name = LONG[canonical(name)]
            elif _one_in(draw, 8):
                name = name.upper() if _one_in(draw, 2) else name.lower()
            headers.append((name, value))
        msg.headers = headers
    if _one_in(draw, 10):
        msg.folds = frozenset(draw(_N) % len(msg.headers) for _ in range(3))
    if _one_in(draw, 15):
        msg.eol = "\n"
    if _one_in(draw, 10):
        msg.content_length = None
    if _one_in(draw, 20):
        msg.headers.append(("X-Huge", "A" * draw(_SIZE)))
    return msg


# -- defects ---------------------------------------------------------------------------------------

DEFECTS = (
    "drop-via", "drop-from", "drop-to", "drop-call-id", "drop-cseq", "dup-call-id", "dup-cseq",
    "cseq-method", "cseq-nan", "cseq-huge", "cl-too-big", "cl-nan", "cl-negative", "cl-short",
    "version-3", "version-http", "uri-lws", "uri-angle", "nul", "bad-utf8", "ctl", "no-colon",
    "bad-header-name", "require", "scheme-tel", "unknown-method", "known-method", "to-tag",
    "wrong-ctype", "no-body", "bad-sdp", "as-response", "as-ack",
)
INVITE_DEFECTS = ("wrong-ctype", "no-body", "bad-sdp", "to-tag", "cl-short", "require")
_BAD_CSEQ = ("x INVITE", "-1 INVITE", "²³ INVITE", "", "1.5 INVITE", "١٢ INVITE")
_BAD_CL = ("abc", "12a", "١٢", "", "0x10", "1 2", "²")
_REQUIRES = ("foo", "100rel", "nonsense, timer", "x" * 200)
_SCHEMES = ("tel:+861012345678", "mailto:a@b", "im:a@b")
_UNKNOWN = ("FOO", "NEWMETHOD", "invite", "I-N.V!T%E")
_CTYPES = ("text/plain", "application/json", "multipart/mixed")
_BAD_SDP = (b"v=0\r\nm=video 1 RTP/AVP 31\r\n", b"not sdp at all",
            b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio x RTP/AVP 0\r\n",
            b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 18\r\n",
            b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n",
            b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 99999 RTP/AVP 0\r\n")
_STATUSES = (100, 180, 200, 404, 486, 999, 600)


def with_defect(draw: st.DrawFn, msg: Msg) -> tuple[Msg, str]:
    """Apply one defect from DEFECTS; the oracle works out what it should cost. INVITEs get their
    own defects (offer, To tag) a third of the time, or those would be rare."""
    defect = _pick(draw, INVITE_DEFECTS if msg.method == "INVITE" and _one_in(draw, 3) else DEFECTS)
    method = msg.method
    start = msg.start.split(" ", 2) + ["", ""]
    if defect.startswith("drop-"):
        msg.remove(defect[5:])
    elif defect == "dup-call-id":
        msg.headers.append(("Call-ID", f"other-{uuid.uuid4().hex}"))
    elif defect == "dup-cseq":
        msg.headers.append(("CSeq", f"99 {method}"))
    elif defect == "cseq-method":
        msg.set("cseq", f"1 {'BYE' if method != 'BYE' else 'INVITE'}")
    elif defect == "cseq-nan":
        msg.set("cseq", _pick(draw, _BAD_CSEQ))
    elif defect == "cseq-huge":
        msg.set("cseq", f"{2**31 + draw(_N) * 2**40} {method}")
    elif defect == "cl-too-big":
        msg.content_length = str(len(msg.body) + 10 ** (draw(_N) % 30))
    elif defect == "cl-nan":
        msg.content_length = _pick(draw, _BAD_CL)
    elif defect == "cl-negative":
        msg.content_length = f"-{draw(_N) % 500 + 1}"
    elif defect == "cl-short":
        msg.content_length = str(draw(_N) % (len(msg.body) + 1))
    elif defect == "version-3":
        msg.start = f"{start[0]} {start[1]} {_pick(draw, ('SIP/3.0', 'SIP/1.0', 'SIP/2.1'))}"
    elif defect == "version-http":
        msg.start = f"{start[0]} {start[1]} {_pick(draw, ('HTTP/1.1', 'SIP/2', 'sip'))}"
    elif defect == "uri-lws":
        msg.start = f"{start[0]} {start[1]} extra {start[2]}"
    elif defect == "uri-angle":
        msg.start = f"{start[0]} <{start[1]}> {start[2]}"
    elif defect == "nul":
        msg.raw_header_bytes = b"Subject: a\x00b"
    elif defect == "bad-utf8":
        msg.raw_header_bytes = b"Subject: " + _pick(draw, (b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80"))
    elif defect == "ctl":
        msg.raw_header_bytes = b"X-Ctl: a" + bytes([_pick(draw, (1, 8, 11, 12, 27, 127))]) + b"b"
    elif defect == "no-colon":
        msg.raw_header_bytes = b"This line has no colon"
    elif defect == "bad-header-name":
        msg.headers.append(("Bad Name", "x"))
    elif defect == "require":
        msg.headers.append(("Require", _pick(draw, _REQUIRES)))
    elif defect == "scheme-tel":
        msg.start = f"{start[0]} {_pick(draw, _SCHEMES)} {start[2]}"
    elif defect in ("unknown-method", "known-method", "as-ack"):
        options = {"as-ack": ("ACK",), "known-method": KNOWN_NOT_ALLOWED, "unknown-method": _UNKNOWN}[defect]
        name = _pick(draw, options)
        msg.start = f"{name} {start[1]} {start[2]}"
        msg.set("cseq", f"{(msg.first('cseq') or '1').partition(' ')[0]} {name}")
    elif defect == "to-tag":
        msg.set("to", (msg.first("to") or "<sip:x@y>") + ";tag=nosuchdialog")
    elif defect == "wrong-ctype":
        msg.set("content-type", _pick(draw, _CTYPES))
        msg.body = msg.body or b"hello"
    elif defect == "no-body":
        msg.body = b""
    elif defect == "bad-sdp":
        msg.body = _pick(draw, _BAD_SDP)
        msg.body_ok = False
        if msg.first("content-type") is None:
            msg.headers.append(("Content-Type", "application/sdp"))
    elif defect == "as-response":
        msg.start = f"SIP/2.0 {_pick(draw, _STATUSES)} Whatever"
    return msg, defect


# -- seeds ---------------------------------------------------------------------------------------


@functools.cache
def load_seeds(corpus: Path = CORPUS) -> list[bytes]:
    seeds = [p.read_bytes() for p in sorted((corpus / "sip").glob("*.sip"))]
    if not seeds:
        raise RuntimeError(f"no seed corpus under {corpus}/sip: run `python -m tests.fuzz.capture_corpus`")
    return seeds


@functools.cache
def load_rtp_seeds(corpus: Path = CORPUS) -> list[bytes]:
    return [bytes.fromhex(p.read_text().strip()) for p in sorted((corpus / "rtp").glob("*.hex"))]


def seed_to_msg(data: bytes) -> Msg:
    """Split a captured (well-formed) datagram into a Msg with a fresh Call-ID and branch."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8").split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if canonical(name) == "content-length":
            continue
        headers.append((name.strip(), value.strip()))
    msg = Msg(lines[0], headers, body)
    msg.set("call-id", f"fz-{uuid.uuid4().hex}@seed")
    top = msg.first("via") or ""
    msg.set("via", re.sub(r"branch=[^;,\s]+", f"branch=z9hG4bK{uuid.uuid4().hex[:16]}", top))
    return msg


# -- cases -------------------------------------------------------------------------------------


def _case(msg: Msg, kind: str) -> Case:
    return Case(msg.render(), kind, msg, expect_for(msg), msg.first("call-id") or "")


def _method_class(msg: Msg) -> str:
    return "response" if msg.is_response else msg.method


@st.composite
def grammar_case(draw: st.DrawFn) -> Case:
    msg = draw(grammar_request())
    if _one_in(draw, 3):
        return _case(msg, f"grammar:{_method_class(msg)}")
    msg, defect = with_defect(draw, msg)
    return _case(msg, f"grammar+{defect}")


_HOW = ("as-is", "variation", "defect", "defect", "bytes")


@st.composite
def seed_case(draw: st.DrawFn) -> Case:
    msg = seed_to_msg(_pick(draw, load_seeds()))
    how = _pick(draw, _HOW)
    if how == "as-is":
        return _case(msg, f"seed:{_method_class(msg)}")
    if how == "variation":
        return _case(variations(draw, msg), f"seed~:{_method_class(msg)}")
    if how == "defect":
        msg, defect = with_defect(draw, msg)
        return _case(msg, f"seed+{defect}")
    data = byte_mutation(draw, msg.render())
    return Case(data, "seed-bytes", None, Expect(NONE, weak=True, why="byte mutant"), msg.first("call-id") or "")


_SMALL_BIN = st.binary(min_size=1, max_size=64)
_BYTE_OPS = ("flip", "set", "truncate", "insert", "dup", "delete")
_SPECIAL = (0, 0xFF, 0x0D, 0x0A, 0x20, 0x3A, 0x3B, 0x2C, 0x80, 0x22, 0x3C)


def byte_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    """Havoc-style edits: bit flips, byte sets, truncation, insertions, chunk duplication."""
    buf = bytearray(data)
    for _ in range(draw(_DIE[5]) + 1):
        if not buf:
            break
        op = _pick(draw, _BYTE_OPS)
        i = draw(_N) % len(buf)
        if op == "flip":
            buf[i] ^= 1 << draw(_DIE[8])
        elif op == "set":
            buf[i] = _pick(draw, _SPECIAL)
        elif op == "truncate":
            del buf[i:]
        elif op == "insert":
            buf[i:i] = draw(_SMALL_BIN)
        elif op == "dup":
            buf[i:i] = buf[i : i + draw(_N) % 200] * (draw(_DIE[20]) + 1)
        else:
            del buf[i : i + draw(_N) % 50]
    return bytes(buf)


_GARBAGE = st.one_of(
    st.binary(min_size=0, max_size=1400),
    st.tuples(st.integers(1400, 65000), st.randoms(use_true_random=False)).map(lambda t: t[1].randbytes(t[0])),
    st.sampled_from([b"\r\n", b"\r\n\r\n", b"\x00", b"SIP/2.0", b"INVITE", b" " * 100, b"\n" * 1000]),
    st.text(max_size=300).map(lambda t: t.encode("utf-8")),
)


@st.composite
def garbage_case(draw: st.DrawFn) -> Case:
    data = draw(_GARBAGE)
    routable = re.search(rb"(?im)^(via|v)\s*:", data) is not None
    return Case(data, "garbage", None, Expect(NONE, weak=routable, why="random bytes"), "")


def sip_case() -> st.SearchStrategy[Case]:
    """Grammar-built, seed-derived and random datagrams (seeds: the captured corpus)."""
    return st.one_of(grammar_case(), seed_case(), garbage_case())


# -- RTP garbage -----------------------------------------------------------------------------

_RTP_KINDS = ("random", "header", "header", "seed", "empty")
_RTP_BIN = st.binary(max_size=400)


@st.composite
def rtp_garbage(draw: st.DrawFn) -> bytes:
    """Broken RTP: wrong version, padding past the end, extension/CSRC counts past the end,
    odd payload types and timestamps, zero length, mutated real packets, random bytes."""
    kind = _pick(draw, _RTP_KINDS)
    if kind == "random":
        return draw(_GARBAGE)[:1500]
    if kind == "empty":
        return b""
    if kind == "seed":
        return byte_mutation(draw, _pick(draw, load_rtp_seeds()))
    version = _pick(draw, (2, 2, 2, 0, 1, 3))
    padding, ext, cc = _one_in(draw, 2), _one_in(draw, 2), draw(_N) % 16
    first = version << 6 | padding << 5 | ext << 4 | cc
    pt = _pick(draw, (0, 8, 101, 13, 127, 72, 96))
    header = bytes([first, (draw(_DIE[2]) << 7) | pt]) + (draw(_N) & 0xFFFF).to_bytes(2, "big")
    header += _pick(draw, (0, 0xFFFFFFFF, 0x80000000, draw(_N) << 16)).to_bytes(4, "big")
    header += ((draw(_N) << 16) | (draw(_N) & 0xFFFF)).to_bytes(4, "big")
    body = draw(_RTP_BIN)[: 4 * cc + 8] if cc else b""
    if ext:
        body += b"\xbe\xde" + (draw(_N) & 0xFFFF).to_bytes(2, "big")
    body += draw(_RTP_BIN)
    if padding:
        body += bytes([draw(_N) % 256])
    return header + body

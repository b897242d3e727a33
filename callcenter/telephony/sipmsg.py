"""A small, tolerant SIP message parser and the responses/requests we build.

pyVoIP's own `SIPMessage` splits headers on ": " (an empty value breaks it,
SIP_NOTES #9), rejects every method it does not implement (so OPTIONS and
unknown methods get no answer, #8), and raises KeyError on an INVITE without
SDP (#10). Incoming traffic is therefore parsed here; responses copy Via,
From, To, Call-ID and CSeq verbatim from the request (RFC 3261 8.2.6.2)
instead of re-serialising them.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

SIP_VERSION = "SIP/2.0"

# RFC 3261 7.3.3 compact header names.
_COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
}
_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")
_DIGITS = re.compile(r"^[0-9]+$")  # ASCII only: str.isdigit() accepts "²" and "١٢", int() may not
_VERSION = re.compile(r"^SIP/[0-9]+\.[0-9]+$")
_ESCAPED = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, after surrogateescape
# Control characters other than HTAB are not allowed in the header section (RFC 3261 25.1),
# except escaped as a quoted-pair ("\" CTL, e.g. RFC 4475 intmeth's display name).
_CONTROL = re.compile(r"(?<!\\)[\x00-\x08\x0b-\x1f\x7f]")
_REQUIRED = ("via", "from", "to", "call-id", "cseq")
MAX_CALL_ID = 255  # the ledger's column (Call.sip_call_id)
_SINGLE = ("from", "to", "call-id", "cseq")  # at most one value each (RFC 3261 7.3.1, 20)
# One via-parm: "SIP/2.0/UDP host[:port]" then ";name[=value]" parameters, none empty.
_VIA = re.compile(
    r"^SIP\s*/\s*2\.0\s*/\s*[A-Za-z]+\s+[^\s;,]+(\s*;\s*[A-Za-z0-9.!%*_+`'~-]+(\s*=\s*[^;,\s]+)?)*$"
)


class SipParseError(ValueError):
    """The datagram is not a usable SIP message; `status` is the response to send, if any."""

    def __init__(self, reason: str, status: int = 400, message: SipMessage | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.message = message  # what could be parsed, enough to answer when not None


@dataclass
class SipMessage:
    is_request: bool
    method: str = ""  # request method, or the CSeq method of a response
    uri: str = ""
    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)  # (name as sent, value)
    body: bytes = b""
    raw: bytes = b""  # the datagram as received

    def get(self, name: str) -> str | None:
        """First value of a header (compact forms understood), None if absent."""
        values = self.get_all(name)
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        key = name.lower()
        return [value for hname, value in self.headers if _canonical(hname) == key]

    def raw_lines(self, name: str) -> list[str]:
        """Header lines exactly as received, for copying into a response."""
        key = name.lower()
        return [f"{hname}: {value}" for hname, value in self.headers if _canonical(hname) == key]

    @property
    def call_id(self) -> str:
        return self.get("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = (self.get("cseq") or "").partition(" ")
        return (int(number) if _DIGITS.match(number) else -1), method.strip()

    def has_answerable_headers(self) -> bool:
        return all(self.get(name) is not None for name in _REQUIRED)


def _canonical(name: str) -> str:
    lowered = name.strip().lower()
    return _COMPACT.get(lowered, lowered)


def parse(data: bytes) -> SipMessage:
    """Parse one UDP datagram. Raises SipParseError (with a status to answer) when malformed."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, rest = data.partition(b"\n\n")
    # Undecodable bytes are kept (surrogateescape) so that a request with enough headers can still
    # be answered 400, with its Via/From/To echoed byte for byte.
    text = head.decode("utf-8", "surrogateescape")
    not_utf8 = _ESCAPED.search(text) is not None
    lines = re.split(r"\r?\n", text)
    start = lines[0]
    headers: list[tuple[str, str]] = []
    bad_header = ""
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.match(name.strip()):
            bad_header = bad_header or line
            continue
        headers.append((name.strip(), value.strip()))

    parts = start.split(" ", 2)
    if start.startswith("SIP/"):
        msg = SipMessage(is_request=False, headers=headers)
        if len(parts) < 2 or not _DIGITS.match(parts[1]) or len(parts[1]) != 3:
            raise SipParseError(f"bad status line {start!r}", status=0)
        msg.status = int(parts[1])
    else:
        msg = SipMessage(is_request=True, headers=headers, method=parts[0])
        if len(parts) != 3 or not _TOKEN.match(parts[0]):
            raise SipParseError(f"bad request line {start!r}", message=_answerable(msg))
        msg.method, msg.uri, version = parts
        version = version.rstrip()  # RFC 4475 trws: tolerate trailing whitespace
        if version != SIP_VERSION:
            status = 505 if _VERSION.match(version) else 400  # "SIP/2" is malformed, not a version
            raise SipParseError(f"unsupported version {version!r}", status=status, message=_answerable(msg))
        if " " in msg.uri or msg.uri.startswith("<"):
            raise SipParseError(f"bad Request-URI {msg.uri!r}", message=_answerable(msg))

    if bad_header:
        raise SipParseError(f"bad header line {bad_header!r}", message=_answerable(msg))
    if not_utf8:
        raise SipParseError("header section is not UTF-8", message=_answerable(msg))
    if any(_CONTROL.search(line) for line in lines[1:]):
        raise SipParseError("control character in the header section", message=_answerable(msg))
    if not msg.has_answerable_headers():
        # RFC 4475 insuf: answer 400 when there is at least a Via to answer along.
        raise SipParseError("missing From/To/Call-ID/CSeq", message=_answerable(msg))
    if msg.is_request and not all(
        _VIA.match(v.strip()) for value in msg.get_all("via") for v in value.split(",")
    ):
        raise SipParseError("malformed Via", message=_answerable(msg))
    if any(len(set(msg.get_all(name))) > 1 for name in _SINGLE):
        raise SipParseError("From, To, Call-ID or CSeq given twice", message=_answerable(msg))
    cseq_number, _, cseq_method = (msg.get("cseq") or "").partition(" ")
    if not _DIGITS.match(cseq_number) or int(cseq_number) >= 2**31:
        raise SipParseError("CSeq number out of range", message=_answerable(msg))
    if msg.is_request and cseq_method.strip() != msg.method:
        raise SipParseError("CSeq method differs from the request method", message=_answerable(msg))
    if len(msg.call_id) > MAX_CALL_ID:
        # The ledger keys every call by its Call-ID: one that cannot be stored must be refused
        # before it rings, or the call would go unlogged.
        raise SipParseError("Call-ID longer than 255 characters", message=_answerable(msg))
    if not msg.is_request:
        msg.method = cseq_method.strip()

    length_values = msg.get_all("content-length")
    if length_values:
        if len(set(length_values)) > 1 or not _DIGITS.match(length_values[0]):
            raise SipParseError("bad Content-Length", message=_answerable(msg))
        length = int(length_values[0])
        if length > len(rest):
            raise SipParseError("Content-Length larger than the datagram", message=_answerable(msg))
        rest = rest[:length]  # UDP: octets after the body are discarded (RFC 3261 18.3)
    msg.body = rest
    msg.raw = data
    return msg


def _answerable(msg: SipMessage) -> SipMessage | None:
    """The request, if a response can be routed back (it has a Via); responses and ACKs are never
    answered (RFC 3261 17.1.1.3, 17.2.1), however malformed."""
    return msg if msg.is_request and msg.method != "ACK" and msg.get("via") is not None else None


def new_tag() -> str:
    return uuid.uuid4().hex[:12]


def new_branch() -> str:
    return "z9hG4bK" + uuid.uuid4().hex[:20]


def has_tag(header_value: str) -> bool:
    return re.search(r";\s*tag=", header_value, re.IGNORECASE) is not None


def header_tag(header_value: str) -> str:
    match = re.search(r";\s*tag=([^;>\s]+)", header_value, re.IGNORECASE)
    return match.group(1) if match else ""


REASONS = {
    100: "Trying",
    180: "Ringing",
    200: "OK",
    400: "Bad Request",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    505: "Version Not Supported",
}
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE"


def build_response(
    request: SipMessage,
    status: int,
    *,
    to_tag: str = "",
    extra: list[str] | None = None,
    body: bytes = b"",
    content_type: str = "",
    record_route: bool = False,
) -> bytes:
    """A response that copies Via/From/Call-ID/CSeq verbatim and adds our To tag."""
    lines = [f"{SIP_VERSION} {status} {REASONS.get(status, 'Unknown')}"]
    lines += request.raw_lines("via")
    if record_route:
        lines += request.raw_lines("record-route")
    lines += request.raw_lines("from")
    for to_line in request.raw_lines("to"):
        if to_tag and status != 100 and not has_tag(to_line):
            to_line += f";tag={to_tag}"
        lines.append(to_line)
    lines += request.raw_lines("call-id")
    lines += request.raw_lines("cseq")
    lines += extra or []
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    # surrogateescape: header bytes that were not UTF-8 go back exactly as they came.
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


_URI_HOSTPORT = re.compile(r"sips?:(?:[^@;>]*@)?(\[[^\]]+\]|[^:;>?\s]+)(?::(\d+))?", re.IGNORECASE)


def uri_hostport(uri: str, default_port: int = 5060) -> tuple[str, int] | None:
    """Host and port of a SIP URI (name-addr or bare), None if it is not a sip: URI."""
    match = _URI_HOSTPORT.search(uri)
    if not match:
        return None
    return match.group(1).strip("[]"), int(match.group(2) or default_port)


_TRANSPORT_PARAM = re.compile(r";\s*transport=([A-Za-z]+)", re.IGNORECASE)


def uri_transport(uri: str, default: str = "udp") -> str:
    """The transport a SIP URI asks for (its transport parameter), lower case."""
    match = _TRANSPORT_PARAM.search(uri.split("?", 1)[0])
    return match.group(1).lower() if match else default


def accepts(accept_values: list[str], media_type: str) -> bool:
    """Whether a request's Accept header fields (RFC 3261 20.1, media ranges with q-values) let
    the answer carry a body of `media_type`. No Accept field at all means application/sdp (the
    default for INVITE, which is all we answer with a body); an empty one accepts nothing; q=0
    refuses a range (RFC 4475 sdp01: Accept: text/nobodyKnowsThis)."""
    if not accept_values:
        return True
    main, _, sub = media_type.lower().partition("/")
    best: tuple[int, float] | None = None  # (specificity, q) of the most specific matching range
    for value in accept_values:
        for item in value.split(","):
            range_, *params = (p.strip() for p in item.split(";"))
            if not range_:
                continue
            r_main, _, r_sub = range_.lower().partition("/")
            if r_main == main and r_sub == sub:
                specificity = 2
            elif r_main == main and r_sub == "*":
                specificity = 1
            elif r_main == "*" and r_sub == "*":
                specificity = 0
            else:
                continue
            q = 1.0
            for param in params:
                name, _, val = param.partition("=")
                if name.strip().lower() == "q":
                    try:
                        q = float(val.strip())
                    except ValueError:
                        q = 1.0  # a garbled q-value: read as the default rather than refuse the call
            if best is None or specificity > best[0]:
                best = (specificity, q)
    return best is not None and best[1] > 0


def reason_phrase(status: int) -> str:
    return REASONS.get(status, "Unknown")


def addr_spec(name_addr: str) -> str:
    """The URI inside <...> (or the value before parameters)."""
    match = re.search(r"<([^>]*)>", name_addr)
    if match:
        return match.group(1)
    return name_addr.split(";", 1)[0].strip()


def user_part(name_addr: str) -> str:
    match = re.search(r"sips?:([^@;>:]*)@", addr_spec(name_addr) or name_addr, re.IGNORECASE)
    return match.group(1) if match else ""


def display_name(name_addr: str) -> str:
    value = name_addr.strip()
    if value.startswith('"'):
        end = value.find('"', 1)
        return value[1:end] if end > 0 else ""
    if "<" in value:
        return value.split("<", 1)[0].strip()
    return ""

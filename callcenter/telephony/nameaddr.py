"""Who is calling: RFC 3261 §25.1 name-addr / addr-spec parsing of From and P-Asserted-Identity.

    from-spec    = ( name-addr / addr-spec ) *( SEMI from-param )
    name-addr    = [ display-name ] LAQUOT addr-spec RAQUOT
    display-name = *(token LWS) / quoted-string
    quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE

The caller number comes only from the URI's user part (percent-decoded), never from the display
name: `"<sip:13999999999@x>" <sip:13800001@pbx>` is 13800001, and a display name holding `<`, `>`,
`"` or `;` inside its quotes is text. P-Asserted-Identity (RFC 3325) is believed only from the
proxies a site trusts (`sip.trusted_proxies`); anyone else can write it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote


class NameAddrError(ValueError):
    """The value is not a name-addr or addr-spec (an unbalanced quote, a missing `>`...)."""


@dataclass(frozen=True)
class NameAddr:
    display: str  # unquoted, quoted-pairs resolved; "" if none
    uri: str  # the addr-spec: "sip:13800138000@pbx;user=phone"
    params: str  # header parameters after the name-addr (";tag=..."), unparsed


def _quoted(value: str, start: int) -> tuple[str, int]:
    """The quoted-string starting at value[start] == '"': its text and the index after it."""
    out, i = [], start + 1
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value):
                break
            out.append(value[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise NameAddrError("unterminated quoted display name")


def parse(value: str) -> NameAddr:
    """One name-addr or addr-spec with its header parameters."""
    text = value.strip()
    if not text:
        raise NameAddrError("empty")
    if text.startswith('"'):
        display, i = _quoted(text, 0)
        rest = text[i:].lstrip()
        if not rest.startswith("<"):
            raise NameAddrError("a quoted display name must be followed by <URI>")
        return _bracketed(display, rest)
    lt = text.find("<")
    if lt >= 0:
        # display-name as tokens (real phones also send UTF-8 words unquoted): everything before '<'
        display = " ".join(text[:lt].split())
        if '"' in display or ">" in display:
            raise NameAddrError("quote or '>' in an unquoted display name")
        return _bracketed(display, text[lt:])
    # addr-spec without brackets: the URI ends at the first ';' (what follows are header params)
    # and may contain no spaces, commas or '?' (RFC 3261 §20.10)
    uri, _, params = text.partition(";")
    uri = uri.strip()
    if not uri or any(c in uri for c in ' \t,?"<>'):
        raise NameAddrError("malformed addr-spec")
    return NameAddr("", uri, ";" + params if params else "")


def _bracketed(display: str, rest: str) -> NameAddr:
    gt = rest.find(">")
    if gt < 0:
        raise NameAddrError("missing '>'")
    uri = rest[1:gt].strip()
    if not uri or "<" in uri or any(c.isspace() for c in uri):
        raise NameAddrError("malformed URI inside <>")
    return NameAddr(display, uri, rest[gt + 1:].strip())


def split_values(header: str) -> list[str]:
    """A header holding several name-addrs separated by commas (P-Asserted-Identity may carry a
    sip: and a tel: identity), commas inside quotes and <> not counting."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(header):
        ch = header[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(header[start:i])
            start = i + 1
        i += 1
    parts.append(header[start:])
    return [p.strip() for p in parts if p.strip()]


_SCHEME = re.compile(r"^(sips?|tel):", re.IGNORECASE)


def user_of(uri: str) -> str:
    """The number (user part) of a sip:/sips:/tel: URI, percent-decoded; "" for other schemes
    or an anonymous caller."""
    m = _SCHEME.match(uri)
    if not m:
        return ""
    rest = uri[m.end():]
    if m.group(1).lower() == "tel":
        user = rest.split(";", 1)[0]
    else:
        if "@" not in rest:
            return ""  # sip:host — no user
        user = rest.split("@", 1)[0]  # a user part holds no raw "@" (it is escaped: %40)
        user = user.split(":", 1)[0]  # user:password (deprecated) — never keep the password
    user = unquote(user)
    if user.lower() in ("anonymous", "unknown", "restricted", "unavailable"):
        return ""
    return "".join(ch for ch in user if ch.isprintable())


def _trusted(host: str, proxies: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(p, strict=False) for p in proxies)


def caller_identity(from_value: str, pai_values: Sequence[str], peer_host: str,
                    trusted_proxies: Sequence[str]) -> tuple[str, str]:
    """(caller number, display name) of an INVITE. The asserted identity wins when a trusted
    proxy sent it (a tel: URI first, then sip:); otherwise From. A From that does not parse
    gives an anonymous caller, never a number guessed from its text."""
    number, display = "", ""
    try:
        sender = parse(from_value)
        number, display = user_of(sender.uri), sender.display
    except NameAddrError:
        pass
    if pai_values and _trusted(peer_host, trusted_proxies):
        asserted: list[NameAddr] = []
        for header in pai_values:
            for one in split_values(header):
                try:
                    asserted.append(parse(one))
                except NameAddrError:
                    continue
        asserted.sort(key=lambda n: 0 if n.uri.lower().startswith("tel:") else 1)
        for identity in asserted:
            if user_of(identity.uri):
                return user_of(identity.uri), identity.display or display
    return number, display

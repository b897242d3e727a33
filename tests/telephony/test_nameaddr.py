"""Caller identity from From and P-Asserted-Identity (issue 16): RFC 3261 §25.1 name-addr parsing,
table tests from RFC 3261's examples and RFC 4475's torture messages, the spoofed display names a
prober sent, and P-Asserted-Identity believed only from trusted proxies."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from callcenter.telephony import nameaddr, sipmsg
from callcenter.telephony.nameaddr import NameAddrError, caller_identity, parse, split_values, user_of

TORTURE = Path(os.environ.get("CALLCENTER_SHARED", Path(__file__).resolve().parents[3] / "shared")) / "sip_torture"

# (From value, number, display) — RFC 3261 §20.20 and §25.1 examples, real PBX forms, and attacks
FROM_TABLE = [
    ('"A. G. Bell" <sip:agb@bell-telephone.com> ;tag=a48s', "agb", "A. G. Bell"),
    ("sip:+12125551212@server.phone2net.com;tag=887s", "+12125551212", ""),
    ("Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8", "c8oqz84zk7z", "Anonymous"),
    ("<sip:13800138000@pbx.example;user=phone>;tag=1", "13800138000", ""),
    ('"张三" <sip:13800138000@10.0.0.1>;tag=x', "13800138000", "张三"),
    ("张三 <sip:13800138000@10.0.0.1>;tag=x", "13800138000", "张三"),
    ("<tel:+8613800138000;phone-context=+86>;tag=1", "+8613800138000", ""),
    ('"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1', "", "Anonymous"),
    # the prober's spoof: a number-looking URI inside the quoted display name
    ('"<sip:13999999999@x>" <sip:13800001@pbx.example>;tag=9', "13800001", "<sip:13999999999@x>"),
    # a '<' inside the quotes must not cut the display name (the number was empty before)
    ('"a<b" <sip:13800138000@pbx>;tag=2', "13800138000", "a<b"),
    # escaped quotes and backslashes (quoted-pair)
    (r'"say \"hi\" \\ ok" <sip:13800138000@pbx>;tag=3', "13800138000", 'say "hi" \\ ok'),
    ('"; tag=evil , x" <sip:13800138000@pbx>;tag=4', "13800138000", "; tag=evil , x"),
    # user:password in the URI (deprecated): the password is never the number
    ("<sip:13800138000:secret@pbx>;tag=5", "13800138000", ""),
    ("<sip:pbx.example>;tag=6", "", ""),  # no user part
    ("<http://www.example.com>;tag=3234233", "", ""),  # RFC 4475 unksm2: not a phone scheme
]


@pytest.mark.parametrize(("value", "number", "display"), FROM_TABLE)
def test_from_table(value: str, number: str, display: str) -> None:
    assert caller_identity(value, [], "192.0.2.1", []) == (number, display)


MALFORMED = [
    '"unterminated <sip:13999999999@x>',  # RFC 4475 quotbal-style unbalanced quote
    '"Bell" sip:13999999999@x',  # quoted display name without <>
    "Bell <sip:13999999999@x",  # missing '>'
    "sip:13999999999@x y",  # space in an addr-spec
    "",
]


@pytest.mark.parametrize("value", MALFORMED)
def test_malformed_from_is_anonymous_never_a_guess(value: str) -> None:
    with pytest.raises(NameAddrError):
        parse(value)
    assert caller_identity(value, [], "192.0.2.1", [])[0] == ""


def _from_of(name: str) -> str:
    data = (TORTURE / name).read_bytes()
    return sipmsg.parse(data).get("from") or ""


# RFC 4475 messages with the identity each From names (3.1.1.x well-formed ones and others)
TORTURE_TABLE = [
    ("esc01.dat", "I have spaces", ""),  # %20 decoded
    ("escnull.dat", "null-\x00-null", None),  # %00: decoded, then the NUL is not printable
    ("esc02.dat", "resource", "%Z%45"),  # percent signs inside a display name are text
    ("lwsdisp.dat", "caller", "caller"),
    ("intmeth.dat", "mundane", "token1~` token2'+_ token3*%!.-"),
    ("longreq.dat", "amazinglylongcallername" * 5, ""),
    ("badaspec.dat", "a.g.bell", "Bell, Alexander"),
    ("inv2543.dat", "+13035551111", ""),
    ("mpart01.dat", "fluffy", ""),
    ("unksm2.dat", "", ""),
]


@pytest.mark.parametrize(("name", "number", "display"), TORTURE_TABLE)
def test_rfc4475_torture_froms(name: str, number: str, display: str | None) -> None:
    got_number, got_display = caller_identity(_from_of(name), [], "192.0.2.1", [])
    assert got_number == number.replace("\x00", "")
    if display is not None:
        assert got_display == display


def test_every_torture_from_parses_or_is_refused_cleanly() -> None:
    """No torture message makes the identity code raise anything but NameAddrError."""
    seen = 0
    for path in sorted(TORTURE.glob("*.dat")):
        try:
            msg = sipmsg.parse(path.read_bytes())
        except Exception:  # noqa: BLE001 - the SIP parser refuses it first (400): not this module's case
            continue
        for value in msg.get_all("from") + msg.get_all("to"):
            seen += 1
            with contextlib.suppress(NameAddrError):
                parse(value)
            caller_identity(value, [value], "127.0.0.1", ["127.0.0.1"])
    assert seen >= 60  # From and To of every message the SIP parser accepts


def test_p_asserted_identity_only_from_trusted_proxies() -> None:
    spoof = '"Boss" <sip:13800138000@attacker>;tag=1'
    pai = ['"Front desk" <sip:+8613912345678@pbx.example>, <tel:13912345678>']
    # from anyone: ignored, the From URI's number stands
    assert caller_identity(spoof, pai, "203.0.113.7", ["10.0.0.0/8"]) == ("13800138000", "Boss")
    assert caller_identity(spoof, pai, "203.0.113.7", []) == ("13800138000", "Boss")
    # from the site's PBX: the asserted identity, tel: first
    assert caller_identity(spoof, pai, "10.0.0.5", ["10.0.0.0/8"]) == ("13912345678", "Boss")
    assert caller_identity("sip:anonymous@anonymous.invalid", ['"Zhang" <sip:13912345678@pbx>'],
                           "10.0.0.5", ["10.0.0.5"]) == ("13912345678", "Zhang")
    # a malformed assertion is skipped, not guessed from
    assert caller_identity(spoof, ['"<sip:13999999999@x> <sip:1@y>'], "10.0.0.5", ["10.0.0.5"])[0] == "13800138000"


def test_split_values_respects_quotes_and_brackets() -> None:
    assert split_values('"a, b" <sip:1@x>, <sip:2@y;p=a,b>') == ['"a, b" <sip:1@x>', "<sip:2@y;p=a,b>"]
    assert user_of("sip:user;par=u%40example.net@example.com") == "user;par=u@example.net"  # RFC 4475 semiuri
    assert nameaddr.user_of("tel:+86-755-1234;phone-context=x") == "+86-755-1234"

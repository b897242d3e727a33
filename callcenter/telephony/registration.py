"""Registration that follows the registrar (RFC 3261 10.2, RFC 5626 keep-alives).

- REGISTER asks for `sip.register_expires_s`; the registrar's grant is read from the expires
  parameter of our Contact in the 200 (else the Expires header) and the binding is refreshed
  at half of it.
- 423 Interval Too Brief: asked again at once with its Min-Expires.
- 401/407: answered with digest credentials (one challenge per request; a stale nonce again).
- A failed REGISTER or refresh (timeout, 404, 408, 480, 5xx) is retried at once, then with
  back-off up to `register_retry_max_s`.
- Keep-alive: every `keepalive_s` an OPTIONS to our own address-of-record goes through the
  registrar. A 2xx (we answered it, or the registrar did) means the path is up; 404/410/480
  from a registrar that has forwarded our keep-alives to us before means it lost our binding
  (restarted): register now. No answer within a few
  seconds means the registrar is down; the first answer after that triggers REGISTER at once,
  so a registrar restart is noticed within one keep-alive interval.
- `stop()` unREGISTERs (Expires: 0) and waits briefly for the answer.

Every REGISTER outcome is logged with its status code and reason phrase; the state
(`RegistrationState`) goes to `on_change` for the panel.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from callcenter.telephony import sipmsg
from callcenter.telephony.outbound import digest_authorization
from callcenter.telephony.settings import SipSettings
from callcenter.telephony.sipmsg import SipMessage
from callcenter.telephony.transactions import TransactionLayer
from callcenter.telephony.transport import Peer

log = logging.getLogger("callcenter.telephony")

UNREGISTER_TIMEOUT_S = 5.0
ATTEMPT_TIMEOUT_S = 4.0  # one REGISTER attempt; Timer F (32 s) is far too long to stay unreachable
KEEPALIVE_TIMEOUT_S = 2.5
LOST_BINDING = (404, 410, 480)
_EXPIRES_PARAM = re.compile(r";\s*expires\s*=\s*([0-9]+)", re.IGNORECASE)


@dataclass(frozen=True)
class RegistrationState:
    """What the panel shows: 'registered', 'registering', 'unregistered' (failing), 'stopped',
    'direct' (no registrar)."""

    state: str
    registrar: str
    status: int | None = None  # the last final SIP status of a REGISTER, None if none yet
    reason: str = ""  # its reason phrase, or why there was none ("no response")
    expires_s: int = 0  # what the registrar granted
    since: str = ""  # ISO time of the last state change

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Registration:
    """Keeps one binding of `settings.username` at `settings.server:port` alive."""

    def __init__(self, settings: SipSettings, layer: TransactionLayer, via_transport: str,
                 on_change: Callable[[RegistrationState], None] | None = None) -> None:
        self.settings = settings
        self.layer = layer
        self.transport = via_transport  # "udp" / "tcp"
        self.on_change = on_change
        self.registrar = Peer(settings.server, settings.port, via_transport)
        self.call_id = f"{uuid.uuid4().hex}@{settings.bind_ip}"
        self.from_tag = sipmsg.new_tag()
        self.cseq = 0
        self.requested_s = settings.register_expires_s
        self.granted_s = 0
        self.failures = 0
        self.keepalive_call_id = ""
        self._state = RegistrationState("registering", self._registrar_text(), since=_now())
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_register_s = 0.0
        self._next_keepalive_s = 0.0
        self.registered_event = threading.Event()
        self.looped_back = 0  # keep-alives that came back to us through the registrar
        self._keepalive_ok = False  # a keep-alive got 2xx since the last lost binding
        self._probed_404 = False  # a 404 without such history already cost one REGISTER

    def _registrar_text(self) -> str:
        return str(self.registrar)

    # -- state ---------------------------------------------------------------------------------
    @property
    def state(self) -> RegistrationState:
        return self._state

    @property
    def registered(self) -> bool:
        return self._state.state == "registered"

    def _set(self, state: str, status: int | None = None, reason: str = "", expires_s: int = 0) -> None:
        old = self._state
        new = RegistrationState(state, self._registrar_text(), status, reason, expires_s,
                                old.since if old.state == state else _now())
        self._state = new
        if state == "registered":
            self.registered_event.set()
        else:
            self.registered_event.clear()
        if new != old and self.on_change is not None:
            try:
                self.on_change(new)
            except Exception:
                log.exception("registration listener failed")

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, wait_s: float = ATTEMPT_TIMEOUT_S + 1) -> bool:
        """Start the registration thread; wait up to `wait_s` for the first binding."""
        self._thread = threading.Thread(target=self._run, name="sip-register", daemon=True)
        self._thread.start()
        return self.registered_event.wait(wait_s)

    def stop(self, unregister: bool = True) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout=ATTEMPT_TIMEOUT_S + 2)
        if unregister and self.registered:
            # Up to 5 s: a registrar on a loaded box (or across a WAN) can take more than 2 s, and
            # a binding left behind keeps the PBX ringing a stopped agent until it expires.
            response = self._register(expires=0, timeout_s=UNREGISTER_TIMEOUT_S)
            if response is not None and 200 <= response.status < 300:
                log.info("unREGISTER %s at %s: %s %s", self.settings.username, self.registrar,
                         response.status, _reason(response))
            else:
                log.warning("unREGISTER %s at %s got no 200 (%s)", self.settings.username, self.registrar,
                            _describe(response))
        self._set("stopped")

    def kick(self) -> None:
        """Register now (e.g. an INVITE told us the registrar forgot us)."""
        self._next_register_s = 0.0
        self._kick.set()

    # -- the loop ------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= self._next_register_s:
                self._attempt()
                # The first keep-alive soon after a binding: it tells whether the registrar
                # forwards them to us (see _keepalive).
                soon = 0.5 if self.registered and not self.looped_back else self._keepalive_s()
                self._next_keepalive_s = max(self._next_keepalive_s, time.monotonic() + min(soon, self._keepalive_s()))
            elif self.settings.keepalive_s > 0 and now >= self._next_keepalive_s:
                self._keepalive()
                self._next_keepalive_s = time.monotonic() + self.settings.keepalive_s
            wake = min(self._next_register_s, self._next_keepalive_s if self.settings.keepalive_s > 0 else 1e18)
            self._kick.wait(max(0.0, min(wake - time.monotonic(), 5.0)))
            self._kick.clear()

    def _keepalive_s(self) -> float:
        return self.settings.keepalive_s if self.settings.keepalive_s > 0 else 1e9

    def _attempt(self) -> None:
        was_registered = self.registered
        if not was_registered:
            self._set("registering", self._state.status, self._state.reason)
        response = self._register(expires=self.requested_s, timeout_s=ATTEMPT_TIMEOUT_S)
        if response is not None and 200 <= response.status < 300:
            self.granted_s = self._granted(response)
            self.failures = 0
            refresh_in = max(1.0, self.granted_s / 2)
            self._next_register_s = time.monotonic() + refresh_in
            log.info("REGISTER %s at %s: %s %s, granted %d s (asked %d), refresh in %.0f s",
                     self.settings.username, self.registrar, response.status, _reason(response),
                     self.granted_s, self.requested_s, refresh_in)
            self._set("registered", response.status, _reason(response), self.granted_s)
            return
        self.failures += 1
        # The first failure after a working binding, and 404/408/503 (a registrar that restarted
        # or is shedding load), are retried at once; then back-off.
        status = response.status if response is not None else None
        immediate = self.failures == 1 and (was_registered or status in (None, 404, 408, 480, 503))
        delay = 0.0 if immediate else min(self.settings.register_retry_max_s, 2.0 ** min(self.failures - 1, 10))
        self._next_register_s = time.monotonic() + delay
        log.error("REGISTER %s at %s failed: %s (%d in a row); retrying in %.0f s",
                  self.settings.username, self.registrar, _describe(response), self.failures, delay)
        self._set("unregistered", status, _reason(response) if response is not None else "no response")

    def _keepalive(self) -> None:
        """OPTIONS to our own AOR through the registrar (RFC 3261 11; RFC 5626's purpose)."""
        response = self._options()
        log.debug("keep-alive to %s: %s", self.registrar, _describe(response))
        if response is None:
            if self.registered:
                log.warning("registrar %s does not answer keep-alives; re-registering", self.registrar)
                self._set("unregistered", None, "registrar not answering keep-alives")
                self._next_register_s = time.monotonic()
            return
        # 404/410/480 mean "binding lost" from a registrar whose keep-alive answers were good
        # before (it forwarded one to us, or answered 2xx). A PBX that answers OPTIONS for its
        # users itself may say 404 for a number outside its dial plan: without such a history
        # the first 404 still re-registers once, and if the next keep-alive after that fresh
        # binding is a 404 again, 404s from this registrar are taken to mean nothing.
        if response.status in LOST_BINDING:
            if self.looped_back or self._keepalive_ok:
                lost = True
            elif not self._probed_404:
                self._probed_404 = lost = True
            else:
                lost = False
            if lost:
                if self.registered:
                    log.warning("registrar %s lost our binding (keep-alive got %s %s); registering again",
                                self.registrar, response.status, _reason(response))
                    self._set("unregistered", response.status, _reason(response))
                self._next_register_s = time.monotonic()
                self._keepalive_ok = False
            return
        if 200 <= response.status < 300:
            self._keepalive_ok = True
        if not self.registered:
            # The registrar answers again after being away: do not wait for the back-off.
            self._next_register_s = time.monotonic()

    def note_looped_keepalive(self, msg: SipMessage) -> bool:
        """The agent got one of our keep-alive OPTIONS back through the registrar."""
        if msg.call_id == self.keepalive_call_id:
            self.looped_back += 1
            return True
        return False

    # -- messages ------------------------------------------------------------------------------
    def _via(self, branch: str) -> str:
        s = self.settings
        return f"SIP/2.0/{self.transport.upper()} {s.bind_ip}:{s.bind_port};branch={branch};rport"

    def contact_uri(self) -> str:
        s = self.settings
        param = ";transport=tcp" if self.transport == "tcp" else ""
        return f"sip:{s.username}@{s.bind_ip}:{s.bind_port}{param}"

    def _request_uri(self) -> str:
        s = self.settings
        uri = f"sip:{s.server}" if s.port == 5060 else f"sip:{s.server}:{s.port}"
        return uri + (";transport=tcp" if self.transport == "tcp" else "")

    def _aor(self) -> str:
        return f"sip:{self.settings.username}@{self.settings.server}"

    def _register(self, expires: int, timeout_s: float) -> SipMessage | None:
        """One REGISTER transaction, with digest and 423 handled; the final response or None."""
        authorization = ""
        for _ in range(4):
            with self._lock:
                self.cseq += 1
                request, branch = self._build_register(expires, authorization)
            txn = self.layer.request(request, self.registrar, method="REGISTER", branch=branch)
            response = txn.wait(timeout_s)
            if response is None:
                self.layer.abandon(txn)
                return None
            if response.status in (401, 407) and self.settings.password:
                header = "proxy-authenticate" if response.status == 407 else "www-authenticate"
                challenge = response.get(header) or ""
                stale = "stale=true" in challenge.lower()
                if authorization and not stale:
                    return response  # our credentials were refused
                value = digest_authorization(challenge, "REGISTER", self._request_uri(),
                                             self.settings.username, self.settings.password)
                name = "Proxy-Authorization" if response.status == 407 else "Authorization"
                authorization = f"{name}: {value}"
                continue
            if response.status == 423 and expires > 0:
                minimum = (response.get("min-expires") or "").strip()
                if not minimum.isdigit() or int(minimum) <= expires:
                    return response
                log.warning("REGISTER %s at %s: 423 %s, Min-Expires %s (asked %d); asking again",
                            self.settings.username, self.registrar, _reason(response), minimum, expires)
                expires = self.requested_s = int(minimum)
                continue
            return response
        return response

    def _build_register(self, expires: int, authorization: str) -> tuple[bytes, str]:
        s = self.settings
        branch = sipmsg.new_branch()
        lines = [
            f"REGISTER {self._request_uri()} SIP/2.0",
            f"Via: {self._via(branch)}",
            "Max-Forwards: 70",
            f'From: "{s.username}" <{self._aor()}>;tag={self.from_tag}',
            f'To: "{s.username}" <{self._aor()}>',
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} REGISTER",
            f'Contact: <{self.contact_uri()}>;+sip.instance="<{s.instance_id}>"'
            + (";expires=0" if expires == 0 else ""),
            f"Expires: {expires}",
            f"Allow: {sipmsg.ALLOW}",
            "User-Agent: callcenter",
            *([authorization] if authorization else []),
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode(), branch

    def _options(self) -> SipMessage | None:
        s = self.settings
        branch = sipmsg.new_branch()
        self.keepalive_call_id = f"ka-{uuid.uuid4().hex}@{s.bind_ip}"
        target = f"sip:{s.username}@{s.server}:{s.port}" + (";transport=tcp" if self.transport == "tcp" else "")
        lines = [
            f"OPTIONS {target} SIP/2.0",
            f"Via: {self._via(branch)}",
            "Max-Forwards: 70",
            f"From: <{self._aor()}>;tag={sipmsg.new_tag()}",
            f"To: <{self._aor()}>",
            f"Call-ID: {self.keepalive_call_id}",
            "CSeq: 1 OPTIONS",
            "Accept: application/sdp",
            "Content-Length: 0",
        ]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode()
        txn = self.layer.request(data, self.registrar, method="OPTIONS", branch=branch)
        response = txn.wait(KEEPALIVE_TIMEOUT_S)
        if response is None:
            self.layer.abandon(txn)
        return response

    def _granted(self, ok: SipMessage) -> int:
        """Expires of our binding in the 200 (10.2.4): our Contact's expires, else Expires."""
        mine = self.contact_uri().lower()
        instance = self.settings.instance_id.lower()
        for value in ok.get_all("contact"):
            for contact in _split_contacts(value):
                low = contact.lower()
                if mine in low or instance in low:
                    match = _EXPIRES_PARAM.search(contact.split(">", 1)[-1])
                    if match:
                        return int(match.group(1))
        header = (ok.get("expires") or "").strip()
        return int(header) if header.isdigit() else self.requested_s


def _split_contacts(value: str) -> list[str]:
    """Contact values separated by commas outside <...> and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(value):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth -= 1
        elif not quoted and depth == 0 and ch == ",":
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return [p.strip() for p in parts if p.strip()]


def _reason(response: SipMessage) -> str:
    first = response.raw.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    parts = first.split(" ", 2)
    return parts[2] if len(parts) == 3 else ""


def _describe(response: SipMessage | None) -> str:
    if response is None:
        return "no response"
    return f"{response.status} {_reason(response)}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

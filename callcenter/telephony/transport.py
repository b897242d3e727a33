"""SIP transports of the agent: UDP and TCP on bind_ip:bind_port (RFC 3261 18).

One selector thread reads the UDP socket, accepts TCP connections and reads them; complete
messages (TCP is framed by Content-Length, 18.3) go to `on_message(data, peer)`. Sending picks
the transport from the `Peer`: UDP datagrams to the address; over TCP, the connection a request
came in on carries its responses, and requests we send reuse an open connection to the same
address before opening a new one (connection reuse, RFC 5923's idea without the alias
parameter). RFC 5626 keep-alives are answered: a CRLFCRLF ping on a connection gets a CRLF pong.
"""

from __future__ import annotations

import contextlib
import logging
import re
import selectors
import socket
import threading
from collections.abc import Callable
from typing import NamedTuple

log = logging.getLogger("callcenter.telephony")

MAX_MESSAGE = 65535  # bytes: a TCP peer sending more in one message is cut off
_CONNECT_TIMEOUT_S = 2.0
_SEND_TIMEOUT_S = 5.0
_IDLE_CLOSE_S = 600.0  # connections nobody used for this long are closed
_CONTENT_LENGTH = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([0-9]+)[ \t]*$")


class Peer(NamedTuple):
    """Where a message came from or goes to. Indexing as (host, port) still works."""

    host: str
    port: int
    transport: str = "udp"  # "udp" / "tcp"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" + ("" if self.transport == "udp" else f";transport={self.transport}")


OnMessage = Callable[[bytes, Peer], None]


class _Connection:
    def __init__(self, sock: socket.socket, remote: tuple[str, int]) -> None:
        self.sock = sock
        self.remote = remote
        self.buffer = b""
        self.send_lock = threading.Lock()
        self.last_used = 0.0
        self.closed = False


def frame_messages(buffer: bytes) -> tuple[list[bytes], bytes, bool]:
    """Split a TCP stream buffer into complete SIP messages. Returns (messages, rest, pinged):
    `pinged` is True when a CRLFCRLF keep-alive (RFC 5626 4.4.1) was consumed. Raises ValueError
    when the stream cannot be framed (a header section without a usable Content-Length, or a
    message larger than MAX_MESSAGE)."""
    messages: list[bytes] = []
    pinged = False
    while True:
        stripped = buffer.lstrip(b"\r\n")
        if len(buffer) - len(stripped) >= 4 or buffer.startswith(b"\r\n\r\n"):
            pinged = True
        buffer = stripped
        if not buffer:
            return messages, b"", pinged
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_MESSAGE:
                raise ValueError("header section larger than 64 kB")
            return messages, buffer, pinged
        head = buffer[:end]
        match = _CONTENT_LENGTH.search(head)
        if match is None:
            raise ValueError("message without Content-Length on a stream transport (RFC 3261 18.3)")
        length = int(match.group(1))
        total = end + 4 + length
        if total > MAX_MESSAGE:
            raise ValueError(f"message of {total} bytes")
        if len(buffer) < total:
            return messages, buffer, pinged
        messages.append(buffer[:total])
        buffer = buffer[total:]


class SipTransport:
    """The agent's SIP sockets. `start()` binds UDP (and TCP when `tcp`), `stop()` closes all."""

    def __init__(self, bind_ip: str, bind_port: int, on_message: OnMessage, *, tcp: bool = True) -> None:
        self.bind_ip = bind_ip
        self.bind_port = bind_port
        self.on_message = on_message
        self.tcp_enabled = tcp
        self._udp: socket.socket | None = None
        self._listener: socket.socket | None = None
        self._selector = selectors.DefaultSelector()
        self._connections: dict[tuple[str, int], _Connection] = {}
        self._lock = threading.Lock()
        self._running = False
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self.sent = {"udp": 0, "tcp": 0}

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.bind_ip else socket.AF_INET
        udp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            udp.bind((self.bind_ip, self.bind_port))
        except OSError as exc:
            udp.close()
            raise OSError(
                f"cannot bind SIP socket {self.bind_ip}:{self.bind_port} ({exc}); set sip.bind_port to a free port"
            ) from exc
        self._udp = udp
        if self.tcp_enabled:
            listener = socket.socket(family, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind((self.bind_ip, self.bind_port))
                listener.listen(64)
            except OSError as exc:
                listener.close()
                udp.close()
                raise OSError(
                    f"cannot listen for SIP over TCP on {self.bind_ip}:{self.bind_port} ({exc})"
                ) from exc
            listener.setblocking(False)
            self._listener = listener
            self._selector.register(listener, selectors.EVENT_READ, "accept")
        udp.setblocking(False)
        self._selector.register(udp, selectors.EVENT_READ, "udp")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="sip-recv", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            connections = list(self._connections.values())
            self._connections.clear()
        for conn in connections:
            self._close(conn)
        for sock in (self._udp, self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._selector.close()

    # -- sending -----------------------------------------------------------------------------
    def send(self, data: bytes, peer: Peer) -> bool:
        """Send one message; False (and a log line) when it could not be sent."""
        if peer.transport == "tcp":
            return self._send_tcp(data, peer)
        if self._udp is None:
            return False
        try:
            self._udp.sendto(data, (peer.host, peer.port))
        except OSError as exc:
            log.warning("SIP send to %s failed: %s", peer, exc)
            return False
        self.sent["udp"] += 1
        return True

    def _send_tcp(self, data: bytes, peer: Peer) -> bool:
        conn = self._connection_to((peer.host, peer.port))
        if conn is None:
            return False
        try:
            with conn.send_lock:
                conn.sock.sendall(data)
        except OSError as exc:
            log.warning("SIP send over TCP to %s failed: %s", peer, exc)
            self._drop(conn)
            return False
        self.sent["tcp"] += 1
        return True

    def _connection_to(self, remote: tuple[str, int]) -> _Connection | None:
        with self._lock:
            conn = self._connections.get(remote)
        if conn is not None and not conn.closed:
            return conn
        if not self._running:
            return None
        family = socket.AF_INET6 if ":" in remote[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(_CONNECT_TIMEOUT_S)
        try:
            sock.connect(remote)
        except OSError as exc:
            sock.close()
            log.warning("SIP over TCP: cannot connect to %s:%s: %s", remote[0], remote[1], exc)
            return None
        sock.settimeout(_SEND_TIMEOUT_S)
        return self._adopt(sock, remote)

    def _adopt(self, sock: socket.socket, remote: tuple[str, int]) -> _Connection:
        conn = _Connection(sock, remote)
        with self._lock:
            old = self._connections.get(remote)
            self._connections[remote] = conn
        if old is not None:
            self._drop(old)
        self._selector.register(sock, selectors.EVENT_READ, conn)
        self._wake_w.send(b"x")  # the selector thread picks up the new registration
        return conn

    @property
    def tcp_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    # -- receiving ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while self._running:
            try:
                events = self._selector.select(timeout=0.5)
            except (OSError, ValueError):
                if not self._running:
                    return
                continue
            for key, _ in events:
                try:
                    self._ready(key.data, key.fileobj)  # type: ignore[arg-type]
                except Exception:  # one bad message or socket must never stop the loop
                    log.exception("SIP transport: reading %s failed", key.data)

    def _ready(self, what: object, fileobj: socket.socket) -> None:
        if what == "wake":
            with contextlib.suppress(OSError):
                self._wake_r.recv(512)
        elif what == "udp":
            assert self._udp is not None
            while True:
                try:
                    data, addr = self._udp.recvfrom(65535)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    return  # e.g. ICMP port unreachable reported on the socket
                self._deliver(data, Peer(addr[0], addr[1], "udp"))
        elif what == "accept":
            assert self._listener is not None
            try:
                sock, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError, OSError):
                return
            sock.settimeout(_SEND_TIMEOUT_S)
            self._adopt(sock, (addr[0], addr[1]))
        elif isinstance(what, _Connection):
            self._read(what)

    def _read(self, conn: _Connection) -> None:
        try:
            chunk = conn.sock.recv(65535)
        except (BlockingIOError, InterruptedError, TimeoutError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(conn)
            return
        try:
            messages, conn.buffer, pinged = frame_messages(conn.buffer + chunk)
        except ValueError as exc:
            log.warning("SIP over TCP from %s:%s: %s; closing the connection", *conn.remote, exc)
            self._drop(conn)
            return
        if pinged:
            try:
                with conn.send_lock:
                    conn.sock.sendall(b"\r\n")  # RFC 5626 4.4.1 pong
            except OSError:
                self._drop(conn)
                return
        peer = Peer(conn.remote[0], conn.remote[1], "tcp")
        for message in messages:
            self._deliver(message, peer)

    def _deliver(self, data: bytes, peer: Peer) -> None:
        try:
            self.on_message(data, peer)
        except Exception:
            log.exception("SIP message handler failed (from %s)", peer)

    def _drop(self, conn: _Connection) -> None:
        with self._lock:
            if self._connections.get(conn.remote) is conn:
                del self._connections[conn.remote]
        self._close(conn)

    def _close(self, conn: _Connection) -> None:
        if conn.closed:
            return
        conn.closed = True
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(conn.sock)
        conn.sock.close()

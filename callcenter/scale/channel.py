"""LISTEN on one PostgreSQL channel for as long as the process runs: the loop that the web process's
event relay (relay.EventListener) and the agent's panel commands (commands.CommandListener) share.

A NOTIFY reaches only the sessions listening when it commits, so each subclass keeps what it is
sent in a table as well and reads what it missed there after every (re)connect (`catch_up`, with
LISTEN already on: nothing falls between the two). A lost connection is retried with back-off.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy import make_url

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

RECONNECT_MIN_S, RECONNECT_MAX_S = 0.2, 5.0


def libpq_url(sqlalchemy_url: str) -> str:
    """postgresql+psycopg://u:p@h/db -> postgresql://u:p@h/db (what psycopg.connect takes)."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


class ChannelListener:
    """A thread LISTENing on `channel`. Subclasses read what they missed (`catch_up`) and handle
    each notification (`deliver`); both get the listening connection, free to run queries on."""

    def __init__(self, url: str, channel: str, *, name: str, application_name: str) -> None:
        self._url, self.channel, self.name, self._application_name = libpq_url(url), channel, name, application_name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.listening = threading.Event()  # set while a LISTEN connection is up

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout_s)

    def catch_up(self, conn: psycopg.Connection[Any]) -> None:
        """After each (re)connect, LISTEN on: what was sent while nobody listened."""
        raise NotImplementedError

    def deliver(self, conn: psycopg.Connection[Any], payload: str) -> None:
        """One notification's payload (never trusted: another process wrote it)."""
        raise NotImplementedError

    def on_listening(self) -> None:
        """Connected, caught up and listening (for a log line of the subclass's own)."""

    def _run(self) -> None:
        import psycopg

        delay = RECONNECT_MIN_S
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5,
                                     application_name=self._application_name) as conn:
                    conn.execute(f"LISTEN {self.channel}")  # a fixed-form identifier, never user input
                    self.catch_up(conn)
                    self.listening.set()
                    delay = RECONNECT_MIN_S
                    self.on_listening()
                    while not self._stop.is_set():
                        # the generator holds the connection: deliver after it returns (what arrives
                        # meanwhile waits in psycopg's backlog for the next round)
                        payloads = [note.payload for note in conn.notifies(timeout=1.0, stop_after=1)]
                        for payload in payloads:
                            self.deliver(conn, payload)
            except psycopg.Error as exc:
                self.listening.clear()
                if self._stop.is_set():
                    return
                log.warning("%s: lost the database (%s); reconnecting in %.1f s", self.name,
                            str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
        self.listening.clear()

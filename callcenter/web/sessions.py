"""The panel's sessions as the web layer sees them: the site's secret file (kept for what signs
with it), and the live-events connections of each session, so that ending a session (logout,
password change, a disabled user) closes its websocket at once in this process. Other processes
(`callcenter users disable`) are caught by each connection's periodic re-check."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path


def load_or_create_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


class LiveConnections:
    """Websockets by session and by user; `end_*` wakes them to close. Thread-safe: routes that
    end sessions run in the threadpool, the websockets on the event loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._by_key: dict[tuple[str, int], set[asyncio.Event]] = {}

    def open(self, user_id: int, session_id: int | None) -> asyncio.Event:
        self._loop = asyncio.get_running_loop()
        ended = asyncio.Event()
        self._by_key.setdefault(("user", user_id), set()).add(ended)
        if session_id is not None:
            self._by_key.setdefault(("session", session_id), set()).add(ended)
        return ended

    def close(self, ended: asyncio.Event) -> None:
        for key in list(self._by_key):
            self._by_key[key].discard(ended)
            if not self._by_key[key]:
                del self._by_key[key]

    def end_session(self, session_id: int) -> None:
        self._wake(("session", session_id))

    def end_user(self, user_id: int) -> None:
        self._wake(("user", user_id))

    def end_all(self) -> None:
        """Shutdown: every websocket closes, so the server can stop."""
        for key in list(self._by_key):
            self._wake(key)

    def _wake(self, key: tuple[str, int]) -> None:
        events = list(self._by_key.get(key, ()))
        if not events or self._loop is None:
            return
        for ev in events:
            try:
                self._loop.call_soon_threadsafe(ev.set)
            except RuntimeError:  # the loop is closed: nothing left to wake
                return

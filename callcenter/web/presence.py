"""Who has an entry open for editing (「正在编辑」): the entry page says so every few seconds and
learns who else does. Kept in the web process's memory (one panel process per site); a page that
stops saying so drops out after `TTL_S`."""

from __future__ import annotations

import threading
import time

TTL_S = 30.0


class EditingPresence:
    def __init__(self, ttl_s: float = TTL_S) -> None:
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._seen: dict[int, dict[str, tuple[str, float]]] = {}  # entry -> username -> (display, at)

    def touch(self, entry_id: int, username: str, display: str) -> list[str]:
        """This user has the entry open; returns the display names of the others who do."""
        now = time.monotonic()
        with self._lock:
            editors = self._seen.setdefault(entry_id, {})
            editors[username] = (display, now)
            for name in [n for n, (_, at) in editors.items() if now - at > self._ttl_s]:
                del editors[name]
            return sorted(d for n, (d, _) in editors.items() if n != username)

    def leave(self, entry_id: int, username: str) -> None:
        with self._lock:
            editors = self._seen.get(entry_id, {})
            editors.pop(username, None)
            if not editors:
                self._seen.pop(entry_id, None)

"""Login rate limiting with `limits` (moving window, in memory: one panel process per site).

Two budgets: every attempt counts against the client address (a script hammering the form),
and failed attempts count against the username from that address (password guessing)."""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

# Candidates for `web:` in config.yaml (kept here so the generated config.yaml stays unchanged).
LOGIN_ATTEMPTS_PER_ADDRESS = "30/minute"
LOGIN_FAILURES_PER_USER = "5 per 5 minutes"


class LoginLimiter:
    def __init__(self, per_address: str = LOGIN_ATTEMPTS_PER_ADDRESS,
                 failures_per_user: str = LOGIN_FAILURES_PER_USER) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_address = parse(per_address)
        self._failures = parse(failures_per_user)

    def retry_after_s(self, address: str, username: str) -> int | None:
        """Seconds to wait if this attempt is over budget (it then counts nothing), else None.
        An allowed attempt is counted against the address."""
        for item, keys in ((self._failures, ("fail", address, username.lower())),
                           (self._per_address, ("addr", address))):
            if not self._limiter.test(item, *keys):
                reset_at = self._limiter.get_window_stats(item, *keys).reset_time
                return max(1, math.ceil(reset_at - time.time()))
        self._limiter.hit(self._per_address, "addr", address)
        return None

    def failed(self, address: str, username: str) -> None:
        self._limiter.hit(self._failures, "fail", address, username.lower())

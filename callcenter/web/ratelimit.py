"""Login rate limiting with `limits` (moving window, in memory: one panel process per site).

Three budgets, none of which lets one attacker lock everyone out:
- every attempt counts against the client address (a script hammering the form); the address
  is the peer's, or the one `web.trusted_proxies` vouch for (web/edge.py), so rotating
  `X-Forwarded-For` gains nothing and a reverse proxy does not make all clerks one address;
- failed attempts count against the username from that address (guessing one password);
- failed attempts count against the username from everywhere (guessing from many addresses):
  over that budget, only addresses that have themselves failed for the user are refused, so the
  clerk at her own desk still logs in while the account is under attack.
A successful login clears the address's failures for that user."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

LOGIN_ATTEMPTS_PER_ADDRESS = "30/minute"
LOGIN_FAILURES_PER_USER = "5 per 5 minutes"
LOGIN_FAILURES_PER_ACCOUNT = "50 per hour"


class LoginLimiter:
    def __init__(self, per_address: str = LOGIN_ATTEMPTS_PER_ADDRESS,
                 failures_per_user: str = LOGIN_FAILURES_PER_USER,
                 failures_per_account: str = LOGIN_FAILURES_PER_ACCOUNT) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_address = parse(per_address)
        self._failures = parse(failures_per_user)
        self._account = parse(failures_per_account)

    def _wait(self, item: RateLimitItem, *keys: str) -> int:
        reset_at = self._limiter.get_window_stats(item, *keys).reset_time
        return max(1, math.ceil(reset_at - time.time()))

    def retry_after_s(self, address: str, username: str) -> int | None:
        """Seconds to wait if this attempt is over budget (it then counts nothing), else None.
        An allowed attempt is counted against the address."""
        user = username.lower()
        for item, keys in ((self._failures, ("fail", address, user)), (self._per_address, ("addr", address))):
            if not self._limiter.test(item, *keys):
                return self._wait(item, *keys)
        if not self._limiter.test(self._account, "acct", user):
            failed_here = self._limiter.get_window_stats(self._failures, "fail", address, user).remaining
            if failed_here < self._failures.amount:  # this address is one of the guessers
                return self._wait(self._account, "acct", user)
        self._limiter.hit(self._per_address, "addr", address)
        return None

    def failed(self, address: str, username: str) -> None:
        self._limiter.hit(self._failures, "fail", address, username.lower())
        self._limiter.hit(self._account, "acct", username.lower())

    def succeeded(self, address: str, username: str) -> None:
        self._limiter.clear(self._failures, "fail", address, username.lower())

"""The two test tiers, and the long runs' length in each.

fast   CI (`scripts/test`, the README's test command): every kind of test, the long runs shortened
       (a 2-minute soak, a few kill -9 rounds, a few thousand fuzz cases) so that CI stays well
       under 15 minutes on a 2-core machine.
full   `scripts/test --full`: the long runs at their full length (30-minute soak, kill -9 x 20,
       50,000 SIP fuzz cases, the whole schemathesis plan), everything that touches a database on
       both back-ends. Run it before resolving an issue that touches their area; the figures go in
       BENCHMARKS.md.

conftest.py puts the run's `--tier` into the environment before test modules are imported.
"""

from __future__ import annotations

import os
from typing import TypeVar

ENV = "CALLCENTER_TEST_TIER"
TIERS = ("fast", "full")
T = TypeVar("T")


def tier() -> str:
    value = os.environ.get(ENV, "fast")
    if value not in TIERS:
        raise RuntimeError(f"{ENV}={value!r}: must be one of {', '.join(TIERS)}")
    return value


def pick(fast: T, full: T) -> T:
    """The value of a long run's knob in this run's tier."""
    return full if tier() == "full" else fast

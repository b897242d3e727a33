"""Which entries get a callback (回访): complaints 100 %, repairs ~30 %, others ≥ 10 % (DOMAIN.md).

Sampling is fair and reproducible: a SHA-256 of (seed, entry id) mapped to [0, 1) is compared
with the category's rate, so the same entry always gets the same answer, with no stored state.
"""

from __future__ import annotations

import hashlib

from callcenter.workflow.settings import CallbackRates


def sample_point(entry_id: int, seed: str) -> float:
    """A uniform, reproducible point in [0, 1) for this entry."""
    digest = hashlib.sha256(f"{seed}:{entry_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def needs_callback(entry_id: int, category: str, rates: CallbackRates, seed: str) -> bool:
    return sample_point(entry_id, seed) < rates.rate_for(category)

"""Which entries get a callback (回访): complaints 100 %, repairs ~30 %, others ≥ 10 % (DOMAIN.md).

Sampling is fair and reproducible: a SHA-256 of (seed, entry id) mapped to [0, 1) is compared
with the category's rate, so the same entry always gets the same answer, with no stored state.
The ledger asks it before closing an entry (a sampled entry is called back first); the workflow
asks it when an entry is completed (to open the callback task). Both read it from here, so the
ledger needs nothing of the workflow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, field_validator

from callcenter.ledger.lifecycle import COMPLAINT


class CallbackRates(BaseModel):
    """Share of entries per category that get a callback (回访率); `workflow.callback_rates`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    by_category: dict[str, float] = Field(default_factory=lambda: {COMPLAINT: 1.0, "报修": 0.3})
    default: float = 0.10  # everything else: at least 10 %

    @field_validator("by_category")
    @classmethod
    def _rates_in_range(cls, v: dict[str, float]) -> dict[str, float]:
        for category, rate in v.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"callback rate of {category} must be between 0 and 1, got {rate}")
        if v.get(COMPLAINT, 1.0) != 1.0:
            raise ValueError("complaints (投诉) are always called back: their rate must be 1.0")
        return v

    @field_validator("default")
    @classmethod
    def _default_at_least_10_percent(cls, v: float) -> float:
        if not 0.10 <= v <= 1.0:
            raise ValueError(f"the default callback rate must be between 0.10 (DOMAIN.md: ≥ 10 %) and 1, got {v}")
        return v

    def rate_for(self, category: str) -> float:
        if category == COMPLAINT:
            return 1.0
        return self.by_category.get(category, self.default)


def sample_point(entry_id: int, seed: str) -> float:
    """A uniform, reproducible point in [0, 1) for this entry."""
    digest = hashlib.sha256(f"{seed}:{entry_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def needs_callback(entry_id: int, category: str, rates: CallbackRates, seed: str) -> bool:
    return sample_point(entry_id, seed) < rates.rate_for(category)


@dataclass(frozen=True)
class CallbackSampling:
    """The site's sampling rule: its rates and its seed (`workflow.callback_rates`/`callback_seed`)."""

    rates: CallbackRates = field(default_factory=CallbackRates)
    seed: str = "callcenter"  # per site: changes which entries are sampled, not how many

    def picks(self, entry_id: int, category: str) -> bool:
        return needs_callback(entry_id, category, self.rates, self.seed)

from __future__ import annotations

import pytest
from pydantic import ValidationError

from callcenter.ledger.callback_sampling import needs_callback, sample_point
from callcenter.workflow.settings import CallbackRates, WorkflowSettings

N = 10_000
RATES = CallbackRates()


def realised(category: str, rates: CallbackRates = RATES, seed: str = "site-a") -> float:
    return sum(needs_callback(i, category, rates, seed) for i in range(1, N + 1)) / N


@pytest.mark.parametrize(("category", "rate"), [("投诉", 1.0), ("报修", 0.3), ("咨询", 0.1), ("求助", 0.1),
                                                 ("建议", 0.1), ("其他", 0.1), ("", 0.1)])
def test_default_rates_realised_over_10000_ids(category: str, rate: float) -> None:
    # binomial sd at p=0.3, n=10k is 0.0046; 0.015 is > 3 sd, and the result is deterministic anyway
    assert realised(category) == pytest.approx(rate, abs=0.015)


def test_configured_rates() -> None:
    rates = CallbackRates(by_category={"报修": 0.5, "求助": 0.0}, default=0.2)
    assert realised("报修", rates) == pytest.approx(0.5, abs=0.015)
    assert realised("求助", rates) == 0.0
    assert realised("咨询", rates) == pytest.approx(0.2, abs=0.015)
    assert realised("投诉", rates) == 1.0


def test_stable_across_runs_and_seed_dependent() -> None:
    first = [needs_callback(i, "报修", RATES, "site-a") for i in range(500)]
    assert first == [needs_callback(i, "报修", RATES, "site-a") for i in range(500)]
    assert sample_point(42, "site-a") == sample_point(42, "site-a")  # pure: no process state
    # pinned values: a change of the hash would silently reshuffle who gets called back
    assert sample_point(1, "callcenter") == pytest.approx(0.5422204538)
    assert sample_point(2, "callcenter") == pytest.approx(0.3537042851)
    other = [needs_callback(i, "报修", RATES, "site-b") for i in range(500)]
    assert first != other
    assert all(0.0 <= sample_point(i, "s") < 1.0 for i in range(1000))


def test_sampling_is_not_clustered_by_id() -> None:
    """Fair: consecutive blocks of ids each get close to the rate (no runs of all or nothing)."""
    picks = [needs_callback(i, "报修", RATES, "site-a") for i in range(N)]
    blocks = [sum(picks[k:k + 1000]) / 1000 for k in range(0, N, 1000)]
    assert all(0.25 <= b <= 0.35 for b in blocks), blocks


@pytest.mark.parametrize("bad", [dict(by_category={"投诉": 0.5}), dict(default=0.05),
                                 dict(by_category={"报修": 1.2}), dict(by_category={"报修": 0.3}, typo=1)])
def test_rates_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CallbackRates(**bad)  # type: ignore[arg-type]


def test_settings_are_frozen_and_strict() -> None:
    s = WorkflowSettings()
    with pytest.raises(ValidationError):
        s.register_within_s = 10  # type: ignore[misc]
    with pytest.raises(ValidationError):
        WorkflowSettings(register_within=60)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="time zone"):
        WorkflowSettings(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="business_open"):
        WorkflowSettings(business_open="18:00", business_close="08:00")  # type: ignore[arg-type]

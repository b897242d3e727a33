"""Soak: SIPp keeps calls up continuously against `callcenter serve`; every call must have an
entry and an intact recording, and memory must not grow once warmed up.

The fast tier (CI) runs it for 2 minutes at 15 calls on SQLite, the full tier for 30 minutes at 30
calls on both databases (tests/tiers.py); CALLCENTER_SOAK_S overrides the length. At 15 calls a leak
of 1 KiB per call frame still grows memory by ~90 MB in 2 minutes, over twice the limit below. bench/soak.py prints the figures that go in
BENCHMARKS.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from callcenter.audio.prompt_build import build_default_prompts
from callcenter.audio.settings import PromptSettings
from tests.load.soak import run_soak
from tests.tiers import pick

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.timeout(pick(fast=600, full=3000))]


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The real default prompt wording, so calls last as long as they do at a site."""
    settings = PromptSettings(dir=tmp_path_factory.mktemp("prompts"), estate_name="测试花园")
    build_default_prompts(settings)
    return settings.model_dump(mode="json")


def test_soak_every_call_logged_and_recorded_memory_flat(kamailio, prompts: dict[str, object], db_url: str,
                                                         tmp_path: Path) -> None:
    duration = float(os.environ.get("CALLCENTER_SOAK_S", pick(fast=120, full=1800)))
    concurrent = pick(fast=15, full=30)  # the fast tier's half costs CI ~35 s less CPU
    report = run_soak(tmp_path / "soak", kamailio.port, db_url, prompts,
                      duration_s=duration, concurrent=concurrent, hold_s=15)
    print(report.summary())
    assert report.problems == [], "\n".join(report.problems[:30])
    assert report.sipp_failed == 0, report.summary()
    # `concurrent` calls up at once for the whole run, each at most ~25 s long
    assert report.sipp_successful >= duration / 25 * concurrent * 0.8, report.summary()
    assert report.recordings_checked == report.sipp_successful
    # A leak of even 1 KiB per call frame would show here; allocator noise stays well below this.
    assert report.rss_growth_mb() < 40, [f"{t:.0f}s:{mb:.0f}" for t, mb in report.rss_mb]

"""Fixtures for the audio tests: a manual monotonic clock and a store that flushes only when told."""

from __future__ import annotations

from pathlib import Path

import pytest
from audio_testkit import FakeMonotonic

from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def store(tmp_path: Path, clock: FakeMonotonic) -> WavRecordingStore:
    return WavRecordingStore(
        RecordingSettings(root=tmp_path / "rec"), monotonic=clock, background_flush=False
    )

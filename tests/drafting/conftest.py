"""Fixtures for the drafting tests: the packaged rules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:
    # The package is not installed in every checkout; the tests run against the tree.
    sys.path.insert(0, str(_REPO))

from callcenter.drafting.rules import DraftingRules  # noqa: E402


@pytest.fixture(scope="session")
def rules() -> DraftingRules:
    return DraftingRules.load()

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


@pytest.fixture(scope="session")
def built_seed() -> Path:
    """A models folder whose seed model was built from the packaged corpus on first use, once per
    run (not once per xdist worker: 10-20 s of CPU each); tests read it or copy it, never write."""
    from tests.seed_models import shared_seed_models

    return shared_seed_models()


@pytest.fixture
def models_root(built_seed: Path, tmp_path: Path) -> Path:
    """A fresh models folder for one test, holding a copy of the session's seed model."""
    import shutil

    root = tmp_path / "models"
    root.mkdir(mode=0o700)
    shutil.copytree(built_seed / "seed", root / "seed")
    return root

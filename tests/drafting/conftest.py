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
def built_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder whose seed model was built from the packaged corpus, once per session
    (the first use a site goes through); tests copy it instead of training again."""
    from callcenter.drafting.registry import ModelRegistry

    root = tmp_path_factory.mktemp("draft_models")
    ModelRegistry(root).ensure_seed()
    return root


@pytest.fixture
def models_root(built_seed: Path, tmp_path: Path) -> Path:
    """A fresh models folder for one test, holding a copy of the session's seed model."""
    import shutil

    root = tmp_path / "models"
    root.mkdir(mode=0o700)
    shutil.copytree(built_seed / "seed", root / "seed")
    return root

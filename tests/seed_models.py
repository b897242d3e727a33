"""The seed draft model for the `callcenter serve` processes that tests start.

A site builds its seed draft model from the packaged corpus on first use (10-20 s of CPU), once,
in `drafting.models_dir`. The processes tests start each run in their own folder, so each would
build it again: a scale test's four processes spent a minute of CPU on it. They get a copy of the
one the in-process tests use instead (the repository's `draft_models/`, built once per run under
the registry's own lock). First-use building itself is tested in tests/drafting and by the wheel
install test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from callcenter.drafting.registry import SEED, ModelRegistry

REPO = Path(__file__).resolve().parents[1]
MODELS_DIR = "draft_models"  # drafting.models_dir's default, relative to the server's cwd


def shared_seed_models() -> Path:
    """The run's models folder with a current seed model: the repository's `draft_models/`, the
    folder the in-process tests' sites use (their cwd is the repository). Built on first use, as
    a site builds it, under the registry's lock: one worker builds, the others wait."""
    root = REPO / MODELS_DIR
    ModelRegistry(root).ensure_seed()
    return root


def seed_models_into(workdir: Path) -> None:
    """Give a server that will run in `workdir` (its cwd) a current seed model in its default
    `drafting.models_dir`."""
    source = shared_seed_models() / SEED
    target = workdir / MODELS_DIR
    if not ModelRegistry(target).seed_is_current():
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copytree(source, target / SEED, dirs_exist_ok=True)

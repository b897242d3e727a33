"""Helpers shared by the drafting tests and the accuracy benchmark's test: paths and TSV reading."""

from __future__ import annotations

import csv
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def shared_dir() -> Path:
    """The shared folder beside the repo, or CALLCENTER_SHARED."""
    return Path(os.environ.get("CALLCENTER_SHARED", REPO.parent / "shared"))


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))

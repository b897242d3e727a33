"""The two file operations every part of the recordings package needs: a recording's SHA-256
(the ledger keeps it; uploads are verified against it) and fsync of a file or directory."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def sha256_of(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_path(path: Path | str) -> None:
    """fsync a file, or a directory so that a file's creation or removal in it is durable too."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

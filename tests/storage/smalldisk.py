"""A real, small file system for disk-full tests: a tmpfs of a few MB mounted in the test's
temporary directory (the container runs as root), filled with a filler file to leave exactly
as much free space as the test wants. Always unmounted afterwards."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(path: Path, size: str = "8m") -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs here ({done.stderr.strip()}); the disk-full tests need root")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)  # busy: detach lazily


def fill(disk: Path, leave_bytes: int = 0) -> Path:
    """Fill the disk to the last block, then give back `leave_bytes` (rounded to pages)."""
    filler = disk / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (1 << 20, 4096, 1):
            block = b"\xa5" * chunk
            try:
                while os.write(fd, block):
                    pass
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave_bytes))
    return filler


def free_bytes(disk: Path) -> int:
    return shutil.disk_usage(disk).free


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC, or SQLite's report of it: SQLITE_FULL, or SQLITE_IOERR when in WAL mode the
    write-ahead log cannot be extended."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "database or disk is full" in str(exc) or "disk I/O error" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False

"""The service's files are its own: the database (phone numbers, password hashes), the outbox, the
recordings and the keys. `callcenter` runs with umask 077 (cli.main), so what it creates is
owner-only; what an older version or a copy left readable to others is reported at start."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any


def _sqlite_files(url: str) -> list[Path]:
    if not url.startswith("sqlite"):
        return []
    path = url.split("///", 1)[-1]
    if not path or path == ":memory:":
        return []
    db = Path(path)
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


def looser_than_owner_only(settings: Any) -> list[str]:
    """One warning per existing file or folder that other local users can read or enter."""
    paths = [*_sqlite_files(settings.database.url), Path(settings.database.outbox_dir),
             Path(settings.recording.root), Path(settings.web.secret_file)]
    warnings = []
    for path in paths:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue  # not created yet: it will be, owner-only
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(f"{path} is readable by other local users (mode {stat.filemode(mode)}); it holds "
                            f"personal data: chmod -R go-rwx {path}")
    return warnings

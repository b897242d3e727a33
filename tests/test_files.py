"""Files owner-only (issue 16): what `callcenter` creates (database, outbox, recordings folder,
secret key) is not readable by other local users, and what is looser is reported at start."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from callcenter.config import Settings
from callcenter.files import looser_than_owner_only


def _config(tmp_path: Path) -> Path:
    config = {"database": {"url": f"sqlite:///{tmp_path / 'data' / 'callcenter.db'}",
                           "outbox_dir": str(tmp_path / "data" / "outbox")},
              "recording": {"root": str(tmp_path / "recordings")},
              "web": {"secret_file": str(tmp_path / "data" / "secret.key")}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_created_files_are_owner_only(tmp_path: Path) -> None:
    config = _config(tmp_path)
    old = os.umask(0o022)  # a usual login shell's umask: the service must not inherit it
    try:
        run = subprocess.run([sys.executable, "-m", "callcenter.cli", "users", "add", "clerk1", "--role", "clerk",
                              "--password", "clerk-password", "-c", str(config)],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
    finally:
        os.umask(old)
    assert run.returncode == 0, run.stderr
    db_file = tmp_path / "data" / "callcenter.db"
    created = [p for p in (db_file, tmp_path / "data") if p.exists()]
    created += list((tmp_path / "data").glob("callcenter.db*"))
    assert db_file in created
    for path in created:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
    settings = Settings.model_validate(yaml.safe_load(config.read_text()))
    assert looser_than_owner_only(settings) == []


def test_looser_files_are_reported(tmp_path: Path) -> None:
    settings = Settings.model_validate(yaml.safe_load(_config(tmp_path).read_text()))
    (tmp_path / "data").mkdir()
    db_file = tmp_path / "data" / "callcenter.db"
    db_file.write_bytes(b"")
    db_file.chmod(0o644)
    (tmp_path / "recordings").mkdir(mode=0o755)
    (tmp_path / "recordings").chmod(0o755)
    warnings = looser_than_owner_only(settings)
    assert len(warnings) == 2
    assert str(db_file) in warnings[0] and "chmod -R go-rwx" in warnings[0]
    db_file.chmod(0o600)
    (tmp_path / "recordings").chmod(0o700)
    assert looser_than_owner_only(settings) == []

"""The default backend: recordings stay in the recordings directory where the recorder wrote
them. `put` of a file already in place only checks it, so nothing changes for a single box."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import BinaryIO

from callcenter.recordings.backends.interface import StorageError, StoredObject, check_key
from callcenter.recordings.files import fsync_path
from callcenter.recordings.files import sha256_of as sha256_file


class LocalStorage:
    remote = False

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        root = self.root.resolve()
        path = (root / check_key(key)).resolve()
        if not path.is_relative_to(root) or path == root:  # a symlink pointing elsewhere
            raise ValueError(f"recording key {key!r} resolves outside {root}")
        return path

    def put(self, key: str, local_path: Path, sha256: str | None = None) -> StoredObject:
        target = self._path(key)
        source = Path(local_path).resolve()
        expected = sha256_file(source)
        if sha256 is not None and expected != sha256:
            raise StorageError(f"{source} has SHA-256 {expected}, not the {sha256} recorded at close")
        if source == target:  # the recorder wrote it in place: nothing to copy
            return StoredObject(key, target.stat().st_size, expected)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        try:
            shutil.copyfile(source, tmp)
            fsync_path(tmp)
            os.replace(tmp, target)
            fsync_path(target.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StorageError(exc.errno, f"storing {key} failed: {exc.strerror}") from exc
        actual = sha256_file(target)
        if actual != expected:
            raise StorageError(f"stored {key} has SHA-256 {actual}, expected {expected}")
        return StoredObject(key, target.stat().st_size, actual)

    def stat(self, key: str) -> StoredObject | None:
        path = self._path(key)
        try:
            return StoredObject(key, path.stat().st_size, sha256_file(path))
        except FileNotFoundError:
            return None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def fetch(self, key: str, dest: Path) -> StoredObject:
        source = self._path(key)
        if not source.is_file():
            raise FileNotFoundError(f"no stored recording {key}")
        info = StoredObject(key, source.stat().st_size, sha256_file(source))
        if Path(dest).resolve() != source:
            tmp = Path(dest).with_name(Path(dest).name + ".part")
            shutil.copyfile(source, tmp)
            os.replace(tmp, dest)
        return info

    def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        fsync_path(path.parent)
        return True

    def url(self, key: str, expires_s: int = 300) -> str | None:
        return None

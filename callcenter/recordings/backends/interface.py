"""The seam between the recorder (which always writes to the local disk first, for crash safety)
and the place finished recordings are kept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable


class StorageError(OSError):
    """The storage could not be reached or refused the operation (an OSError, so retention and
    the other callers that already handle disk errors handle this one too)."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size_bytes: int
    sha256: str


@runtime_checkable
class RecordingStorage(Protocol):
    """Finished recordings by store key (`YYYY/MM/DD/<name>.wav`)."""

    #: True when finished recordings leave the local disk (the store then uploads and evicts).
    remote: bool

    def put(self, key: str, local_path: Path, sha256: str | None = None) -> StoredObject:
        """Store the file under `key` and verify it (size and SHA-256); raises StorageError."""
        ...

    def stat(self, key: str) -> StoredObject | None:
        """Size and SHA-256 of a stored recording, None when there is none."""
        ...

    def exists(self, key: str) -> bool: ...

    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the recording; FileNotFoundError when there is none."""
        ...

    def fetch(self, key: str, dest: Path) -> StoredObject:
        """Copy the recording to `dest` (atomically, checksum verified)."""
        ...

    def delete(self, key: str) -> bool:
        """Remove the recording; False when it was already gone."""
        ...

    def url(self, key: str, expires_s: int = 300) -> str | None:
        """A time-limited direct download address, or None when the backend has none."""
        ...


def check_key(key: str) -> str:
    """A relative, normalized key (no `..`, no leading `/`); ValueError otherwise."""
    if not isinstance(key, str) or not key or key.startswith("/") or any(
            part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"not a recording key: {key!r}")
    return key

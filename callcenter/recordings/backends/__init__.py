"""Where finished call recordings are kept: the local recordings directory or an S3-compatible
object store, behind the `RecordingStorage` protocol."""

from __future__ import annotations

from pathlib import Path

from callcenter.recordings.backends.interface import RecordingStorage, StorageError, StoredObject
from callcenter.recordings.backends.local import LocalStorage
from callcenter.recordings.settings import S3Settings, StorageSettings

__all__ = ["LocalStorage", "RecordingStorage", "S3Settings", "StorageError", "StorageSettings",
           "StoredObject", "build_storage"]


def build_storage(settings: StorageSettings, root: Path) -> RecordingStorage:
    if settings.backend == "s3":
        from callcenter.recordings.backends.s3 import S3Storage  # boto3 is only imported when configured

        return S3Storage(settings.s3)
    return LocalStorage(root)

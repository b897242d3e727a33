"""Where finished call recordings are kept (local disk or S3-compatible), and the disk watch."""

from __future__ import annotations

from pathlib import Path

from callcenter.storage.interface import RecordingStorage, StorageError, StoredObject
from callcenter.storage.local import LocalStorage
from callcenter.storage.settings import S3Settings, StorageSettings

__all__ = ["LocalStorage", "RecordingStorage", "S3Settings", "StorageError", "StorageSettings",
           "StoredObject", "build_storage"]


def build_storage(settings: StorageSettings, root: Path) -> RecordingStorage:
    if settings.backend == "s3":
        from callcenter.storage.s3 import S3Storage  # boto3 is only imported when configured

        return S3Storage(settings.s3)
    return LocalStorage(root)

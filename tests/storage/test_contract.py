"""One contract, two backends: the local directory and an S3-compatible server (moto on
loopback, over real HTTP through boto3)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from callcenter.recordings.backends import LocalStorage, RecordingStorage, StorageError
from tests.storage.conftest import MotoServer

KEY = "2026/01/05/010203-abcdef0123456789abcd.wav"


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordingStorage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "store")
    else:
        yield request.getfixturevalue("moto").storage()


def wav_file(path: Path, size: int = 100_000) -> tuple[Path, str]:
    data = b"RIFF" + os.urandom(size - 4)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_put_verifies_and_reads_back(storage: RecordingStorage, tmp_path: Path) -> None:
    src, sha = wav_file(tmp_path / "call.wav")
    assert storage.stat(KEY) is None and not storage.exists(KEY)
    stored = storage.put(KEY, src, sha)
    assert (stored.key, stored.size_bytes, stored.sha256) == (KEY, src.stat().st_size, sha)
    assert storage.exists(KEY) and storage.stat(KEY) == stored
    with storage.open(KEY) as f:
        assert hashlib.sha256(f.read()).hexdigest() == sha
    dest = tmp_path / "back" / "copy.wav"
    dest.parent.mkdir()
    assert storage.fetch(KEY, dest) == stored
    assert dest.read_bytes() == src.read_bytes()
    assert not list(dest.parent.glob("*.part"))
    assert storage.put(KEY, src) == stored  # storing the same recording again is harmless


def test_put_refuses_a_file_that_does_not_match_its_checksum(storage: RecordingStorage, tmp_path: Path) -> None:
    src, sha = wav_file(tmp_path / "call.wav")
    with pytest.raises(StorageError):
        storage.put(KEY, src, "0" * 64)
    assert not storage.exists(KEY)


def test_missing_recordings(storage: RecordingStorage, tmp_path: Path) -> None:
    assert storage.delete(KEY) is False
    with pytest.raises(FileNotFoundError):
        storage.open(KEY)
    with pytest.raises(FileNotFoundError):
        storage.fetch(KEY, tmp_path / "x.wav")


def test_delete_removes_the_recording(storage: RecordingStorage, tmp_path: Path) -> None:
    src, sha = wav_file(tmp_path / "call.wav")
    storage.put(KEY, src, sha)
    assert storage.delete(KEY) is True
    assert not storage.exists(KEY) and storage.delete(KEY) is False


@pytest.mark.parametrize("bad", ["../ledger.db", "2026/01/05/../../../x.wav", ""])
def test_keys_cannot_escape(storage: RecordingStorage, bad: str, tmp_path: Path) -> None:
    src, _ = wav_file(tmp_path / "call.wav", 1000)
    with pytest.raises(ValueError):
        storage.put(bad, src)


def test_s3_object_carries_its_checksum_and_a_presigned_url_serves_it(moto: MotoServer, tmp_path: Path) -> None:
    storage = moto.storage()
    src, sha = wav_file(tmp_path / "call.wav")
    storage.put(KEY, src, sha)
    assert moto.object_names() == ["site-a/" + KEY]  # the prefix keeps several sites in one bucket
    head = moto.client().head_object(Bucket="callcenter-recordings", Key="site-a/" + KEY)
    assert head["Metadata"]["sha256"] == sha and head["ContentType"] == "audio/wav"
    url = storage.url(KEY, 60)
    assert url is not None
    reply = httpx.get(url)
    assert reply.status_code == 200 and hashlib.sha256(reply.content).hexdigest() == sha


def test_s3_unreachable_is_a_storage_error(moto: MotoServer, tmp_path: Path) -> None:
    storage = moto.storage()
    moto.stop()
    src, sha = wav_file(tmp_path / "call.wav", 1000)
    with pytest.raises(StorageError):
        storage.put(KEY, src, sha)
    with pytest.raises(OSError):  # StorageError is an OSError: retention's handler covers it
        storage.delete(KEY)


def test_settings_choose_the_backend(tmp_path: Path, moto: MotoServer) -> None:
    from pydantic import ValidationError

    from callcenter.recordings.backends import build_storage
    from callcenter.recordings.backends.s3 import S3Storage
    from callcenter.recordings.settings import RecordingSettings, StorageSettings
    from callcenter.recordings.store import WavRecordingStore

    assert isinstance(build_storage(StorageSettings(), tmp_path), LocalStorage)
    with pytest.raises(ValidationError, match="bucket"):
        StorageSettings(backend="s3")
    store = WavRecordingStore(RecordingSettings(root=tmp_path, storage=StorageSettings(backend="s3", s3=moto.settings())))
    assert isinstance(store.storage, S3Storage) and store.storage.remote
    store.shutdown()

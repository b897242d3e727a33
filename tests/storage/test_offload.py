"""The recordings directory as a write-back cache in front of an S3-compatible store (moto on
loopback): record locally, upload after hang-up, verify, only then drop the local copy; keep
and retry while the store is down (also across a restart); play back and apply retention
through the store."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callcenter.recordings.interface import RecordingInfo
from callcenter.recordings.settings import RecordingSettings, StorageSettings
from callcenter.recordings.store import WavRecordingStore
from tests.storage.conftest import MotoServer

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def make_store(tmp_path: Path, moto: MotoServer) -> Iterator[Callable[..., WavRecordingStore]]:
    stores: list[WavRecordingStore] = []

    def make(keep_local_minutes: float = 0, min_free_mb: int = 0) -> WavRecordingStore:
        settings = RecordingSettings(root=tmp_path / "rec", min_free_mb=min_free_mb, storage=StorageSettings(
            backend="s3", keep_local_minutes=keep_local_minutes, s3=moto.settings()))
        store = WavRecordingStore(settings, background_flush=False)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.shutdown()


def record(store: WavRecordingStore, call_id: str, seconds: float = 1.0, at: datetime = T0) -> RecordingInfo:
    rec = store.open(call_id, at)
    n = int(8000 * seconds)
    rec.write_caller(b"\x10\x00" * n, 0)
    rec.write_agent(b"\x20\x00" * n)
    return rec.close()


def test_upload_is_verified_before_the_local_copy_goes(make_store, moto: MotoServer) -> None:  # type: ignore[no-untyped-def]
    store = make_store(keep_local_minutes=0)
    info = record(store, "call-1")
    local = Path(store.local_path(info.key))
    assert wait_until(lambda: not local.exists()), "the local copy was not removed after the upload"
    assert moto.object_names() == ["site-a/" + info.key]
    stored = store.storage.stat(info.key)
    assert stored is not None and (stored.size_bytes, stored.sha256) == (info.size_bytes, info.sha256)
    # playback/QA: path_of brings it back, byte for byte
    path = Path(store.path_of(info.key))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == info.sha256
    assert Path(path.as_posix() + ".stored").exists()  # a verified cache copy: sync() may drop it


def test_verified_copies_stay_as_a_cache_until_they_expire_or_the_disk_runs_low(make_store) -> None:  # type: ignore[no-untyped-def]
    store = make_store(keep_local_minutes=30)
    info = record(store, "call-1")
    local = Path(store.local_path(info.key))
    assert wait_until(lambda: Path(str(local) + ".stored").exists())
    assert store.sync() == {"uploaded": 0, "failed": 0, "evicted": 0}
    assert local.exists()
    low = make_store(keep_local_minutes=30, min_free_mb=10**9)  # "disk low": evict at once
    assert low.sync()["evicted"] == 1 and not local.exists()


def test_store_down_keeps_the_recording_and_a_restart_uploads_it(make_store, moto: MotoServer) -> None:  # type: ignore[no-untyped-def]
    store = make_store(keep_local_minutes=0)
    moto.stop()
    info = record(store, "call-1")
    local = Path(store.local_path(info.key))
    time.sleep(6)  # the uploader tries (and fails, with boto3's retries) in the background
    assert local.exists() and hashlib.sha256(local.read_bytes()).hexdigest() == info.sha256
    assert not Path(str(local) + ".stored").exists()
    assert store.sync() == {"uploaded": 0, "failed": 1, "evicted": 0}
    store.shutdown()
    moto.start()  # the store is back; the agent restarts
    again = make_store(keep_local_minutes=0)
    assert again.recover() == []  # nothing to repair, but the leftovers are queued for upload
    assert wait_until(lambda: not local.exists())
    stored = again.storage.stat(info.key)
    assert stored is not None and stored.sha256 == info.sha256


def test_the_periodic_retry_uploads_what_failed(make_store, moto: MotoServer) -> None:  # type: ignore[no-untyped-def]
    store = make_store(keep_local_minutes=0)
    moto.stop()
    info = record(store, "call-1")
    assert store.sync()["failed"] == 1
    moto.start()
    assert store.sync() == {"uploaded": 1, "failed": 0, "evicted": 0}
    assert not Path(store.local_path(info.key)).exists()
    assert store.storage.exists(info.key)


def test_live_recordings_are_never_uploaded_or_evicted(make_store, moto: MotoServer) -> None:  # type: ignore[no-untyped-def]
    store = make_store(keep_local_minutes=0)
    rec = store.open("live", T0)
    rec.write_caller(b"\x10\x00" * 8000, 0)
    rec.flush()
    assert store.sync() == {"uploaded": 0, "failed": 0, "evicted": 0}
    other = make_store(keep_local_minutes=0)  # another process sharing the directory: the flock
    assert other.sync() == {"uploaded": 0, "failed": 0, "evicted": 0}
    assert moto.object_names() == [] and Path(rec.path).exists()
    info = rec.close()
    assert wait_until(lambda: not Path(rec.path).exists())
    assert store.storage.stat(info.key).sha256 == info.sha256  # type: ignore[union-attr]


def test_delete_removes_object_and_local_copy_and_keeps_both_when_the_store_is_down(make_store, moto: MotoServer) -> None:  # type: ignore[no-untyped-def]
    store = make_store(keep_local_minutes=30)
    info = record(store, "call-1")
    local = Path(store.local_path(info.key))
    assert wait_until(lambda: Path(str(local) + ".stored").exists())
    moto.stop()
    with pytest.raises(OSError):
        store.delete(info.key)
    assert local.exists()
    moto.start()
    store.storage.put(info.key, local)
    assert store.delete(info.key) is True
    assert not local.exists() and moto.object_names() == []
    assert store.delete(info.key) is False


def test_local_backend_is_unchanged(tmp_path: Path) -> None:
    store = WavRecordingStore(RecordingSettings(root=tmp_path / "rec"), background_flush=False)
    info = record(store, "call-1")
    path = Path(store.path_of(info.key))
    assert path.exists() and store.sync() == {"uploaded": 0, "failed": 0, "evicted": 0}
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no sidecars, no markers
    assert store.delete(info.key) is True and not path.exists()


def test_figures_five_minute_recording(make_store, moto: MotoServer, record_property) -> None:  # type: ignore[no-untyped-def]
    """Upload throughput for a 5-minute stereo call (9.6 MB) and hang-up -> verified upload."""
    store = make_store(keep_local_minutes=0)
    rec = store.open("long-call", T0 - timedelta(days=1))
    second = b"\x10\x00" * 8000
    for i in range(300):
        rec.write_caller(second, i * 8000)
        rec.write_agent(second)
        rec.flush(sync=False)
    hung_up = time.monotonic()
    info = rec.close()
    closed = time.monotonic()
    assert wait_until(lambda: not Path(rec.path).exists(), 60)
    verified = time.monotonic()
    assert info.size_bytes > 9_600_000
    started = time.monotonic()
    stored = store.storage.put(info.key, Path(store.path_of(info.key)))  # a second, timed upload
    upload_s = time.monotonic() - started
    assert stored.sha256 == info.sha256 and stored.size_bytes == info.size_bytes
    mb = info.size_bytes / 1e6
    record_property("upload_MB_per_s", round(mb / upload_s, 1))
    record_property("hangup_to_verified_s", round(verified - hung_up, 2))
    print(f"\n5-min stereo recording {mb:.1f} MB: close {closed - hung_up:.2f} s, "
          f"hang-up -> verified upload + local copy dropped {verified - hung_up:.2f} s, "
          f"hash+upload+verify alone {upload_s:.2f} s = {mb / upload_s:.1f} MB/s")

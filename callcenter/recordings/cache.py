"""The recordings directory as a write-back cache in front of a remote storage (S3-compatible).

Every recording is written to the local disk first (crash safety); with a remote backend a
closed file is uploaded on the uploader thread, verified, marked with a `<name>.wav.stored`
sidecar and only then (after `keep_local_minutes`, or at once when the disk runs low) removed;
`sync()` retries whatever is not uploaded yet, also after a restart. `fetch` brings a recording
back for playback, QA and transcription. With the local backend nothing here does anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from callcenter.recordings.backends import RecordingStorage
from callcenter.recordings.files import fsync_path
from callcenter.recordings.recovery import is_open
from callcenter.recordings.settings import RecordingSettings

log = logging.getLogger(__name__)

KEY_RE = re.compile(r"\d{4}/\d{2}/\d{2}/[A-Za-z0-9][A-Za-z0-9_-]{0,80}\.wav")
STORED_SUFFIX = ".stored"  # remote backend: this local copy is uploaded and verified


class WriteBackCache:
    """`busy(key)`: the key is being written by this process (opening or open); `disk_ok()`:
    the recordings disk has room (else stored copies are evicted at once)."""

    def __init__(self, storage: RecordingStorage, settings: RecordingSettings, root: Path, *,
                 busy: Callable[[str], bool], disk_ok: Callable[[], bool]) -> None:
        self.storage = storage
        self.settings = settings
        self._root = root
        self._busy = busy
        self._disk_ok = disk_ok
        self.remote = bool(getattr(storage, "remote", False))
        self._uploads: queue.Queue[tuple[str, str | None] | None] = queue.Queue()
        self._uploader: threading.Thread | None = None
        self._lock = threading.Lock()
        self._upload_lock = threading.Lock()  # one upload/eviction pass at a time
        self._fetch_lock = threading.Lock()

    def local_path(self, key: str) -> str:
        if not isinstance(key, str) or not KEY_RE.fullmatch(key):
            raise ValueError(f"not a recording key: {key!r}")
        root = self._root.resolve()
        path = (root / key).resolve()
        if not path.is_relative_to(root):  # a symlinked day directory pointing elsewhere
            raise ValueError(f"recording key {key!r} resolves outside the store")
        return str(path)

    # -- after close: upload in the background ---------------------------------------------------

    def closed(self, key: str, sha256: str) -> None:
        """A recording was finished: upload it (remote backend). The call thread never waits."""
        if self.remote:
            self._enqueue((key, sha256))

    def resync(self) -> None:
        """Upload whatever was left behind (after a crash repair), in the background."""
        if self.remote:
            self._enqueue(("", None))

    def forget(self, path: str) -> None:
        """A new file at `path`: a stale marker must not vouch for it."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + STORED_SUFFIX)

    def _enqueue(self, item: tuple[str, str | None]) -> None:
        """(key, sha256) uploads one recording, ("", None) runs `sync()`."""
        with self._lock:
            if self._uploader is None:
                self._uploader = threading.Thread(target=self._upload_loop, name="recording-uploader",
                                                  daemon=True)
                self._uploader.start()
        self._uploads.put(item)

    def _upload_loop(self) -> None:
        while (item := self._uploads.get()) is not None:
            key, sha = item
            try:
                if key:
                    self.upload(key, sha)
                else:
                    self.sync()
            except Exception:  # the file stays local; sync() retries it
                log.exception("recording upload job %s failed", key or "sync")

    def shutdown(self) -> None:
        """Stop the uploader; uploads not done yet stay on the local disk for the next `sync()`."""
        with self._lock:
            uploader, self._uploader = self._uploader, None
        if uploader is not None:
            self._uploads.put(None)
            uploader.join(timeout=10)

    def upload(self, key: str, sha256: str | None = None) -> bool:
        """Upload one finished recording and verify it; True when it is safely stored. On failure
        the local file is kept (a warning is logged) and the next `sync()` tries again."""
        path = self.local_path(key)
        with self._upload_lock:
            if not os.path.exists(path) or self._stored_marker(path) is not None:
                return os.path.exists(path + STORED_SUFFIX)
            started = time.monotonic()
            try:
                stored = self.storage.put(key, Path(path), sha256)
            except OSError as exc:
                log.warning("recording %s not uploaded yet (kept on the local disk, retried): %s", key, exc)
                return False
            self._write_marker(path, stored.sha256, stored.size_bytes)
            log.info("recording %s uploaded and verified (%d bytes, %.2f s)", key, stored.size_bytes,
                     time.monotonic() - started)
            if self.settings.storage.keep_local_minutes == 0:
                self.drop_local(path)
            return True

    def sync(self) -> dict[str, int]:
        """Upload every finished local recording not stored yet, and remove the local copies of
        stored ones older than `keep_local_minutes` (all of them when the disk is low). Live
        recordings, by this process or another sharing the directory, are left alone."""
        counts = {"uploaded": 0, "failed": 0, "evicted": 0}
        if not self.remote:
            return counts
        root = self._root.resolve()
        if not root.is_dir():
            return counts
        keep_s = self.settings.storage.keep_local_minutes * 60
        low = not self._disk_ok()
        for wav in sorted(root.rglob("*.wav")):
            key = wav.relative_to(root).as_posix()
            if not KEY_RE.fullmatch(key) or not self._finished(key, str(wav)):
                continue
            marker = self._stored_marker(str(wav))
            if marker is None:
                counts["uploaded" if self.upload(key) else "failed"] += 1
            elif low or time.time() - float(marker.get("at", 0)) >= keep_s:
                with self._upload_lock:
                    if self._finished(key, str(wav)):
                        self.drop_local(str(wav))
                        counts["evicted"] += 1
        if counts["failed"] or counts["uploaded"] or counts["evicted"]:
            log.info("recordings sync: %s", counts)
        return counts

    def _finished(self, key: str, path: str) -> bool:
        """Closed and not being written by anyone (the same test as recovery: the flock)."""
        if self._busy(key) or is_open(path):
            return False  # ours, live elsewhere, or a crash recovery has not repaired yet
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
        return True

    # -- reading back, deleting ------------------------------------------------------------------

    def fetch(self, key: str, path: str) -> None:
        """Bring a recording no longer on the local disk back from the storage (kept
        `keep_local_minutes` as a cache); nothing when the storage has none."""
        with self._fetch_lock:
            if os.path.exists(path):
                return
            try:
                info = self.storage.fetch(key, Path(path))
            except FileNotFoundError:
                return
            self._write_marker(path, info.sha256, info.size_bytes)
            log.info("recording %s fetched back from the storage for playback", key)

    def delete(self, key: str, path: str) -> bool:
        """Remove the stored recording, then the local copy (retention). Raises OSError when the
        storage cannot be reached: the local copy is then kept too, and the next run retries."""
        with self._upload_lock:  # not while its upload is in flight
            remote = self.storage.delete(key)  # first: if it fails, the local copy stays too
            return self.drop_local(path) or remote

    def drop_local(self, path: str) -> bool:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + STORED_SUFFIX)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        fsync_path(os.path.dirname(path))
        return True

    @staticmethod
    def _stored_marker(path: str) -> dict[str, Any] | None:
        try:
            with open(path + STORED_SUFFIX, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None  # none, or torn by a crash: uploading again is harmless
        return data if isinstance(data, dict) else None

    @staticmethod
    def _write_marker(path: str, sha256: str, size: int) -> None:
        # Written aside and renamed: a sync() on another thread or process never reads it empty
        # (it would upload the recording a second time).
        tmp = path + STORED_SUFFIX + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            os.write(fd, json.dumps({"sha256": sha256, "size": size, "at": time.time()}).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path + STORED_SUFFIX)

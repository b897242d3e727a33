"""The recordings directory: opens a crash-safe writer per call, flushes them, resolves keys,
repairs after a crash and keeps finished recordings where the site wants them.

The parts: `writer.py` (one call's WAV), `recovery.py` (the journal and the repair after a
crash), `cache.py` (the directory as a write-back cache in front of a remote backend),
`backends/` (local disk, S3-compatible). `WavRecordingStore` ties them together behind the
`RecordingStore` seam the call path, QA, retention and the panel use.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from callcenter.recordings import wavfile
from callcenter.recordings.backends import RecordingStorage, build_storage
from callcenter.recordings.cache import WriteBackCache
from callcenter.recordings.files import fsync_path
from callcenter.recordings.interface import RecordingError, RecordingInfo
from callcenter.recordings.recovery import ANY_AGENT, SIDECAR_SUFFIX, recover_open, write_journal
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.writer import CHANNELS, SAMPLE_RATE_HZ, WavCallRecorder, open_error

log = logging.getLogger(__name__)

__all__ = ["RecordingError", "WavCallRecorder", "WavRecordingStore"]

_TICK_S = 0.1  # how often the flusher appends buffered audio to the files


class WavRecordingStore:
    """Owns the recordings directory: opens recorders, repairs after a crash, resolves keys."""

    def __init__(
        self,
        settings: RecordingSettings,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        background_flush: bool = True,
        on_error: Callable[[RecordingError], None] | None = None,
        storage: RecordingStorage | None = None,
    ) -> None:
        """`background_flush=False` leaves flushing to explicit `flush()`/`close()` (tests).
        `storage` defaults to the backend named in `settings.storage`."""
        self.settings = settings
        # The agent that writes here (sip.instance_id in the agent role, set by the composition
        # root): named in each recording's journal, so recovery after its death finds its own.
        self.agent_id: str | None = None
        self._root = Path(settings.root)
        self.storage = storage if storage is not None else build_storage(settings.storage, self._root)
        self._monotonic = monotonic
        self._background = background_flush
        self._on_error = on_error
        self._lock = threading.Lock()
        self._open: dict[str, WavCallRecorder] = {}
        self._opening: set[str] = set()  # being created: sync() must not take them for finished
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self.cache = WriteBackCache(self.storage, settings, self._root, busy=self._busy,
                                    disk_ok=self.free_space_ok)

    # -- naming --------------------------------------------------------------------------------

    @staticmethod
    def key_for(call_id: str, started_at: datetime, attempt: int = 0) -> str:
        """`YYYY/MM/DD/HHMMSS-<hash of call_id>.wav` (UTC). The Call-ID is untrusted SIP input, so
        it never reaches the file system itself."""
        if started_at.tzinfo is None:
            started_at = started_at.replace(tzinfo=UTC)
        started = started_at.astimezone(UTC)
        digest = hashlib.sha256(call_id.encode("utf-8", "surrogatepass")).hexdigest()[:20]
        suffix = f"-{attempt}" if attempt else ""
        return f"{started:%Y/%m/%d}/{started:%H%M%S}-{digest}{suffix}.wav"

    def local_path(self, key: str) -> str:
        """Where a recording is (or would be) on the local disk; ValueError for anything but a
        store key."""
        return self.cache.local_path(key)

    def path_of(self, key: str) -> str:
        """Absolute local path of a finished recording, for playback, QA and transcription;
        ValueError for anything but a store key. With a remote backend a recording no longer on
        the local disk is fetched back first (kept `keep_local_minutes` as a cache); the path of
        a recording found nowhere is returned as is (callers check that it exists)."""
        path = self.local_path(key)
        if self.cache.remote and not os.path.exists(path):
            with self._lock:
                live = key in self._open
            if not live:
                self.cache.fetch(key, path)
        return path

    def delete(self, key: str) -> bool:
        """Remove a stored recording (retention), from the storage and the local disk. Same key
        check as `path_of`; a recording still being written is refused. Returns False when it was
        already gone. Raises OSError (StorageError) when the storage cannot be reached: the
        local copy is then kept too, and the next run retries."""
        path = self.local_path(key)
        with self._lock:
            if key in self._open:
                raise ValueError(f"recording {key!r} is still being written")
        if self.cache.remote:
            return self.cache.delete(key, path)
        return self.storage.delete(key)

    def _busy(self, key: str) -> bool:
        with self._lock:
            return key in self._open or key in self._opening

    # -- opening -------------------------------------------------------------------------------

    def open(self, call_id: str, started_at: datetime) -> WavCallRecorder:
        recorder = self._open_recorder(call_id, started_at)
        with self._lock:
            self._opening.discard(recorder.key)
        return recorder

    def _open_recorder(self, call_id: str, started_at: datetime) -> WavCallRecorder:
        for attempt in range(100):
            key = self.key_for(call_id, started_at, attempt)
            path = self.local_path(key)
            with self._lock:
                self._opening.add(key)
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o640)
            except FileExistsError:
                with self._lock:
                    self._opening.discard(key)
                continue  # the same Call-ID twice in one second: keep both recordings
            except OSError as exc:
                with self._lock:
                    self._opening.discard(key)
                raise open_error(path, exc, self._root) from exc
            self.cache.forget(path)  # a stale upload marker must not vouch for the new file
            break
        else:
            raise RecordingError(
                f"Recording {path}: 100 recordings of the same call already exist.", path=path
            )
        try:
            # Held until close, released by the kernel when the process dies: another agent process
            # sharing this directory sees the recording is live and its recover() leaves it alone.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Journal first, so that a crash at any later point leaves something recover() finds.
            write_journal(path, call_id, key, started_at, self.agent_id)
            os.write(fd, wavfile.pcm_header(0, sample_rate_hz=SAMPLE_RATE_HZ, channels=CHANNELS))
            os.fsync(fd)
            fsync_path(os.path.dirname(path))
        except OSError as exc:
            os.close(fd)
            for leftover in (path, path + SIDECAR_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
            with self._lock:
                self._opening.discard(key)
            raise open_error(path, exc, self._root) from exc
        recorder = WavCallRecorder(
            self.settings, call_id=call_id, key=key, path=path, fd=fd, monotonic=self._monotonic,
            on_error=self._report_error, on_closed=self._closed,
        )
        with self._lock:
            self._open[key] = recorder
            if self._background and self._flusher is None:
                self._stop.clear()
                self._flusher = threading.Thread(
                    target=self._flush_loop, name="recording-flusher", daemon=True
                )
                self._flusher.start()
        log.info("call %s: recording to %s", call_id, key)
        if not self.free_space_ok():
            log.warning("recordings disk below %d MB free (%s)", self.settings.min_free_mb, self._root)
        return recorder

    def _flush_loop(self) -> None:
        while not self._stop.wait(_TICK_S):
            with self._lock:
                recorders = list(self._open.values())
            for recorder in recorders:
                try:
                    recorder.tick()
                except Exception:  # keep flushing the other calls whatever happens to one
                    log.exception("call %s: flush failed", recorder.call_id)

    def _closed(self, recorder: WavCallRecorder, info: RecordingInfo) -> None:
        with self._lock:
            self._open.pop(recorder.key, None)
        with contextlib.suppress(OSError):
            os.unlink(recorder.path + SIDECAR_SUFFIX)
            fsync_path(os.path.dirname(recorder.path))
        self.cache.closed(recorder.key, info.sha256)

    def _report_error(self, error: RecordingError) -> None:
        if self._on_error is not None:
            try:
                self._on_error(error)
            except Exception:
                log.exception("recording error callback failed")

    def shutdown(self) -> None:
        """Stop the flusher and uploader threads (recordings still open stay open; close them
        first). Uploads not done yet stay on the local disk for the next start's `sync()`."""
        self._stop.set()
        thread, self._flusher = self._flusher, None
        if thread is not None:
            thread.join(timeout=5)
        self.cache.shutdown()

    # -- remote storage (cache.py) ---------------------------------------------------------------

    def upload(self, key: str, sha256: str | None = None) -> bool:
        """Upload one finished recording and verify it; True when it is safely stored."""
        return self.cache.upload(key, sha256)

    def sync(self) -> dict[str, int]:
        """Upload what is not stored yet, evict expired local copies (remote backend)."""
        return self.cache.sync()

    # -- after a crash ---------------------------------------------------------------------------

    def recover(self, agent_id: str | None = ANY_AGENT) -> list[RecordingInfo]:
        """Repair every recording left open by a crash (found by its journal) and return them.
        Recordings still being written, by this process or another one sharing the directory,
        are skipped. `agent_id`: only that agent's recordings (recovery.recover_open)."""
        repaired = recover_open(self._root, agent_id)
        self.cache.resync()  # upload the repaired ones and whatever else was left behind
        return repaired

    # -- disk space ------------------------------------------------------------------------------

    def free_space_mb(self) -> float:
        probe = self._root
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        return shutil.disk_usage(probe).free / (1024 * 1024)

    def free_space_ok(self) -> bool:
        """False when the recordings disk has less than `min_free_mb` left (raise an alarm)."""
        return self.free_space_mb() >= self.settings.min_free_mb

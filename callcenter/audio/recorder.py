"""Crash-safe stereo call recordings: left = caller, right = agent, on one timeline from call start.

Threads: `write_caller` runs on the RTP receive thread and `write_agent` on the play thread, at
the same time. Both only place samples in memory under a short lock; every disk operation (the
append, the header rewrite, fsync) happens on the store's flusher thread, so a slow or failing
disk never stalls RTP.

Crash safety: the header is written at open and the data appended every ~100 ms (page cache
survives a SIGKILL of the process); every `flush_interval_s` the RIFF/data sizes are rewritten
and the file fsync'ed (survives a machine crash). A journal sidecar `<name>.wav.open` exists
while a recording is open; `WavRecordingStore.recover()` repairs whatever it finds.

Finished recordings are kept by a `callcenter.storage.RecordingStorage`. With the default
local backend they simply stay where they were written. With a remote (S3-compatible) backend
the recordings directory is a write-back cache: a closed file is uploaded on the store's
uploader thread, verified, marked with a `<name>.wav.stored` sidecar and only then (after
`keep_local_minutes`, or at once when the disk runs low) removed; `sync()` retries whatever
is not uploaded yet, also after a restart. `path_of` brings a recording back for playback/QA.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from callcenter.audio import wavfile
from callcenter.audio.interface import RecordingError, RecordingInfo
from callcenter.audio.settings import RecordingSettings
from callcenter.storage import RecordingStorage, build_storage
from callcenter.storage.interface import fsync_path

log = logging.getLogger(__name__)

__all__ = ["RecordingError", "WavCallRecorder", "WavRecordingStore"]

SAMPLE_RATE_HZ = 8000  # the telephony seam is 8 kHz mono PCM16
CHANNELS = 2
_SAMPLE_BYTES = 2
_FRAME_BYTES = CHANNELS * _SAMPLE_BYTES  # one stereo sample frame in the file
_TICK_S = 0.1  # how often the flusher appends buffered audio to the file
# Agent frames are handed over as they are sent; pacing jitter (p99 ~32 ms on a loaded box) must
# not cut small silences into a prompt, so only a gap longer than this counts as real silence.
_AGENT_JITTER_MS = 60
# A caller packet this far behind the newest one is treated as a new RTP stream, not reordering.
_REORDER_WINDOW_S = 2.0
_KEY_RE = re.compile(r"\d{4}/\d{2}/\d{2}/[A-Za-z0-9][A-Za-z0-9_-]{0,80}\.wav")
_SIDECAR_SUFFIX = ".open"
_STORED_SUFFIX = ".stored"  # remote backend: this local copy is uploaded and verified


def _disk_error(
    path: str, exc: OSError, kept_s: float, root: Path, *, opening: bool = False
) -> RecordingError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        cause, fix = "the disk is full", f"free space under {root} or move the recordings to a larger disk"
    elif exc.errno == errno.EFBIG:
        cause, fix = "the file size limit was reached", "raise the file-size limit (ulimit -f) of the agent"
    elif exc.errno == errno.EIO:
        cause, fix = "the disk reported an I/O error", f"check the disk holding {root} (dmesg, smartctl)"
    else:
        cause, fix = f"the write failed ({exc.strerror})", f"check that {root} is writable"
    code = errno.errorcode.get(exc.errno or 0, exc.errno)
    if opening:
        return RecordingError(
            f"Recording {path} could not be started: {cause} [{code}]. Fix: {fix}.", path=path
        )
    return RecordingError(
        f"Recording {path} stopped: {cause} [{code}]. "
        f"The {kept_s:.1f} s written before the failure are kept and playable. Fix: {fix}.",
        path=path,
    )


class WavCallRecorder:
    """One call's recording. Create through `WavRecordingStore.open`."""

    def __init__(
        self,
        store: WavRecordingStore,
        *,
        call_id: str,
        key: str,
        path: str,
        fd: int,
        monotonic: Callable[[], float],
    ) -> None:
        self.call_id = call_id
        self.key = key
        self.path = path
        self._store = store
        self._fd = fd
        self._monotonic = monotonic
        self._t0 = monotonic()
        settings = store.settings
        self._lag = int(settings.max_lag_ms * SAMPLE_RATE_HZ / 1000)
        self._max_gap = int(settings.max_gap_s * SAMPLE_RATE_HZ)
        self._flush_interval_s = settings.flush_interval_s

        self._lock = threading.Lock()  # memory state; held only for microseconds
        self._io_lock = threading.Lock()  # file operations; never taken on the write paths
        # Samples not yet interleaved: both buffers start at absolute sample `_base`.
        self._base = 0
        self._caller = bytearray()
        self._agent = bytearray()
        self._pending = bytearray()  # interleaved, waiting for the flusher
        self._newest_ts: int | None = None  # RTP timestamp of the newest caller packet
        self._newest_pos = 0  # its position on the timeline, in samples
        self._newest_len = 0
        self._closed = False
        self._data_bytes = 0  # on disk, after the header
        self._last_sync = self._t0
        self._error: RecordingError | None = None
        self._info: RecordingInfo | None = None
        self.dropped_samples = 0  # audio refused after close/failure or too late to place

    # -- write paths (RTP thread, play thread) --------------------------------------------------

    def write_caller(self, pcm16: bytes, rtp_timestamp: int) -> None:
        n = len(pcm16) // _SAMPLE_BYTES
        if not n:
            return
        now = self._now_samples()
        ts = rtp_timestamp & 0xFFFFFFFF
        with self._lock:
            if self._closed or self._error:
                self.dropped_samples += n
                return
            pos = self._place_caller(ts, n, now)
            start = pos - self._base
            if start < 0:  # reordered packet whose slot was already written out
                skip = min(-start, n)
                self.dropped_samples += skip
                pcm16, n, start = pcm16[skip * _SAMPLE_BYTES :], n - skip, 0
                if not n:
                    return
            lo, hi = start * _SAMPLE_BYTES, (start + n) * _SAMPLE_BYTES
            if hi > len(self._caller):
                self._caller.extend(bytes(hi - len(self._caller)))  # silence for lost packets
            self._caller[lo:hi] = pcm16[: n * _SAMPLE_BYTES]

    def _place_caller(self, ts: int, n: int, now: int) -> int:
        """Timeline position of a caller packet from its RTP timestamp (lock held)."""
        if self._newest_ts is None:
            pos = max(now - n, self._base, 0)  # the packet ends now; anchor the stream here
            self._set_newest(ts, pos, n)
            return pos
        # Signed distance modulo 2**32: handles timestamp wrap-around in both directions.
        delta = ((ts - self._newest_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        pos = self._newest_pos + delta
        newest_end = self._newest_pos + self._newest_len
        garbage = delta > self._max_gap or delta < -int(_REORDER_WINDOW_S * SAMPLE_RATE_HZ)
        # A gap that would put the caller ahead of the wall clock cannot be lost packets.
        ahead = delta > self._newest_len and pos > now + self._lag
        if garbage or ahead:
            # Garbage RTP or a new stream (re-INVITE, SSRC change): trust the wall clock instead of
            # writing minutes of silence.
            pos = max(now - n, newest_end, self._base)
            log.warning("call %s: RTP timestamp jumped by %d samples; re-anchored", self.call_id, delta)
            self._set_newest(ts, pos, n)
            return pos
        if delta > 0:
            if pos < self._base:
                # In order but later than the write horizon (a network stall, or the sender's
                # clock running slow): slide the stream forward rather than lose the audio.
                pos = self._base
            self._set_newest(ts, pos, n)
        return pos

    def _set_newest(self, ts: int, pos: int, n: int) -> None:
        self._newest_ts, self._newest_pos, self._newest_len = ts, pos, n

    def write_agent(self, pcm16: bytes) -> None:
        n = len(pcm16) // _SAMPLE_BYTES
        if not n:
            return
        now = self._now_samples()
        with self._lock:
            if self._closed or self._error:
                self.dropped_samples += n
                return
            end = self._base + len(self._agent) // _SAMPLE_BYTES
            # Never behind the wall clock: the silence between two prompts is part of the call.
            if now - end > _AGENT_JITTER_MS * SAMPLE_RATE_HZ // 1000:
                self._agent.extend(bytes((now - end) * _SAMPLE_BYTES))
            self._agent.extend(pcm16[: n * _SAMPLE_BYTES])

    # -- flushing (flusher thread, close) ----------------------------------------------------------

    def _now_samples(self) -> int:
        return round((self._monotonic() - self._t0) * SAMPLE_RATE_HZ)

    def _interleave(self, now: int, final: bool) -> None:
        """Move the samples both channels agree on into `_pending` (lock held)."""
        caller_end = self._base + len(self._caller) // _SAMPLE_BYTES
        agent_end = self._base + len(self._agent) // _SAMPLE_BYTES
        if final:
            # The call lasted until now even if both channels went quiet earlier (RTP silence
            # suppression, a flusher that fell behind): keep the silent tail.
            upto = max(caller_end, agent_end, now)
        else:
            # Wait for the slower channel, but not past `max_lag_ms` behind the wall clock: a
            # channel with nothing to say (no prompt playing, RTP silence suppression) is silence.
            horizon = now - self._lag
            upto = min(max(caller_end, horizon), max(agent_end, horizon))
        k = upto - self._base
        if k <= 0:
            return
        nbytes = k * _SAMPLE_BYTES
        for buf in (self._caller, self._agent):
            if len(buf) < nbytes:
                buf.extend(bytes(nbytes - len(buf)))
        out = np.empty(2 * k, dtype="<i2")
        out[0::2] = np.frombuffer(self._caller, dtype="<i2", count=k)
        out[1::2] = np.frombuffer(self._agent, dtype="<i2", count=k)
        # (the frombuffer views are gone here, so the bytearrays may be resized)
        del self._caller[:nbytes]
        del self._agent[:nbytes]
        self._pending += out.tobytes()
        self._base = upto

    def flush(self, *, sync: bool = True) -> None:
        """Append buffered audio; with `sync`, also rewrite the header and fsync. Never raises."""
        with self._io_lock:
            if self._info is None:
                self._flush_locked(final=False, sync=sync)

    def _tick(self) -> None:
        """Called by the store's flusher thread every ~100 ms."""
        due = self._monotonic() - self._last_sync >= self._flush_interval_s
        self.flush(sync=due)

    def _flush_locked(self, *, final: bool, sync: bool) -> None:
        now = self._now_samples()
        with self._lock:
            self._interleave(now, final)
            data, self._pending = self._pending, bytearray()
        if self._error:
            return
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                self._data_bytes += written
                view = view[written:]
            if sync:
                self._write_header()
                os.fsync(self._fd)
                self._last_sync = self._monotonic()
        except OSError as exc:
            self._fail(exc)

    def _write_header(self) -> None:
        header = wavfile.pcm_header(self._data_bytes, sample_rate_hz=SAMPLE_RATE_HZ, channels=CHANNELS)
        os.pwrite(self._fd, header, 0)

    def _fail(self, exc: OSError) -> None:
        # Keep what reached the disk: cut a torn frame and make the header match it. Rewriting the
        # header needs no new blocks, so it normally works even on a full disk.
        try:
            self._data_bytes = (
                wavfile.repair(self._fd) if self._data_bytes % _FRAME_BYTES else self._data_bytes
            )
            self._write_header()
            os.fsync(self._fd)
        except OSError:
            pass
        kept_s = self._data_bytes / _FRAME_BYTES / SAMPLE_RATE_HZ
        with self._lock:
            self._error = _disk_error(self.path, exc, kept_s, self._store.settings.root)
            self._caller.clear()
            self._agent.clear()
        log.error("call %s: %s", self.call_id, self._error)
        self._store._report_error(self._error)

    @property
    def error(self) -> RecordingError | None:
        """The disk error that stopped this recording, if any (also raised by `close`)."""
        return self._error

    def close(self) -> RecordingInfo:
        """Finish the file (last audio, header, fsync, checksum). Idempotent.

        Raises RecordingError (with `.info` describing the kept part) if the disk failed.
        """
        with self._io_lock:
            if self._info is None:
                with self._lock:
                    self._closed = True
                self._flush_locked(final=True, sync=True)
                try:
                    os.close(self._fd)
                except OSError as exc:  # NFS and friends report deferred write errors here
                    if not self._error:
                        self._fail(exc)
                self._info = RecordingInfo(
                    call_id=self.call_id,
                    key=self.key,
                    duration_ms=self._data_bytes // _FRAME_BYTES * 1000 // SAMPLE_RATE_HZ,
                    size_bytes=wavfile.HEADER_BYTES + self._data_bytes,
                    sha256=wavfile.sha256_of(self.path),
                    sample_rate_hz=SAMPLE_RATE_HZ,
                    channels=CHANNELS,
                    interrupted=self._error is not None,
                )
                self._store._closed(self, self._info)
            if self._error:
                self._error.info = self._info
                raise self._error
            return self._info


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
        self._root = Path(settings.root)
        self.storage = storage if storage is not None else build_storage(settings.storage, self._root)
        self._remote = bool(getattr(self.storage, "remote", False))
        self._uploads: queue.Queue[tuple[str, str | None] | None] = queue.Queue()
        self._uploader: threading.Thread | None = None
        self._upload_lock = threading.Lock()  # one upload/eviction pass at a time
        self._fetch_lock = threading.Lock()
        self._monotonic = monotonic
        self._background = background_flush
        self._on_error = on_error
        self._lock = threading.Lock()
        self._open: dict[str, WavCallRecorder] = {}
        self._opening: set[str] = set()  # being created: sync() must not take them for finished
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

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

    def path_of(self, key: str) -> str:
        """Absolute local path of a finished recording, for playback, QA and transcription;
        ValueError for anything but a store key. With a remote backend a recording no longer on
        the local disk is fetched back first (kept `keep_local_minutes` as a cache); the path of
        a recording found nowhere is returned as is (callers check that it exists)."""
        path = self._local_path(key)
        if self._remote and not os.path.exists(path):
            with self._lock:
                live = key in self._open
            if not live:
                self._fetch(key, path)
        return path

    def _fetch(self, key: str, path: str) -> None:
        with self._fetch_lock:
            if os.path.exists(path):
                return
            try:
                info = self.storage.fetch(key, Path(path))
            except FileNotFoundError:
                return
            self._write_marker(path, info.sha256, info.size_bytes)
            log.info("recording %s fetched back from the storage for playback", key)

    def _local_path(self, key: str) -> str:
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise ValueError(f"not a recording key: {key!r}")
        root = self._root.resolve()
        path = (root / key).resolve()
        if not path.is_relative_to(root):  # a symlinked day directory pointing elsewhere
            raise ValueError(f"recording key {key!r} resolves outside the store")
        return str(path)

    def delete(self, key: str) -> bool:
        """Remove a stored recording (retention), from the storage and the local disk. Same key
        check as `path_of`; a recording still being written is refused. Returns False when it was
        already gone. Raises OSError (StorageError) when the storage cannot be reached: the
        local copy is then kept too, and the next run retries."""
        path = self._local_path(key)
        with self._lock:
            if key in self._open:
                raise ValueError(f"recording {key!r} is still being written")
        if self._remote:
            with self._upload_lock:  # not while its upload is in flight
                remote = self.storage.delete(key)  # first: if it fails, the local copy stays too
                return self._drop_local(path) or remote
        return self.storage.delete(key)

    def _drop_local(self, path: str) -> bool:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + _STORED_SUFFIX)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        fsync_path(os.path.dirname(path))
        return True

    # -- opening -------------------------------------------------------------------------------

    def open(self, call_id: str, started_at: datetime) -> WavCallRecorder:
        recorder = self._open_recorder(call_id, started_at)
        with self._lock:
            self._opening.discard(recorder.key)
        return recorder

    def _open_recorder(self, call_id: str, started_at: datetime) -> WavCallRecorder:
        for attempt in range(100):
            key = self.key_for(call_id, started_at, attempt)
            path = self._local_path(key)
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
                raise _open_error(path, exc, self._root) from exc
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path + _STORED_SUFFIX)  # a stale marker must not vouch for the new file
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
            self._write_sidecar(path, call_id, key, started_at)
            os.write(fd, wavfile.pcm_header(0, sample_rate_hz=SAMPLE_RATE_HZ, channels=CHANNELS))
            os.fsync(fd)
            fsync_path(os.path.dirname(path))
        except OSError as exc:
            os.close(fd)
            for leftover in (path, path + _SIDECAR_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
            with self._lock:
                self._opening.discard(key)
            raise _open_error(path, exc, self._root) from exc
        recorder = WavCallRecorder(
            self, call_id=call_id, key=key, path=path, fd=fd, monotonic=self._monotonic
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

    @staticmethod
    def _write_sidecar(path: str, call_id: str, key: str, started_at: datetime) -> None:
        journal = {
            "call_id": call_id,
            "key": key,
            "started_at": started_at.isoformat(),
            "sample_rate_hz": SAMPLE_RATE_HZ,
            "channels": CHANNELS,
        }
        fd = os.open(path + _SIDECAR_SUFFIX, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            os.write(fd, json.dumps(journal, ensure_ascii=False).encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def _flush_loop(self) -> None:
        while not self._stop.wait(_TICK_S):
            with self._lock:
                recorders = list(self._open.values())
            for recorder in recorders:
                try:
                    recorder._tick()
                except Exception:  # keep flushing the other calls whatever happens to one
                    log.exception("call %s: flush failed", recorder.call_id)

    def _closed(self, recorder: WavCallRecorder, info: RecordingInfo) -> None:
        with self._lock:
            self._open.pop(recorder.key, None)
        sidecar = recorder.path + _SIDECAR_SUFFIX
        with contextlib.suppress(OSError):
            os.unlink(sidecar)
            fsync_path(os.path.dirname(recorder.path))
        if self._remote:
            self._enqueue((recorder.key, info.sha256))

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
        with self._lock:
            uploader, self._uploader = self._uploader, None
        if uploader is not None:
            self._uploads.put(None)
            uploader.join(timeout=10)

    # -- remote storage: upload after close, verify, evict ---------------------------------------

    def _enqueue(self, item: tuple[str, str | None]) -> None:
        """Hand a job to the uploader thread: (key, sha256) uploads one recording, ("", None) runs
        `sync()`. The call thread never waits for the network."""
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

    def upload(self, key: str, sha256: str | None = None) -> bool:
        """Upload one finished recording and verify it; True when it is safely stored. On failure
        the local file is kept (a warning is logged) and the next `sync()` tries again."""
        path = self._local_path(key)
        with self._upload_lock:
            if not os.path.exists(path) or self._stored_marker(path) is not None:
                return os.path.exists(path + _STORED_SUFFIX)
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
                self._drop_local(path)
            return True

    def sync(self) -> dict[str, int]:
        """Upload every finished local recording not stored yet, and remove the local copies of
        stored ones older than `keep_local_minutes` (all of them when the disk is low). Live
        recordings, by this process or another sharing the directory, are left alone."""
        counts = {"uploaded": 0, "failed": 0, "evicted": 0}
        if not self._remote:
            return counts
        root = self._root.resolve()
        if not root.is_dir():
            return counts
        keep_s = self.settings.storage.keep_local_minutes * 60
        low = not self.free_space_ok()
        for wav in sorted(root.rglob("*.wav")):
            key = wav.relative_to(root).as_posix()
            if not _KEY_RE.fullmatch(key) or not self._finished(key, str(wav)):
                continue
            marker = self._stored_marker(str(wav))
            if marker is None:
                counts["uploaded" if self.upload(key) else "failed"] += 1
            elif low or time.time() - float(marker.get("at", 0)) >= keep_s:
                with self._upload_lock:
                    if self._finished(key, str(wav)):
                        self._drop_local(str(wav))
                        counts["evicted"] += 1
        if counts["failed"] or counts["uploaded"] or counts["evicted"]:
            log.info("recordings sync: %s", counts)
        return counts

    def _finished(self, key: str, path: str) -> bool:
        """Closed and not being written by anyone (same test as recover(): the flock)."""
        with self._lock:
            if key in self._open or key in self._opening:
                return False
        if os.path.exists(path + _SIDECAR_SUFFIX):
            return False  # live elsewhere, or a crash recover() has not repaired yet
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

    @staticmethod
    def _stored_marker(path: str) -> dict[str, Any] | None:
        try:
            with open(path + _STORED_SUFFIX, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None  # none, or torn by a crash: uploading again is harmless
        return data if isinstance(data, dict) else None

    @staticmethod
    def _write_marker(path: str, sha256: str, size: int) -> None:
        fd = os.open(path + _STORED_SUFFIX, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            os.write(fd, json.dumps({"sha256": sha256, "size": size, "at": time.time()}).encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- after a crash ---------------------------------------------------------------------------

    def recover(self) -> list[RecordingInfo]:
        """Repair every recording left open by a crash (found by its sidecar) and return them.

        Recordings still being written, by this process or another one sharing the directory,
        are skipped.
        """
        root = self._root.resolve()
        if not root.is_dir():
            return []
        repaired = []
        for sidecar in sorted(root.rglob("*.wav" + _SIDECAR_SUFFIX)):
            info = self._recover_one(root, sidecar, str(sidecar)[: -len(_SIDECAR_SUFFIX)])
            if info is not None:
                repaired.append(info)
        if self._remote:
            self._enqueue(("", None))  # upload the repaired ones and whatever else was left behind
        return repaired

    def _recover_one(self, root: Path, sidecar: Path, wav: str) -> RecordingInfo | None:
        try:
            journal = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            journal = {}  # torn journal: the WAV itself still tells us everything but the Call-ID
        try:
            fd = os.open(wav, os.O_RDWR)
        except FileNotFoundError:
            log.warning("recording journal %s has no WAV file; removing it", sidecar)
            sidecar.unlink(missing_ok=True)
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None  # a live recording
        try:
            try:
                wavfile.read_format(fd)
            except ValueError:  # killed before the header reached the disk
                os.pwrite(fd, wavfile.pcm_header(0, sample_rate_hz=SAMPLE_RATE_HZ, channels=CHANNELS), 0)
            data = wavfile.repair(fd)
            fmt = wavfile.read_format(fd)
        finally:
            os.close(fd)
        sidecar.unlink()
        fsync_path(os.path.dirname(wav))
        key = Path(wav).relative_to(root).as_posix()
        info = RecordingInfo(
            call_id=str(journal.get("call_id", "")),
            key=key,
            duration_ms=data // fmt.block_align * 1000 // fmt.sample_rate_hz,
            size_bytes=wavfile.HEADER_BYTES + data,
            sha256=wavfile.sha256_of(wav),
            sample_rate_hz=fmt.sample_rate_hz,
            channels=fmt.channels,
            interrupted=True,
        )
        log.warning(
            "call %s: recovered interrupted recording %s (%d ms)", info.call_id, key, info.duration_ms
        )
        return info

    # -- disk space ------------------------------------------------------------------------------

    def free_space_mb(self) -> float:
        probe = self._root
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        return shutil.disk_usage(probe).free / (1024 * 1024)

    def free_space_ok(self) -> bool:
        """False when the recordings disk has less than `min_free_mb` left (raise an alarm)."""
        return self.free_space_mb() >= self.settings.min_free_mb


def _open_error(path: str, exc: OSError, root: Path) -> RecordingError:
    return _disk_error(path, exc, 0.0, root, opening=True)

"""One call's crash-safe stereo recording: left = caller, right = agent, on one timeline from call start.

The timeline starts when the call is answered (`answered()`, once the 200 OK is out) or with the
first frame of either channel if that comes first, not when the file was opened: the file is
opened before the 200 OK, and on a loaded machine time can pass before the answer goes out, which
would start the recording with that much silence, longer than its call. A call with no frame at
all is silence from the open to the end.

Caller audio is never dropped to keep the timeline: RTP that began late and caught up runs ahead
of the clock, and audio held up past the write horizon is placed later; both make the recording
longer than the call, and the close logs how much (`ahead_samples`, `slid_samples`).

Threads: `write_caller` runs on the RTP receive thread and `write_agent` on the play thread, at
the same time. Both only place samples in memory under a short lock; every disk operation (the
append, the header rewrite, fsync) happens in `flush`/`tick`, which the store's flusher thread
calls every ~100 ms, so a slow or failing disk never stalls RTP.

Crash safety: the header is written at open and the data appended every ~100 ms (page cache
survives a SIGKILL of the process); every `flush_interval_s` the RIFF/data sizes are rewritten
and the file fsync'ed (survives a machine crash). The store keeps a journal sidecar while the
recording is open; `recovery.py` repairs whatever a crash left.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from callcenter.recordings import wavfile
from callcenter.recordings.files import sha256_of
from callcenter.recordings.interface import RecordingError, RecordingInfo
from callcenter.recordings.settings import RecordingSettings

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 8000  # the telephony seam is 8 kHz mono PCM16
CHANNELS = 2
_SAMPLE_BYTES = 2
_FRAME_BYTES = CHANNELS * _SAMPLE_BYTES  # one stereo sample frame in the file
# Agent frames are handed over as they are sent; pacing jitter (p99 ~32 ms on a loaded box) must
# not cut small silences into a prompt, so only a gap longer than this counts as real silence.
_AGENT_JITTER_MS = 60
# A caller packet this far behind the newest one is treated as a new RTP stream, not reordering.
_REORDER_WINDOW_S = 2.0


def disk_error(
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


def open_error(path: str, exc: OSError, root: Path) -> RecordingError:
    return disk_error(path, exc, 0.0, root, opening=True)


class WavCallRecorder:
    """One call's recording. Create through `WavRecordingStore.open`, which hands it the open
    file; `on_error` hears of a disk failure, `on_closed` of the finished file."""

    def __init__(
        self,
        settings: RecordingSettings,
        *,
        call_id: str,
        key: str,
        path: str,
        fd: int,
        monotonic: Callable[[], float],
        on_error: Callable[[RecordingError], None],
        on_closed: Callable[[WavCallRecorder, RecordingInfo], None],
    ) -> None:
        self.call_id = call_id
        self.key = key
        self.path = path
        self._settings = settings
        self._on_error = on_error
        self._on_closed = on_closed
        self._fd = fd
        self._monotonic = monotonic
        self._opened_at = monotonic()
        self._t0: float | None = None  # the first frame's start (see the module doc)
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
        self._last_sync = self._opened_at
        self._error: RecordingError | None = None
        self._info: RecordingInfo | None = None
        self.dropped_samples = 0  # audio refused after close/failure or too late to place
        # how far late caller audio pushed the caller's stream along the timeline: the recording
        # runs that much past the call (logged at close: a starved receive thread shows here)
        self.slid_samples = 0
        # how far the caller's audio ran ahead of the wall clock: its first packet came late (a
        # sender or receive thread behind) and the rest caught up. The audio is kept, so the
        # recording runs about that much past the call (logged at close)
        self.ahead_samples = 0

    # -- write paths (RTP thread, play thread) --------------------------------------------------

    def write_caller(self, pcm16: bytes, rtp_timestamp: int) -> None:
        n = len(pcm16) // _SAMPLE_BYTES
        if not n:
            return
        self._start(n / SAMPLE_RATE_HZ)  # the packet ends now
        now = self._now_samples()
        ts = rtp_timestamp & 0xFFFFFFFF
        with self._lock:
            if self._closed or self._error:
                self.dropped_samples += n
                return
            pos = self._place_caller(ts, n, now)
            self.ahead_samples = max(self.ahead_samples, pos + n - now)
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
                self.slid_samples += self._base - pos
                pos = self._base
            self._set_newest(ts, pos, n)
        return pos

    def _set_newest(self, ts: int, pos: int, n: int) -> None:
        self._newest_ts, self._newest_pos, self._newest_len = ts, pos, n

    def write_agent(self, pcm16: bytes) -> None:
        n = len(pcm16) // _SAMPLE_BYTES
        if not n:
            return
        self._start(0.0)  # handed over as it is sent: the frame starts now
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

    def position_s(self) -> float:
        """Where the recording's timeline is now, in seconds from its start (a bridge's span): the
        wall clock, or the end of audio already placed beyond it (a prompt handed over ahead)."""
        now = self._now_samples()
        with self._lock:
            ends = (self._base + len(self._caller) // _SAMPLE_BYTES, self._base + len(self._agent) // _SAMPLE_BYTES)
        return max(now, *ends) / SAMPLE_RATE_HZ

    def answered(self) -> None:
        """The call was answered just now: its timeline starts here, unless a frame started it."""
        self._start(0.0)

    def _start(self, ago_s: float) -> None:
        if self._t0 is None:
            with self._lock:
                if self._t0 is None:
                    self._t0 = self._monotonic() - ago_s

    def _now_samples(self) -> int:
        """The wall clock on the timeline: 0 until the first frame."""
        return self._samples_at(self._monotonic())

    def _samples_at(self, monotonic_s: float) -> int:
        t0 = self._t0
        return 0 if t0 is None else round((monotonic_s - t0) * SAMPLE_RATE_HZ)

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

    def tick(self) -> None:
        """Called by the store's flusher thread every ~100 ms."""
        due = self._monotonic() - self._last_sync >= self._flush_interval_s
        self.flush(sync=due)

    def _flush_locked(self, *, final: bool, sync: bool, ended_at: float | None = None) -> None:
        # A close that comes after the call ended (a starved thread, a slow database, a flush
        # holding the file) ends the silent tail at the BYE (`ended_at`, monotonic), not at the close.
        now = self._now_samples() if ended_at is None else self._samples_at(ended_at)
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
            self._error = disk_error(self.path, exc, kept_s, self._settings.root)
            self._caller.clear()
            self._agent.clear()
        log.error("call %s: %s", self.call_id, self._error)
        self._on_error(self._error)

    @property
    def error(self) -> RecordingError | None:
        """The disk error that stopped this recording, if any (also raised by `close`)."""
        return self._error

    def close(self, ended_for_s: float = 0.0) -> RecordingInfo:
        """Finish the file (last audio, header, fsync, checksum). Idempotent. The silent tail ends
        `ended_for_s` seconds ago, when the call ended; audio already written is always kept.

        Raises RecordingError (with `.info` describing the kept part) if the disk failed.
        """
        # the end as an instant, taken before waiting for the file: the flusher may hold it for
        # seconds (an fsync on a busy disk), and that wait is not part of the call (the soak's
        # recordings 3-6 s longer than their calls, their tails silent, were this)
        ended_at = self._monotonic() - max(0.0, ended_for_s)
        with self._io_lock:
            if self._info is None:
                with self._lock:
                    self._closed = True
                    if self._t0 is None:  # not a frame either way: the call's silence, from the answer
                        self._t0 = self._opened_at
                self._flush_locked(final=True, sync=True, ended_at=ended_at)
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
                    sha256=sha256_of(self.path),
                    sample_rate_hz=SAMPLE_RATE_HZ,
                    channels=CHANNELS,
                    interrupted=self._error is not None,
                )
                if self.slid_samples >= SAMPLE_RATE_HZ // 2:
                    log.warning("call %s: %.1f s of caller audio came later than the recording could wait "
                                "and was placed later on its timeline", self.call_id,
                                self.slid_samples / SAMPLE_RATE_HZ)
                if self.ahead_samples >= SAMPLE_RATE_HZ // 2:
                    log.warning("call %s: the caller's audio ran %.1f s ahead of the clock (its RTP began late "
                                "and caught up); all of it is kept", self.call_id,
                                self.ahead_samples / SAMPLE_RATE_HZ)
                self._on_closed(self, self._info)
            if self._error:
                self._error.info = self._info
                raise self._error
            return self._info

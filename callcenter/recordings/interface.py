"""The recording seam: a crash-safe writer per call (CallRecorder), the store that owns the files
(RecordingStore), and what a finished recording is (RecordingInfo, which the ledger keeps)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class RecordingInfo:
    call_id: str
    key: str  # store-relative name, e.g. "2026/11/23/<call-id-hash>.wav"; never a path from a request
    duration_ms: int
    size_bytes: int
    sha256: str
    sample_rate_hz: int
    channels: int  # 2: left = caller, right = agent
    interrupted: bool  # True when recovered after a crash rather than closed cleanly


class RecordingError(RuntimeError):
    """A recording could not be written (disk full, I/O error). The message names the file and the
    fix; `info` describes the part that was kept, when anything was (raised by `close()`)."""

    def __init__(self, message: str, *, path: str, info: RecordingInfo | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.info = info


class CallRecorder(Protocol):
    def answered(self) -> None:
        """The call was answered just now: the recording's timeline starts here (or with its
        first frame, if that came first), not when it was opened before the 200 OK."""

    def write_caller(self, pcm16: bytes, rtp_timestamp: int) -> None:
        """Caller audio; gaps in rtp_timestamp are filled with silence so timing is kept."""

    def write_agent(self, pcm16: bytes) -> None:
        """Audio the agent played to the caller."""

    def close(self, ended_for_s: float = 0.0) -> RecordingInfo:
        """Finish the file (header, fsync, checksum). Idempotent. `ended_for_s`: how long ago the
        call ended (its BYE), so a close that comes late does not pad the recording with silence."""


class RecordingStore(Protocol):
    def open(self, call_id: str, started_at: datetime) -> CallRecorder: ...

    def recover(self) -> list[RecordingInfo]:
        """After a crash: repair every recording left open and return what was repaired."""

    def path_of(self, key: str) -> str:
        """Absolute path of a stored recording; raises ValueError for keys outside the store."""

"""After a crash: the recordings a killed process left behind.

While a recording is open a journal sidecar `<name>.wav.open` lies next to it (written before
the first byte of audio) and the writer holds an flock on the WAV. `recover_open` repairs every
WAV whose sidecar is still there and whose lock nobody holds (a live recording of another
process sharing the directory keeps its lock), and describes each as an interrupted recording
for the ledger. `describe_finished` describes a complete WAV whose end never reached the ledger.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import wave
from datetime import datetime
from pathlib import Path

from callcenter.recordings import wavfile
from callcenter.recordings.files import fsync_path, sha256_of
from callcenter.recordings.interface import RecordingInfo
from callcenter.recordings.writer import CHANNELS, SAMPLE_RATE_HZ

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".open"


def write_journal(path: str, call_id: str, key: str, started_at: datetime, agent_id: str | None = None) -> None:
    """The sidecar that marks `path` as open, with what recovery needs to name the call and the
    agent that writes it (another process recovers a dead agent's recordings only)."""
    journal = {
        "call_id": call_id,
        "agent_id": agent_id,
        "key": key,
        "started_at": started_at.isoformat(),
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "channels": CHANNELS,
    }
    fd = os.open(path + SIDECAR_SUFFIX, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        os.write(fd, json.dumps(journal, ensure_ascii=False).encode())
        os.fsync(fd)
    finally:
        os.close(fd)


ANY_AGENT = "*"


def recover_open(root: Path, agent_id: str | None = ANY_AGENT) -> list[RecordingInfo]:
    """Repair every recording under `root` left open by a crash (found by its sidecar) and
    return them. Recordings still being written, by this process or another one sharing the
    directory, are skipped. `agent_id`: only the recordings that agent wrote (None: those of
    no agent, an all-in-one process); ANY_AGENT: all."""
    root = root.resolve()
    if not root.is_dir():
        return []
    repaired = []
    for sidecar in sorted(root.rglob("*.wav" + SIDECAR_SUFFIX)):
        if agent_id != ANY_AGENT and _journal_agent(sidecar) != agent_id:
            continue
        info = _recover_one(root, sidecar, str(sidecar)[: -len(SIDECAR_SUFFIX)])
        if info is not None:
            repaired.append(info)
    return repaired


def _journal_agent(sidecar: Path) -> str | None | object:
    """The agent named in a journal; a torn journal names nobody we can match (ANY_AGENT repairs it)."""
    try:
        journal = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return object()
    return journal.get("agent_id") if isinstance(journal, dict) else object()


def _recover_one(root: Path, sidecar: Path, wav: str) -> RecordingInfo | None:
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
        data = wavfile.repair(fd, whole_ms=True)  # duration_ms below is then the file's length
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
        sha256=sha256_of(wav),
        sample_rate_hz=fmt.sample_rate_hz,
        channels=fmt.channels,
        interrupted=True,
    )
    log.warning(
        "call %s: recovered interrupted recording %s (%d ms)", info.call_id, key, info.duration_ms
    )
    return info


def is_open(path: Path | str) -> bool:
    """Whether the recording at `path` still has its journal (live, or not repaired yet)."""
    return os.path.exists(f"{path}{SIDECAR_SUFFIX}")


def describe_finished(call_id: str, key: str, path: Path) -> RecordingInfo:
    """What the writer would have reported on closing this (complete) recording."""
    with wave.open(str(path)) as w:
        frames, rate, channels = w.getnframes(), w.getframerate(), w.getnchannels()
    return RecordingInfo(call_id=call_id, key=key, duration_ms=frames * 1000 // rate, size_bytes=path.stat().st_size,
                         sha256=sha256_of(path), sample_rate_hz=rate, channels=channels, interrupted=False)

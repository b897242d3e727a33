"""Crash safety against real processes: SIGKILL mid-call, a file-size limit, a full file system."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from audio_testkit import read_stereo, tone

from callcenter.recordings import wavfile
from callcenter.recordings.recovery import SIDECAR_SUFFIX
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import RecordingError, WavRecordingStore

REPO = Path(__file__).resolve().parents[2]
FRAME = 160

# Records paced in real time, like the RTP and play threads do, printing each frame it handed over.
_RECORDING_CHILD = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
import numpy as np
from callcenter.recordings.store import WavRecordingStore
from callcenter.recordings import wavfile
from callcenter.recordings.recovery import SIDECAR_SUFFIX
from callcenter.recordings.settings import RecordingSettings

store = WavRecordingStore(RecordingSettings(root=Path(sys.argv[1])))
rec = store.open("killed-call@10.0.0.1", datetime.now(UTC))
print(rec.key, flush=True)
t0 = time.monotonic()
i = 0
while True:
    pcm = ((np.arange(i * 160, (i + 1) * 160) % 30000) + 1).astype("<i2").tobytes()
    rec.write_caller(pcm, (4_294_960_000 + i * 160) % 2**32)  # wraps around after ~0.9 s
    rec.write_agent(pcm)
    i += 1
    print(i, flush=True)
    time.sleep(max(0.0, t0 + i * 0.02 - time.monotonic()))
"""


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _ffprobe(path: str) -> dict:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=sample_rate,channels,codec_name",
            "-of",
            "json",
            path,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return json.loads(out.stdout)


def _contains_run(channel: np.ndarray, n: int) -> bool:
    """The channel holds the child's sample pattern contiguously after its leading silence."""
    start = int(np.flatnonzero(channel)[0])
    return channel[start : start + n].tobytes() == tone(n, 0)


def _contains_in_order(channel: np.ndarray, n: int) -> bool:
    """The child's pattern (never 0) complete and in order, silence allowed in between: what the
    agent plays is placed on the wall clock, so a child starved of CPU leaves gaps, not losses."""
    return channel[channel != 0][:n].tobytes() == tone(n, 0)


def test_sigkill_mid_call_leaves_a_recoverable_file(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _RECORDING_CHILD, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=_child_env(),
    )
    try:
        assert child.stdout is not None
        key = child.stdout.readline().strip()
        frames = 0
        while frames < 130:  # 2.6 s of call
            frames = int(child.stdout.readline())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    written_s = frames * 0.02
    store = WavRecordingStore(RecordingSettings(root=tmp_path), background_flush=False)
    path = store.path_of(key)
    assert os.path.exists(path + ".open")

    # Even before repair the file plays: its header is at most one flush interval old.
    with wave.open(path, "rb") as w:
        assert w.getnframes() / 8000 >= written_s - 1.4

    infos = store.recover()
    assert len(infos) == 1
    info = infos[0]
    assert info.call_id == "killed-call@10.0.0.1" and info.key == key and info.interrupted
    assert not os.path.exists(path + ".open")
    assert written_s - 0.45 <= info.duration_ms / 1000 <= written_s + 0.1
    assert info.sha256 == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert info.size_bytes == os.path.getsize(path)

    left, right = read_stereo(path)
    assert len(left) == info.duration_ms * 8
    settled = int((written_s - 0.5) * 8000)  # audio certainly on disk, across the RTP wrap-around
    assert _contains_run(left, settled)  # the caller's side is placed by RTP timestamp: contiguous
    assert _contains_in_order(right, settled)

    probe = _ffprobe(path)
    assert probe["streams"][0] == {"codec_name": "pcm_s16le", "sample_rate": "8000", "channels": 2}
    assert abs(float(probe["format"]["duration"]) - info.duration_ms / 1000) < 0.01
    assert store.recover() == []


# Writes 4 s of audio (128 KB) under a 64 KiB file-size limit; reports what close() said.
_FSIZE_CHILD = """
import json, resource, sys
from datetime import UTC, datetime
from pathlib import Path
import numpy as np
from callcenter.recordings.store import RecordingError, WavRecordingStore
from callcenter.recordings import wavfile
from callcenter.recordings.recovery import SIDECAR_SUFFIX
from callcenter.recordings.settings import RecordingSettings

t = [0.0]
errors = []
store = WavRecordingStore(RecordingSettings(root=Path(sys.argv[1])), monotonic=lambda: t[0],
                          background_flush=False, on_error=errors.append)
rec = store.open("fsize", datetime.now(UTC))
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
for i in range(200):
    t[0] += 0.02
    pcm = ((np.arange(i * 160, (i + 1) * 160) % 30000) + 1).astype("<i2").tobytes()
    rec.write_caller(pcm, i * 160)
    rec.write_agent(pcm)
    if i % 5 == 4:
        rec.flush()
try:
    rec.close()
    print(json.dumps({"raised": False}))
except RecordingError as exc:
    print(json.dumps({"raised": True, "message": str(exc), "path": exc.path, "callbacks": len(errors),
                      "key": exc.info.key, "interrupted": exc.info.interrupted,
                      "sha256": exc.info.sha256, "duration_ms": exc.info.duration_ms}))
"""


def test_file_size_limit_keeps_written_audio_and_says_what_to_do(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _FSIZE_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["raised"] and report["interrupted"] and report["callbacks"] == 1
    assert report["path"] in report["message"] and "ulimit" in report["message"]
    path = report["path"]
    assert os.path.getsize(path) == 65536  # every byte up to the limit kept (65492 data = whole frames)
    left, right = read_stereo(path)
    assert len(left) == (65536 - 44) // 4 and report["duration_ms"] == len(left) // 8
    assert left.tobytes() == tone(len(left), 0) and right.tobytes() == tone(len(right), 0)
    assert report["sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert not os.path.exists(path + ".open")


@pytest.fixture
def tiny_fs(tmp_path: Path):
    """A 256 KiB tmpfs (needs root); skipped where mounting is not allowed."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True
    )
    if mount.returncode != 0:
        pytest.fail("cannot mount a tmpfs here (the test bench runs as root): " + mount.stderr.decode(errors="replace").strip())
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_full_file_system_raises_recording_error(tiny_fs: Path) -> None:
    t = [0.0]
    store = WavRecordingStore(
        RecordingSettings(root=tiny_fs, min_free_mb=1), monotonic=lambda: t[0], background_flush=False
    )
    assert not store.free_space_ok()  # 256 KiB < 1 MiB: the alarm fires
    rec = store.open("full", datetime.now(UTC))
    for i in range(500):  # 10 s = 320 KB, more than the disk holds
        t[0] += 0.02
        rec.write_caller(tone(FRAME, 1 + i * FRAME), i * FRAME)
        if i % 10 == 9:
            rec.flush()
    with pytest.raises(RecordingError, match="disk is full") as caught:
        rec.close()
    assert rec.path in str(caught.value)
    left, _ = read_stereo(rec.path)
    assert len(left) > 8000  # seconds of audio kept
    assert left.tobytes() == tone(len(left), 1)
    assert caught.value.info is not None and caught.value.info.duration_ms == len(left) // 8



@pytest.mark.parametrize("torn_bytes", [0, 2, 4 * 7 + 2, 4 * 7])
def test_recovery_keeps_whole_milliseconds_so_the_duration_is_the_files(tmp_path: Path, torn_bytes: int) -> None:
    """A kill can land inside a 20 ms block (the CI run that found it: 20,487 samples kept,
    duration 2,560 ms); recovery cuts to the last whole millisecond, so the two agree."""
    wav = tmp_path / "2026" / "12" / "07" / "164000-torn.wav"
    wav.parent.mkdir(parents=True)
    blocks = 10 * 640  # ten 20 ms stereo blocks as the recorder writes them
    wav.write_bytes(wavfile.pcm_header(0, sample_rate_hz=8000, channels=2) + b"\x01" * (blocks + torn_bytes))
    Path(str(wav) + SIDECAR_SUFFIX).write_text(json.dumps({"call_id": "torn@x"}), encoding="utf-8")
    (info,) = WavRecordingStore(RecordingSettings(root=tmp_path), background_flush=False).recover()
    assert info.call_id == "torn@x" and info.interrupted
    whole_ms = (blocks + torn_bytes) // 32  # 8 stereo samples of 4 bytes per millisecond
    assert info.duration_ms == whole_ms
    assert info.size_bytes == wav.stat().st_size == wavfile.HEADER_BYTES + whole_ms * 32
    left, _ = read_stereo(str(wav))
    assert len(left) == info.duration_ms * 8

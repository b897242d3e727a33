"""The recorder's timeline, thread safety, naming and error handling (in-process)."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from audio_testkit import FakeMonotonic, read_stereo, tone

from callcenter.recordings import writer as recorder_module
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import RecordingError, WavRecordingStore

START = datetime(2026, 11, 23, 13, 5, 9, tzinfo=UTC)
FRAME = 160  # samples per 20 ms packet


def test_caller_packets_placed_by_rtp_timestamp_with_lost_packets_as_silence(
    store: WavRecordingStore,
) -> None:
    rec = store.open("call-1", START)
    rec.write_caller(tone(FRAME, 1), 50_000)
    rec.write_caller(tone(FRAME, 1000), 50_000 + FRAME)
    # 50_000 + 2*FRAME and + 3*FRAME are lost
    rec.write_caller(tone(FRAME, 2000), 50_000 + 4 * FRAME)
    info = rec.close()

    left, right = read_stereo(store.path_of(info.key))
    assert len(left) == 5 * FRAME
    assert left[:FRAME].tobytes() == tone(FRAME, 1)
    assert left[FRAME : 2 * FRAME].tobytes() == tone(FRAME, 1000)
    assert not left[2 * FRAME : 4 * FRAME].any()
    assert left[4 * FRAME :].tobytes() == tone(FRAME, 2000)
    assert not right.any()
    assert info.duration_ms == 100 and info.channels == 2 and info.sample_rate_hz == 8000
    assert not info.interrupted


def test_timestamp_wraparound_is_contiguous(store: WavRecordingStore) -> None:
    rec = store.open("wrap", START)
    first = 2**32 - 2 * FRAME
    for i in range(5):
        rec.write_caller(tone(FRAME, 1 + i * FRAME), (first + i * FRAME) % 2**32)
    info = rec.close()
    left, _ = read_stereo(store.path_of(info.key))
    assert left.tobytes() == tone(5 * FRAME, 1)


def test_reordered_packet_lands_in_its_slot(store: WavRecordingStore) -> None:
    rec = store.open("reorder", START)
    rec.write_caller(tone(FRAME, 1), 0)
    rec.write_caller(tone(FRAME, 1 + 2 * FRAME), 2 * FRAME)
    rec.write_caller(tone(FRAME, 1 + FRAME), FRAME)  # arrives late
    info = rec.close()
    left, _ = read_stereo(store.path_of(info.key))
    assert left.tobytes() == tone(3 * FRAME, 1)


def test_garbage_timestamp_jump_reanchors_on_wall_clock(
    store: WavRecordingStore, clock: FakeMonotonic
) -> None:
    rec = store.open("garbage", START)
    rec.answered()
    rec.write_caller(tone(FRAME, 1), 1000)
    clock.advance(1.0)
    rec.write_caller(tone(FRAME, 500), 1000 + 1_500_000_000)  # ~52 hours ahead: garbage
    info = rec.close()
    left, _ = read_stereo(store.path_of(info.key))
    # The packet ends at the wall clock (1.0 s), not 52 hours in.
    assert len(left) == 8000
    assert left[8000 - FRAME :].tobytes() == tone(FRAME, 500)
    assert not left[FRAME : 8000 - FRAME].any()


def test_timestamp_jump_ahead_of_wall_clock_is_not_silence(
    store: WavRecordingStore, clock: FakeMonotonic
) -> None:
    rec = store.open("ahead", START)
    rec.answered()
    rec.write_caller(tone(FRAME, 1), 0)
    clock.advance(0.04)
    rec.write_caller(tone(FRAME, 500), 9 * 8000)  # claims 9 s later, 40 ms after the first packet
    info = rec.close()
    left, _ = read_stereo(store.path_of(info.key))
    assert left.tobytes() == tone(FRAME, 1) + tone(FRAME, 500)  # placed on arrival, not 9 s on


def test_agent_keeps_silence_between_prompts(store: WavRecordingStore, clock: FakeMonotonic) -> None:
    rec = store.open("prompts", START)
    rec.answered()
    rec.write_agent(tone(4000, 1))  # a 0.5 s prompt handed over at t=0
    clock.advance(2.0)
    rec.write_agent(tone(800, 7))  # the next prompt starts at t=2 s
    info = rec.close()
    left, right = read_stereo(store.path_of(info.key))
    assert len(right) == 16000 + 800
    assert right[:4000].tobytes() == tone(4000, 1)
    assert not right[4000:16000].any()
    assert right[16000:].tobytes() == tone(800, 7)
    assert not left.any()


def test_agent_frames_with_pacing_jitter_stay_contiguous(
    store: WavRecordingStore, clock: FakeMonotonic
) -> None:
    rec = store.open("jitter", START)
    start = clock.t
    for i in range(50):
        # Frames go out every 20 ms, now and then up to 40 ms late (the pacer catches up).
        clock.t = start + i * 0.020 + (0.040 if i % 7 == 3 else 0.0)
        rec.write_agent(tone(FRAME, 1 + i * FRAME))
    info = rec.close()
    _, right = read_stereo(store.path_of(info.key))
    assert right.tobytes() == tone(50 * FRAME, 1)


def test_caller_and_agent_share_one_timeline(store: WavRecordingStore, clock: FakeMonotonic) -> None:
    rec = store.open("both", START)
    rec.answered()
    clock.advance(0.5)  # the greeting starts half a second after answer
    rec.write_agent(tone(FRAME, 100))
    clock.advance(0.02)
    rec.write_caller(tone(FRAME, 9), 777)  # first caller packet ends at 0.52 s
    info = rec.close()
    left, right = read_stereo(store.path_of(info.key))
    assert right[4000 : 4000 + FRAME].tobytes() == tone(FRAME, 100)
    assert left[4000 : 4000 + FRAME].tobytes() == tone(FRAME, 9)
    assert not left[:4000].any() and not right[:4000].any()


def test_a_late_close_ends_the_silent_tail_at_the_bye(store: WavRecordingStore, clock: FakeMonotonic) -> None:
    """A handler starved for CPU closes the recording 2 s after the BYE: the call lasted 3 s, so
    does its recording, and no audio already written is cut."""
    rec = store.open("late", START)
    rec.answered()
    rec.write_agent(tone(8000, 1))  # a 1 s prompt
    clock.advance(3.0)  # the caller listens in silence and hangs up at t=3 s
    clock.advance(2.0)  # the handler gets to close at t=5 s
    info = rec.close(ended_for_s=2.0)
    assert info.duration_ms == 3000
    _, right = read_stereo(store.path_of(info.key))
    assert right[:8000].tobytes() == tone(8000, 1)
    # Told the call ended before the prompt did, the prompt is still kept whole.
    rec = store.open("early", START)
    rec.answered()
    rec.write_agent(tone(16000, 1))
    clock.advance(0.5)
    assert rec.close(ended_for_s=5.0).duration_ms == 2000


def test_the_timeline_starts_at_the_answer_not_at_the_open(store: WavRecordingStore, clock: FakeMonotonic) -> None:
    """The file is opened before the 200 OK; on a starved machine the answer can go out seconds
    later, and the recording would begin with that much silence, longer than its call."""
    rec = store.open("slow-answer", START)
    clock.advance(4.0)  # the 200 OK goes out 4 s after the open
    rec.answered()
    clock.advance(0.5)
    rec.write_agent(tone(FRAME, 1))  # the greeting, half a second after the answer
    clock.advance(1.0)
    info = rec.close()
    assert info.duration_ms == 1500
    _, right = read_stereo(store.path_of(info.key))
    assert right[4000 : 4000 + FRAME].tobytes() == tone(FRAME, 1) and not right[:4000].any()
    # A frame before the mark starts it: a caller packet ends at its arrival.
    rec = store.open("frame-first", START)
    clock.advance(3.0)
    rec.write_caller(tone(FRAME, 9), 1234)
    clock.advance(0.1)
    rec.answered()  # too late to move the start
    clock.advance(0.9)
    info = rec.close()
    assert info.duration_ms == 1020
    left, _ = read_stereo(store.path_of(info.key))
    assert left[:FRAME].tobytes() == tone(FRAME, 9)
    # Not a frame either way, not even an answer: the call's silence from the open to its end.
    rec = store.open("silent", START)
    clock.advance(2.0)
    assert rec.close().duration_ms == 2000


def test_caller_audio_held_up_past_the_horizon_is_kept_later_and_said(
    store: WavRecordingStore, clock: FakeMonotonic, caplog: pytest.LogCaptureFixture
) -> None:
    """A receive thread starved for a second hands over its backlog at once: the audio is kept,
    placed after what was already written, and the close says how far it pushed the timeline."""
    rec = store.open("starved", START)
    rec.answered()
    for i in range(10):  # 0.2 s in time
        clock.advance(0.02)
        rec.write_caller(tone(FRAME, 1 + i * FRAME), i * FRAME)
    clock.advance(1.0)
    rec.flush()  # the caller's slots up to 1.0 s are written as silence meanwhile
    for i in range(10, 60):  # then the backlog, all at once
        rec.write_caller(tone(FRAME, 1 + i * FRAME), i * FRAME)
    with caplog.at_level("WARNING", logger=recorder_module.__name__):
        info = rec.close()
    assert rec.slid_samples == 8000 - 10 * FRAME  # from 0.2 s to where the file had got, 1.0 s
    assert "0.8 s of caller audio came later" in caplog.text
    left, _ = read_stereo(store.path_of(info.key))
    assert left[8000:].tobytes() == tone(50 * FRAME, 1 + 10 * FRAME)  # all of it, from 1.0 s on


def test_caller_audio_that_began_late_and_caught_up_is_kept_and_said(
    store: WavRecordingStore, clock: FakeMonotonic, caplog: pytest.LogCaptureFixture
) -> None:
    """A sender (or receive thread) 2 s behind at the start, then 2 s of audio at once: none of it
    is dropped; it runs past the wall clock, and the close says by how much (the soak's recordings
    longer than their calls, reproduced)."""
    rec = store.open("caught-up", START)
    rec.answered()
    clock.advance(2.0)
    for i in range(100):
        rec.write_caller(tone(FRAME, 1 + i * FRAME), 7_000 + i * FRAME)
    with caplog.at_level("WARNING", logger=recorder_module.__name__):
        info = rec.close()
    assert rec.ahead_samples == 100 * FRAME - FRAME  # the first packet ended at the clock, the rest after
    assert "ran 2.0 s ahead of the clock" in caplog.text
    left, _ = read_stereo(store.path_of(info.key))
    assert left[16000 - FRAME :].tobytes() == tone(100 * FRAME, 1) and info.duration_ms == 3980


def test_a_close_waiting_for_the_flusher_ends_the_recording_at_the_bye(
    store: WavRecordingStore, clock: FakeMonotonic
) -> None:
    """The full tier's soak: recordings 3-6 s longer than their calls, the tail silent on both
    channels. The close was told "ended 0.5 s ago", then waited seconds for the file while the
    flusher fsynced it, and counted that wait as part of the call."""
    rec = store.open("waited", START)
    rec.answered()
    rec.write_agent(tone(8000, 1))  # a 1 s prompt
    clock.advance(3.0)  # the caller hangs up at 2.5 s; the handler closes at 3 s
    flusher_holds_the_file = rec._io_lock  # what the store's flusher takes for a write and fsync
    flusher_holds_the_file.acquire()
    asked = threading.Event()  # the close has read the clock (no flusher thread here reads it)

    def clock_read() -> float:
        asked.set()
        return clock()

    rec._monotonic = clock_read
    done: list[int] = []
    closing = threading.Thread(target=lambda: done.append(rec.close(ended_for_s=0.5).duration_ms))
    closing.start()
    assert asked.wait(10)
    clock.advance(5.0)  # a five-second fsync on a busy disk
    flusher_holds_the_file.release()
    closing.join(5)
    assert done == [2500]


def test_flush_writes_up_to_lag_horizon_when_one_side_is_silent(
    store: WavRecordingStore, clock: FakeMonotonic
) -> None:
    rec = store.open("lag", START)
    for i in range(50):  # one second of caller audio, no prompt playing
        clock.advance(0.02)
        rec.write_caller(tone(FRAME, 1 + i * FRAME), i * FRAME)
    rec.flush()
    # The agent side is silence up to 200 ms behind the wall clock: 0.8 s already on disk.
    assert os.path.getsize(rec.path) == 44 + 6400 * 4
    left, right = read_stereo(rec.path)  # the header was rewritten: readable mid-call
    assert len(left) == 6400 and left.tobytes() == tone(6400, 1) and not right.any()
    info = rec.close()
    assert info.duration_ms == 1000


def test_concurrent_writers_from_two_threads(tmp_path: Path) -> None:
    frozen = FakeMonotonic()  # never advances: output depends only on what was written
    store = WavRecordingStore(RecordingSettings(root=tmp_path, flush_interval_s=0.05), monotonic=frozen)
    rec = store.open("threads", START)
    n = 1500  # 30 s per side
    barrier = threading.Barrier(2)

    def caller() -> None:
        barrier.wait()
        for i in range(n):
            rec.write_caller(tone(FRAME, 1 + i * FRAME), 123 + i * FRAME)

    def agent() -> None:
        barrier.wait()
        for i in range(n):
            rec.write_agent(tone(FRAME, 5 + i * FRAME))

    threads = [threading.Thread(target=caller), threading.Thread(target=agent)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        rec.flush()  # a third thread writing to disk meanwhile
    for t in threads:
        t.join()
    info = rec.close()
    store.shutdown()
    left, right = read_stereo(store.path_of(info.key))
    assert left.tobytes() == tone(n * FRAME, 1)
    assert right.tobytes() == tone(n * FRAME, 5)
    assert info.sha256 == hashlib.sha256(Path(store.path_of(info.key)).read_bytes()).hexdigest()


def test_close_is_idempotent_and_removes_journal(store: WavRecordingStore) -> None:
    rec = store.open("idem", START)
    assert os.path.exists(rec.path + ".open")
    rec.write_caller(tone(FRAME), 0)
    first = rec.close()
    assert rec.close() == first
    assert not os.path.exists(rec.path + ".open")
    rec.write_caller(tone(FRAME), FRAME)  # after close: ignored, not an error
    assert rec.dropped_samples == FRAME


def test_keys_hide_the_untrusted_call_id(store: WavRecordingStore) -> None:
    rec = store.open("../../etc/passwd\x00<script>", START)
    rec.close()
    assert rec.key.startswith("2026/11/23/130509-") and rec.key.endswith(".wav")
    assert "/" not in rec.key[len("2026/11/23/") :]
    assert Path(rec.path).is_relative_to(Path(store.settings.root).resolve())
    # The same Call-ID again in the same second keeps both recordings.
    again = store.open("../../etc/passwd\x00<script>", START)
    assert again.key != rec.key
    again.close()


@pytest.mark.parametrize(
    "key",
    [
        "../x.wav",
        "/etc/passwd",
        "2026/11/23/../../../etc/passwd",
        "2026/11/23/../../../../x.wav",
        "2026/11/23/..wav",
        "2026\\11\\23\\a.wav",
        "2026/11/23/a.wav\x00",
        "2026/11/23/a.mp3",
        "",
        "2026/11/23/a/b.wav",
    ],
)
def test_path_of_rejects_keys_outside_the_store(store: WavRecordingStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.path_of(key)


def test_path_of_rejects_symlink_escaping_the_root(store: WavRecordingStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.wav").write_bytes(b"")
    day = Path(store.settings.root) / "2026/11"
    day.mkdir(parents=True)
    (day / "23").symlink_to(outside)
    with pytest.raises(ValueError):
        store.path_of("2026/11/23/a.wav")
    assert store.path_of("2026/11/24/a.wav").endswith("rec/2026/11/24/a.wav")


def test_disk_full_keeps_what_was_written_and_names_the_fix(
    store: WavRecordingStore, monkeypatch: pytest.MonkeyPatch, clock: FakeMonotonic
) -> None:
    errors: list[RecordingError] = []
    store._on_error = errors.append
    rec = store.open("full", START)
    budget = [10_000]  # bytes the "disk" still takes
    real_write = os.write

    def full_disk_write(fd: int, data: bytes) -> int:
        if fd != rec._fd:
            return real_write(fd, data)
        if budget[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = real_write(fd, bytes(data[: budget[0]]))
        budget[0] -= n
        return n

    monkeypatch.setattr(recorder_module.os, "write", full_disk_write)
    for i in range(100):
        clock.advance(0.02)
        rec.write_caller(tone(FRAME, 1 + i * FRAME), i * FRAME)
        rec.write_agent(tone(FRAME))
        if i % 10 == 9:
            rec.flush()
    assert rec.error is not None and errors == [rec.error]
    with pytest.raises(RecordingError) as caught:
        rec.close()
    message = str(caught.value)
    assert rec.path in message and "disk is full" in message and "free space" in message
    assert caught.value.info is not None and caught.value.info.interrupted
    left, _ = read_stereo(rec.path)
    assert len(left) == 10_000 // 4  # every whole frame that reached the disk, no torn frame
    assert left.tobytes() == tone(len(left), 1)
    assert not os.path.exists(rec.path + ".open")


def test_open_fails_clearly_when_root_is_unusable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = WavRecordingStore(RecordingSettings(root=blocker), background_flush=False)
    with pytest.raises(RecordingError, match="could not be started"):
        store.open("x", START)


def test_recover_repairs_torn_file_and_ignores_open_recordings(store: WavRecordingStore) -> None:
    live = store.open("still-live", START)
    live.write_caller(tone(FRAME), 0)
    dead = store.open("crashed", START)
    dead.write_caller(tone(3 * FRAME), 0)
    dead.write_agent(tone(3 * FRAME))
    dead.flush(sync=False)  # data reached the file, the header still says 0 bytes
    os.write(dead._fd, b"\x01\x02\x03")  # half a frame from a write cut by the kill
    os.close(dead._fd)
    with store._lock:
        del store._open[dead.key]  # as if this process had died

    infos = store.recover()
    assert [i.call_id for i in infos] == ["crashed"]
    info = infos[0]
    assert info.interrupted and info.duration_ms == 60 and info.size_bytes == 44 + 3 * FRAME * 4
    left, right = read_stereo(dead.path)
    assert left.tobytes() == tone(3 * FRAME) and right.tobytes() == tone(3 * FRAME)
    assert not os.path.exists(dead.path + ".open")
    assert os.path.exists(live.path + ".open")
    assert store.recover() == []
    # Another agent process sharing the directory must not touch the live recording either.
    other = WavRecordingStore(RecordingSettings(root=store.settings.root), background_flush=False)
    assert other.recover() == []
    assert os.path.exists(live.path + ".open")
    live.close()


def test_recover_drops_journal_without_wav(store: WavRecordingStore) -> None:
    day = Path(store.settings.root) / "2026/11/23"
    day.mkdir(parents=True)
    (day / "x.wav.open").write_text("{not json")
    assert store.recover() == []
    assert not (day / "x.wav.open").exists()


def test_free_space_check(tmp_path: Path) -> None:
    assert WavRecordingStore(RecordingSettings(root=tmp_path / "none", min_free_mb=0)).free_space_ok()
    huge = WavRecordingStore(RecordingSettings(root=tmp_path, min_free_mb=10**12))
    assert not huge.free_space_ok()


def test_settings_reject_unknown_keys() -> None:
    with pytest.raises(ValueError):
        RecordingSettings(flush_interval=1.0)  # type: ignore[call-arg]


def test_recording_is_real_pcm_not_garbage(store: WavRecordingStore) -> None:
    rec = store.open("sine", START)
    t = np.arange(8000)
    sine = (8000 * np.sin(2 * np.pi * 440 * t / 8000)).astype("<i2")
    for i in range(50):
        rec.write_caller(sine[i * FRAME : (i + 1) * FRAME].tobytes(), i * FRAME)
    info = rec.close()
    left, _ = read_stereo(store.path_of(info.key))
    spectrum = np.abs(np.fft.rfft(left.astype(float)))
    assert abs(np.argmax(spectrum) * 8000 / len(left) - 440) < 2

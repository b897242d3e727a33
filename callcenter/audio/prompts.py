"""The agent's spoken prompts: the catalogue of wording, and the audio loaded from `<dir>/<key>.wav`.

Audio is whatever a site puts in the prompt directory (a studio recording in any format ffmpeg
reads, or the espeak-ng defaults from `callcenter prompts build`), converted once to the 8 kHz
mono PCM16 of the telephony seam and cached.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import wave
from pathlib import Path

from callcenter.audio.settings import PromptSettings

SAMPLE_RATE_HZ = 8000
_DIGIT_GAP_MS = 120  # pause between digits read one by one, as IVRs do, so "1 1" is not "11"

# Wording follows the call procedure in DOMAIN.md: fixed greeting (with the recording notice),
# ask the surname, before ending ask 「请问还有其他需要吗？」, and thank the caller.
PROMPT_TEXTS: dict[str, str] = {
    "greeting": "您好，{estate}物业客服中心，本次通话将被录音。请问有什么可以帮您？",
    "ask_surname": "请问您贵姓？",
    "ask_unit": "请说出您的楼栋、单元和房号，也可以在按键上输入，以井号结束。",
    "ask_problem": "请说一下您遇到的问题，说完请稍等。",
    "not_heard": "抱歉，没有听清楚，请您再说一遍。",
    "readback": "您的登记编号是",
    "anything_else": "请问还有其他需要吗？",
    "thanks": "感谢您的来电，我们会尽快处理，再见。",
    "will_call_back": "这个问题需要查询一下，我们稍后给您回电，请保持电话畅通。",
    "urgent": "您反映的是紧急情况，我们已经马上通知值班人员处理。",
    "no_input_goodbye": "很抱歉，一直没有听到您的声音，请稍后再拨，再见。",
    "missed_callback": "您好，这里是{estate}物业客服中心，刚才没能接听您的来电，现在给您回电。请问有什么可以帮您？",
}

# Digits as Chinese phone operators read them: 幺 for 1 so that it is not confused with 七.
DIGIT_TEXTS: dict[str, str] = {
    "0": "零", "1": "幺", "2": "二", "3": "三", "4": "四",
    "5": "五", "6": "六", "7": "七", "8": "八", "9": "九",
}  # fmt: skip
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def digit_key(digit: str) -> str:
    return f"digit_{digit}"


def letter_key(letter: str) -> str:
    return f"letter_{letter.lower()}"


class PromptMissingError(FileNotFoundError):
    """A prompt's audio file is not there; the message says how to make it."""


def prompt_texts(settings: PromptSettings) -> dict[str, str]:
    """Every clip key -> the words it says, with site overrides and the estate name filled in."""
    unknown = set(settings.texts) - set(PROMPT_TEXTS)
    if unknown:
        raise ValueError(
            f"unknown prompt keys in prompts.texts: {sorted(unknown)}; known: {sorted(PROMPT_TEXTS)}"
        )
    texts = {
        key: settings.texts.get(key, text).format(estate=settings.estate_name)
        for key, text in PROMPT_TEXTS.items()
    }
    texts.update({digit_key(d): word for d, word in DIGIT_TEXTS.items()})
    texts.update({letter_key(c): c for c in LETTERS})
    return texts


class PromptLibrary:
    """Prompt audio by key, as 8 kHz mono PCM16. Thread-safe; each file is decoded once."""

    def __init__(self, settings: PromptSettings) -> None:
        self.settings = settings
        self._texts = prompt_texts(settings)
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def keys(self) -> list[str]:
        return list(self._texts)

    def text(self, key: str) -> str:
        """What the prompt says (for the call transcript and the agent's log)."""
        return self._texts[key]

    def path(self, key: str) -> Path:
        if key not in self._texts:
            raise KeyError(f"no prompt named {key!r}; known prompts: {', '.join(PROMPT_TEXTS)}")
        return Path(self.settings.dir) / f"{key}.wav"

    def get(self, key: str) -> bytes:
        """The prompt's audio (8 kHz mono PCM16). PromptMissingError if its file is absent."""
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        audio = _load_pcm16(self.path(key), key)
        with self._lock:
            return self._cache.setdefault(key, audio)

    def preload(self) -> None:
        """Load every prompt now (at start-up), so a missing file fails before the first call."""
        for key in self._texts:
            self.get(key)

    def number(self, digits: str) -> bytes:
        """An entry number such as "A1024" read one character at a time ("A 幺 零 二 四")."""
        if not digits:
            raise ValueError("number() needs at least one character")
        gap = bytes(SAMPLE_RATE_HZ * _DIGIT_GAP_MS // 1000 * 2)
        clips = []
        for char in digits.upper():
            if char in DIGIT_TEXTS:
                clips.append(self.get(digit_key(char)))
            elif char in LETTERS:
                clips.append(self.get(letter_key(char)))
            elif char in "-_ ":
                continue  # separators are not read out
            else:
                raise ValueError(f"cannot read {char!r} in number {digits!r}: only digits and letters A-Z")
        return gap.join(clips)


def _load_pcm16(path: Path, key: str) -> bytes:
    if not path.is_file():
        raise PromptMissingError(
            f"Prompt {key!r} is missing: {path} does not exist. Run `callcenter prompts build` to "
            f"generate the default prompts, or put a recording named {path.name} in {path.parent}."
        )
    # The common case (our own builds, or a WAV already in telephone format) needs no ffmpeg.
    try:
        with wave.open(str(path), "rb") as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (SAMPLE_RATE_HZ, 1, 2):
                return w.readframes(w.getnframes())
    except (wave.Error, EOFError):
        pass  # not PCM WAV (mp3, µ-law WAV, ...)
    # ffmpeg decodes anything and resamples with a proper low-pass (pydub's audioop.ratecv aliases).
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ValueError(
            f"Prompt {key!r}: {path} is not 8 kHz mono PCM WAV and ffmpeg is not installed to convert it"
        )
    decoded = subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-i",
            str(path),
            "-ac",
            "1",
            "-ar",
            str(SAMPLE_RATE_HZ),
            "-f",
            "s16le",
            "pipe:1",
        ],
        capture_output=True,
        timeout=120,
    )
    if decoded.returncode != 0 or not decoded.stdout:
        raise ValueError(
            f"Prompt {key!r}: cannot decode {path} ({decoded.stderr.decode(errors='replace').strip()}); "
            "re-record it or run `callcenter prompts build`"
        )
    return decoded.stdout

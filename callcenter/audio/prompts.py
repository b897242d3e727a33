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
from callcenter.drafting.hazard import HAZARD_NAMES

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
    # Understanding during the call, 转人工 and urgent escalation (calls/flow.py, calls/transfer.py).
    "press_zero": "人工服务请按零。",
    "ask_unit_keypad": "请在按键上输入楼栋号、星号、单元号、星号、房号，以井号结束。人工服务请按零。",
    "unit_is": "您的房号是",
    "unit_confirm": "对吗？正确请按一，重新输入请按二。",
    "word_building": "栋",
    "word_entrance": "单元",
    "category_menu": "报修请按一，投诉请按二，咨询请按三，其他请按四。",
    "transfer_wait": "正在为您转接客服，请稍候。",
    "transfer_failed": "抱歉，客服暂时无法接听，我们会尽快给您回电。请您继续说明情况。",
    "urgent_connecting": "现在为您接通值班人员，请不要挂机。",
    "urgent_next": "值班人员已收到通知，正在赶来，请保持电话畅通。请您继续说明情况。",
    "duty_urgent": "紧急来电。",
    "duty_press_one": "按一接通来电人。",
    # One safety clip per hazard class (drafting/hazard.py HAZARDS); each can be replaced by a recording.
    "safety_gas": "请不要开关电器，不要使用明火，立即开窗通风并离开房间，我们马上派人处理。",
    "safety_fire": "请立即离开房间，走楼梯，不要乘电梯，用湿毛巾捂住口鼻。火势大请马上拨打一一九，我们马上派人处理。",
    "safety_water": "请先关闭家里的总水阀，把电器移到高处，注意防止触电，我们马上派人处理。",
    "safety_lift": "请不要扒门，也不要自行离开轿厢，按下电梯里的警铃，保持冷静，我们马上派人处理。",
    "safety_injury": "请不要随意移动伤者，情况严重请马上拨打一二零，我们马上派人到场。",
    "safety_electric": "请不要触碰电线和插座，能安全操作的话请拉下电闸，远离打火的地方，我们马上派人处理。",
    "safety_falling": "请远离下方区域，提醒过往行人绕行，我们马上派人到场处理。",
    "safety_crime": "请先确保自身安全，情况危急请马上拨打一一零，我们马上通知保安到场。",
    "safety_power": "请关闭大功率电器，使用明火照明时注意安全，我们马上派人处理。",
    "safety_locked_in": "请保持冷静，不要强行破门，我们马上派人到场处理。",
    "safety_missing": "请说一下走失人员的衣着特征，我们马上通知保安在小区内寻找，必要时请拨打一一零。",
    "safety_other": "您反映的情况比较紧急，请注意安全，我们马上派人处理。",
}
# The hazard classes' names read to the duty person in the spoken summary (calls/transfer.py).
HAZARD_NAME_TEXTS: dict[str, str] = {f"hazard_{h}": name for h, name in HAZARD_NAMES.items()} | {
    "hazard_other": "紧急情况"}
HOLD_MUSIC = "hold_music"  # a recording in the prompt directory, else a generated chime (hold_chime)

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
    texts.update(HAZARD_NAME_TEXTS)
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
        if key == HOLD_MUSIC:  # music while a transfer rings: the site's recording, else a chime
            path = Path(self.settings.dir) / f"{HOLD_MUSIC}.wav"
            audio = _load_pcm16(path, key) if path.is_file() else hold_chime()
            with self._lock:
                return self._cache.setdefault(key, audio)
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


def hold_chime(seconds: float = 4.0) -> bytes:
    """A soft repeating three-note chime (C5 E5 G5, decaying) as hold music: generated, so no
    music licence is needed; a site puts its own `hold_music.wav` in the prompt directory."""
    import numpy as np

    rate = SAMPLE_RATE_HZ
    note_n = int(0.45 * rate)
    t = np.arange(note_n) / rate
    envelope = np.exp(-4.0 * t)
    notes = [np.sin(2 * np.pi * f * t) * envelope for f in (523.25, 659.25, 783.99)]
    phrase = np.concatenate([*notes, np.zeros(int(0.4 * rate))])
    total = int(seconds * rate)
    samples = np.resize(phrase, total) * 0.25 * 32767
    return samples.astype("<i2").tobytes()


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

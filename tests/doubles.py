"""Test doubles, all in one place and named as such.

`ScriptedRecognizerDouble` stands in for the Mandarin Vosk model, which cannot be downloaded on
these machines: it returns a given Mandarin transcript, but only after it has really been fed
the call's audio (so a pipeline that loses the audio still fails), emitting growing partials as
the audio arrives. Every call path also has a test on the real Vosk engine (Korean model).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from callcenter.asr.interface import Transcript, Word

BYTES_PER_S = 16000  # 8 kHz PCM16


@dataclass
class ScriptedRecognizerDouble:
    text: str
    min_audio_s: float = 1.0
    fed_bytes: int = 0
    _loud_bytes: int = 0

    def accept_pcm16(self, pcm16: bytes) -> str | None:
        self.fed_bytes += len(pcm16)
        # count only audio that carries signal: silence alone must not "transcribe"
        if any(b not in (0, 255) for b in pcm16[1::2]):
            self._loud_bytes += len(pcm16)
        shown = min(len(self.text), int(self._loud_bytes / BYTES_PER_S * 4))  # ~4 characters a second
        return self.text[:shown] if shown else None

    def finish(self) -> Transcript:
        if self._loud_bytes < self.min_audio_s * BYTES_PER_S:
            return Transcript("", (), "scripted-double")
        step = self.fed_bytes / BYTES_PER_S / max(len(self.text), 1)
        words = tuple(Word(ch, i * step, (i + 1) * step, 0.9) for i, ch in enumerate(self.text))
        return Transcript(self.text, words, "scripted-double")


@dataclass
class ScriptedFactoryDouble:
    """A RecognizerFactory double handing out ScriptedRecognizerDoubles with the next text."""

    texts: list[str]
    name: str = "scripted-double"
    streams: list[ScriptedRecognizerDouble] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def new_stream(self) -> ScriptedRecognizerDouble:
        with self._lock:
            stream = ScriptedRecognizerDouble(self.texts[len(self.streams) % len(self.texts)])
            self.streams.append(stream)
            return stream


def scripted_builder(factory: ScriptedFactoryDouble):  # type: ignore[no-untyped-def]
    """A TranscriptionPool factory_builder that returns the given double (model dir ignored)."""

    def build(model_dir: Path, feed_rate_hz: int) -> ScriptedFactoryDouble:
        return factory

    return build


# ----- an in-process phone call (tests/calls/test_hotline_branches.py) --------------------------

FRAME_BYTES = 320  # 20 ms of 8 kHz PCM16
SILENT_FRAME = b"\0" * FRAME_BYTES


@dataclass(frozen=True)
class Say:
    """The caller speaks `pcm16` (8 kHz), then stays silent for `then_silence_ms`."""

    pcm16: bytes
    then_silence_ms: int = 1500


@dataclass(frozen=True)
class Keys:
    """The caller presses keys (RFC 4733 events, as the agent would receive them)."""

    digits: str


@dataclass(frozen=True)
class Silence:
    ms: int


@dataclass(frozen=True)
class HangUp:
    pass


CallerAction = Say | Keys | Silence | HangUp


class KeyedPromptsDouble:
    """Wraps the real prompt library and remembers which prompt the agent fetched last, so the
    call double knows what the caller just heard (the conversation fetches a prompt, then plays it)."""

    def __init__(self, prompts) -> None:  # type: ignore[no-untyped-def]
        self._prompts = prompts
        self.last_key = ""

    def get(self, key: str) -> bytes:
        self.last_key = key
        return bytes(self._prompts.get(key))

    def number(self, digits: str) -> bytes:
        self.last_key = "number"
        return bytes(self._prompts.number(digits))


class CallDoubleClock:
    """Monotonic time of an in-process call: it advances with the audio that crosses the call,
    so the recorder places both channels as a real call would, at full speed."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s

    def advance(self, pcm16_bytes: int) -> None:
        self.now_s += pcm16_bytes / BYTES_PER_S


class CallDouble:
    """An answered phone call without a network, at full speed: what the agent plays returns at
    once; what the caller does is scripted per prompt heard. `script` maps a prompt key
    (greeting, ask_unit, ask_problem, readback, number, anything_else, thanks, ...) to the
    actions the caller takes after hearing it, once each time it is played; after a prompt with
    nothing scripted the caller stays silent. Implements the telephony seam's ActiveCall."""

    def __init__(self, info, prompts: KeyedPromptsDouble, script: dict[str, list[list[CallerAction]]],  # type: ignore[no-untyped-def]
                 clock: CallDoubleClock, silence_ms: int = 6000) -> None:
        self.info = info
        self.prompts = prompts
        self.script = {key: list(turns) for key, turns in script.items()}
        self.clock = clock
        self.silence_ms = silence_ms  # what an unscripted turn feeds: longer than any no-input timeout
        self.sink = None
        self.answered = False
        self.reason = ""
        self.heard: list[str] = []  # prompt keys the caller heard, in order
        self.agent_audio = bytearray()
        self._pending: list[CallerAction] = []
        self._rtp_ts = 0

    # ActiveCall
    def attach(self, sink) -> None:  # type: ignore[no-untyped-def]
        self.sink = sink

    def answer(self) -> None:
        self.answered = True

    def play(self, pcm16: bytes) -> bool:
        if self.reason:
            return False
        key = self.prompts.last_key
        self.heard.append(key)
        self.agent_audio += pcm16
        if self.sink is not None:
            self.sink.on_agent_audio(pcm16)
        self.clock.advance(len(pcm16))
        turns = self.script.get(key)
        self._pending = turns.pop(0) if turns else [Silence(self.silence_ms)]
        return True

    def is_active(self) -> bool:
        # The conversation asks before each listen: the caller answers what it just heard now,
        # after the agent has dropped the echo of its own prompt.
        if self._pending and not self.reason:
            actions, self._pending = self._pending, []
            for action in actions:
                self._act(action)
        return not self.reason

    def hangup(self) -> None:
        if not self.reason:
            self.reason = "agent_hangup"

    def end_reason(self) -> str:
        return self.reason

    # the caller's side
    def _act(self, action: CallerAction) -> None:
        assert self.sink is not None
        if isinstance(action, HangUp):
            self.reason = "caller_hangup"
        elif isinstance(action, Keys):
            for digit in action.digits:
                self.sink.on_dtmf(digit)
        else:
            pcm = action.pcm16 + SILENT_FRAME * (action.then_silence_ms // 20) if isinstance(action, Say) \
                else SILENT_FRAME * (action.ms // 20)
            for start in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
                self.sink.on_caller_audio(pcm[start:start + FRAME_BYTES], self._rtp_ts)
                self._rtp_ts += FRAME_BYTES // 2
                self.clock.advance(FRAME_BYTES)


class LiveStreamDouble:
    """The pool's live stream, decoding on the caller's thread (a ScriptedRecognizerDouble)."""

    def __init__(self, recognizer: ScriptedRecognizerDouble) -> None:
        self.recognizer = recognizer
        self.backlog = 0

    def accept_pcm16(self, pcm16: bytes) -> str | None:
        return self.recognizer.accept_pcm16(pcm16)

    def finish(self, timeout_s: float | None = None) -> Transcript:
        return self.recognizer.finish()

    def close(self) -> None:
        pass


@dataclass
class TranscriberDouble:
    """The hotline's transcriber in-process: live streams from `factory` while `live_slots` last
    (then None, as a pool at capacity answers), recordings transcribed at once from their caller
    channel by the next scripted text. `factory=None`: no model installed (both raise)."""

    factory: ScriptedFactoryDouble | None
    live_slots: int = 100
    files: list[Path] = field(default_factory=list)

    def open_stream(self) -> LiveStreamDouble | None:
        if self.factory is None:
            from callcenter.asr.interface import ModelUnavailable

            raise ModelUnavailable("no model installed (test double)")
        if self.live_slots <= 0:
            return None
        self.live_slots -= 1
        return LiveStreamDouble(self.factory.new_stream())

    def submit_file(self, wav_path: Path, channel: int = 0):  # type: ignore[no-untyped-def]
        import wave
        from concurrent.futures import Future

        import numpy as np

        if self.factory is None:
            from callcenter.asr.interface import ModelUnavailable

            raise ModelUnavailable("no model installed (test double)")
        self.files.append(wav_path)
        with wave.open(str(wav_path)) as w:
            frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())
        recognizer = self.factory.new_stream()
        recognizer.accept_pcm16(frames[:, channel].astype("<i2").tobytes())
        done: Future[Transcript] = Future()
        done.set_result(recognizer.finish())
        return done

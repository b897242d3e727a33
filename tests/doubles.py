"""Test doubles, all in one place and named as such.

`ScriptedRecognizerDouble` stands in for the Mandarin Vosk model, which cannot be downloaded on
these machines: it returns a given Mandarin transcript, but only after it has really been fed
the call's audio (so a pipeline that loses the audio still fails), emitting growing partials as
the audio arrives. Every call path also has a test on the real Vosk engine (Korean model).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from callcenter.asr.interface import Transcript, Word

BYTES_PER_S = 16000  # 8 kHz PCM16


@dataclass
class ScriptedRecognizerDouble:
    """`text` may be split into utterances by '|' ("四栋二单元三零一，灯坏了|对的"): each loud stretch
    of audio followed by UTTERANCE_GAP_S of silence is one utterance, shown whole once it ends (as
    Vosk finalizes a segment at a pause), so a test can say what the caller answers to each prompt."""

    text: str
    min_audio_s: float = 1.0
    fed_bytes: int = 0
    _loud_bytes: int = 0
    _turn_loud_bytes: int = 0
    _quiet_bytes: int = 0
    _turns_done: int = 0

    UTTERANCE_GAP_S = 0.7

    @property
    def plain_text(self) -> str:
        return self.text.replace("|", "")

    def accept_pcm16(self, pcm16: bytes) -> str | None:
        self.fed_bytes += len(pcm16)
        # count only audio that carries signal: silence alone must not "transcribe"
        if any(b not in (0, 255) for b in pcm16[1::2]):
            self._loud_bytes += len(pcm16)
            self._turn_loud_bytes += len(pcm16)
            self._quiet_bytes = 0
        else:
            self._quiet_bytes += len(pcm16)
        if "|" not in self.text:
            shown = min(len(self.text), int(self._loud_bytes / BYTES_PER_S * 4))  # ~4 characters a second
            return self.text[:shown] if shown else None
        turns = self.text.split("|")
        if self._turn_loud_bytes and self._quiet_bytes >= self.UTTERANCE_GAP_S * BYTES_PER_S:
            self._turns_done = min(len(turns), self._turns_done + 1)
            self._turn_loud_bytes = 0
        done = "".join(turns[:self._turns_done])
        current = turns[self._turns_done] if self._turns_done < len(turns) else ""
        text = done + current[:int(self._turn_loud_bytes / BYTES_PER_S * 4)]
        return text or None

    def finish(self) -> Transcript:
        text = self.plain_text
        if self._loud_bytes < self.min_audio_s * BYTES_PER_S:
            return Transcript("", (), "scripted-double")
        step = self.fed_bytes / BYTES_PER_S / max(len(text), 1)
        words = tuple(Word(ch, i * step, (i + 1) * step, 0.9) for i, ch in enumerate(text))
        return Transcript(text, words, "scripted-double")


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


@dataclass(frozen=True)
class Act:
    """Something happens elsewhere at this point of the call (a clerk presses 「接听」 in the panel)."""

    do: Callable[[], object]


CallerAction = Say | Keys | Silence | HangUp | Act


class KeyedPromptsDouble:
    """Wraps the real prompt library and remembers which prompt the agent fetched last, so the
    call double knows what the caller just heard (the conversation fetches a prompt, then plays it)."""

    def __init__(self, prompts) -> None:  # type: ignore[no-untyped-def]
        self._prompts = prompts
        self.last_key = ""
        self.numbers: list[str] = []  # the numbers read out, in order (the unit read-back's parts)

    def get(self, key: str) -> bytes:
        self.last_key = key
        return bytes(self._prompts.get(key))

    def number(self, digits: str) -> bytes:
        self.last_key = "number"
        self.numbers.append(digits)
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
                 clock: CallDoubleClock, silence_ms: int = 6000, talk_when_bridged: bytes = b"") -> None:
        self.info = info
        self.talk_when_bridged = talk_when_bridged  # what the caller says once bridged to a person
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
        if self.talk_when_bridged and hasattr(sink, "relay"):  # the bridge's leg sink: a person is on
            self._act(Say(self.talk_when_bridged, then_silence_ms=0))

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
        # While hold music plays (a bit at a time) the caller waits quietly for as long as it lasts.
        quiet = [Silence(len(pcm16) // 32)] if key == "hold_music" else [Silence(self.silence_ms)]
        self._pending = turns.pop(0) if turns else quiet
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
        elif isinstance(action, Act):
            action.do()
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
    # every submission as (path, channel, start_s, end_s): a bridged call's clerk spans are here
    submitted: list[tuple[Path, int, float, float | None]] = field(default_factory=list)

    def open_stream(self) -> LiveStreamDouble | None:
        if self.factory is None:
            from callcenter.asr.interface import ModelUnavailable

            raise ModelUnavailable("no model installed (test double)")
        if self.live_slots <= 0:
            return None
        self.live_slots -= 1
        return LiveStreamDouble(self.factory.new_stream())

    def submit_file(self, wav_path: Path, channel: int = 0, start_s: float = 0.0,  # type: ignore[no-untyped-def]
                    end_s: float | None = None):
        import wave
        from concurrent.futures import Future

        import numpy as np

        if self.factory is None:
            from callcenter.asr.interface import ModelUnavailable

            raise ModelUnavailable("no model installed (test double)")
        self.submitted.append((Path(wav_path), channel, start_s, end_s))
        if start_s or end_s is not None:  # a span: cut and timed by the pool's own code
            from callcenter.asr.pool import transcribe_file

            span: Future[Transcript] = Future()
            span.set_result(transcribe_file(self.factory, Path(wav_path), channel, start_s, end_s))
            return span
        self.files.append(wav_path)
        with wave.open(str(wav_path)) as w:
            frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())
        recognizer = self.factory.new_stream()
        recognizer.accept_pcm16(frames[:, channel].astype("<i2").tobytes())
        done: Future[Transcript] = Future()
        done.set_result(recognizer.finish())
        return done


# ----- staff phones behind the agent (转人工, urgent escalation, 「接听」) ------------------------

@dataclass
class PhoneDouble:
    """How a clerk's or duty phone behaves when the agent dials it: answers after `answer_after_s`
    (None: rings until the agent gives up or cancels), or fails at once with `fails` (a DialError
    reason: busy, unreachable, rejected); once answered, says `talk` (8 kHz PCM16), presses
    `press` after it hears something, and hangs up after `hangup_after_s`."""

    answer_after_s: float | None = 0.05
    fails: str = ""
    talk: bytes = b""
    press: str = ""
    hangup_after_s: float = 0.4


class PhoneLegDouble:
    """An answered staff phone (implements ActiveCall): records what it hears."""

    def __init__(self, number: str, behaviour: PhoneDouble) -> None:
        from datetime import UTC, datetime

        from callcenter.telephony.interface import CallInfo

        self.info = CallInfo(call_id=f"leg-{number}-{time.monotonic_ns()}", caller_number="hotline",
                             caller_display="", called_number=number, remote_addr="127.0.0.1:5060",
                             received_at=datetime.now(UTC), codec="PCMU", direction="outbound")
        self.number = number
        self.behaviour = behaviour
        self.sink = None
        self.heard = bytearray()
        self.answered_at = time.monotonic()
        self.reason = ""
        self._pressed = False

    def attach(self, sink) -> None:  # type: ignore[no-untyped-def]
        self.sink = sink
        if self.behaviour.talk and sink is not None and hasattr(sink, "relay"):  # the bridge's leg sink
            pcm = self.behaviour.talk
            for start in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
                sink.on_caller_audio(pcm[start:start + FRAME_BYTES], start // 2)

    def answer(self) -> None:
        pass

    def play(self, pcm16: bytes) -> bool:
        if not self.is_active():
            return False
        self.heard += pcm16
        if self.behaviour.press and not self._pressed and self.sink is not None:
            self._pressed = True
            for digit in self.behaviour.press:
                self.sink.on_dtmf(digit)
        return True

    def is_active(self) -> bool:
        if not self.reason and time.monotonic() - self.answered_at > self.behaviour.hangup_after_s:
            self.reason = "caller_hangup"  # the remote party (the clerk) hung up
        return not self.reason

    def hangup(self) -> None:
        if not self.reason:
            self.reason = "agent_hangup"

    def end_reason(self) -> str:
        return self.reason

    def held(self) -> bool:
        return False

    def hold_time_s(self) -> float:
        return 0.0


class DialerDouble:
    """The agent's outbound side in-process (TelephonyAgent.dial): each number behaves as its
    PhoneDouble says; an unknown number is unreachable. Records every dial, answer and CANCEL."""

    def __init__(self, phones: dict[str, PhoneDouble]) -> None:
        self.phones = phones
        self.dialled: list[tuple[str, float]] = []
        self.cancelled: list[str] = []
        self.legs: list[PhoneLegDouble] = []
        self._lock = threading.Lock()

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def dial(self, number: str, sink=None, timeout_s: float = 30.0, abort=None):  # type: ignore[no-untyped-def]
        from callcenter.telephony.interface import DialError

        started = time.monotonic()
        with self._lock:
            self.dialled.append((number, started))
        phone = self.phones.get(number)
        if phone is None:
            raise DialError("unreachable", 404, detail=f"{number} not registered (double)")
        if phone.fails:
            raise DialError(phone.fails, 486 if phone.fails == "busy" else 603)
        while True:
            elapsed = time.monotonic() - started
            if abort is not None and abort():
                with self._lock:
                    self.cancelled.append(number)
                raise DialError("cancelled", 487)
            if phone.answer_after_s is not None and elapsed >= phone.answer_after_s:
                leg = PhoneLegDouble(number, phone)
                if sink is not None:
                    leg.attach(sink)
                with self._lock:
                    self.legs.append(leg)
                return leg
            if elapsed >= timeout_s:
                raise DialError("no_answer", 408)
            time.sleep(0.005)

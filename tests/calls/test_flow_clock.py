"""The conversation's timers on the wall clock: a caller who sends nothing (silence suppression)
still moves the script on, and a hold stops the timers. No network: a call that plays instantly
and never delivers a frame; the real endpointer (webrtcvad)."""

from __future__ import annotations

import threading
import time

from callcenter.audio.settings import VadSettings
from callcenter.calls.flow import Conversation, FlowSettings
from callcenter.calls.session import CallSession


class SilentCall:
    """An answered call whose caller sends no RTP at all; `held` is switched by the test."""

    def __init__(self) -> None:
        self.active = True
        self.on_hold = False
        self.played: list[float] = []

    def play(self, pcm16: bytes) -> bool:
        self.played.append(time.monotonic())
        return self.active

    def is_active(self) -> bool:
        return self.active

    def held(self) -> bool:
        return self.on_hold

    def hangup(self) -> None:
        self.active = False


class Prompts:
    def get(self, key: str) -> bytes:
        return bytes(320)

    def number(self, digits: str) -> bytes:
        return bytes(320)


class NoRecorder:
    def write_caller(self, pcm16: bytes, ts: int) -> None: ...

    def write_agent(self, pcm16: bytes) -> None: ...


def conversation(call: SilentCall, no_input_s: float) -> Conversation:
    return Conversation(call, CallSession("clock", NoRecorder()), Prompts(),  # type: ignore[arg-type]
                        VadSettings(no_input_timeout_s=no_input_s), FlowSettings(), entry_number="7",
                        known_caller=False)


def test_a_caller_sending_nothing_still_advances_the_script() -> None:
    call = SilentCall()
    talk = conversation(call, no_input_s=0.5)
    started = time.monotonic()
    talk.run()
    took = time.monotonic() - started
    # Three listens of 0.5 s each (unit, problem, anything else) plus the jitter slack (0.3 s each).
    assert talk.steps[-1] == "thanks" and not call.active, talk.steps
    assert talk.steps.count("listen:no_input") == 3, talk.steps
    assert 1.4 < took < 4.0, took  # before: it waited for 25 frames per listen that never came


def test_the_timers_stop_while_the_caller_holds_and_restart_after() -> None:
    call = SilentCall()
    talk = conversation(call, no_input_s=0.5)
    call.on_hold = True
    releaser = threading.Timer(2.0, lambda: setattr(call, "on_hold", False))
    releaser.start()
    started = time.monotonic()
    heard = talk._listen()
    took = time.monotonic() - started
    releaser.join()
    assert talk.steps == ["listen:held", "listen:no_input"] and not heard.spoke
    assert took > 2.4, took  # 2 s held, then a whole no-input turn

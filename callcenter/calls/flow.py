"""The conversation with the caller (the IVR script), step by step as DOMAIN.md describes it:
greeting (recorded-call notice), which unit, what the problem is, read back the entry number,
「请问还有其他需要吗？」, thanks, goodbye.

Each step is a prompt and an optional listen; listening ends on end-of-speech (VAD), on the
keypad's '#', on no input, or when the caller hangs up.

Timers run on the caller's audio and on the wall clock: the endpointer counts 20 ms frames,
and when a caller with silence suppression (VAD/DTX, comfort noise) sends nothing, the frames
the wall clock says are missing are fed as silence, so no-input and end-of-speech still fire
on time. While the caller holds the call nothing is heard and no timer runs; the turn starts
afresh when the hold ends (a prompt interrupted by the hold waits in the telephony layer).
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from callcenter.audio.settings import VadSettings
from callcenter.audio.vad import Endpointer
from callcenter.calls.session import CallSession
from callcenter.telephony.interface import ActiveCall

log = logging.getLogger(__name__)

FRAME_S = 0.02
SILENT_FRAME = bytes(320)
# Network jitter (and a starved CPU) may hold frames back this long before the wall clock counts
# the missing ones as silence.
WALL_CLOCK_SLACK_FRAMES = 15


class FlowSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ask_unit: bool = Field(True, description="Ask for the unit (skipped when the caller's number is in the directory)")
    ask_unit_for_known_callers: bool = Field(False, description="Ask even when the directory knows the caller")
    read_back_entry_number: bool = Field(True, description="Read the ledger entry number back to the caller")
    max_problem_turns: int = Field(2, ge=1, le=5, description="How often 「还有其他需要吗」 may lead to another problem")


class Prompts(Protocol):
    def get(self, key: str) -> bytes: ...

    def number(self, digits: str) -> bytes: ...


@dataclass
class Heard:
    spoke: bool  # the caller said something
    dtmf: str  # keys pressed during this listen (without the final '#')
    ended: bool  # the call ended while listening


class Conversation:
    def __init__(self, call: ActiveCall, session: CallSession, prompts: Prompts, vad: VadSettings,
                 settings: FlowSettings, entry_number: str, known_caller: bool) -> None:
        self.call = call
        self.session = session
        self.prompts = prompts
        self.vad = vad
        self.settings = settings
        self.entry_number = entry_number
        self.known_caller = known_caller
        self.steps: list[str] = []  # what happened, for the log and tests

    def run(self) -> None:
        if not self._say("greeting"):
            return
        if self.settings.ask_unit and (not self.known_caller or self.settings.ask_unit_for_known_callers):
            if not self._say("ask_unit"):
                return
            if self._listen(dtmf_ends=True).ended:
                return
        if not self._say("ask_problem"):
            return
        for turn in range(self.settings.max_problem_turns):
            heard = self._listen()
            if heard.ended:
                return
            if turn == 0 and self.settings.read_back_entry_number and not self._read_back():
                return
            if not self._say("anything_else"):
                return
            more = self._listen(short=True)
            if more.ended:
                return
            if not more.spoke or turn + 1 >= self.settings.max_problem_turns:
                break
            if not self._say("ask_problem"):
                return
        if self._say("thanks"):
            self.call.hangup()

    # ----- steps -------------------------------------------------------------------------

    def _read_back(self) -> bool:
        return self._say("readback") and self._play(self.prompts.number(self.entry_number))

    def _say(self, key: str) -> bool:
        self.steps.append(key)
        return self._play(self.prompts.get(key))

    def _play(self, pcm: bytes) -> bool:
        ok = self.call.play(pcm)
        self.session.drain_listen_queue()  # don't mistake echo of our own prompt for the caller
        return ok and self.call.is_active()

    def _listen(self, *, dtmf_ends: bool = False, short: bool = False) -> Heard:
        settings = self.vad
        if short:  # 「还有其他需要吗」: a caller who has nothing more says so quickly or not at all
            settings = settings.model_copy(update={"no_input_timeout_s": min(settings.no_input_timeout_s, 4.0)})
        endpointer = Endpointer(settings)
        spoke, keys = False, ""
        started = time.monotonic()
        held = getattr(self.call, "held", None)  # ActiveCall; doubles may lack it
        was_held = False
        while True:
            if not self.call.is_active():
                self.steps.append("listen:ended")
                return Heard(spoke, keys, True)
            if held is not None and held():
                if not was_held:
                    self.steps.append("listen:held")
                    was_held = True
                self.session.drain_listen_queue()  # music on hold is not the caller speaking
                time.sleep(0.1)
                continue
            if was_held:  # off hold: the turn starts again
                was_held, endpointer, started = False, Endpointer(settings), time.monotonic()
                self.session.drain_listen_queue()
            try:
                digit = self.session.dtmf_queue.get_nowait()
                if dtmf_ends and digit == "#":
                    self.steps.append(f"listen:dtmf:{keys}")
                    return Heard(spoke, keys, False)
                keys += digit
            except queue.Empty:
                pass
            try:
                frames = [self.session.listen_queue.get(timeout=0.1)]
            except queue.Empty:
                # Nothing arrived: silence suppression, or a caller who sends nothing. Count the
                # frames the wall clock says are missing (beyond the slack) as silence.
                missing = int((time.monotonic() - started) / FRAME_S) - endpointer.frames_fed
                frames = [SILENT_FRAME] * max(0, missing - WALL_CLOCK_SLACK_FRAMES)
            for frame in frames:
                event = endpointer.feed(frame)
                if event == "speech_start":
                    spoke = True
                elif event in ("speech_end", "max_length"):
                    self.steps.append(f"listen:{event}")
                    return Heard(True, keys, False)
                elif event == "no_input":
                    self.steps.append("listen:no_input")
                    return Heard(spoke, keys, False)

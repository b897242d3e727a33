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

from pydantic import BaseModel, ConfigDict, Field, field_validator

from callcenter.audio.settings import VadSettings
from callcenter.audio.vad import Endpointer
from callcenter.calls.session import CallSession
from callcenter.calls.understanding import CallerFacts, TurnView, safety_prompt_key
from callcenter.drafting.answers import Answer, readback_answer
from callcenter.drafting.units import parse_dtmf_unit
from callcenter.telephony.interface import ActiveCall

log = logging.getLogger(__name__)

FRAME_S = 0.02
SILENT_FRAME = bytes(320)
# Network jitter (and a starved CPU) may hold frames back this long before the wall clock counts
# the missing ones as silence.
WALL_CLOCK_SLACK_FRAMES = 15
# How long a spoken answer may wait for the live recognizer to catch up with the end of speech.
SETTLE_S = 1.5


class FlowSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ask_unit: bool = Field(True, description="Ask for the unit (skipped when the caller's number is in the directory)")
    ask_unit_for_known_callers: bool = Field(False, description="Ask even when the directory knows the caller")
    read_back_entry_number: bool = Field(True, description="Read the ledger entry number back to the caller")
    max_problem_turns: int = Field(2, ge=1, le=5, description="How often 「还有其他需要吗」 may lead to another problem")
    understand_during_call: bool = Field(
        True, description="Draft after each caller turn: safety prompt and escalation for urgent matters, unit "
                          "read-back, the category menu when unsure, 转人工 by voice")
    unit_read_back: bool = Field(True, description="Read the unit back (「您的房号是…，对吗？正确请按1，重新输入请按2」); "
                                                   "skipped when the directory knows the caller and no other unit was named")
    category_menu_below: float = Field(
        0.6, ge=0.0, le=1.0, description="Play the category keypad menu only when the drafted category's confidence is "
                                         "below this (0: never); on the keypad path it is always played")
    category_keys: dict[str, str] = Field(
        default_factory=lambda: {"1": "报修", "2": "投诉", "3": "咨询", "4": "其他"},
        description="Category menu: key -> category (the wording is the prompt category_menu)")
    person_key: str = Field("0", pattern=r"^[0-9*]$", description="The key that asks for a person (转人工)")
    person_words: tuple[str, ...] = Field(
        ("转人工", "人工服务", "人工", "找客服", "找人"), min_length=1,
        description="Words by which a caller asks for a person")

    @field_validator("category_keys")
    @classmethod
    def _menu_keys(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if k not in "123456789" or len(k) != 1]
        if bad:
            raise ValueError(f"category_keys: each key must be one digit 1-9, got {bad}")
        if not v:
            raise ValueError("category_keys: give at least one key, e.g. {'1': '报修'}")
        return v


class Prompts(Protocol):
    def get(self, key: str) -> bytes: ...

    def number(self, digits: str) -> bytes: ...


@dataclass
class Heard:
    spoke: bool  # the caller said something
    dtmf: str  # keys pressed during this listen (without the final '#')
    ended: bool  # the call ended while listening
    person: bool = False  # the caller pressed the person key (转人工) as the first key of the turn


class Desk(Protocol):
    """The staff behind the agent, as the conversation sees them (calls.hotline builds it per call):
    what the call so far says, the urgent escalation, and the people who can take over."""

    live: bool  # a live recognizer listens (else the keypad path)
    offers_person: bool  # callers may ask for a person (transfer.enabled): 「人工服务请按零」 is said
    known_unit: str | None  # the directory's unit for this caller

    def understand(self, dtmf_unit: str | None) -> TurnView: ...

    def escalate(self, hazard: str) -> None:
        """Urgent: notice, clock and audit now (never blocks long)."""

    def ring_staff(self, reason: str, hazard: str | None = None, announce: tuple[str, ...] = (),
                   must: int = 0) -> str:
        """Ring the people who can take the caller (clerks, or the duty roster) at once, while the
        caller hears the `announce` prompts and then hold music; the first `must` of them (the
        safety prompt) are heard in full whatever happens, the last (「现在为您接通…」) before a
        bridge. 'bridged' (the call with the person is over), 'unanswered', 'nobody' (no one to
        ring) or 'ended'."""

    def take_over_requested(self) -> bool:
        """A clerk pressed 「接听」 in the panel for this call."""

    def note(self, facts: CallerFacts) -> None:
        """What the caller settled so far (the final draft takes it)."""


class Conversation:
    def __init__(self, call: ActiveCall, session: CallSession, prompts: Prompts, vad: VadSettings,
                 settings: FlowSettings, entry_number: str, known_caller: bool,
                 desk: Desk | None = None) -> None:
        self.call = call
        self.session = session
        self.prompts = prompts
        self.vad = vad
        self.settings = settings
        self.entry_number = entry_number
        self.known_caller = known_caller
        self.desk = desk if settings.understand_during_call else None
        self.facts = CallerFacts(intake_path="speech" if desk is None or desk.live else "keypad")
        self.steps: list[str] = []  # what happened, for the log and tests
        self.escalated = False
        self.transferred = False  # a person took the caller (the script is over)
        self.keyed_unit: str | None = None

    def run(self) -> None:
        if not self._say("greeting"):
            return
        if self.desk is not None:
            self._run_with_desk(self.desk)
            return
        if self.settings.ask_unit and (not self.known_caller or self.settings.ask_unit_for_known_callers):
            if not self._say("ask_unit"):
                return
            if self._listen(dtmf_ends=True).ended:
                return
        if not self._say("ask_problem"):
            return
        self._problem_turns()

    def _problem_turns(self, first_heard: bool = False) -> None:
        for turn in range(self.settings.max_problem_turns):
            if not first_heard or turn > 0:
                heard = self._listen()
                if heard.ended or not self._after_turn(heard):
                    return
            if turn == 0 and self.settings.read_back_entry_number and not self._read_back():
                return
            if not self._say("anything_else"):
                return
            more = self._listen(short=True)
            if more.ended or not self._after_turn(more):
                return
            if not more.spoke or turn + 1 >= self.settings.max_problem_turns:
                break
            if not self._say("ask_problem"):
                return
        if self._say("thanks"):
            self.call.hangup()

    # ----- understanding during the call (with a desk) -----------------------------------

    def _run_with_desk(self, desk: Desk) -> None:
        keypad = not desk.live
        self.facts.steps = self.steps
        if desk.offers_person and not self._say("press_zero"):
            return
        # An emergency rarely waits for the greeting: what the caller said over it counts now, not
        # after the next question and its silence.
        if not self._after_turn(Heard(spoke=False, dtmf="", ended=False)):
            return
        ask_unit = self.settings.ask_unit and (not self.known_caller or self.settings.ask_unit_for_known_callers)
        if ask_unit:
            if not self._say("ask_unit_keypad" if keypad else "ask_unit"):
                return
            heard = self._listen(dtmf_ends=True)
            if heard.ended or not self._after_turn(heard):
                return
            self.keyed_unit = self.facts.keyed_unit = parse_dtmf_unit(heard.dtmf) if heard.dtmf else None
        if self.settings.unit_read_back and not self._confirm_unit(desk):
            return
        if keypad and not self._category_menu():
            return
        if not self._say("ask_problem"):
            return
        heard = self._listen()
        if heard.ended or not self._after_turn(heard):
            return
        if not keypad and not self.facts.category:
            view = desk.understand(self.keyed_unit)
            if view.category_confidence < self.settings.category_menu_below and not self._category_menu():
                return
        self._problem_turns(first_heard=True)

    def _after_turn(self, heard: Heard) -> bool:
        """React to what the caller just said or keyed. False: the conversation is over (hung up,
        or a person took the caller)."""
        desk = self.desk
        if desk is None:
            return True
        if desk.take_over_requested():
            return self._to_person("takeover")
        view = desk.understand(self.keyed_unit)
        if view.hazard is not None and not self.escalated:
            self.escalated = True
            self.facts.hazard = view.hazard
            self.steps.append(f"urgent:{view.hazard}")
            desk.note(self.facts)
            desk.escalate(view.hazard)  # notice, clock, audit: before the caller hears a word
            # The duty phones ring from now on, while the caller hears what to do (DOMAIN: at once).
            return self._to_person("urgent", view.hazard, safety=safety_prompt_key(view.hazard))
        if (heard.person or view.wants_person) and desk.offers_person:
            return self._to_person("caller")
        return True

    def _to_person(self, reason: str, hazard: str | None = None, safety: str = "") -> bool:
        assert self.desk is not None
        # The phones ring from the first moment; meanwhile the caller hears 「正在为您转接客服，请稍候」,
        # or for an urgent matter the safety prompt, 「…已经马上通知值班人员」 and 「现在为您接通值班人员」.
        announce: tuple[str, ...]
        if reason != "urgent":
            announce, must = ("transfer_wait",), 0
        else:
            announce, must = ((safety, "urgent", "urgent_connecting"), 1) if safety else (("urgent_connecting",), 0)
        self.steps.extend(announce)
        outcome = self.desk.ring_staff(reason, hazard, announce, must)
        self.steps.append(f"transfer:{reason}:{outcome}")
        if outcome in ("bridged", "ended") or not self.call.is_active():
            self.transferred = outcome == "bridged"
            return False
        if reason == "urgent":  # nobody answered: the notice is out; keep taking the message
            return self._say("urgent_next")
        return self._say("transfer_failed")

    def _confirm_unit(self, desk: Desk) -> bool:
        """「您的房号是…，对吗？正确请按1，重新输入请按2」, answered on the keypad or, with a live
        recognizer, in words (对/是的/没错…, 不对/不是… maybe followed by the right unit); corrected
        on the keypad or in words, read back again, three times at most."""
        view = desk.understand(self.keyed_unit)
        unit = view.unit
        if unit is None or (view.unit_source == "directory" and unit == desk.known_unit):
            return True
        for _ in range(3):
            mark = self.session.live_text  # what the caller says from here on (even over the read-back) answers
            if not self._say("unit_is") or not self._play_unit(unit) or not self._say("unit_confirm"):
                return False
            heard = self._listen(one_key=True)
            if heard.ended:
                return False
            if heard.person:
                return self._to_person("caller")
            answer = self._spoken_answer(heard, mark, desk, unit)
            if heard.spoke and not heard.dtmf and not self._after_turn(heard):
                return False  # an emergency, or 人工, said instead of an answer
            said_unit = answer.unit if answer is not None else None
            if heard.dtmf == "1" or answer is not None and answer.kind == "yes":
                self.facts.unit, self.facts.unit_confirmed = unit, True
                self.steps.append(f"unit_confirmed:{unit}")
                self.desk_note()
                return True
            if answer is not None and said_unit is not None and said_unit != unit:
                # 「不对，是五号楼一单元六零二」 (or just the other unit): read that one back
                self.steps.append(f"unit_said:{said_unit}")
                self.facts.unit = unit = said_unit
                self.desk_note()
                continue
            if heard.dtmf != "2" and (answer is None or answer.kind != "no"):
                return True  # no answer (or a stray key, or unclear words): keep the drafted unit, unconfirmed
            mark = self.session.live_text
            if not self._say("ask_unit_keypad"):
                return False
            heard = self._listen(dtmf_ends=True)
            if heard.ended:
                return False
            if heard.person:
                return self._to_person("caller")
            if heard.dtmf:
                keyed = parse_dtmf_unit(heard.dtmf)
                if keyed is None:
                    self.steps.append("unit_keyed:invalid")
                    return True
                self.keyed_unit = self.facts.keyed_unit = unit = keyed
                continue
            answer = self._spoken_answer(heard, mark, desk)
            if answer is None or answer.unit is None:
                self.steps.append("unit_keyed:none")
                return True
            self.steps.append(f"unit_said:{answer.unit}")
            self.facts.unit = unit = answer.unit
            self.desk_note()
        return True

    def _spoken_answer(self, heard: Heard, mark: str, desk: Desk, unit: str | None = None) -> Answer | None:
        """What the caller said since `mark` (the live transcript then), as an answer to the read-back
        of `unit`; None when nothing was said or no live recognizer listens (the keypad path)."""
        if heard.dtmf or not heard.spoke or not desk.live:
            return None
        said = self._said_since(mark)
        if not said:
            return None
        answer = readback_answer(said, unit)
        self.steps.append(f"unit_answer:{answer.kind}")
        return answer

    def _said_since(self, mark: str) -> str:
        """The live transcript's new words since `mark`. The recognizer decodes on its own thread:
        wait a little (not long: the caller is waiting) for it to catch up with the end of speech."""
        deadline = time.monotonic() + SETTLE_S
        while True:
            text = self.session.live_text
            if (text != mark and not self.session.recognizer_busy()) or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        common = 0
        for a, b in zip(mark, text, strict=False):
            if a != b:
                break
            common += 1
        return text[common:]

    def _category_menu(self) -> bool:
        """「报修请按1，投诉请按2，咨询请按3，其他请按4」: one keypad question, only when unsure."""
        if not self._say("category_menu"):
            return False
        heard = self._listen(one_key=True)
        if heard.ended:
            return False
        if heard.person:
            return self._to_person("caller")
        category = self.settings.category_keys.get(heard.dtmf)
        if category is not None:
            self.facts.category = category
            self.steps.append(f"category:{category}")
            self.desk_note()
        return True

    def desk_note(self) -> None:
        if self.desk is not None:
            self.desk.note(self.facts)

    def _play_unit(self, unit: str) -> bool:
        """"4-2-301" read as 四栋 二单元 三零幺 (digit clips and the two words)."""
        parts = unit.split("-")
        words = ["word_building", "word_entrance"][: len(parts) - 1] if len(parts) <= 3 else []
        for i, part in enumerate(parts):
            if not self._play(self.prompts.number(part)):
                return False
            if i < len(words) and not self._play(self.prompts.get(words[i])):
                return False
        return True

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

    def _listen(self, *, dtmf_ends: bool = False, short: bool = False, one_key: bool = False) -> Heard:
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
                if self.desk is not None and self.desk.offers_person and not keys \
                        and digit == self.settings.person_key:
                    self.steps.append("listen:person_key")
                    return Heard(spoke, digit, False, person=True)
                if dtmf_ends and digit == "#":
                    self.steps.append(f"listen:dtmf:{keys}")
                    return Heard(spoke, keys, False)
                keys += digit
                if one_key:
                    self.steps.append(f"listen:key:{keys}")
                    return Heard(spoke, keys, False)
            except queue.Empty:
                pass
            if self.desk is not None and self.desk.take_over_requested():
                self.steps.append("listen:takeover")
                return Heard(spoke, keys, False)
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

"""转人工: ring the people who can take a caller, while the caller hears hold music; the first who
answers wins (the other phones get CANCEL) and is bridged to the caller with the callback bridge.

`ring_group` only dials: simultaneously (one thread per phone, the first answer wins) or in turn
(each phone for `ring_each_s`), within `ring_timeout_s` overall, and stops when the caller hangs
up. A second phone answering in the same instant as the winner is hung up at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from callcenter.telephony.interface import ActiveCall, DialError, TelephonyAgent

log = logging.getLogger(__name__)


@dataclass
class RingResult:
    outcome: str  # 'answered', 'unanswered', 'nobody' (no phone to ring), 'caller_gone'
    leg: ActiveCall | None = None
    number: str = ""  # who answered
    rung: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # number -> DialError reason
    first_dial_s: float | None = None  # from the start to the first INVITE's dial() call
    answered_after_s: float | None = None


class _Race:
    """Shared state of one ring: the winner, who is still ringing, when to stop."""

    def __init__(self, deadline: float, caller_gone: Callable[[], bool]) -> None:
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.winner: tuple[str, ActiveCall] | None = None
        self.deadline = deadline
        self.caller_gone = caller_gone
        self.failures: dict[str, str] = {}

    def should_stop(self) -> bool:
        return self.winner is not None or time.monotonic() >= self.deadline or self.caller_gone()

    def answered(self, number: str, leg: ActiveCall) -> None:
        with self.lock:
            if self.winner is None and not self.caller_gone():
                self.winner = (number, leg)
                self.done.set()
                return
        log.info("transfer: %s answered too late (someone else was first, or the caller left); hanging up", number)
        leg.hangup()


def ring_group(agent: TelephonyAgent, numbers: list[str], *, strategy: str = "simultaneous",
               timeout_s: float = 20.0, each_s: float = 10.0,
               caller_gone: Callable[[], bool] = lambda: False,
               while_ringing: Callable[[], object] = lambda: None) -> RingResult:
    """Ring `numbers`; `while_ringing` is called repeatedly meanwhile (it plays a bit of hold
    music and returns). Returns with the answered leg, or why nobody answered."""
    numbers = list(dict.fromkeys(n for n in numbers if n))  # each phone once, in order
    if not numbers:
        return RingResult("nobody")
    started = time.monotonic()
    race = _Race(started + timeout_s, caller_gone)
    first_dial: list[float] = []

    def dial(number: str, ring_s: float) -> None:
        if race.should_stop():
            return
        if not first_dial:
            first_dial.append(time.monotonic() - started)
        try:
            leg = agent.dial(number, None, ring_s, abort=race.should_stop)
        except DialError as exc:
            race.failures[number] = exc.reason
            if exc.reason == "error":  # not the phone's answer but ours (no free RTP port, ...): say why
                log.warning("transfer: could not dial %s: %s", number, exc)
            return
        except Exception as exc:  # one broken phone must not break the others' ring
            log.exception("transfer: dialling %s failed", number)
            race.failures[number] = f"error: {exc}"
            return
        race.answered(number, leg)

    if strategy == "in_turn":
        def in_turn() -> None:
            for number in numbers:
                remaining = race.deadline - time.monotonic()
                if race.should_stop() or remaining <= 0.5:
                    break
                dial(number, min(each_s, remaining))
            race.done.set()
        threads = [threading.Thread(target=in_turn, name="transfer-in-turn", daemon=True)]
    else:
        threads = [threading.Thread(target=dial, args=(n, timeout_s), name=f"transfer-{n}", daemon=True)
                   for n in numbers]
    for t in threads:
        t.start()
    try:
        while not race.done.is_set() and any(t.is_alive() for t in threads):
            if caller_gone() or time.monotonic() >= race.deadline:
                break
            while_ringing()
            race.done.wait(0.05)
    finally:
        for t in threads:  # the losers see should_stop() and CANCEL within a poll of dial()
            t.join(timeout=max(0.0, race.deadline - time.monotonic()) + 5)
    result = RingResult("unanswered", rung=numbers, failures=race.failures,
                        first_dial_s=first_dial[0] if first_dial else None)
    if race.winner is not None:
        result.number, result.leg = race.winner
        if caller_gone():  # the caller left in the instant the phone was answered
            result.leg.hangup()
            result.outcome, result.leg = "caller_gone", None
        else:
            result.outcome = "answered"
            result.answered_after_s = time.monotonic() - started
    elif caller_gone():
        result.outcome = "caller_gone"
    log.info("transfer: rang %s (%s): %s%s", ",".join(numbers), strategy, result.outcome,
             f" by {result.number}" if result.number else "")
    return result


def ask_to_connect(leg: ActiveCall, summary: bytes, dtmf_wait: Callable[[float], str | None],
                   answer_s: float) -> bool:
    """Summary mode: the duty person hears 「紧急来电…按1接通来电人」 (twice at most) and presses 1."""
    for _ in range(2):
        if not leg.play(summary):
            return False
        key = dtmf_wait(answer_s / 2)
        if key == "1":
            return True
        if not leg.is_active():
            return False
    return False


class KeyWaiter:
    """The AudioSink of the duty leg while it hears the summary: only its keys matter."""

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._cond = threading.Condition()

    def on_caller_audio(self, pcm16: bytes, rtp_timestamp: int) -> None: ...

    def on_agent_audio(self, pcm16: bytes) -> None: ...

    def on_dtmf(self, digit: str) -> None:
        with self._cond:
            self._keys.append(digit)
            self._cond.notify_all()

    def wait(self, timeout_s: float) -> str | None:
        with self._cond:
            self._cond.wait_for(lambda: bool(self._keys), timeout_s)
            return self._keys.pop(0) if self._keys else None

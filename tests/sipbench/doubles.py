"""Test doubles of the handler side of the telephony seam (the network side is always real)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from callcenter.telephony.interface import ActiveCall, CallInfo


@dataclass
class CallRecord:
    """Everything one call did, as seen from the handler."""

    info: CallInfo
    on_call_at_s: float
    caller_audio: list[tuple[bytes, int]] = field(default_factory=list)
    caller_arrivals: list[float] = field(default_factory=list)  # monotonic time of each caller chunk
    agent_audio: list[bytes] = field(default_factory=list)
    dtmf: list[str] = field(default_factory=list)
    play_result: bool | None = None
    play_returned_at_s: float = 0.0
    ended_at_s: float = 0.0
    end_reason: str = ""
    done: threading.Event = field(default_factory=threading.Event)

    # AudioSink
    def on_caller_audio(self, pcm16: bytes, rtp_timestamp: int) -> None:
        self.caller_audio.append((pcm16, rtp_timestamp))
        self.caller_arrivals.append(time.monotonic())

    def caller_pcm_between(self, start_s: float, end_s: float) -> bytes:
        """Caller audio that arrived between two monotonic times."""
        return b"".join(chunk for (chunk, _), at in zip(self.caller_audio, self.caller_arrivals, strict=False)
                        if start_s <= at <= end_s)

    def on_agent_audio(self, pcm16: bytes) -> None:
        self.agent_audio.append(pcm16)

    def on_dtmf(self, digit: str) -> None:
        self.dtmf.append(digit)

    @property
    def caller_pcm(self) -> bytes:
        return b"".join(chunk for chunk, _ in self.caller_audio)


class ScriptedHandler:
    """Answers, plays `greeting` (if any), then waits for the caller to hang up (or hangs up
    itself after `hangup_after_s`). Records every callback with monotonic times."""

    def __init__(
        self, greeting: bytes = b"", hangup_after_s: float | None = None, answer: bool = True
    ) -> None:
        self.greeting = greeting
        self.hangup_after_s = hangup_after_s
        self.answer = answer
        self.lock = threading.Lock()
        self.ringing: list[tuple[CallInfo, float]] = []
        self.missed: list[tuple[CallInfo, str]] = []
        self.calls: list[CallRecord] = []
        self.changed = threading.Condition(self.lock)

    def on_ringing(self, info: CallInfo) -> None:
        with self.lock:
            self.ringing.append((info, time.monotonic()))
            self.changed.notify_all()

    def on_missed(self, info: CallInfo, reason: str) -> None:
        with self.lock:
            self.missed.append((info, reason))
            self.changed.notify_all()

    def on_call(self, call: ActiveCall) -> None:
        record = CallRecord(info=call.info, on_call_at_s=time.monotonic())
        with self.lock:
            self.calls.append(record)
            self.changed.notify_all()
        call.attach(record)
        if self.answer:
            call.answer()
        if self.greeting:
            record.play_result = call.play(self.greeting)
            record.play_returned_at_s = time.monotonic()
        deadline = None if self.hangup_after_s is None else time.monotonic() + self.hangup_after_s
        while self.answer and call.is_active() and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.02)
        call.hangup()
        record.ended_at_s = time.monotonic()
        record.end_reason = call.end_reason()
        record.done.set()
        with self.lock:
            self.changed.notify_all()

    def wait_for(self, predicate, timeout_s: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        with self.lock:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)
            return True

    def wait_calls_done(self, count: int, timeout_s: float = 30.0) -> list[CallRecord]:
        assert self.wait_for(lambda h: len(h.calls) >= count, timeout_s), (
            f"expected {count} answered calls, got {len(self.calls)}; missed={[r for _, r in self.missed]}"
        )
        for record in self.calls[:count]:
            assert record.done.wait(timeout_s), f"call {record.info.call_id} did not end"
        return self.calls[:count]

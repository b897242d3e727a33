"""Click-to-call callbacks (回访): ring the clerk's extension, then the resident, and bridge them.

Two legs placed by the telephony agent: first the clerk (so a clerk who is away never makes a
resident's phone ring for nothing), then the resident. Once both answered, the decoded audio of
each leg is relayed to the other in real time and handed to one AudioSink, so the recording has
the resident on the left channel (`on_caller_audio`) and the clerk on the right (`on_agent_audio`).
No database here: the caller supplies the (recording) sink and stores the `CallbackOutcome`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from callcenter.telephony.interface import ActiveCall, AudioSink, DialError, TelephonyAgent

log = logging.getLogger(__name__)

_MAX_RELAY_FRAMES = 10  # 200 ms: a leg that sends faster than the other plays loses its oldest audio
_POLL_S = 0.05

# DialError reason of the resident leg -> CallbackOutcome.outcome
_RESIDENT_OUTCOMES = {
    "busy": "busy",
    "no_answer": "no_answer",
    "unreachable": "no_answer",  # switched off / not registered: like no answer, try again later
    "cancelled": "no_answer",  # the clerk hung up while the resident's phone rang
    "rejected": "rejected",
}


@dataclass(frozen=True)
class CallbackOutcome:
    outcome: str  # 'connected', 'clerk_unreachable', 'busy', 'no_answer', 'rejected', 'error'
    sip_call_id: str  # Call-ID of the resident leg; "" when the resident was never dialled
    clerk_call_id: str  # Call-ID of the clerk leg ("" if it could not be placed)
    started_at: datetime  # UTC, when the clerk's extension was dialled
    answered_at: datetime | None  # UTC, when the resident answered (None if never)
    ended_at: datetime  # UTC
    end_reason: str  # e.g. 'resident_hangup', 'clerk_hangup', 'resident_busy', 'clerk_no_answer'
    sip_status: int | None = None  # final SIP status of the failed leg, if any


class _Relay:
    """Audio heard on one leg, played to the other on its own thread (play() blocks; RTP threads
    must not)."""

    def __init__(self, to: ActiveCall, name: str) -> None:
        self.to = to
        self.frames: deque[bytes] = deque(maxlen=_MAX_RELAY_FRAMES)
        self.cond = threading.Condition()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def push(self, pcm16: bytes) -> None:
        with self.cond:
            self.frames.append(pcm16)
            self.cond.notify()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify()

    def _take(self) -> bytes | None:
        """Wait for frames and take them all (lock held); None once stopped."""
        while not self.frames and not self.stopped:
            self.cond.wait(0.2)
        if self.stopped:
            return None
        # Everything waiting goes in one play(): the leg's send queue never runs dry between two
        # frames, so no silence is slipped into the speech.
        chunk = b"".join(self.frames)
        self.frames.clear()
        return chunk

    def _run(self) -> None:
        while True:
            with self.cond:
                chunk = self._take()
            if chunk is None or not self.to.play(chunk):
                return


class _LegSink:
    """The AudioSink of one leg: its remote party's audio to the recording and to the other leg."""

    def __init__(
        self,
        record: Callable[[bytes, int], None],
        relay: _Relay,
        dtmf: Callable[[str], None] | None = None,
    ) -> None:
        self.record = record
        self.relay = relay
        self.dtmf = dtmf

    def on_caller_audio(self, pcm16: bytes, rtp_timestamp: int) -> None:
        self.relay.push(pcm16)
        try:
            self.record(pcm16, rtp_timestamp)
        except Exception:  # a failing recorder must not cut the conversation
            log.exception("bridge: recording sink failed")

    def on_agent_audio(self, pcm16: bytes) -> None:
        """What we relayed *to* this leg: already recorded as the other leg's audio."""

    def on_dtmf(self, digit: str) -> None:
        if self.dtmf is not None:
            self.dtmf(digit)


class _NullSink:
    def on_caller_audio(self, pcm16: bytes, rtp_timestamp: int) -> None: ...

    def on_agent_audio(self, pcm16: bytes) -> None: ...

    def on_dtmf(self, digit: str) -> None: ...


def bridge_calls(clerk: ActiveCall, resident: ActiveCall, sink: AudioSink) -> str:
    """Relay audio both ways until one side ends; hang up the other; return why it ended
    ('resident_hangup', 'clerk_hangup', 'resident_rtp_timeout', ...)."""
    to_clerk = _Relay(clerk, "bridge->clerk")
    to_resident = _Relay(resident, "bridge->resident")
    resident.attach(_LegSink(sink.on_caller_audio, to_clerk, sink.on_dtmf))
    clerk.attach(_LegSink(lambda pcm16, _ts: sink.on_agent_audio(pcm16), to_resident))
    for relay in (to_clerk, to_resident):
        relay.thread.start()
    try:
        while clerk.is_active() and resident.is_active():
            time.sleep(_POLL_S)
        reason = _end_reason(clerk, resident)
    finally:
        for relay in (to_clerk, to_resident):
            relay.stop()
        resident.hangup()  # idempotent: BYE only to the leg still up
        clerk.hangup()
        for leg in (clerk, resident):
            leg.attach(_NullSink())  # nothing reaches the sink after we return (it may be closed)
        for relay in (to_clerk, to_resident):
            relay.thread.join(timeout=2)
    log.info("callback bridge ended: %s", reason)
    return reason


def _end_reason(clerk: ActiveCall, resident: ActiveCall) -> str:
    party, leg = ("resident", resident) if not resident.is_active() else ("clerk", clerk)
    why = leg.end_reason()
    if why == "caller_hangup":  # the remote party of that leg sent BYE
        return f"{party}_hangup"
    if why in ("agent_hangup", "agent_stopped"):  # we hung it up (or the agent is stopping)
        return why
    return f"{party}_{why or 'error'}"


def place_callback(
    agent: TelephonyAgent,
    clerk_extension: str,
    resident_number: str,
    sink: AudioSink,
    ring_timeout_s: float = 30.0,
) -> CallbackOutcome:
    """Ring the clerk, then the resident, bridge them until one hangs up. Blocks for the whole call."""
    started_at = datetime.now(UTC)
    try:
        clerk = agent.dial(clerk_extension, None, ring_timeout_s)
    except DialError as exc:
        log.info("callback to %s: clerk %s not reached: %s", resident_number, clerk_extension, exc)
        return CallbackOutcome(
            "clerk_unreachable", "", exc.call_id, started_at, None, datetime.now(UTC),
            f"clerk_{exc.reason}", exc.status,
        )
    try:
        resident = agent.dial(resident_number, None, ring_timeout_s, abort=lambda: not clerk.is_active())
    except DialError as exc:
        clerk.hangup()
        outcome = _RESIDENT_OUTCOMES.get(exc.reason, "error")
        end_reason = "clerk_hangup" if exc.reason == "cancelled" else f"resident_{exc.reason}"
        log.info("callback to %s: %s (%s)", resident_number, outcome, exc)
        return CallbackOutcome(
            outcome, exc.call_id, clerk.info.call_id, started_at, None, datetime.now(UTC), end_reason, exc.status
        )
    answered_at = datetime.now(UTC)
    end_reason = bridge_calls(clerk, resident, sink)
    return CallbackOutcome(
        "connected", resident.info.call_id, clerk.info.call_id, started_at, answered_at, datetime.now(UTC),
        end_reason,
    )

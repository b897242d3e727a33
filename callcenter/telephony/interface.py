"""The telephony seam: what the rest of the program sees of a phone call.

Only `callcenter.telephony` imports pyVoIP; everything else uses these types.
Audio crossing this seam is always 8 kHz mono signed 16-bit little-endian PCM.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

SAMPLE_RATE_HZ = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE_HZ * FRAME_MS // 1000 * 2  # 320 bytes of PCM16 per 20 ms frame


@dataclass(frozen=True)
class CallInfo:
    call_id: str  # the SIP Call-ID: unique per call, used as the key everywhere
    caller_number: str  # user part of the From URI ("13800138000"), "" if anonymous
    caller_display: str  # display name from From, "" if none
    called_number: str  # user part of the To/request URI (which hotline was dialled)
    remote_addr: str  # "ip:port" the INVITE came from
    received_at: datetime  # UTC, when the INVITE arrived
    codec: str = ""  # "PCMU" / "PCMA" once negotiated
    direction: str = "inbound"  # "outbound" for calls we dialled (callbacks); caller_number is then us
    refusal: str = ""  # calls we refused: the SIP answer and why ("488 Not Acceptable Here: IPv6 media ...")


class AudioSink(Protocol):
    """Receives the call's audio as it happens. Called on the RTP threads: must never block."""

    def on_caller_audio(self, pcm16: bytes, rtp_timestamp: int) -> None:
        """Caller audio decoded to PCM16. `rtp_timestamp` is in samples; lost packets show as jumps."""

    def on_agent_audio(self, pcm16: bytes) -> None:
        """Audio the agent sent to the caller (prompts), in the order it went out."""

    def on_dtmf(self, digit: str) -> None:
        """A keypad digit (RFC 4733 telephone-event or SIP INFO): '0'-'9', '*', '#'."""


class ActiveCall(Protocol):
    """An answered (or about to be answered) call, driven from its own thread."""

    info: CallInfo

    def attach(self, sink: AudioSink) -> None:
        """Set the sink before answer() so no audio is missed."""

    def answer(self) -> None: ...

    def play(self, pcm16: bytes) -> bool:
        """Send audio, paced in real time; blocks until sent. False if the call ended meanwhile."""

    def is_active(self) -> bool: ...

    def hangup(self) -> None:
        """Send BYE (idempotent)."""

    def end_reason(self) -> str:
        """Why the call ended: 'caller_hangup', 'agent_hangup', 'rtp_timeout', 'hold_timeout',
        'agent_stopped' (the agent stopped with the call up), 'error', or '' if live."""

    def ended_for_s(self) -> float:
        """Seconds since the call ended (0 while live): the end time is when the BYE came, even
        if the handler notices later."""

    def held(self) -> bool:
        """The caller put the call on hold (RFC 3264 sendonly/inactive): it hears nothing we play
        (play() waits until the hold ends) and what arrives is not the caller speaking."""

    def hold_time_s(self) -> float:
        """Total time on hold so far (QA's hold rule)."""


class CallHandler(Protocol):
    """What the telephony layer calls. Each method runs on a telephony thread."""

    def on_ringing(self, info: CallInfo) -> None:
        """An INVITE arrived; the agent is ringing before it answers."""

    def on_missed(self, info: CallInfo, reason: str) -> None:
        """The call ended before it was answered ('cancelled', 'error', 'busy') or was refused
        ('refused_420', 'refused_488', 'refused_415', 'refused_406', ...: `info.refusal` says why)."""

    def on_call(self, call: ActiveCall) -> None:
        """Answer-time: the handler attaches its sink, answers and runs the conversation, then returns."""


class DialError(RuntimeError):
    """An outbound call was not answered. `reason`: 'busy', 'no_answer', 'rejected',
    'unreachable', 'cancelled' (aborted by us while ringing) or 'error'; `status` is the
    final SIP status when there was one."""

    def __init__(self, reason: str, status: int | None = None, call_id: str = "", detail: str = "") -> None:
        text = f"dial failed: {reason}" + (f" (SIP {status})" if status else "") + (f": {detail}" if detail else "")
        super().__init__(text)
        self.reason = reason
        self.status = status
        self.call_id = call_id


class TelephonyAgent(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def dial(
        self,
        number: str,
        sink: AudioSink | None = None,
        timeout_s: float = 30.0,
        abort: Callable[[], bool] | None = None,
    ) -> ActiveCall:
        """Place an outbound call; blocks until it is answered (raises DialError otherwise).
        `abort` is polled while it rings: True sends CANCEL and raises DialError('cancelled')."""

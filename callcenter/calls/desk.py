"""The staff behind one call, as its conversation sees them (flow.Desk): what the call so far says,
the urgent escalation at the moment of detection, and the people who can take the caller.

Who is rung: for 转人工 in business hours the clerks marked 在岗 in the panel (and the configured
extensions); outside business hours, and for urgent calls, the duty roster on shift now; for a
panel 「接听」 the clerk's own extension. The first who answers is bridged to the caller with the
callback bridge (calls/bridge.py): the call's recording goes on in the same file, the caller on
the left, the agent and then the clerk on the right. Every step goes to the entry's audit log and
out as a `call.person` event (the clerk's panel opens the entry; the workflow notifies, starts the
urgent clock and, when nobody answered, opens a callback task on the missed-call clock).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from callcenter.audio.prompts import HOLD_MUSIC
from callcenter.calls.bridge import bridge_calls
from callcenter.calls.flow import Prompts
from callcenter.calls.listen import ListenTap
from callcenter.calls.session import CallSession
from callcenter.calls.transfer import KeyWaiter, RingResult, ask_to_connect, ring_group
from callcenter.calls.understanding import CallerFacts, TurnView, Understanding
from callcenter.estates.directory import Estate, Estates
from callcenter.estates.hours import workflow_for
from callcenter.staffing.lines import ON_CALL, ON_DUTY, StaffLines
from callcenter.staffing.settings import TransferSettings
from callcenter.telephony.interface import ActiveCall, TelephonyAgent
from callcenter.workflow.settings import WorkflowSettings

if TYPE_CHECKING:
    from callcenter.ledger.outbox import CallWrites

log = logging.getLogger(__name__)

_HOLD_CHUNK_BYTES = 8000 * 2 // 5  # 200 ms of hold music per play(): an answer is heard quickly


@dataclass
class StaffDesk:
    """What every call's desk shares: settings, the staff lines, the agent, 「接听」 requests."""

    understanding: Understanding
    transfer: TransferSettings
    hours: WorkflowSettings
    staff: StaffLines | None = None
    agent: TelephonyAgent | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Several estates: each may keep its own business hours and duty roster (None: the site's).
    estates: Estates | None = None
    _takeovers: dict[str, str] = field(default_factory=dict)
    _live: dict[str, CallDesk] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def request_takeover(self, sip_call_id: str, extension: str) -> bool:
        """The panel's 「接听」: ring `extension` and bridge the caller to it. False: no such live call here."""
        with self._lock:
            if sip_call_id not in self._live:
                return False
            self._takeovers[sip_call_id] = extension
            return True

    def request_listen(self, sip_call_id: str, extension: str, username: str = "") -> bool:
        """监听: ring `extension` and let it hear the call, silently. False: no such live call here."""
        with self._lock:
            desk = self._live.get(sip_call_id)
        if desk is None or self.agent is None:
            return False
        threading.Thread(target=desk.listen_in, args=(extension, username), name=f"listen-{extension}",
                         daemon=True).start()
        return True

    def live_calls(self) -> list[str]:
        with self._lock:
            return list(self._live)

    def open(self, writes: CallWrites, call: ActiveCall, session: CallSession, prompts: Prompts, *,
             live: bool, known_unit: str | None, entry_id: int | None, estate_id: int | None = None) -> CallDesk:
        desk = CallDesk(self, writes, call, session, prompts, live=live, known_unit=known_unit, entry_id=entry_id,
                        estate_id=estate_id)
        with self._lock:
            self._live[call.info.call_id] = desk
        return desk

    def close(self, sip_call_id: str) -> None:
        with self._lock:
            self._live.pop(sip_call_id, None)
            self._takeovers.pop(sip_call_id, None)

    def takeover_for(self, sip_call_id: str, *, pop: bool) -> str | None:
        with self._lock:
            return self._takeovers.pop(sip_call_id, None) if pop else self._takeovers.get(sip_call_id)

    # ----- who is rung ---------------------------------------------------------------------

    def _estate(self, estate_id: int | None) -> Estate | None:
        return self.estates.by_id(estate_id) if self.estates is not None and estate_id is not None else None

    def in_business_hours(self, at: datetime | None = None, estate_id: int | None = None) -> bool:
        hours = workflow_for(self.hours, self._estate(estate_id))
        local = (at or self.now()).astimezone(hours.zone)
        if local.weekday() not in hours.business_weekdays or local.date() in hours.holidays:
            return False
        return hours.business_open <= local.time() < hours.business_close

    def duty_roster(self, at: datetime | None = None, estate_id: int | None = None) -> list[str]:
        estate = self._estate(estate_id)
        roster = estate.duty_roster if estate is not None and estate.duty_roster is not None \
            else self.transfer.duty_roster
        local = (at or self.now()).astimezone(workflow_for(self.hours, estate).zone).time()
        return [m.number for m in roster if m.on_duty(local)]

    def clerks(self) -> list[str]:
        on_duty = self.staff.on_duty_extensions() if self.staff is not None else []
        return [*on_duty, *self.transfer.extensions]

    def numbers_for(self, reason: str, estate_id: int | None = None) -> list[str]:
        """Whom to ring for the call of `estate_id` (None: the site's roster and hours)."""
        if reason == "urgent":
            return self.duty_roster(estate_id=estate_id) or self.clerks()
        if self.in_business_hours(estate_id=estate_id):
            return self.clerks()
        return self.duty_roster(estate_id=estate_id) or self.clerks()


class CallDesk:
    """One call's desk (flow.Desk)."""

    def __init__(self, shared: StaffDesk, writes: CallWrites, call: ActiveCall, session: CallSession,
                 prompts: Prompts, *, live: bool, known_unit: str | None, entry_id: int | None,
                 estate_id: int | None = None) -> None:
        self.shared = shared
        self.estate_id = estate_id  # the estate dialled: its roster and hours decide whom to ring
        self.writes = writes
        self.call = call
        self.session = session
        self.prompts = prompts
        self.live = live
        self.offers_person = shared.transfer.enabled
        self.known_unit = known_unit
        self.entry_id = entry_id
        self.facts = CallerFacts(intake_path="speech" if live else "keypad")
        self.last_view: TurnView | None = None
        self.rings: list[RingResult] = []  # for the log, tests and the benchmark
        # When a person was bridged, in seconds of the recording: their voice on its right channel.
        self.bridged_spans: list[tuple[float, float]] = []

    @property
    def call_id(self) -> str:
        return self.call.info.call_id

    # ----- flow.Desk -----------------------------------------------------------------------

    def understand(self, dtmf_unit: str | None) -> TurnView:
        view = self.shared.understanding.view(self.session.live_text, directory_unit=self.known_unit,
                                              dtmf_unit=dtmf_unit)
        self.last_view = view
        return view

    def note(self, facts: CallerFacts) -> None:
        self.facts = facts

    def escalate(self, hazard: str) -> None:
        unit = (self.last_view.unit if self.last_view else None) or self.known_unit or ""
        try:
            self.writes.person(self.call_id, "urgent", hazard, unit=unit, at=self.shared.now())
        except Exception:  # the conversation goes on; the final draft is urgent all the same
            log.exception("call %s: the urgent escalation could not be written", self.call_id)

    def take_over_requested(self) -> bool:
        return self.shared.takeover_for(self.call_id, pop=False) is not None

    def ring_staff(self, reason: str, hazard: str | None = None, announce: tuple[str, ...] = (),
                   must: int = 0) -> str:
        shared, settings = self.shared, self.shared.transfer
        if reason == "takeover":
            extension = shared.takeover_for(self.call_id, pop=True)
            numbers = [extension] if extension else []
        elif reason == "urgent" and not settings.urgent_ring or reason != "urgent" and not settings.enabled:
            numbers = []
        else:
            numbers = shared.numbers_for(reason, self.estate_id)
        hold = _HoldMusic(self.call, self.prompts, announce, must)
        if shared.agent is None or not numbers:
            self._person("nobody", reason)
            return "nobody" if hold.finish(answered=False) else "ended"
        result = ring_group(shared.agent, numbers, strategy=settings.strategy,
                            timeout_s=settings.ring_timeout_s, each_s=settings.ring_each_s,
                            caller_gone=lambda: not self.call.is_active(), while_ringing=hold.play_some)
        self.rings.append(result)
        # A phone answered (or every phone failed) before the caller heard all that must be heard:
        # the safety prompt is finished first; the person who answered waits those seconds.
        if result.outcome != "caller_gone" and not hold.finish(answered=result.leg is not None):
            if result.leg is not None:
                result.leg.hangup()
            self._person("caller_gone", reason)  # nobody took the matter: it is called back
            return "ended"
        if result.outcome == "caller_gone":
            self._person("caller_gone", reason)
            return "ended"
        if result.leg is None:
            self._person("unanswered", reason)
            return "unanswered"
        leg = result.leg
        if reason == "urgent" and settings.urgent_connect == "summary" and not self._duty_accepts(leg, hazard):
            leg.hangup()
            self._person("unanswered", reason)
            return "unanswered"
        return self._bridge(leg, result.number, reason)

    def listen_in(self, extension: str, username: str = "") -> None:
        """Ring the supervisor's phone; once answered, it hears both sides until either hangs up."""
        agent = self.shared.agent
        assert agent is not None
        try:
            # end_reason() only reads (is_active() may act on the call): this is not the call's thread
            leg = agent.dial(extension, KeyWaiter(), self.shared.transfer.ring_timeout_s,
                             abort=lambda: bool(self.call.end_reason()))
        except Exception as exc:
            log.info("call %s: listen-in by %s not connected: %s", self.call_id, extension, exc)
            return
        tap = ListenTap(leg)
        self.session.add_tap(tap)
        tap.thread.start()
        self._person("listening", "listen", extension, username)
        try:
            while leg.is_active() and not self.call.end_reason():
                time.sleep(0.05)
        finally:
            self.session.remove_tap(tap)
            tap.stop()
            leg.hangup()
            tap.thread.join(timeout=2)

    # ----- steps ---------------------------------------------------------------------------

    def _bridge(self, leg: ActiveCall, number: str, reason: str) -> str:
        staff = self.shared.staff
        user = staff.user_of_extension(number) if staff is not None else None
        username = user.username if user is not None else ""
        self._person("answered", reason, number, username)
        if staff is not None and user is not None:
            staff.mark(number, ON_CALL)
        start = self.session.recording_position_s()
        try:
            # The session stays the recording's sink: the caller on the left, the clerk on the right.
            end = bridge_calls(leg, self.call, self.session)
        finally:
            stop = self.session.recording_position_s()
            if start is not None and stop is not None and stop > start:
                self.bridged_spans.append((start, stop))
            if staff is not None and user is not None and user.presence == ON_DUTY:
                staff.mark(number, ON_DUTY)
        self._person("ended", end, number, username)
        return "bridged"

    def _duty_accepts(self, leg: ActiveCall, hazard: str | None) -> bool:
        """Summary mode: 「紧急来电。四栋二单元三零幺，燃气泄漏。按一接通来电人。」 then 1."""
        waiter = KeyWaiter()
        leg.attach(waiter)
        clips = [self.prompts.get("duty_urgent")]
        unit = (self.last_view.unit if self.last_view else None) or self.known_unit
        if unit:
            clips.extend(self.prompts.number(part) for part in unit.split("-"))
        clips.append(self.prompts.get(f"hazard_{hazard or 'other'}"))
        clips.append(self.prompts.get("duty_press_one"))
        gap = bytes(1600)  # 100 ms between the parts
        accepted = ask_to_connect(leg, gap.join(clips), waiter.wait, self.shared.transfer.summary_answer_s)
        log.info("call %s: duty person %s the urgent call", self.call_id, "took" if accepted else "did not take")
        return accepted

    def _person(self, step: str, reason: str, number: str = "", username: str = "") -> None:
        try:
            self.writes.person(self.call_id, step, reason, number=number, username=username, at=self.shared.now())
        except Exception:
            log.exception("call %s: could not log %s", self.call_id, step)


class _HoldMusic:
    """While the group rings: the announcements once each, in order, then hold music a bit at a
    time. The first `must` (the safety prompt) are heard in full whatever the ring's outcome; the
    last (「现在为您接通值班人员」) is heard before a bridge, never after nobody answered."""

    def __init__(self, call: ActiveCall, prompts: Prompts, announce: tuple[str, ...] = (), must: int = 0) -> None:
        self.call = call
        self.prompts = prompts
        self.announce = announce
        self.must = must
        self.played = 0  # announcements played so far
        self.pos = 0

    def finish(self, *, answered: bool) -> bool:
        """After the ring: the rest of what must be heard, and the last announcement if a person
        answered (the person waits those seconds). False if the caller is gone."""
        keys = list(self.announce[self.played:self.must])
        if answered and self.played < len(self.announce):
            keys.append(self.announce[-1])
        self.played = len(self.announce)
        return all(self.call.play(self.prompts.get(key)) for key in keys) and self.call.is_active()

    def play_some(self) -> None:
        if self.played < len(self.announce):
            self.played += 1
            self.call.play(self.prompts.get(self.announce[self.played - 1]))
            return
        music = self.prompts.get(HOLD_MUSIC)
        chunk = music[self.pos:self.pos + _HOLD_CHUNK_BYTES]
        self.pos = (self.pos + _HOLD_CHUNK_BYTES) % max(len(music), 1)
        if chunk:
            self.call.play(chunk)

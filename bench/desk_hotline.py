"""The real hotline with a staff desk, on a temporary SQLite, behind a private kamailio: what the
person-on-the-line benchmarks (person_transfer.py, urgent_escalation.py) call and time."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import time as day_time
from pathlib import Path
from typing import Any

from callcenter.asr.pool import TranscriptionPool
from callcenter.asr.settings import AsrSettings
from callcenter.audio.prompts import PromptLibrary
from callcenter.audio.settings import VadSettings
from callcenter.calls import bridge
from callcenter.calls.desk import StaffDesk
from callcenter.calls.drafter import CallDrafter
from callcenter.calls.flow import FlowSettings
from callcenter.calls.hotline import HotlineHandler
from callcenter.calls.understanding import Understanding
from callcenter.clock import SystemClock
from callcenter.drafting.rules import DraftingRules
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.staffing.settings import TransferSettings
from callcenter.telephony.agent import PyVoipAgent
from callcenter.telephony.settings import SipSettings
from callcenter.workflow.settings import WorkflowSettings
from tests.sipbench.tools import free_udp_block, free_udp_port


@dataclass
class DeskHotline:
    ledger: LedgerService
    store: WavRecordingStore
    pool: TranscriptionPool
    desk: StaffDesk
    agent: PyVoipAgent
    settings: SipSettings

    def stop(self) -> None:
        self.agent.stop()
        self.pool.shutdown(wait=False)
        self.store.shutdown()


def desk_hotline(work: Path, proxy_port: int, prompts: PromptLibrary, factory_builder: Any = None,
                 max_calls: int = 20) -> DeskHotline:
    """Built, not started: the caller hooks the agent's `_send` (or the bus) first, then starts it.
    `factory_builder`: the recognizer (a scripted double); None: no model, the keypad path.
    `max_calls`: concurrent calls the agent takes (SipSettings.max_calls)."""
    url = f"sqlite:///{work / 'ledger.db'}"
    db.upgrade(url)
    ledger = LedgerService(db.make_engine(url), SystemClock(), EventBus())
    store = WavRecordingStore(RecordingSettings(root=work / "recordings"))
    asr = AsrSettings(model_dir=work / "no-model", max_live_streams=2, workers=1)
    pool = TranscriptionPool(asr, factory_builder=factory_builder) if factory_builder else TranscriptionPool(asr)
    pool.start()
    desk = StaffDesk(Understanding(DraftingRules.load()), TransferSettings(ring_timeout_s=10),
                     WorkflowSettings(business_open=day_time(0, 0), business_close=day_time(23, 59, 59)))
    handler = HotlineHandler(ledger=ledger, recordings=store, transcriber=pool, prompts=prompts,
                             drafter=CallDrafter(ledger, DraftingRules.load()),
                             vad=VadSettings(no_input_timeout_s=6.0, end_silence_ms=600), flow=FlowSettings(),
                             clock=SystemClock(), desk=desk)
    ports = max(60, 4 * max_calls)  # a bridged call holds two (the clerk's leg too)
    rtp_low = free_udp_block(ports)
    settings = SipSettings(server="127.0.0.1", port=proxy_port, username="hotline-bench", bind_ip="127.0.0.1",
                           bind_port=free_udp_port(), rtp_port_low=rtp_low, rtp_port_high=rtp_low + ports - 1,
                           answer_after_rings=1, ring_period_s=0.3, max_calls=max_calls)
    agent = PyVoipAgent(settings, handler)
    desk.agent = agent
    return DeskHotline(ledger, store, pool, desk, agent, settings)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def time_the_relay() -> list[float]:
    """Replace the bridge's relay with one that notes, for every caller frame, the milliseconds
    from reaching the bridge to being handed to the clerk leg's sender; returns that list."""
    relay_ms: list[float] = []
    lock = threading.Lock()

    class TimedRelay(bridge._Relay):
        def __init__(self, to, name):  # type: ignore[no-untyped-def]
            super().__init__(to, name)
            self.arrived: list[float] = []
            self.timed = name == "bridge->clerk"

        def push(self, pcm16: bytes) -> None:
            with self.cond:
                if len(self.arrived) == self.frames.maxlen:
                    self.arrived.pop(0)  # dropped with the oldest frame
                self.arrived.append(time.monotonic())
            super().push(pcm16)

        def _take(self) -> bytes | None:
            chunk = super()._take()
            stamps, self.arrived = self.arrived, []
            if chunk is not None and self.timed:
                now = time.monotonic()
                with lock:
                    relay_ms.extend((now - t) * 1000 for t in stamps)
            return chunk

    bridge._Relay = TimedRelay  # type: ignore[misc]
    return relay_ms

"""The whole call pipeline on the loopback bench: kamailio + SIPp callers + the real agent,
recorder, ledger (the run's database back-end), prompts and drafting; speech recognition real (Korean Vosk model) or
the named Mandarin double."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as day_time
from pathlib import Path
from typing import Any

import pytest

from callcenter.asr.pool import TranscriptionPool
from callcenter.asr.settings import AsrSettings
from callcenter.audio.prompt_build import build_default_prompts, synthesize
from callcenter.audio.prompts import PromptLibrary
from callcenter.audio.settings import PromptSettings, VadSettings
from callcenter.calls.desk import StaffDesk
from callcenter.calls.drafter import CallDrafter
from callcenter.calls.flow import FlowSettings
from callcenter.calls.hotline import HotlineHandler
from callcenter.calls.understanding import Understanding
from callcenter.clock import SystemClock
from callcenter.drafting.rules import DraftingRules
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.models import Call
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.staffing.lines import StaffLines
from callcenter.staffing.settings import TransferSettings
from callcenter.telephony.interface import CallInfo
from callcenter.telephony.settings import SipSettings
from callcenter.workflow.settings import WorkflowSettings
from tests.doubles import (
    CallDouble,
    CallDoubleClock,
    CallerAction,
    DialerDouble,
    KeyedPromptsDouble,
    PhoneDouble,
    ScriptedFactoryDouble,
    TranscriberDouble,
    scripted_builder,
)
from tests.sipbench.sipp import SippResult, run_sipp, start_sipp

# Short prompts keep each test call to a few seconds; the wording of real prompts is tested in tests/audio.
SHORT_PROMPTS = {"greeting": "您好，{estate}物业，本次通话将被录音。", "ask_unit": "请说房号。",
                 "ask_problem": "请说问题。", "readback": "编号", "anything_else": "还有其他需要吗？",
                 "thanks": "谢谢，再见。", "press_zero": "人工按零。", "ask_unit_keypad": "请按键输入房号。",
                 "transfer_wait": "请稍候。", "transfer_failed": "无人接听，请留言。", "unit_is": "房号是",
                 "unit_confirm": "对吗？", "category_menu": "请选类别。", "urgent_connecting": "正在接通。",
                 "urgent_next": "已通知。"}


@pytest.fixture(scope="session")
def prompt_settings(tmp_path_factory: pytest.TempPathFactory) -> PromptSettings:
    settings = PromptSettings(dir=tmp_path_factory.mktemp("prompts"), estate_name="测试花园",
                              texts=SHORT_PROMPTS)
    build_default_prompts(settings)
    return settings


@pytest.fixture(scope="session")
def speak(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., bytes]:
    """Mandarin caller speech, synthesized offline (espeak-ng cmn), as 8 kHz PCM16."""
    out = tmp_path_factory.mktemp("speech")
    counter = iter(range(10_000))

    def make(text: str, voice: str = "cmn") -> bytes:
        import wave

        path = synthesize(text, out / f"s{next(counter)}.wav", voice=voice)
        with wave.open(str(path)) as w:
            return w.readframes(w.getnframes())

    return make


@dataclass
class Pipeline:
    ledger: LedgerService
    store: WavRecordingStore
    pool: TranscriptionPool
    handler: HotlineHandler
    sip: SipSettings
    workdir: Path
    recognizer: ScriptedFactoryDouble | None

    def call(self, scenario: Path, **kw: Any) -> SippResult:
        return run_sipp(str(scenario), self.sip_target_port, self.workdir / scenario.stem,
                        service=self.sip.username, **kw)

    def start_call(self, scenario: Path, **kw: Any):  # type: ignore[no-untyped-def]
        return start_sipp(str(scenario), self.sip_target_port, self.workdir / scenario.stem,
                          service=self.sip.username, **kw)

    sip_target_port: int = 0
    agent: Any = None  # the PyVoipAgent: also places outbound calls (callbacks)

    def wait_for(self, predicate: Callable[[list[Call]], bool], timeout_s: float = 30) -> list[Call]:
        deadline = time.monotonic() + timeout_s
        while True:
            calls = self.ledger.list_calls(limit=200)
            if predicate(calls) or time.monotonic() > deadline:
                return calls
            time.sleep(0.1)

    def wait_drafted(self, count: int = 1, timeout_s: float = 30) -> list[Call]:
        def done(calls: list[Call]) -> bool:
            finished = [c for c in calls if c.status != "ringing" and c.status != "answered"]
            return len(finished) >= count and all(
                c.entry_id is not None and (c.status == "missed" or self.ledger.get_entry(c.entry_id).draft_ready_at)
                for c in finished)
        return self.wait_for(done, timeout_s)


@pytest.fixture
def pipeline_factory(agent_factory, kamailio, prompt_settings: PromptSettings,  # type: ignore[no-untyped-def]
                     tmp_path: Path, db_url: str) -> Iterator[Callable[..., Pipeline]]:
    pools: list[TranscriptionPool] = []
    stores: list[WavRecordingStore] = []

    def make(*, recognizer: ScriptedFactoryDouble | None = None, model_dir: Path | None = None,
             vad: VadSettings | None = None, flow: FlowSettings | None = None,
             **sip_overrides: Any) -> Pipeline:
        db.upgrade(db_url)
        ledger = LedgerService(db.make_engine(db_url), SystemClock(), EventBus())
        store = WavRecordingStore(RecordingSettings(root=tmp_path / "recordings"))
        stores.append(store)
        asr = AsrSettings(model_dir=model_dir or tmp_path / "no-model", max_live_streams=4, workers=1)
        pool = (TranscriptionPool(asr, factory_builder=scripted_builder(recognizer)) if recognizer
                else TranscriptionPool(asr))
        pool.start()
        pools.append(pool)
        handler = HotlineHandler(
            ledger=ledger, recordings=store, transcriber=pool, prompts=PromptLibrary(prompt_settings),
            drafter=CallDrafter(ledger, DraftingRules.load()),
            vad=vad or VadSettings(no_input_timeout_s=2.0, end_silence_ms=600),
            flow=flow or FlowSettings(), clock=SystemClock())
        agent, sip = agent_factory(handler, **sip_overrides)
        return Pipeline(ledger, store, pool, handler, sip, tmp_path / "sipp", recognizer,
                        sip_target_port=kamailio.port, agent=agent)

    yield make
    for pool in pools:
        pool.shutdown(wait=False)
    for store in stores:
        store.shutdown()


# ----- the hotline without a network, at full speed ------------------------------------------------

@dataclass
class HotlineDouble:
    """The real hotline handler (conversation, recorder, ledger, drafting, outbox) driven by
    in-process call doubles (tests/doubles.py CallDouble) instead of SIP: every branch of the
    call's logic runs at full speed. What only SIP can show stays in the kamailio/SIPp tests."""

    ledger: LedgerService
    store: WavRecordingStore
    handler: HotlineHandler
    prompts: KeyedPromptsDouble
    transcriber: TranscriberDouble
    clock: CallDoubleClock
    desk: StaffDesk | None = None
    dialer: DialerDouble | None = None
    staff: StaffLines | None = None

    def info(self, caller: str = "13800138000", called: str = "hotline") -> CallInfo:
        return CallInfo(call_id=f"{uuid.uuid4().hex}@double", caller_number=caller, caller_display="",
                        called_number=called, remote_addr="127.0.0.1:5060", received_at=datetime.now(UTC),
                        codec="PCMU")

    def call(self, script: dict[str, list[list[CallerAction]]], caller: str = "13800138000",
             talk_when_bridged: bytes = b"") -> CallDouble:
        """One whole call: ringing, answer, the conversation, hang-up, recording, transcript, draft."""
        info = self.info(caller)
        self.handler.on_ringing(info)
        call = CallDouble(info, self.prompts, script, self.clock, talk_when_bridged=talk_when_bridged)
        self.handler.on_call(call)
        return call

    def logged(self, call: CallDouble) -> Call:
        return self.ledger.call_by_key(call.info.call_id)


@pytest.fixture
def hotline_double(prompt_settings: PromptSettings, tmp_path: Path,
                   db_url: str) -> Iterator[Callable[..., HotlineDouble]]:
    """make(recognizer=ScriptedFactoryDouble([...]) or None (no model), live_slots=...,
    vad=..., flow=...) -> HotlineDouble on this test's database."""
    stores: list[WavRecordingStore] = []

    def make(*, recognizer: ScriptedFactoryDouble | None = None, live_slots: int = 100,
             vad: VadSettings | None = None, flow: FlowSettings | None = None,
             phones: dict[str, PhoneDouble] | None = None, transfer: TransferSettings | None = None,
             hours: WorkflowSettings | None = None, transcriber: TranscriberDouble | None = None) -> HotlineDouble:
        """`phones` given: the desk is on (understanding during the call, 转人工, escalation),
        its staff phones dialled through a DialerDouble. `transcriber`: another double (e.g. one
        with a job queue); `recognizer` and `live_slots` are then its business."""
        ledger = LedgerService(db.make_engine(db_url), SystemClock(), EventBus())
        clock = CallDoubleClock()
        store = WavRecordingStore(RecordingSettings(root=tmp_path / "recordings"), monotonic=clock)
        stores.append(store)
        prompts = KeyedPromptsDouble(PromptLibrary(prompt_settings))
        transcriber = transcriber or TranscriberDouble(recognizer, live_slots)
        desk = dialer = staff = None
        if phones is not None:
            dialer = DialerDouble(phones)
            staff = StaffLines(ledger.engine, SystemClock())
            # Business hours around the clock unless a test says otherwise: clerks, not the roster.
            desk = StaffDesk(Understanding(DraftingRules.load()), transfer or TransferSettings(ring_timeout_s=3),
                             hours or WorkflowSettings(business_open=day_time(0, 0), business_close=day_time(23, 59, 59)),
                             staff, agent=dialer)  # type: ignore[arg-type]
        handler = HotlineHandler(
            ledger=ledger, recordings=store, transcriber=transcriber, prompts=prompts,
            drafter=CallDrafter(ledger, DraftingRules.load()),
            vad=vad or VadSettings(no_input_timeout_s=2.0, end_silence_ms=600),
            flow=flow or FlowSettings(), clock=SystemClock(), desk=desk)
        return HotlineDouble(ledger, store, handler, prompts, transcriber, clock, desk, dialer, staff)

    yield make
    for store in stores:
        store.shutdown()

"""Composition root: builds every part from the settings, wires them, starts and stops them."""

from __future__ import annotations

import logging
from datetime import UTC
from pathlib import Path

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import FastAPI

from callcenter.accounts import Accounts
from callcenter.asr.pool import TranscriptionPool
from callcenter.audio.prompts import PromptLibrary
from callcenter.audio.recorder import WavRecordingStore
from callcenter.calls.callback_dialer import CallbackDialer
from callcenter.calls.drafter import CallDrafter
from callcenter.calls.hotline import HotlineHandler
from callcenter.clock import Clock, SystemClock
from callcenter.config import Settings
from callcenter.drafting.rules import DraftingRules
from callcenter.drafting.units import parse_unit
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from callcenter.notify.settings import build_dispatcher
from callcenter.qa.evidence import TimedWord
from callcenter.qa.retention import apply_retention
from callcenter.qa.scorecard import load_scorecard
from callcenter.qa.service import QaService
from callcenter.reports.schedule import register_report_jobs
from callcenter.telephony.agent import PyVoipAgent
from callcenter.telephony.interface import TelephonyAgent
from callcenter.web.app import WebServices, create_app
from callcenter.workflow.cases import CaseWorkflow
from callcenter.workflow.clocks import JOBSTORE
from callcenter.workflow.notices import NoticeBoard

log = logging.getLogger(__name__)


def normalize_unit(text: str) -> str | None:
    """What a clerk or a CSV says ("4栋2单元301", "4-2-301") -> canonical unit, or None."""
    match = parse_unit(text)
    return match.unit if match else None


class Application:
    def __init__(self, settings: Settings, clock: Clock | None = None,
                 agent: TelephonyAgent | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        db.upgrade(settings.database.url)
        self.engine = db.make_engine(settings.database.url)
        self.bus = EventBus()
        self.ledger = LedgerService(self.engine, self.clock, self.bus, workflow=settings.workflow)
        self.accounts = Accounts(self.engine, self.clock)
        self.recordings = WavRecordingStore(settings.recording)
        self.rules = DraftingRules.load(settings.drafting.rules_file)
        self.transcriber = TranscriptionPool(settings.asr)
        self.prompts = PromptLibrary(settings.prompts)
        self.drafter = CallDrafter(self.ledger, self.rules)
        self.handler = HotlineHandler(ledger=self.ledger, recordings=self.recordings,
                                      transcriber=self.transcriber, prompts=self.prompts,
                                      drafter=self.drafter, vad=settings.vad, flow=settings.flow,
                                      clock=self.clock)
        self.agent: TelephonyAgent = agent or PyVoipAgent(settings.sip, self.handler)
        # Case clocks and handovers live in the database (they survive restarts); the rest is
        # re-registered at every start.
        self.scheduler = BackgroundScheduler(timezone=UTC, jobstores={
            "default": MemoryJobStore(), JOBSTORE: SQLAlchemyJobStore(engine=self.engine)})
        self.notifier = build_dispatcher(settings.notify)
        self.notices = NoticeBoard(self.engine, self.clock, self.bus, self.notifier)
        self.workflow = CaseWorkflow(self.ledger, self.clock, settings.workflow, self.notices, self.scheduler)
        self.workflow.attach(self.bus)
        self.dialer = CallbackDialer(self.agent, self.ledger, self.recordings, self.workflow.callbacks, self.clock,
                                     self.transcriber)
        self.qa = QaService(self.engine, self.clock, self.recordings, load_scorecard(settings.qa.scorecard_file),
                            settings.qa, prompts=self.prompts, transcribe_agent=self._transcribe_agent)

    def web_app(self) -> FastAPI:
        return create_app(WebServices(ledger=self.ledger, accounts=self.accounts, bus=self.bus,
                                      recordings=self.recordings, normalize_unit=normalize_unit,
                                      settings=self.settings.web, qa=self.qa, workflow=self.workflow,
                                      dialer=self.dialer))

    def recover(self) -> int:
        """Repair what a crash left: open recordings and calls caught mid-flight."""
        repaired = self.recordings.recover()
        count = self.ledger.recover_interrupted(repaired)
        if count:
            log.warning("recovered %d interrupted call(s) after an unclean stop", count)
        return count

    def retry_transcripts(self, after_restart: bool = False) -> int:
        """Transcribe recordings whose transcript is still owed (no model at the time, a crash)."""
        statuses = ("unavailable", "pending", "live", "queued") if after_restart else ("unavailable",)
        queued = 0
        for call in self.ledger.calls_needing_transcript(statuses):
            if self.handler.transcribe_recording(call.sip_call_id, call.recording_key, call.caller_number,
                                                 call.entry_id, call.dtmf):
                queued += 1
            else:
                break  # no model yet: try again on the next tick
        return queued

    def _transcribe_agent(self, path: Path) -> list[TimedWord]:
        """The clerk's side of a recording (right channel) for QA's etiquette checks; a worker
        process does it. Raises when no model is installed: QA then judges from prompts only."""
        transcript = self.transcriber.submit_file(path, channel=1).result(timeout=300)
        return [TimedWord(w.text, w.start_s, w.end_s) for w in transcript.words]

    def apply_retention(self) -> None:
        result = apply_retention(self.engine, self.recordings, self.settings.qa, self.clock)
        log.info("retention: %s", result)

    def _report_ready(self, title: str, path: object) -> None:
        self.notices.post("report", f"统计报表已生成：{title}", str(path), audience=("supervisor",))

    def start(self) -> None:
        self.recover()
        self.prompts.preload()  # a missing prompt is a start-up error naming `callcenter prompts build`
        self.transcriber.start()
        self.retry_transcripts(after_restart=True)
        self.scheduler.add_job(self.retry_transcripts, "interval", minutes=1, id="retry_transcripts",
                               replace_existing=True, max_instances=1, coalesce=True)
        self.scheduler.add_job(self.apply_retention, "cron", hour=3, minute=30, timezone=self.settings.workflow.zone,
                               id="retention", replace_existing=True, coalesce=True)
        register_report_jobs(self.scheduler, self.engine, self.settings.reports, self.clock,
                             self.settings.reports.out_dir, notify=self._report_ready)
        self.workflow.start()  # binds the clock jobs' target before they can run
        self.scheduler.start()
        self.agent.start()
        log.info("callcenter started: SIP %s:%s (%s mode), panel http://%s:%s/",
                 self.settings.sip.bind_ip, self.settings.sip.bind_port, self.settings.sip.mode,
                 self.settings.web.host, self.settings.web.port)

    def stop(self) -> None:
        self.agent.stop()
        if self.scheduler.running:
            # APScheduler 3 processes due jobs once more while shutting down, with its executor
            # already closed, and drops them: detach the persistent clocks first so they stay.
            self.scheduler.remove_jobstore(JOBSTORE)
            self.scheduler.shutdown(wait=False)
        self.workflow.shutdown()
        self.notifier.close(5)
        self.transcriber.shutdown(wait=False)
        self.recordings.shutdown()
        self.engine.dispose()

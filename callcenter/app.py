"""Composition root: builds every part from the settings, wires them, starts and stops them."""

from __future__ import annotations

import logging
from datetime import UTC
from pathlib import Path
from typing import Any, Literal

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import FastAPI

from callcenter.accounts import Accounts
from callcenter.asr.interface import ModelUnavailable
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
from callcenter.ledger.outbox import Outbox
from callcenter.ledger.service import LedgerService
from callcenter.notify.settings import build_dispatcher
from callcenter.qa.evidence import TimedWord
from callcenter.qa.retention import apply_retention
from callcenter.qa.scorecard import load_scorecard
from callcenter.qa.service import QaService
from callcenter.reports.schedule import register_report_jobs
from callcenter.scale import roles
from callcenter.scale.relay import EventForwarder, EventListener, node_name
from callcenter.storage.jobs import register_storage_jobs
from callcenter.telephony.agent import PyVoipAgent
from callcenter.telephony.interface import TelephonyAgent
from callcenter.web.app import WebServices, create_app
from callcenter.workflow.cases import CaseWorkflow
from callcenter.workflow.clocks import JOBSTORE
from callcenter.workflow.notices import NoticeBoard

log = logging.getLogger(__name__)

# all: one process does everything (the default). Several processes on one PostgreSQL database:
# agent (SIP, recording, live transcription, drafting), web (panel, scheduler, workflow),
# worker (transcription jobs). See docs/DEPLOYMENT.md.
Role = Literal["all", "agent", "web", "worker"]


def normalize_unit(text: str) -> str | None:
    """What a clerk or a CSV says ("4栋2单元301", "4-2-301") -> canonical unit, or None."""
    match = parse_unit(text)
    return match.unit if match else None


class Application:
    def __init__(self, settings: Settings, clock: Clock | None = None,
                 agent: TelephonyAgent | None = None, role: Role = "all") -> None:
        self.settings = settings
        self.role = role
        self.clock = clock or SystemClock()
        roles.check(role, settings)  # several processes need PostgreSQL; says so clearly
        roles.prepare_database(settings)
        self.engine = db.make_engine(settings.database.url)
        self.bus = EventBus()
        self.ledger = LedgerService(self.engine, self.clock, self.bus, workflow=settings.workflow,
                                    call_write_timeout_s=settings.database.call_write_timeout_s)
        self.accounts = Accounts(self.engine, self.clock)
        self.recordings = WavRecordingStore(settings.recording)
        self.rules = DraftingRules.load(settings.drafting.rules_file)
        self.transcriber = TranscriptionPool(settings.asr)
        self.queue = roles.transcription_queue(settings)  # None unless asr.mode is queue
        self.prompts = PromptLibrary(settings.prompts)
        self.drafter = CallDrafter(self.ledger, self.rules)
        # Call records made while the database is locked or down wait on local disk; only the
        # process that takes calls owns the outbox (the others get an unused in-memory one).
        self.outbox = Outbox(settings.database.outbox_dir, self.bus, settings.database.outbox_drain_interval_s) \
            if role in ("all", "agent") else None
        self.handler = HotlineHandler(ledger=self.ledger, recordings=self.recordings,
                                      transcriber=roles.call_transcriber(self.transcriber, self.queue,
                                                                         self.ledger),
                                      prompts=self.prompts,
                                      drafter=self.drafter, vad=settings.vad, flow=settings.flow,
                                      clock=self.clock, outbox=self.outbox)
        self.agent: TelephonyAgent = agent or PyVoipAgent(settings.sip, self.handler)
        # Case clocks and handovers live in the database (they survive restarts); the rest is
        # re-registered at every start.
        self.scheduler = BackgroundScheduler(timezone=UTC, jobstores={
            "default": MemoryJobStore(), JOBSTORE: SQLAlchemyJobStore(engine=self.engine)})
        self.notifier = build_dispatcher(settings.notify)
        self.notices = NoticeBoard(self.engine, self.clock, self.bus, self.notifier)
        self.workflow = CaseWorkflow(self.ledger, self.clock, settings.workflow, self.notices, self.scheduler)
        if role in ("all", "web"):  # the workflow listens in exactly one process per site
            self.workflow.attach(self.bus)
        # Events cross processes through PostgreSQL: agents and workers send, the web process listens.
        self.origin = node_name()
        # The SIP registration for the panel: event sip.registration, and "sip" in the system status.
        add_listener = getattr(self.agent, "add_registration_listener", None)
        if add_listener is not None and role in ("all", "agent"):
            add_listener(lambda state: self.bus.publish("sip.registration", node=self.origin,
                                                        line=settings.sip.username, **state))
        self.forwarder = EventForwarder(settings.database.url, self.bus, self.origin) \
            if role in ("agent", "worker") else None
        self.listener = EventListener(settings.database.url, self.bus, self.origin) \
            if role == "web" or (role == "all" and roles.is_postgres(settings)) else None
        self.agent_loads = roles.AgentLoads(self.bus)
        self.presence: roles.AgentPresence | None = None  # agent role: held while running
        self.dialer = CallbackDialer(self.agent, self.ledger, self.recordings, self.workflow.callbacks, self.clock,
                                     self.transcriber)
        self.qa = QaService(self.engine, self.clock, self.recordings, load_scorecard(settings.qa.scorecard_file),
                            settings.qa, prompts=self.prompts, transcribe_agent=self._transcribe_agent)

    def web_app(self) -> FastAPI:
        app = create_app(WebServices(ledger=self.ledger, accounts=self.accounts, bus=self.bus,
                                     recordings=self.recordings, normalize_unit=normalize_unit,
                                     settings=self.settings.web, qa=self.qa, workflow=self.workflow,
                                     dialer=self.dialer))
        app.state.system_status = self.system_status
        return app

    def system_status(self) -> dict[str, Any]:
        """The transcription backlog and the SIP registration for the panel's header
        (GET /api/system/status)."""
        status = roles.backlog_status(self.engine, self.settings, self.transcriber, self.role, self.agent_loads)
        registration = getattr(self.agent, "registration_state", None)
        status["sip"] = registration() if registration is not None and self.role in ("all", "agent") else None
        return status

    def recover(self) -> int:
        """Repair what a crash left: open recordings and calls caught mid-flight."""
        if self.handler.outbox.pending():  # first what the last run could not write, in order
            log.warning("replayed %d call record(s) kept in the outbox", self.handler.outbox.drain())
        self.handler.relink_unlogged_recordings()
        repaired = self.recordings.recover()
        count = self.ledger.recover_interrupted(repaired)
        if count:
            log.warning("recovered %d interrupted call(s) after an unclean stop", count)
        return count

    def retry_transcripts(self, after_restart: bool = False) -> int:
        """Transcribe recordings whose transcript is still owed (no model at the time, a crash)."""
        statuses: tuple[str, ...] = ("unavailable", "pending", "live", "queued") if after_restart \
            else ("unavailable",)
        if self.queue is not None:
            # Re-deferring is harmless (one waiting job per call; a done call's job does nothing),
            # and catches a job lost between the call's end and the queue.
            statuses = ("unavailable", "queued")
        queued = 0
        skip = roles.calls_in_queue(self.engine) if self.queue is not None else set()
        for call in self.ledger.calls_needing_transcript(statuses):
            if call.sip_call_id in skip:
                continue
            if self.handler.transcribe_recording(call.sip_call_id, call.recording_key, call.caller_number,
                                                 call.entry_id, call.dtmf):
                queued += 1
            else:
                break  # no model yet: try again on the next tick
        return queued

    def transcribe_call(self, sip_call_id: str, last_attempt: bool = True) -> str:
        """One transcription job (worker role): transcribe the call's recording, then draft.
        Does nothing for a call already transcribed, so a repeated job is harmless."""
        call = self.ledger.call_by_key(sip_call_id)
        if call.transcript_status == "done":
            return "already done"
        if not call.recording_key:
            return "no recording"
        try:
            transcript = self.transcriber.transcribe_file(Path(self.recordings.path_of(call.recording_key)))
        except ModelUnavailable as exc:  # the web role re-defers 'unavailable' calls every minute
            log.warning("call %s: no model (%s)", sip_call_id, exc)
            self.ledger.set_transcript(sip_call_id, None, "unavailable")
            return "no model"
        except Exception:
            if last_attempt:
                self.ledger.set_transcript(sip_call_id, None, "failed")
            raise  # the queue retries it with back-off
        self.ledger.set_transcript(sip_call_id, transcript, "done")
        self.drafter.draft(sip_call_id, call.caller_number, call.entry_id, transcript, call.dtmf)
        return "done"

    def run_worker(self) -> None:
        """Worker role: take transcription jobs until SIGTERM."""
        from callcenter.scale.jobs import run_worker

        run_worker(self.settings.database.url, self, concurrency=self.settings.asr.workers, name=self.origin)

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
        if self.role != "all":
            roles.start(self)
            return
        if self.listener is not None:
            self.listener.start()
        self.recover()
        self.prompts.preload()  # a missing prompt is a start-up error naming `callcenter prompts build`
        self.transcriber.start()
        self.retry_transcripts(after_restart=True)
        self.scheduler.add_job(self.retry_transcripts, "interval", minutes=1, id="retry_transcripts",
                               replace_existing=True, max_instances=1, coalesce=True)
        self.scheduler.add_job(self.apply_retention, "cron", hour=3, minute=30, timezone=self.settings.workflow.zone,
                               id="retention", replace_existing=True, coalesce=True)
        self.disk_monitor = register_storage_jobs(self.scheduler, self.recordings, self.settings.recording,
                                                  self.settings.database.url, self.bus, self.notices)
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
        self.handler.outbox.close()
        if self.listener is not None:
            self.listener.stop()
        if self.forwarder is not None:
            self.forwarder.stop()
        if self.queue is not None:
            self.queue.close()
        if self.presence is not None:
            self.presence.close()
        if self.scheduler.running:
            # APScheduler 3 processes due jobs once more while shutting down, with its executor
            # already closed, and drops them: detach the persistent clocks first so they stay.
            if self.role != "agent":  # an agent never had them
                self.scheduler.remove_jobstore(JOBSTORE)
            self.scheduler.shutdown(wait=False)
        self.workflow.shutdown()
        self.notifier.close(5)
        self.transcriber.shutdown(wait=self.role == "worker")  # a worker's jobs have finished by now
        self.recordings.shutdown()
        self.engine.dispose()

"""Composition root: builds every part from the settings, wires them, and gives each process role
its components in start order (stopped in reverse).

`Application` builds the object graph of one process (nothing is started, no thread, no socket);
`ROLES` names, per role, the builder that lists what that process runs:

all     one process does everything (the default; SQLite or PostgreSQL)
agent   SIP, recording, live transcription, drafting, ledger writes; several per site
web     the panel and API, the scheduler (clocks, handovers, reports, retention, transcript
        retries) and the workflow: exactly one per site
worker  transcription jobs from the PostgreSQL queue (asr.mode: queue): any number

See docs/DEPLOYMENT.md. The use cases live in their packages; this module only builds and wires.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Literal

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import FastAPI

from callcenter.accounts import Accounts
from callcenter.asr.models import model_state
from callcenter.asr.pool import TranscriptionPool
from callcenter.audio.prompts import PromptLibrary
from callcenter.calls.callback_dialer import CallbackDialer
from callcenter.calls.desk import StaffDesk
from callcenter.calls.drafter import CallDrafter
from callcenter.calls.hotline import HotlineHandler
from callcenter.calls.transcription import CallTranscription, agent_words
from callcenter.calls.understanding import Understanding
from callcenter.clock import Clock, SystemClock
from callcenter.config import Settings, load_site_terms
from callcenter.drafting.rules import DraftingRules
from callcenter.drafting.serving import ModelProvider
from callcenter.estates.directory import sync_estates
from callcenter.estates.prompts import estate_prompts
from callcenter.estates.rules import combined_terms, estate_rules
from callcenter.estates.settings import robots_of
from callcenter.events import DraftModelAlarm, EventBus, SipRegistration
from callcenter.learning.retrain import RetrainResult, RetrainSettings, register_drafting_jobs
from callcenter.ledger import db
from callcenter.ledger.outbox import Outbox
from callcenter.ledger.service import LedgerService
from callcenter.notify.settings import build_dispatcher
from callcenter.qa.retention import apply_retention
from callcenter.qa.scorecard import load_scorecard
from callcenter.qa.service import QaService
from callcenter.recordings.disk_monitor import DiskMonitor
from callcenter.recordings.jobs import register_storage_jobs
from callcenter.recordings.store import WavRecordingStore
from callcenter.reports.schedule import register_report_jobs
from callcenter.scale import roles
from callcenter.scale.backlog import LOAD_EVERY_S, AgentLoads, Backlog, LoadReporter
from callcenter.scale.commands import CommandListener, CommandSender, DeskCommands
from callcenter.scale.commands import prune as prune_commands
from callcenter.scale.event_log import KEEP_HOURS, EventJournal, EventStore
from callcenter.scale.presence import SWEEP_EVERY_S, AgentLease, DeadAgentSweep, WebProcessLock
from callcenter.scale.relay import EventForwarder, EventListener, node_name
from callcenter.staffing.lines import StaffLines
from callcenter.telephony.agent import PyVoipAgent
from callcenter.telephony.interface import TelephonyAgent
from callcenter.web.app import WebServices, create_app
from callcenter.workflow.cases import CaseWorkflow
from callcenter.workflow.clocks import JOBSTORE
from callcenter.workflow.notices import NoticeBoard

log = logging.getLogger(__name__)

Role = Literal["all", "agent", "web", "worker"]


def _nothing() -> None:
    pass


@dataclass(frozen=True)
class Component:
    """One part of a running process: started in the role's order, stopped in reverse."""

    name: str
    start: Callable[[], object] = _nothing
    stop: Callable[[], object] = _nothing


class Application:
    def __init__(self, settings: Settings, clock: Clock | None = None,
                 agent: TelephonyAgent | None = None, role: Role = "all") -> None:
        self.settings = settings
        self.role = role
        self.clock = clock or SystemClock()
        roles.check(role, settings)  # several processes need PostgreSQL; says so clearly
        self.rules = DraftingRules.load(settings.drafting.rules_file)
        self.terms = load_site_terms(settings)  # the site's categories and departments, checked
        roles.prepare_database(settings)
        self.engine = db.make_engine(settings.database.url, settings.database.busy_timeout_s)
        # The estates (项目) served, matched to their rows; each estate's own rules file, if any.
        self.estates = sync_estates(self.engine, self.clock, settings.configured_estates())
        self.estate_rules = estate_rules(self.estates, settings.drafting.rules_file)
        self.terms = combined_terms(self.terms, self.estate_rules)
        self.bus = EventBus()
        self.ledger = LedgerService(self.engine, self.clock, self.bus, callbacks=settings.workflow.callback_sampling,
                                    call_write_timeout_s=settings.database.call_write_timeout_s, terms=self.terms,
                                    estates=self.estates)
        self.accounts = Accounts(self.engine, self.clock, settings.web.password_min_length)
        self.recordings = WavRecordingStore(settings.recording)
        # An agent's identity (sip.instance_id): its calls and recordings carry it, so another
        # process can recover them when its lease lapses (scale/presence.py).
        self.agent_id = settings.sip.instance_id if role == "agent" else None
        self.recordings.agent_id = self.agent_id
        self.transcriber = TranscriptionPool(settings.asr)
        self.queue = roles.transcription_queue(settings)  # None unless asr.mode is queue
        self.prompts = PromptLibrary(settings.prompts)
        self.estate_prompts = estate_prompts(self.prompts, self.estates, configured=bool(settings.estates))
        # The learned draft model (the seed model until the site's own beats it); the rules alone
        # when it cannot be read: calls are never affected, the panel is told.
        self.draft_models = ModelProvider.for_dir(settings.drafting.models_dir, on_failure=self._draft_model_alarm)
        self.drafter = CallDrafter(self.ledger, self.rules, models=self.draft_models,
                                   estate_rules=self.estate_rules)
        # Call records made while the database is locked or down wait on local disk; only the
        # process that takes calls owns the outbox (the others get an unused in-memory one).
        self.outbox = Outbox(settings.database.outbox_dir, self.bus, settings.database.outbox_drain_interval_s) \
            if role in ("all", "agent") else None
        # Understanding during the call, 转人工, urgent escalation and the panel's 「接听」; the agent
        # that dials the staff is set once it is built (it needs the handler first).
        self.staff = StaffLines(self.engine, self.clock)
        self.desk = StaffDesk(Understanding(self.rules, self.draft_models, settings.flow.person_words),
                              settings.transfer, settings.workflow, self.staff, now=self.clock.now,
                              estates=self.estates)
        self.handler = HotlineHandler(ledger=self.ledger, recordings=self.recordings,
                                      transcriber=roles.call_transcriber(self.transcriber, self.queue,
                                                                         self.ledger),
                                      prompts=self.prompts,
                                      drafter=self.drafter, vad=settings.vad, flow=settings.flow,
                                      clock=self.clock, outbox=self.outbox, desk=self.desk,
                                      agent_id=self.agent_id, estate_prompts=self.estate_prompts)
        self.transcription = CallTranscription(
            self.ledger, self.recordings, self.transcriber, self.drafter, self.handler.transcribe_recording,
            queued_calls=(lambda: roles.calls_in_queue(self.engine)) if self.queue is not None else None,
            resubmit_clerk=self.handler.transcribe_clerk)
        self.agent: TelephonyAgent = agent or PyVoipAgent(settings.sip, self.handler)
        self.desk.agent = self.agent
        # Case clocks and handovers live in the database (they survive restarts); the rest is
        # re-registered at every start.
        self.scheduler = BackgroundScheduler(timezone=UTC, jobstores={
            "default": MemoryJobStore(), JOBSTORE: SQLAlchemyJobStore(engine=self.engine)})
        # each estate's robots hear only of its entries (estates[].robots)
        self.notifier = build_dispatcher(settings.notify, robots_of(
            settings.estates, {e.code: e.id for e in self.estates.all()}))
        self.notices = NoticeBoard(self.engine, self.clock, self.bus, self.notifier)
        self.workflow = CaseWorkflow(self.ledger, self.clock, settings.workflow, self.notices, self.scheduler)
        if role in ("all", "web"):  # the workflow listens in exactly one process per site
            self.workflow.attach(self.bus)
        # Events cross processes through PostgreSQL: agents and workers send, the web process listens.
        self.origin = node_name()
        # The SIP registration for the panel: event sip.registration, and "sip" in the system status.
        add_listener = getattr(self.agent, "add_registration_listener", None)
        if add_listener is not None and role in ("all", "agent"):
            add_listener(lambda state: self.bus.publish(SipRegistration(node=self.origin, line=settings.sip.username,
                                                                        **state)))
        self.forwarder = EventForwarder(settings.database.url, self.bus, self.origin) \
            if role in ("agent", "worker") else None
        self.listener = EventListener(settings.database.url, self.bus, self.origin) \
            if role == "web" or (role == "all" and roles.is_postgres(settings)) else None
        # The panel's events are numbered and stored where the panel is served, so it can resume
        # after any reconnect (agents and workers store theirs with the relay).
        self.event_store = EventStore(self.engine)
        self.journal = EventJournal(self.event_store, self.origin) if role in ("all", "web") else None
        if self.journal is not None:
            self.bus.set_journal(self.journal)
        self.agent_loads = AgentLoads(self.bus)
        self.backlog = Backlog(self.ledger, self.engine, settings.asr, self.transcriber, role, self.agent_loads)
        self.load_reporter = LoadReporter(self.bus, self.transcriber, settings.asr, self.origin, settings.sip.username)
        self.dialer = CallbackDialer(self.agent, self.ledger, self.recordings, self.workflow.callbacks, self.clock,
                                     self.transcriber)
        self.qa = QaService(self.engine, self.clock, self.recordings, load_scorecard(settings.qa.scorecard_file),
                            settings.qa, prompts=self.prompts, estate_prompts=self.estate_prompts,
                            transcribe_agent=lambda path: agent_words(self.transcriber, path))
        # Set while running: the agent's lease (agent role), the disk alarm (roles that record).
        self.lease: AgentLease | None = None
        # One web process per site (all-in-one on PostgreSQL included): an advisory lock while it runs.
        self.web_lock = WebProcessLock(settings.database.url) \
            if role == "web" or (role == "all" and roles.is_postgres(settings)) else None
        # 「接听」/监听 on a call an agent process carries: the web process sends it through the
        # database, the agent that owns the call runs it on its desk (scale/commands.py).
        self.commands = CommandSender(settings.database.url) \
            if role == "web" or (role == "all" and roles.is_postgres(settings)) else None
        self.command_listener = CommandListener(settings.database.url, self.agent_id,
                                                DeskCommands(self.desk, self.ledger, self.agent_id)) \
            if role == "agent" and self.agent_id else None
        self.dead_agents = DeadAgentSweep(settings.database.url, self._recover_dead_agent) \
            if role == "web" else None
        self.disk_monitor: DiskMonitor | None = None
        self.components = ROLES[role](self)

    # ----- what other parts are handed ----------------------------------------------------------

    def web_app(self) -> FastAPI:
        return create_app(WebServices(ledger=self.ledger, accounts=self.accounts, bus=self.bus,
                                      recordings=self.recordings, settings=self.settings.web, qa=self.qa,
                                      workflow=self.workflow, dialer=self.dialer,
                                      system_status=self.system_status, report_settings=self.settings.reports,
                                      draft_models=self.draft_models, drafting_settings=self.settings.drafting,
                                      staff=self.staff,
                                      takeover=self.desk if self.role in ("all", "agent") else None,
                                      commands=self.commands,
                                      estates=self.estates))

    def system_status(self) -> dict[str, Any]:
        """The transcription backlog and the SIP registration for the panel's header
        (GET /api/system/status)."""
        status = self.backlog.status()
        registration = getattr(self.agent, "registration_state", None)
        status["sip"] = {**registration(), "node": self.origin, "line": self.settings.sip.username} \
            if registration is not None and self.role in ("all", "agent") else None
        # The model this process's calls listen with; a web-only process has none to judge.
        status["speech_model"] = model_state(self.settings.asr.model_dir) if self.role in ("all", "agent") else None
        return status

    def preload_prompts(self) -> None:
        """Every prompt, each estate's greeting too, now: a missing file fails before the first call."""
        self.prompts.preload()
        for prompts in self.estate_prompts.values():
            prompts.preload()

    def transcribe_call(self, sip_call_id: str, last_attempt: bool = True) -> str:
        """One transcription job (worker role): see calls.transcription."""
        return self.transcription.transcribe_call(sip_call_id, last_attempt)

    def run_worker(self) -> None:
        """Worker role: take transcription jobs until SIGTERM."""
        from callcenter.scale.jobs import run_worker

        run_worker(self.settings.database.url, self.transcription, concurrency=self.settings.asr.workers,
                   name=self.origin)

    # ----- running ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the role's components in order (stop() stops them in reverse)."""
        for component in self.components:
            component.start()
        log.info(self._started_line())

    def _started_line(self) -> str:
        sip, panel = self.settings.sip, f"http://{self.settings.web.host}:{self.settings.web.port}/"
        if self.role == "agent":
            return f"callcenter agent started: SIP {sip.bind_ip}:{sip.bind_port} as {sip.username}"
        if self.role == "web":
            return f"callcenter web started: panel {panel}"
        if self.role == "worker":
            return f"callcenter transcription worker started ({self.settings.asr.workers} process(es))"
        return f"callcenter started: SIP {sip.bind_ip}:{sip.bind_port} ({sip.mode} mode), panel {panel}"

    def stop(self) -> None:
        """Stop every component in reverse order, also those a failed start never reached (what
        they hold was made when the application was built; each stop is safe unstarted)."""
        for component in reversed(self.components):
            started = time.monotonic()
            component.stop()
            if time.monotonic() - started > 0.5:  # a slow stop holds SIGTERM up: say which
                log.info("stopping %s took %.1f s", component, time.monotonic() - started)

    # ----- the steps the roles are made of ------------------------------------------------------

    def recover(self) -> int:
        """Repair what a crash left: open recordings and calls caught mid-flight."""
        if self.handler.outbox.pending():  # first what the last run could not write, in order
            log.warning("replayed %d call record(s) kept in the outbox", self.handler.outbox.drain())
        self.handler.relink_unlogged_recordings()
        self.staff.release_on_call()  # clerks left 通话中 by a bridge the crash cut
        repaired = self.recordings.recover()
        count = self.ledger.recover_interrupted(repaired)
        if count:
            log.warning("recovered %d interrupted call(s) after an unclean stop", count)
        return count

    def recover_agent(self, agent_id: str | None) -> int:
        """Recover the calls of one agent that is gone (its lease lapsed, or this agent's own
        previous run): finished recordings never logged are linked, open ones repaired and linked,
        calls and entries marked interrupted, transcripts owed (the minute retry queues them)."""
        relinked = self.handler.relink_unlogged_recordings(agent_id, owe_transcript=True)
        repaired = self.recordings.recover(agent_id)
        count = relinked + self.ledger.recover_interrupted(repaired, agent_id=agent_id, owe_transcript=True)
        if count:
            log.warning("recovered %d interrupted call(s) of agent %s", count, agent_id)
        return count

    def _recover_dead_agent(self, agent_id: str) -> int:
        """Web role: a dead agent's calls, and their transcripts queued at once (not at the next
        minute's retry)."""
        count = self.recover_agent(agent_id)
        if count:
            self.transcription.retry()
        return count

    def _take_identity_and_recover(self) -> None:
        """Agent role: take this agent's identity (refused if a live agent holds it), keep it by
        heartbeat, then recover what this agent's previous run left, never another agent's calls."""
        assert self.agent_id is not None
        sip = self.settings.sip
        lease = AgentLease(self.settings.database.url, self.agent_id, node=self.origin, line=sip.username,
                           lease_s=sip.agent_lease_s)
        lease.acquire()
        lease.start()
        self.lease = lease
        if self.handler.outbox.pending():  # this agent's own outbox first (database.outbox_dir per agent)
            log.warning("replayed %d call record(s) kept in the outbox", self.handler.outbox.drain())
        self.recover_agent(self.agent_id)
        if not lease.others_alive():  # calls of no agent (an all-in-one run before, or older versions)
            self.recover_agent(None)

    def _release_identity(self) -> None:
        if self.lease is not None:
            self.lease.release()

    def _register_dead_agent_sweep(self) -> None:
        """Web role: recover the calls of agents whose lease lapsed, within a minute of their death."""
        if self.dead_agents is not None:
            self.scheduler.add_job(self.dead_agents.sweep, "interval", seconds=SWEEP_EVERY_S, id="dead_agents",
                                   replace_existing=True, max_instances=1, coalesce=True)

    def _register_site_jobs(self) -> None:
        """The site-wide jobs, in the one process that runs them (all, web): transcript retries,
        retention, the scheduled reports, and the workflow's clocks and handovers."""
        s = self.settings
        self.scheduler.add_job(self.transcription.retry, "interval", minutes=1, id="retry_transcripts",
                               replace_existing=True, max_instances=1, coalesce=True)
        self.scheduler.add_job(self._apply_retention, "cron", hour=3, minute=30, timezone=s.workflow.zone,
                               id="retention", replace_existing=True, coalesce=True)
        register_report_jobs(self.scheduler, self.engine, s.reports, self.clock, s.reports.out_dir,
                             notify=self._report_ready, terms=self.terms)
        if s.drafting.retrain:
            register_drafting_jobs(self.scheduler, self.engine, self.rules, s.drafting.models_dir,
                                   hour=s.drafting.retrain_hour, minute=s.drafting.retrain_minute,
                                   timezone=s.workflow.timezone,
                                   settings=RetrainSettings(holdout_share=s.drafting.holdout_share,
                                                            min_holdout=s.drafting.min_holdout),
                                   after=self._retrained)
        self.scheduler.add_job(self._prune_events, "interval", hours=1, id="prune_events",
                               replace_existing=True, max_instances=1, coalesce=True)
        self.workflow.start()  # binds the clock jobs' target before they can run

    def _register_storage_jobs(self) -> None:
        """The recording processes' jobs (all, agent): the disk alarm and S3 upload retries."""
        self.disk_monitor = register_storage_jobs(self.scheduler, self.recordings, self.settings.recording,
                                                  self.settings.database.url, self.bus, self.notices)

    def _report_asr_load(self) -> None:
        """Agent role: its live recognizers for the web process's backlog figure, every few seconds."""
        self.scheduler.add_job(self.load_reporter.report, "interval", seconds=LOAD_EVERY_S, id="asr_load",
                               replace_existing=True, max_instances=1, coalesce=True)
        self.load_reporter.report()

    def _prune_events(self) -> None:
        removed = self.event_store.prune(self.clock.now())
        if removed:
            log.info("event log: %d event(s) older than %d h removed", removed, KEEP_HOURS)
        prune_commands(self.engine, self.clock.now())  # 「接听」 sent to agents: a trace only

    def _apply_retention(self) -> None:
        result = apply_retention(self.engine, self.recordings, self.settings.qa, self.clock)
        log.info("retention: %s", result)

    def _draft_model_alarm(self, problem: str | None) -> None:
        """The draft model is unusable (problem) or serves again (None): a live chip and a notice."""
        if problem is None:
            self.bus.publish(DraftModelAlarm(state="recovered", message="草稿模型已恢复", detail=""))
            return
        self.bus.publish(DraftModelAlarm(state="unusable", message="草稿模型不可用，暂按规则起草", detail=problem))
        self.notices.post("draft_model", "草稿模型不可用，暂按规则起草，请注意核对", problem, severity="warning",
                          audience=("clerk", "supervisor"))

    def _retrained(self, result: RetrainResult) -> None:
        """After the nightly retraining: serve what was promoted, and tell the supervisors."""
        self.draft_models.reload()
        outcome = "已启用" if result.promoted else "未启用（不如现用模型）"
        self.notices.post("draft_model", f"草稿模型 {result.version} 已重新训练，{outcome}", result.reason,
                          audience=("supervisor",))

    def _warm_draft_model(self) -> None:
        """Load (on a new site: build from the packaged corpus, seconds) the draft model before the
        first call needs it, without holding up the start."""
        threading.Thread(target=self.draft_models.get, name="draft-model-warm-up", daemon=True).start()

    def _report_ready(self, title: str, path: object) -> None:
        self.notices.post("report", f"统计报表已生成：{title}", str(path), audience=("supervisor",))

    def _stop_scheduler(self) -> None:
        if self.scheduler.running:
            # APScheduler 3 processes due jobs once more while shutting down, with its executor
            # already closed, and drops them: detach the persistent clocks first so they stay.
            if self.role != "agent":  # an agent never had them
                self.scheduler.remove_jobstore(JOBSTORE)
            self.scheduler.shutdown(wait=False)

    def _start_outbox(self) -> None:
        if self.outbox is not None:  # the process that takes calls replays its outbox in the background
            self.outbox.start()



# ----- the components of each role, in start order ------------------------------------------------

def _resources(app: Application) -> list[Component]:
    """What every role holds from the moment it is built: closed last."""
    parts = [Component("database", stop=app.engine.dispose),
             Component("recordings", stop=app.recordings.shutdown),
             Component("notifier", stop=lambda: app.notifier.close(5)),
             Component("workflow", stop=app.workflow.shutdown)]  # its event thread; after it, no more notices
    if app.queue is not None:
        parts.append(Component("transcription queue", stop=app.queue.close))
    return parts


def _outbox(app: Application) -> Component:
    """The call writes kept while the database was away: replayed by recovery first, then in the
    background (where this process takes calls); closed once nothing can write any more."""
    return Component("call outbox", start=app._start_outbox, stop=app.handler.outbox.close)


def _transcriber(app: Application, start: bool = True) -> Component:
    """The recognizers: started where calls are taken (live streams and recordings); a worker
    transcribes its jobs in-process and waits for them when it stops."""
    return Component("transcriber", start=app.transcriber.start if start else _nothing,
                     stop=lambda: app.transcriber.shutdown(wait=app.role == "worker"))


def _scheduler(app: Application) -> Component:
    return Component("scheduler", start=app.scheduler.start, stop=app._stop_scheduler)


def _sip(app: Application) -> Component:
    return Component("SIP agent", start=app.agent.start, stop=app.agent.stop)


def _one_web(app: Application) -> list[Component]:
    """Refuse to start beside another web process of the same site (first, before anything runs)."""
    if app.web_lock is None:
        return []
    return [Component("one web process per site", start=app.web_lock.acquire, stop=app.web_lock.release)]


def _listener(app: Application) -> list[Component]:
    """The event log's journal (numbers the panel's events) and, on PostgreSQL, the relay's listener."""
    parts = []
    if app.journal is not None:
        parts.append(Component("event journal", start=app.journal.start, stop=app.journal.stop))
    if app.listener is not None:
        parts.append(Component("event listener", start=app.listener.start, stop=app.listener.stop))
    return parts


def _commands(app: Application) -> Component:
    """Agent role: the panel's 「接听」/监听 sent by the web process, once SIP can dial."""
    assert app.command_listener is not None
    return Component("panel commands", start=app.command_listener.start, stop=app.command_listener.stop)


def _forwarder(app: Application) -> Component:
    assert app.forwarder is not None
    return Component("event forwarder", start=app.forwarder.start, stop=app.forwarder.stop)


def all_in_one(app: Application) -> list[Component]:
    return [*_resources(app), *_one_web(app), *_listener(app),
            Component("crash recovery", start=app.recover),
            _outbox(app),
            Component("prompts", start=app.preload_prompts),  # missing: an error naming `callcenter prompts build`
            _transcriber(app),
            Component("draft model", start=app._warm_draft_model),
            Component("transcripts owed", start=lambda: app.transcription.retry(after_restart=True)),
            Component("site jobs", start=app._register_site_jobs),
            Component("storage jobs", start=app._register_storage_jobs),
            _scheduler(app),
            _sip(app)]


def agent(app: Application) -> list[Component]:
    return [*_resources(app),
            Component("agent identity and crash recovery", start=app._take_identity_and_recover,
                      stop=app._release_identity),
            _outbox(app),
            Component("prompts", start=app.preload_prompts),
            _transcriber(app),
            Component("draft model", start=app._warm_draft_model),
            _forwarder(app),
            # Site-wide jobs (clocks, handovers, reports, retention) run in the web process only.
            Component("no case clocks here", start=lambda: app.scheduler.remove_jobstore(JOBSTORE)),
            Component("storage jobs", start=app._register_storage_jobs),
            Component("live load report", start=app._report_asr_load),
            _scheduler(app),
            _sip(app),
            _commands(app)]


def web(app: Application) -> list[Component]:
    return [*_resources(app), *_one_web(app), *_listener(app), _outbox(app),
            _transcriber(app, start=False),  # the agents and workers transcribe
            Component("site jobs", start=app._register_site_jobs),
            Component("dead agents' calls", start=app._register_dead_agent_sweep),
            _scheduler(app)]


def worker(app: Application) -> list[Component]:
    return [*_resources(app), _outbox(app), _transcriber(app, start=False),
            Component("draft model", start=app._warm_draft_model), _forwarder(app)]


ROLES: dict[str, Callable[[Application], list[Component]]] = {
    "all": all_in_one, "agent": agent, "web": web, "worker": worker}

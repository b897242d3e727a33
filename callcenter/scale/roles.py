"""What each process role starts, and the parts only several processes need.

all    one process does everything (the default; SQLite or PostgreSQL).
agent  SIP, recording, live transcription, drafting, ledger writes. Several may run (one per line
       group), each with its own SIP settings. No site-wide scheduled jobs.
web    the panel and API, the scheduler (case clocks, handovers, reports, retention, transcript
       retries) and the workflow: exactly one per site.
worker transcription jobs from the PostgreSQL queue (asr.mode: queue): any number.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from callcenter.asr.interface import Transcript
from callcenter.asr.pool import QueuedStream, TranscriptionPool
from callcenter.config import Settings
from callcenter.events import AsrLoad, Event, EventBus
from callcenter.ledger import db
from callcenter.ledger.models import Call
from callcenter.ledger.service import LedgerService
from callcenter.scale.relay import libpq_url

if TYPE_CHECKING:
    from callcenter.app import Application
    from callcenter.scale.jobs import TranscriptionQueue

log = logging.getLogger(__name__)

_AGENTS_LOCK = 0x6363_0002  # agents hold it shared while running; recovery needs it exclusive
LOAD_EVERY_S = 5.0
LOAD_STALE_S = 30.0


class RoleError(ValueError):
    """A role or setting that cannot work with this configuration, explained for the administrator."""


def is_postgres(settings: Settings) -> bool:
    return settings.database.url.startswith("postgresql")


def check(role: str, settings: Settings) -> None:
    if role != "all" and not is_postgres(settings):
        raise RoleError(f"--role {role} runs beside other callcenter processes on one database, which "
                        f"needs PostgreSQL (database.url: postgresql+psycopg://...); SQLite is for one "
                        f"all-in-one process. See docs/DEPLOYMENT.md.")
    if settings.asr.mode == "queue" and not is_postgres(settings):
        raise RoleError("asr.mode: queue keeps the transcription jobs in PostgreSQL; set database.url to "
                        "postgresql+psycopg://... or use asr.mode: inprocess.")
    if role == "worker" and settings.asr.mode != "queue":
        raise RoleError("--role worker takes jobs from the transcription queue: set asr.mode: queue "
                        "(in every agent's and the worker's configuration).")


def prepare_database(settings: Settings) -> None:
    """Migrate (Alembic, and the job queue's tables in queue mode); on PostgreSQL one process at a
    time, so processes started together do not race."""
    url = settings.database.url
    if not is_postgres(settings):
        db.upgrade(url)
        return
    from callcenter.scale.jobs import schema_lock

    with schema_lock(url):
        db.upgrade(url)
        if settings.asr.mode == "queue":
            from callcenter.scale.jobs import install_schema

            install_schema(url)


def transcription_queue(settings: Settings) -> TranscriptionQueue | None:
    if settings.asr.mode != "queue":
        return None
    from callcenter.scale.jobs import TranscriptionQueue

    return TranscriptionQueue(settings.database.url)


class QueuedTranscriber:
    """The hotline's transcriber in queue mode: live streams stay in this process; a recording is
    deferred to the job queue (calls.hotline checks for enqueue_call)."""

    def __init__(self, pool: TranscriptionPool, queue: TranscriptionQueue, ledger: LedgerService) -> None:
        self.pool, self.queue, self.ledger = pool, queue, ledger

    def open_stream(self) -> QueuedStream | None:
        return self.pool.open_stream()

    def submit_file(self, wav_path: Path, channel: int = 0) -> Future[Transcript]:
        return self.pool.submit_file(wav_path, channel)

    def enqueue_call(self, sip_call_id: str) -> bool:
        """Mark the transcript queued, then defer the job (in that order: a fast worker's 'done'
        must not be overwritten). False if the queue is unreachable: the web role retries."""
        self.ledger.set_transcript(sip_call_id, None, "queued")
        try:
            self.queue.enqueue(sip_call_id)
        except Exception as exc:
            log.warning("call %s: cannot defer transcription (%s); retried within a minute", sip_call_id, exc)
            return False
        return True


def calls_in_queue(engine: Engine) -> set[str]:
    from callcenter.scale.jobs import pending_call_ids

    return pending_call_ids(engine)


def call_transcriber(pool: TranscriptionPool, queue: TranscriptionQueue | None,
                     ledger: LedgerService) -> TranscriptionPool | QueuedTranscriber:
    return pool if queue is None else QueuedTranscriber(pool, queue, ledger)


# ----- agents' live-stream load, reported to the web process ------------------------------------

class AgentLoads:
    """The web process's view of every agent's live recognizers, from their system.asr_load events."""

    def __init__(self, bus: EventBus) -> None:
        self._lock = threading.Lock()
        self._by_node: dict[str, tuple[float, dict[str, Any]]] = {}
        bus.add_listener(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.type != AsrLoad.TYPE:
            return
        load = event.payload
        if isinstance(load, AsrLoad) and isinstance(load.node, str):
            with self._lock:
                self._by_node[load.node] = (time.monotonic(), load.data())

    def current(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self._lock:
            return [d for seen, d in self._by_node.values() if now - seen < LOAD_STALE_S]


def report_load(app: Application) -> None:
    pool = app.transcriber
    app.bus.publish(AsrLoad(node=app.origin, live=pool.live_streams, live_max=app.settings.asr.max_live_streams,
                            files=pool.files_pending, line=app.settings.sip.username))


# ----- the backlog figure -----------------------------------------------------------------------

_WAITING = ("queued", "unavailable", "failed", "live")


def transcript_counts(engine: Engine) -> dict[str, int]:
    """Inbound recorded calls per transcript status that is not done."""
    with Session(engine) as s:
        rows = s.exec(select(Call.transcript_status, func.count()).where(
            col(Call.transcript_status).in_(_WAITING), Call.direction == "inbound",
            (Call.recording_key != "") | (Call.transcript_status != "unavailable"),
        ).group_by(Call.transcript_status)).all()
    counts = dict.fromkeys(_WAITING, 0)
    counts.update({status: int(n) for status, n in rows})
    return counts


def backlog_status(engine: Engine, settings: Settings, pool: TranscriptionPool, role: str,
                   loads: AgentLoads) -> dict[str, Any]:
    counts = transcript_counts(engine)
    agents = loads.current()
    if role == "all":  # this process is the agent
        live, live_max, files = pool.live_streams, settings.asr.max_live_streams, pool.files_pending
    else:
        live = sum(int(a.get("live", 0)) for a in agents)
        live_max = sum(int(a.get("live_max", 0)) for a in agents)
        files = sum(int(a.get("files", 0)) for a in agents)
    queue: dict[str, int] | None = None
    if settings.asr.mode == "queue":
        from callcenter.scale.jobs import queue_depth

        try:
            depth = queue_depth(engine)
            queue = {"todo": depth.todo, "doing": depth.doing, "failed": depth.failed}
        except Exception:  # the status must answer even when the queue table is away
            log.exception("cannot read the transcription queue")
    backlog = counts["queued"] + counts["unavailable"]
    return {"mode": settings.asr.mode, "role": role, "backlog": backlog, "failed": counts["failed"],
            "transcripts": counts, "live_streams": live, "live_streams_max": live_max,
            "files_pending": files, "queue": queue, "agents": agents, "warn_at": settings.asr.backlog_warn,
            "warn": backlog > settings.asr.backlog_warn or counts["failed"] > 0}


# ----- starting each role -----------------------------------------------------------------------

class AgentPresence:
    """Agents hold a shared advisory lock while they run. Site-wide crash recovery (mark mid-flight
    calls interrupted, repair open recordings) must not touch another running agent's calls, so an
    agent runs it only when it can take the lock exclusively: no other agent is up."""

    def __init__(self, url: str) -> None:
        import psycopg

        self._conn = psycopg.connect(libpq_url(url), autocommit=True)

    def alone(self) -> bool:
        row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (_AGENTS_LOCK,)).fetchone()
        return bool(row and row[0])

    def hold_shared(self, exclusive_taken: bool) -> None:
        self._conn.execute("SELECT pg_advisory_lock_shared(%s)", (_AGENTS_LOCK,))
        if exclusive_taken:
            self._conn.execute("SELECT pg_advisory_unlock(%s)", (_AGENTS_LOCK,))

    def close(self) -> None:
        self._conn.close()  # the session's locks go with it


def start(app: Application) -> None:
    """Start the parts of app.role (not 'all', which Application.start does itself)."""
    from callcenter.workflow.clocks import JOBSTORE

    if app.role == "agent":
        presence = AgentPresence(app.settings.database.url)
        app.presence = presence
        alone = presence.alone()
        if alone:
            app.recover()
        else:
            if app.handler.outbox.pending():  # this agent's own outbox (database.outbox_dir per agent)
                app.handler.outbox.drain()
            log.warning("other agents are running: crash recovery of interrupted calls waits until an "
                        "agent starts alone (docs/DEPLOYMENT.md)")
        presence.hold_shared(alone)
        outbox = getattr(app, "outbox", None)
        if outbox is not None:
            outbox.start()
        app.prompts.preload()
        app.transcriber.start()
        assert app.forwarder is not None
        app.forwarder.start()
        # Site-wide jobs (clocks, handovers, reports, retention) run in the web process only.
        app.scheduler.remove_jobstore(JOBSTORE)
        app.scheduler.add_job(report_load, "interval", args=[app], seconds=LOAD_EVERY_S, id="asr_load",
                              replace_existing=True, max_instances=1, coalesce=True)
        from callcenter.recordings.jobs import register_storage_jobs  # disk alarm, S3 upload retries

        app.disk_monitor = register_storage_jobs(app.scheduler, app.recordings, app.settings.recording,
                                                 app.settings.database.url, app.bus, app.notices)
        app.scheduler.start()
        report_load(app)
        app.agent.start()
        log.info("callcenter agent started: SIP %s:%s as %s", app.settings.sip.bind_ip,
                 app.settings.sip.bind_port, app.settings.sip.username)
    elif app.role == "web":
        assert app.listener is not None
        app.listener.start()
        app.scheduler.add_job(app.retry_transcripts, "interval", minutes=1, id="retry_transcripts",
                              replace_existing=True, max_instances=1, coalesce=True)
        app.scheduler.add_job(app.apply_retention, "cron", hour=3, minute=30,
                              timezone=app.settings.workflow.zone, id="retention", replace_existing=True,
                              coalesce=True)
        from callcenter.reports.schedule import register_report_jobs

        register_report_jobs(app.scheduler, app.engine, app.settings.reports, app.clock,
                             app.settings.reports.out_dir, notify=app._report_ready, terms=app.terms)
        app.workflow.start()
        app.scheduler.start()
        log.info("callcenter web started: panel http://%s:%s/", app.settings.web.host, app.settings.web.port)
    elif app.role == "worker":
        assert app.forwarder is not None
        app.forwarder.start()
        log.info("callcenter transcription worker started (%d process(es))", app.settings.asr.workers)
    else:
        raise RoleError(f"unknown role {app.role!r}")

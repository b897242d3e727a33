"""The process roles and the parts only several processes need (what each role starts is
composed in callcenter/app.py).

all    one process does everything (the default; SQLite or PostgreSQL).
agent  SIP, recording, live transcription, drafting, ledger writes. Several may run (one per line
       group), each with its own SIP settings. No site-wide scheduled jobs.
web    the panel and API, the scheduler (case clocks, handovers, reports, retention, transcript
       retries) and the workflow: exactly one per site.
worker transcription jobs from the PostgreSQL queue (asr.mode: queue): any number.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from callcenter.asr.interface import Transcript
from callcenter.asr.pool import QueuedStream, TranscriptionPool
from callcenter.config import Settings
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService

if TYPE_CHECKING:
    from callcenter.scale.jobs import TranscriptionQueue

log = logging.getLogger(__name__)

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

    def submit_file(self, wav_path: Path, channel: int = 0, start_s: float = 0.0,
                    end_s: float | None = None) -> Future[Transcript]:
        return self.pool.submit_file(wav_path, channel, start_s, end_s)

    def enqueue_call(self, sip_call_id: str) -> bool:
        """Mark the transcript queued, then defer the job (in that order: a fast worker's 'done'
        must not be overwritten). Raises while the database is away: the hotline calls it through
        its outbox (CallWrites.enqueue_transcription), which keeps it until the database is back.
        Idempotent: a call already transcribed (the caller's side, and the clerk's when it was
        bridged), or with a job waiting, gets no second job."""
        call = self.ledger.call_by_key(sip_call_id)
        caller_owed = call.transcript_status != "done"
        clerk_owed = bool(call.clerk_spans) and call.clerk_transcript_status != "done"
        if not caller_owed and not clerk_owed:
            return False
        if caller_owed:
            self.ledger.set_transcript(sip_call_id, None, "queued")
        return self.queue.enqueue(sip_call_id)


def calls_in_queue(engine: Engine) -> set[str]:
    from callcenter.scale.jobs import pending_call_ids

    return pending_call_ids(engine)


def call_transcriber(pool: TranscriptionPool, queue: TranscriptionQueue | None,
                     ledger: LedgerService) -> TranscriptionPool | QueuedTranscriber:
    return pool if queue is None else QueuedTranscriber(pool, queue, ledger)

"""The transcription job queue: procrastinate on the site's PostgreSQL.

An agent in `asr.mode: queue` defers "transcribe and draft call X" once the recording is closed;
`callcenter serve --role worker` processes take the jobs (SELECT ... FOR UPDATE SKIP LOCKED, woken
by LISTEN/NOTIFY), read the recording from the shared recordings directory, and write the
transcript and the draft through the ledger. Jobs are retried with back-off; a job for a call
already transcribed does nothing; jobs for one call never run at the same time (procrastinate's
`lock`), and at most one waits (`queueing_lock`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import procrastinate
import psycopg
from procrastinate import exceptions as pexc
from sqlalchemy import Engine, text

from callcenter.scale.channel import libpq_url

log = logging.getLogger(__name__)

QUEUE = "transcription"
TASK = "callcenter.transcribe_call"
MAX_ATTEMPTS = 5
_SCHEMA_LOCK = 0x6363_0001  # advisory lock key: one process migrates at a time ("cc", 1)


class CallTranscriber(Protocol):
    """What a worker process runs per job (calls.transcription.CallTranscription implements it)."""

    def transcribe_call(self, sip_call_id: str, last_attempt: bool) -> str: ...


def build_app(url: str) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq_url(url)))

    @app.task(name=TASK, queue=QUEUE, pass_context=True,
              retry=procrastinate.RetryStrategy(max_attempts=MAX_ATTEMPTS, exponential_wait=5))
    def transcribe_call(context: procrastinate.JobContext, sip_call_id: str) -> str:
        target: CallTranscriber = context.additional_context["callcenter"]
        attempts = context.job.attempts if context.job else 0
        return target.transcribe_call(sip_call_id, last_attempt=attempts + 1 >= MAX_ATTEMPTS)

    return app


@contextlib.contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Serialises schema changes of processes starting together (Alembic and the queue's)."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))


def install_schema(url: str) -> bool:
    """Create procrastinate's tables once (call under schema_lock). True if it was installed now.
    Upgrading procrastinate past its pinned minor version means applying its SQL migrations."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
        if row is not None and row[0] is not None:
            return False
    app = build_app(url)
    with app.open():
        app.schema_manager.apply_schema()
    log.info("installed the transcription job queue's schema")
    return True


@dataclass(frozen=True)
class QueueDepth:
    todo: int
    doing: int
    failed: int


def queue_depth(engine: Engine) -> QueueDepth:
    """Jobs waiting, running, and given up on; straight from procrastinate's table."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status::text, count(*) FROM procrastinate_jobs "
                                 "WHERE queue_name = :q GROUP BY status"), {"q": QUEUE}).all()
    by = {status: int(n) for status, n in rows}
    return QueueDepth(by.get("todo", 0), by.get("doing", 0), by.get("failed", 0))


def pending_call_ids(engine: Engine) -> set[str]:
    """Calls with a job waiting or running (re-deferring them would only add a no-op job)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT args->>'sip_call_id' FROM procrastinate_jobs WHERE queue_name = :q "
                                 "AND status IN ('todo', 'doing')"), {"q": QUEUE}).scalars()
        return {r for r in rows if r}


class TranscriptionQueue:
    """Defer side, used from any thread of an agent or the web process."""

    def __init__(self, url: str) -> None:
        self.app = build_app(url)
        self._opened = False

    def open(self) -> None:
        if not self._opened:
            self.app.open()
            self._opened = True

    def close(self) -> None:
        if self._opened:
            self.app.close()
            self._opened = False

    def enqueue(self, sip_call_id: str) -> bool:
        """Defer transcription of a call; False if a job for it is already waiting."""
        self.open()
        task = self.app.tasks[TASK]
        try:
            task.configure(lock=sip_call_id, queueing_lock=sip_call_id).defer(sip_call_id=sip_call_id)
        except pexc.AlreadyEnqueued:
            return False
        return True


def run_worker(url: str, target: CallTranscriber, concurrency: int, name: str,
               stalled_check_s: float = 30.0) -> None:
    """Take transcription jobs until SIGTERM/SIGINT (procrastinate's signal handlers stop it
    gracefully: running jobs finish). Jobs of a worker that died are retried."""
    app = build_app(url)

    async def retry_stalled() -> None:
        while True:
            with contextlib.suppress(Exception):  # a database blip: try again next round
                for job in await app.job_manager.get_stalled_jobs():
                    log.warning("retrying stalled job %s (%s)", job.id, job.task_kwargs)
                    await app.job_manager.retry_job(job)
            await asyncio.sleep(stalled_check_s)

    async def main() -> None:
        async with app.open_async():
            watchdog = asyncio.create_task(retry_stalled())
            try:
                await app.run_worker_async(queues=[QUEUE], concurrency=concurrency, name=name,
                                           delete_jobs="successful",
                                           additional_context={"callcenter": target})
            finally:
                watchdog.cancel()

    asyncio.run(main())

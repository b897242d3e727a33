"""The transcription backlog the panel's header chip shows (「转写积压」, GET /api/system/status):
calls whose transcript is queued, unavailable (no model) or failed, the live recognizers in use
(this process's, or every agent's as they report them), recordings waiting for a worker
process, and the job queue's depth in queue mode.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

from sqlalchemy import Engine

from callcenter.asr.settings import AsrSettings
from callcenter.events import AsrLoad, Event, EventBus
from callcenter.ledger.service import LedgerService

log = logging.getLogger(__name__)

LOAD_EVERY_S = 5.0
LOAD_STALE_S = 30.0


class LivePool(Protocol):
    @property
    def live_streams(self) -> int: ...

    @property
    def files_pending(self) -> int: ...


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


class LoadReporter:
    """An agent process's side: its live recognizers in use, published every LOAD_EVERY_S."""

    def __init__(self, bus: EventBus, pool: LivePool, settings: AsrSettings, node: str, line: str) -> None:
        self.bus, self.pool, self.settings, self.node, self.line = bus, pool, settings, node, line

    def report(self) -> None:
        self.bus.publish(AsrLoad(node=self.node, live=self.pool.live_streams, live_max=self.settings.max_live_streams,
                                 files=self.pool.files_pending, line=self.line))


class Backlog:
    """`role` all: this process is the agent; otherwise the agents' reported loads add up."""

    def __init__(self, ledger: LedgerService, engine: Engine, settings: AsrSettings, pool: LivePool, role: str,
                 loads: AgentLoads) -> None:
        self.ledger, self.engine, self.settings, self.pool = ledger, engine, settings, pool
        self.role, self.loads = role, loads

    def status(self) -> dict[str, Any]:
        counts = self.ledger.transcript_backlog()
        agents = self.loads.current()
        settings = self.settings
        if self.role == "all":  # this process is the agent
            live, live_max, files = self.pool.live_streams, settings.max_live_streams, self.pool.files_pending
        else:
            live = sum(int(a.get("live", 0)) for a in agents)
            live_max = sum(int(a.get("live_max", 0)) for a in agents)
            files = sum(int(a.get("files", 0)) for a in agents)
        queue: dict[str, int] | None = None
        if settings.mode == "queue":
            from callcenter.scale.jobs import queue_depth

            try:
                depth = queue_depth(self.engine)
                queue = {"todo": depth.todo, "doing": depth.doing, "failed": depth.failed}
            except Exception:  # the status must answer even when the queue table is away
                log.exception("cannot read the transcription queue")
        backlog = counts["queued"] + counts["unavailable"]
        return {"mode": settings.mode, "role": self.role, "backlog": backlog, "failed": counts["failed"],
                "transcripts": counts, "live_streams": live, "live_streams_max": live_max,
                "files_pending": files, "queue": queue, "agents": agents, "warn_at": settings.backlog_warn,
                "warn": backlog > settings.backlog_warn or counts["failed"] > 0}

"""Automatic pre-scoring off the request (issue 16): scoring a call reads its recording, matches
the prompt clips and may transcribe the agent channel — seconds of work that used to run inside
the HTTP request with no word to the QA reviewer. A small pool runs it; the panel asks how far it
is and opens the scorecard at once with what is already known."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from callcenter.ledger.core import NotFound
from callcenter.qa.service import QaService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobState:
    state: str  # running / done / failed / none
    elapsed_s: float = 0.0
    error: str = ""


class ScoringJobs:
    def __init__(self, qa: QaService, workers: int = 1) -> None:
        self.qa = qa
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qa-score")
        self._lock = threading.Lock()
        self._jobs: dict[int, tuple[str, float, float, str]] = {}  # call -> (state, started, ended, error)

    def start(self, call_id: int, actor: str) -> JobState:
        """Score `call_id` in the background (once at a time per call). NotFound for no such call."""
        self.qa.row(call_id)  # an unknown call is refused now, not in the pool
        with self._lock:
            current = self._jobs.get(call_id)
            if current is not None and current[0] == "running":
                return self._state(current)
            self._jobs[call_id] = ("running", time.monotonic(), 0.0, "")
        self._pool.submit(self._run, call_id, actor)
        return self.state(call_id)

    def _run(self, call_id: int, actor: str) -> None:
        try:
            self.qa.auto_review(call_id, actor)
            outcome, error = "done", ""
        except Exception as exc:  # reported to the panel; the reviewer can start it again
            log.exception("QA pre-score of call %s failed", call_id)
            outcome, error = "failed", f"{type(exc).__name__}: {exc}"[:200]
        with self._lock:
            _, started, _, _ = self._jobs[call_id]
            self._jobs[call_id] = (outcome, started, time.monotonic(), error)

    def state(self, call_id: int) -> JobState:
        with self._lock:
            job = self._jobs.get(call_id)
        if job is None:
            return JobState("none")
        return self._state(job)

    @staticmethod
    def _state(job: tuple[str, float, float, str]) -> JobState:
        state, started, ended, error = job
        return JobState(state, round((ended or time.monotonic()) - started, 1), error)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["JobState", "NotFound", "ScoringJobs"]

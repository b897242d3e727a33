"""Notifier protocol and the dispatcher that delivers notices off the caller's thread.

Publishers are telephony threads, workflow jobs and request handlers: none of them may wait
for a group-chat robot or fail because one is down. So publish() only queues; each notifier
has its own small thread pool, which keeps a hanging webhook from delaying the others.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential,
)

from callcenter.notify.message import SEVERITIES, Notice, Severity, severity_rank

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A notice did not reach its destination. retryable=False for errors a retry cannot fix."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class Notifier(Protocol):
    name: str

    def send(self, notice: Notice) -> None:
        """Deliver synchronously; raise DeliveryError on failure."""
        ...


@dataclass(frozen=True)
class NoticeFilter:
    """Which notices a notifier gets. Empty kinds/audiences/estates mean all; a robot of some
    estates gets their notices and those about no estate (the system's)."""

    min_severity: Severity = "info"
    kinds: frozenset[str] = frozenset()
    audiences: frozenset[str] = frozenset()
    estates: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.min_severity not in SEVERITIES:
            raise ValueError(f"min_severity must be one of {', '.join(SEVERITIES)}, got {self.min_severity!r}")
        object.__setattr__(self, "kinds", frozenset(self.kinds))
        object.__setattr__(self, "audiences", frozenset(self.audiences))
        object.__setattr__(self, "estates", frozenset(self.estates))

    def accepts(self, notice: Notice) -> bool:
        if severity_rank(notice.severity) < severity_rank(self.min_severity):
            return False
        if self.kinds and notice.kind not in self.kinds:
            return False
        if self.estates and notice.estate_id is not None and notice.estate_id not in self.estates:
            return False
        return not self.audiences or not self.audiences.isdisjoint(notice.audience)


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2  # attempts after the first one
    backoff_s: float = 1.0  # first wait; doubles each time
    max_backoff_s: float = 30.0

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError("retries and back-off times cannot be negative")


@dataclass(frozen=True)
class NotifierStats:
    sent: int = 0  # notices delivered
    failed: int = 0  # notices given up on after all attempts
    retried: int = 0  # extra attempts made
    dropped: int = 0  # not attempted: backlog full or dispatcher closed


@dataclass
class _Route:
    notifier: Notifier
    filter: NoticeFilter
    retry: RetryPolicy
    max_pending: int
    pool: ThreadPoolExecutor
    pending: set[Future[None]] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: {"sent": 0, "failed": 0, "retried": 0, "dropped": 0})


class Dispatcher:
    """Fans a notice out to every notifier whose filter accepts it. publish() never blocks or raises."""

    def __init__(self, *, workers_per_notifier: int = 2, max_pending: int = 1000) -> None:
        if workers_per_notifier < 1 or max_pending < 1:
            raise ValueError("workers_per_notifier and max_pending must be at least 1")
        self._workers = workers_per_notifier
        self._max_pending = max_pending
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()  # set when close() gives up: ends back-off waits early

    def add(self, notifier: Notifier, filter: NoticeFilter | None = None, retry: RetryPolicy | None = None) -> None:
        name = notifier.name
        with self._lock:
            if self._closed:
                raise RuntimeError("the dispatcher is closed")
            if name in self._routes:
                raise ValueError(f"a notifier named {name!r} is already registered; names must be unique")
            pool = ThreadPoolExecutor(self._workers, thread_name_prefix=f"notify-{name}")
            self._routes[name] = _Route(notifier, filter or NoticeFilter(), retry or RetryPolicy(),
                                        self._max_pending, pool)

    @property
    def names(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._routes)

    def publish(self, notice: Notice) -> None:
        try:
            with self._lock:
                routes = list(self._routes.values())
                closed = self._closed
            for route in routes:
                if route.filter.accepts(notice):
                    self._submit(route, notice, closed)
        except Exception:  # the caller is answering a phone: never let notification break it
            log.exception("notice %r could not be queued", notice.title)

    def _submit(self, route: _Route, notice: Notice, closed: bool) -> None:
        name = route.notifier.name
        with self._lock:
            if closed or len(route.pending) >= route.max_pending:
                route.counts["dropped"] += 1
                log.warning("notifier %s: dropped %s notice %r (%s)", name, notice.kind, notice.title,
                            "dispatcher closed" if closed else "backlog full")
                return
            future = route.pool.submit(self._deliver, route, notice)
            route.pending.add(future)
        future.add_done_callback(lambda f: self._forget(route, f))

    def _forget(self, route: _Route, future: Future[None]) -> None:
        with self._lock:
            route.pending.discard(future)

    def _deliver(self, route: _Route, notice: Notice) -> None:
        name = route.notifier.name
        retrying = Retrying(
            stop=stop_after_attempt(route.retry.retries + 1) | stop_when_event_set(self._stop),
            wait=wait_exponential(multiplier=route.retry.backoff_s, max=route.retry.max_backoff_s),
            # A bug in a notifier (TypeError, ...) will not fix itself: only DeliveryError is retried.
            retry=retry_if_exception(lambda e: isinstance(e, DeliveryError) and e.retryable),
            sleep=self._sleep,
            before_sleep=lambda state: self._before_retry(route, state),
            reraise=True,
        )
        try:
            retrying(route.notifier.send, notice)
        except Exception as exc:
            self._count(route, "failed")
            if isinstance(exc, DeliveryError):
                log.error("notifier %s: gave up on %s notice %r: %s", name, notice.kind, notice.title, exc)
            else:
                log.exception("notifier %s: crashed on %s notice %r", name, notice.kind, notice.title)
        else:
            self._count(route, "sent")
            log.info("notifier %s: sent %s notice %r", name, notice.kind, notice.title)

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _before_retry(self, route: _Route, state: RetryCallState) -> None:
        self._count(route, "retried")
        exc = state.outcome.exception() if state.outcome else None
        wait_s = state.next_action.sleep if state.next_action else 0.0
        log.warning("notifier %s: attempt %d failed (%s); retrying in %.1f s",
                    route.notifier.name, state.attempt_number, exc, wait_s)

    def _count(self, route: _Route, key: str) -> None:
        with self._lock:
            route.counts[key] += 1

    def stats(self) -> dict[str, NotifierStats]:
        with self._lock:
            return {name: NotifierStats(**r.counts) for name, r in self._routes.items()}

    def close(self, timeout: float | None = 10.0) -> bool:
        """Stop accepting notices and wait up to timeout for queued ones. True if all were handled."""
        with self._lock:
            self._closed = True
            routes = list(self._routes.values())
            pending = {f: r for r in routes for f in r.pending}
        _, not_done = wait(pending, timeout=timeout)
        if not_done:
            log.warning("notify: %d deliveries still pending at close; abandoning them", len(not_done))
            self._stop.set()  # no more back-off waits or retries
        for route in routes:
            route.pool.shutdown(wait=False, cancel_futures=True)
        for future in not_done:
            if future.cancelled():  # never started: count it, or stats would hide the loss
                self._count(pending[future], "dropped")
        for route in routes:
            close = getattr(route.notifier, "close", None)
            if callable(close):
                close()
        return not not_done

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RecordingNotifier:
    """Keeps notices in memory, newest last: a real sink for tests, demos and a panel feed."""

    def __init__(self, name: str = "recording", limit: int = 1000) -> None:
        self.name = name
        self._limit = limit
        self._notices: list[Notice] = []
        self._changed = threading.Condition()

    def send(self, notice: Notice) -> None:
        with self._changed:
            self._notices.append(notice)
            del self._notices[: -self._limit]
            self._changed.notify_all()

    @property
    def notices(self) -> tuple[Notice, ...]:
        with self._changed:
            return tuple(self._notices)

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until at least count notices are held (or timeout); for tests and shutdown checks."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._notices) >= count, timeout)


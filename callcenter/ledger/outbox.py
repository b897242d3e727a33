"""The call path's durable outbox: ledger writes that the database could not take (SQLite locked,
PostgreSQL down) wait here, on local disk, and are replayed in order when it is back.

A call never fails because of the database: its writes go to the ledger directly while the
database works; the first write that fails with a database error goes to the outbox, and so does
every later write (of any call) until the outbox has drained, which keeps each call's writes in
order. The queue is persist-queue's SQLiteAckQueue (one local SQLite file, WAL, an item is
acknowledged only after the ledger committed it), so pending writes survive a kill -9 and are
replayed at the next start. Every operation is idempotent in the ledger (keyed on the call's
SIP Call-ID and the operation), so a write replayed twice — committed, then killed before its
acknowledgement — changes nothing the second time.

`CallWrites` is the call pipeline's view of the ledger built on it: each write carries the time
it happened, and the writes that return something (the call's pk, the draft entry, the
directory's answer) return None while the database is away, which the caller must accept.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from persistqueue import SQLiteAckQueue
from persistqueue.exceptions import Empty
from persistqueue.serializers import json as json_serializer
from sqlalchemy import exc as sa_exc

from callcenter.asr.interface import Transcript, Word
from callcenter.events import CallProvisional, DatabaseAlarm, EventBus, call_key
from callcenter.ledger.models import Resident
from callcenter.ledger.service import AnsweredCall, LedgerService
from callcenter.recordings.interface import RecordingInfo

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Any]


def is_unavailable(exc: BaseException) -> bool:
    """A database that is locked, down or unreachable (try again later), as opposed to a write
    the ledger refuses (a bug or bad data: retrying cannot help). Through SQLAlchemy, or straight
    from psycopg (the transcription queue's procrastinate wraps its errors: the causes are read)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
            return True
        if isinstance(seen, sa_exc.DBAPIError) and bool(seen.connection_invalidated):
            return True
        if _is_psycopg_unavailable(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_psycopg_unavailable(exc: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:  # the postgres extra is not installed: SQLite only
        return False
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    try:
        import psycopg_pool  # procrastinate's connection pool
    except ImportError:
        return False
    return isinstance(exc, psycopg_pool.PoolTimeout)


class Outbox:
    """A FIFO of named operations (JSON arguments) with a handler per name.

    `directory` None keeps the queue in memory (tests, tools): it then protects against outages
    but not against a crash.
    """

    def __init__(self, directory: Path | None, bus: EventBus, drain_interval_s: float = 2.0) -> None:
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self._queue = SQLiteAckQueue(str(directory) if directory is not None else ":memory:",
                                     multithreading=True, serializer=json_serializer, auto_resume=True)
        self.directory = directory
        self.bus = bus
        self.drain_interval_s = drain_interval_s
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()  # the decision "direct or queued" against the drainer's "empty"
        self._drain_lock = threading.Lock()  # one replay at a time
        self._down = False
        self._drainer: threading.Thread | None = None
        self._wake = threading.Event()
        self._closed = False
        self.replayed = 0  # operations replayed since start (figures, tests)
        self.dead = 0  # operations the ledger refused on replay (logged, kept as ack_failed)

    def register(self, op: str, handler: Handler) -> None:
        self._handlers[op] = handler

    def pending(self) -> int:
        """Operations not yet in the ledger."""
        return int(self._queue.active_size())

    @property
    def database_down(self) -> bool:
        return self._down

    def submit(self, op: str, args: dict[str, Any]) -> tuple[bool, Any]:
        """Run `op` now if nothing waits before it and the database takes it: (True, result).
        Otherwise it is queued durably: (False, None)."""
        if op not in self._handlers:
            raise KeyError(f"outbox: no handler for {op!r}")
        with self._lock:
            queued = self._down or self.pending() > 0
            if queued:
                self._put(op, args)
        if queued:
            return False, None
        try:
            return True, self._handlers[op](args)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            with self._lock:
                self._put(op, args)
                self._went_down(op, exc)
            return False, None

    def drain(self) -> int:
        """Replay pending operations in order until the queue is empty or the database fails
        again. Returns how many were replayed. Thread-safe; the drainer thread calls it."""
        done = 0
        with self._drain_lock:
            while True:
                try:
                    item = self._queue.get(block=False, raw=True)
                except Empty:
                    break
                data = item["data"]
                try:
                    self._handlers[data["op"]](data["args"])
                except Exception as exc:
                    if is_unavailable(exc):
                        self._queue.nack(id=item["pqid"])
                        with self._lock:
                            self._went_down(data["op"], exc)
                        return done
                    # The ledger refuses it (a bug, a call it never heard of): keep it aside
                    # rather than block every later call behind it.
                    log.exception("outbox: the ledger refused %s %s; kept aside as failed", data["op"],
                                  data["args"].get("sip_call_id"))
                    self._queue.ack_failed(id=item["pqid"])
                    self.dead += 1
                    continue
                self._queue.ack(id=item["pqid"])
                done += 1
                self.replayed += 1
            with self._lock:
                if self.pending() == 0 and self._down:
                    self._down = False
                    log.warning("database is back: the outbox is drained (%d write(s) replayed)", done)
                    self.bus.publish(DatabaseAlarm(state="recovered", message="数据库已恢复，暂存的通话记录已写入台账",
                                                   pending=0))
            self._queue.clear_acked_data(keep_latest=0, max_delete=10_000)
        return done

    def start(self) -> None:
        """Run the drainer thread (idempotent). It sleeps while nothing is pending."""
        if self._drainer is None:
            self._drainer = threading.Thread(target=self._run, name="ledger-outbox", daemon=True)
            self._drainer.start()
            if self.pending():
                self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        if self._drainer is not None:
            self._drainer.join(timeout=10)
        self._queue.close()

    # ----- internals -----------------------------------------------------------------------

    def _put(self, op: str, args: dict[str, Any]) -> None:
        self._queue.put({"op": op, "args": args, "queued_at": time.time()})
        self.start()
        self._wake.set()

    def _went_down(self, op: str, exc: BaseException) -> None:
        if not self._down:
            self._down = True
            log.error("database unavailable (%s); call records go to the outbox %s until it is back",
                      str(exc).splitlines()[0][:200], self.directory or "(memory)")
            self.bus.publish(DatabaseAlarm(state="unavailable",
                                           message="数据库不可用：通话照常接听和录音，记录暂存本机，恢复后自动写入台账",
                                           pending=self.pending(), op=op))

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait()
            if self._closed:
                return
            try:
                self.drain()
            except Exception:  # the drainer must outlive anything (a full disk under the outbox)
                log.exception("outbox: drain failed")
            if self.pending() == 0:
                self._wake.clear()
                if self.pending():  # queued between the check and the clear
                    self._wake.set()
            else:
                time.sleep(self.drain_interval_s)


# ----- the call pipeline's writes ----------------------------------------------------------

# (sip_call_id, caller_number, own_entry_id, transcript, dtmf[, facts]) -> entry id
Drafter = Callable[..., int]


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def encode_transcript(t: Transcript | None) -> dict[str, Any] | None:
    return dataclasses.asdict(t) if t is not None else None


def decode_transcript(d: dict[str, Any] | None) -> Transcript | None:
    if d is None:
        return None
    return Transcript(d["text"], tuple(Word(**w) for w in d.get("words", ())), d.get("engine", ""))


def encode_recording(r: RecordingInfo | None) -> dict[str, Any] | None:
    return dataclasses.asdict(r) if r is not None else None


def decode_recording(d: dict[str, Any] | None) -> RecordingInfo | None:
    return RecordingInfo(**d) if d is not None else None


class CallWrites:
    """The call pipeline's writes to the ledger, each through the outbox.

    A call step that waits in the outbox is announced at once as a live-only `call.provisional`
    event, so the board shows the call while the database is away; the stored events follow when
    the outbox drains (the board merges them by the call's key)."""

    def __init__(self, ledger: LedgerService, outbox: Outbox, draft: Drafter, agent_id: str | None = None) -> None:
        self.ledger = ledger
        self.agent_id = agent_id  # the agent that carries these calls (None: an all-in-one process)
        self.outbox = outbox
        # calls in progress: Call-ID -> (caller number, estate dialled), for their provisional events
        self._live: dict[str, tuple[str, int | None]] = {}
        self._live_lock = threading.Lock()
        led = ledger
        outbox.register("call_ringing", lambda a: led.call_ringing(
            a["sip_call_id"], a["caller_number"], a["caller_display"], a["called_number"],
            _at(a["received_at"]) or led.clock.now(), agent_id=a.get("agent_id")))
        outbox.register("call_answered", lambda a: led.call_answered(a["sip_call_id"], at=_at(a["at"])))
        outbox.register("call_missed", lambda a: led.call_missed(a["sip_call_id"], a["reason"], at=_at(a["at"]),
                                                                  detail=a.get("detail", "")))
        outbox.register("call_ended", lambda a: led.call_ended(
            a["sip_call_id"], a["reason"], decode_recording(a["recording"]), at=_at(a["at"]),
            hold_ms=a.get("hold_ms", 0)))
        outbox.register("set_dtmf", lambda a: led.set_dtmf(a["sip_call_id"], a["digits"]))
        outbox.register("set_transcript", lambda a: led.set_transcript(
            a["sip_call_id"], decode_transcript(a["transcript"]), a["status"]))
        outbox.register("set_clerk_spans", lambda a: led.set_clerk_spans(
            a["sip_call_id"], [(float(x), float(y)) for x, y in a["spans"]]))
        outbox.register("set_clerk_transcript", lambda a: led.set_clerk_transcript(
            a["sip_call_id"], decode_transcript(a["transcript"]), a["status"]))
        outbox.register("draft", lambda a: draft(
            a["sip_call_id"], a["caller_number"], a["own_entry_id"], decode_transcript(a["transcript"]),
            a["dtmf"], a.get("facts")))
        outbox.register("call_person", lambda a: led.call_person(
            a["sip_call_id"], a["step"], a["reason"], a.get("number", ""), a.get("username", ""), _at(a["at"]),
            a.get("unit", "")))
        outbox.register("intake_path", lambda a: led.set_intake_path(a["sip_call_id"], a["path"]))

    def ringing(self, sip_call_id: str, caller_number: str, caller_display: str, called_number: str,
                received_at: datetime) -> int | None:
        with self._live_lock:
            first = sip_call_id not in self._live
            if first:
                self._live[sip_call_id] = (caller_number, self._estate_of(called_number))
        written, pk = self.outbox.submit("call_ringing", {
            "sip_call_id": sip_call_id, "caller_number": caller_number, "caller_display": caller_display,
            "called_number": called_number, "received_at": _when(received_at), "agent_id": self.agent_id})
        if not written and first:  # on_ringing and on_call both log the call: announce it once
            self._provisional(sip_call_id, "ringing")
        return pk if isinstance(pk, int) else None

    def answered(self, sip_call_id: str, at: datetime) -> AnsweredCall | None:
        written, answered = self.outbox.submit("call_answered", {"sip_call_id": sip_call_id, "at": _when(at)})
        if not written:
            self._provisional(sip_call_id, "answered")
        return answered if isinstance(answered, AnsweredCall) else None

    def missed(self, sip_call_id: str, reason: str, at: datetime, detail: str = "") -> None:
        written, _ = self.outbox.submit("call_missed", {"sip_call_id": sip_call_id, "reason": reason,
                                                        "at": _when(at), "detail": detail})
        if not written:
            self._provisional(sip_call_id, "missed", reason)
        self._forget(sip_call_id)

    def ended(self, sip_call_id: str, reason: str, recording: RecordingInfo | None, at: datetime,
              hold_ms: int = 0) -> None:
        try:
            written, _ = self.outbox.submit("call_ended", {"sip_call_id": sip_call_id, "reason": reason,
                                                           "recording": encode_recording(recording),
                                                           "at": _when(at), "hold_ms": hold_ms})
            if not written:
                self._provisional(sip_call_id, "ended", reason)
        finally:
            self._forget(sip_call_id)

    def _estate_of(self, called_number: str) -> int | None:
        try:
            return self.ledger.estates.id_for_number(called_number)
        except Exception:  # the board's filter only: never let it stop a call
            log.exception("no estate for the number dialled %r", called_number)
            return None

    def _forget(self, sip_call_id: str) -> None:
        with self._live_lock:
            self._live.pop(sip_call_id, None)

    def _provisional(self, sip_call_id: str, step: str, reason: str = "") -> None:
        with self._live_lock:
            number, estate_id = self._live.get(sip_call_id, ("", None))
        try:
            self.ledger.bus.publish(CallProvisional(call_key=call_key(sip_call_id), step=step,  # type: ignore[arg-type]
                                                    caller_number=number, estate_id=estate_id, reason=reason))
        except Exception:  # the board's convenience must never cost the call
            log.exception("call %s: provisional %s event failed", sip_call_id, step)

    def dtmf(self, sip_call_id: str, digits: str) -> None:
        self.outbox.submit("set_dtmf", {"sip_call_id": sip_call_id, "digits": digits})

    def enqueue_transcription(self, sip_call_id: str) -> None:
        """Queue mode: defer the call's transcription job, in order after the call's other writes
        (registered by the hotline when its transcriber has a job queue)."""
        self.outbox.submit("enqueue_transcription", {"sip_call_id": sip_call_id})

    def transcript(self, sip_call_id: str, transcript: Transcript | None, status: str) -> None:
        self.outbox.submit("set_transcript", {"sip_call_id": sip_call_id, "status": status,
                                              "transcript": encode_transcript(transcript)})

    def clerk_spans(self, sip_call_id: str, spans: list[tuple[float, float]]) -> None:
        """A bridged call: when the clerk was on the recording's right channel."""
        self.outbox.submit("set_clerk_spans", {"sip_call_id": sip_call_id, "spans": [list(p) for p in spans]})

    def clerk_transcript(self, sip_call_id: str, transcript: Transcript | None, status: str) -> None:
        self.outbox.submit("set_clerk_transcript", {"sip_call_id": sip_call_id, "status": status,
                                                    "transcript": encode_transcript(transcript)})

    def draft(self, sip_call_id: str, caller_number: str, own_entry_id: int | None,
              transcript: Transcript | None, dtmf: str, facts: dict[str, Any] | None = None) -> None:
        """`facts`: what the caller confirmed on the keypad during the call (calls.understanding)."""
        self.outbox.submit("draft", {"sip_call_id": sip_call_id, "caller_number": caller_number,
                                     "own_entry_id": own_entry_id, "transcript": encode_transcript(transcript),
                                     "dtmf": dtmf, "facts": facts})

    def person(self, sip_call_id: str, step: str, reason: str, number: str = "", username: str = "",
               at: datetime | None = None, unit: str = "") -> None:
        self.outbox.submit("call_person", {"sip_call_id": sip_call_id, "step": step, "reason": reason,
                                           "number": number, "username": username, "at": _when(at),
                                           "unit": unit})

    def intake_path(self, sip_call_id: str, path: str) -> None:
        self.outbox.submit("intake_path", {"sip_call_id": sip_call_id, "path": path})

    def partial_transcript(self, call_pk: int | None, sip_call_id: str, text: str) -> None:
        """Only an event for the panel; the call's pk is unknown while the database is away."""
        if call_pk is not None:
            self.ledger.partial_transcript(call_pk, text)

    def resident_for_number(self, number: str, estate_id: int | None = None) -> Resident | None:
        """The directory's answer (in the estate called), or None (an unknown caller) while the
        database is away."""
        if self.outbox.database_down:
            return None
        try:
            return self.ledger.resident_for_number(number, estate_id)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("directory lookup of %s failed (%s); treating the caller as unknown", number, exc)
            return None

"""The statistics the seeds ask for (DOMAIN.md, 统计分析), as plain read-only functions.

Every function takes an Engine and a `Period` (which carries the site's timezone); rows are
selected with parameterised SQLAlchemy expressions against UTC bounds and counted in Python,
so the figures are identical on SQLite and PostgreSQL.

Definitions used throughout:
- An entry belongs to the period in which it was created (`Entry.created_at`).
- Important (重要) = `urgent`; general (一般) = not urgent.
- Open = a status in `OPEN` of the ledger's lifecycle (draft..completed, i.e. not yet called back
  or closed); closed = every other status (called_back, closed, cancelled, merged).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from callcenter.ledger.lifecycle import COMPLAINT, FAIRLY_SATISFIED, SATISFIED, UNSATISFIED
from callcenter.ledger.lifecycle import HANDLED as HANDLED_STATUSES
from callcenter.ledger.lifecycle import INVALID as INVALID_STATUSES
from callcenter.ledger.lifecycle import OPEN as OPEN_STATUSES
from callcenter.ledger.lifecycle import UNFINISHED as UNFINISHED_STATUSES
from callcenter.ledger.models import AuditLog, Call, Correction, Entry, User
from callcenter.reports.figures import (
    CallbackFigures,
    ClerkFigures,
    MissedCallFigures,
    callbacks_in,
    clerks_in,
    missed_calls_in,
)
from callcenter.reports.periods import Period

RING_BUCKETS = ("1", "2", "3", ">3")
UNOWNED = "(未确认)"
# Subject words for hot complaint topics: topic -> words that, found in a summary, mean it.
# The first topic whose word appears wins; nothing matched -> "其他".
DEFAULT_TOPICS: Mapping[str, Sequence[str]] = {
    "楼道/路灯": ("楼道灯", "路灯", "灯不亮", "照明"),
    "电梯": ("电梯",),
    "漏水/渗水": ("漏水", "渗水", "水管", "爆管"),
    "停水停电": ("停水", "停电", "没电", "没水"),
    "噪音": ("噪音", "吵", "装修声"),
    "卫生/垃圾": ("垃圾", "卫生", "保洁"),
    "停车": ("停车", "车位", "道闸"),
    "收费": ("物业费", "收费", "费用"),
    "服务态度": ("态度", "不理", "推诿"),
}


@dataclass(frozen=True)
class Trend:
    """One count this period, the previous period and the same period last year."""

    key: str
    current: int
    previous: int
    last_year: int

    @property
    def vs_previous(self) -> int:
        return self.current - self.previous

    @property
    def vs_last_year(self) -> int:
        return self.current - self.last_year


@dataclass(frozen=True)
class FieldAccuracy:
    field: str
    confirmations: int
    changed: int

    @property
    def changed_share(self) -> float:
        return self.changed / self.confirmations if self.confirmations else 0.0


@dataclass(frozen=True)
class MonthlyReport:
    period: Period
    total: int
    by_category: Mapping[str, int]
    by_department: Mapping[str, int]
    important: int
    general: int
    by_status: Mapping[str, int]
    open: int
    closed: int
    calls_received: int
    calls_answered: int
    calls_missed: int
    answer_rings: Mapping[str, int]  # "1" "2" "3" ">3" -> answered calls
    registrations: int  # call entries with a linked call
    registered_in_time: int  # confirmed within `register_limit` of the call's end
    draft_accuracy: tuple[FieldAccuracy, ...]
    by_clerk: Mapping[str, int]  # the owner's (首接人) display name, else login name -> entries
    trend: tuple[Trend, ...]
    callbacks: CallbackFigures  # 回访: due / done / on time / satisfaction (figures.py)
    missed: MissedCallFigures  # 未接来电 and how many were called back
    clerks: tuple[ClerkFigures, ...]


def rings(received_at: datetime, answered_at: datetime, ring_seconds: float = 5.0) -> int:
    """Rings heard before the answer: a call answered within the first ring period is 1 ring,
    within the second 2, ... (ceil of the wait over the ring period, at least 1)."""
    wait = (answered_at - received_at).total_seconds()
    return max(1, math.ceil(wait / ring_seconds))


def _ring_bucket(n: int) -> str:
    return str(n) if n <= 3 else ">3"


def _entries(s: Session, period: Period) -> list[Entry]:
    q = select(Entry).where(col(Entry.created_at) >= period.start, col(Entry.created_at) < period.end)
    return list(s.exec(q.order_by(col(Entry.id))).all())


def _calls(s: Session, period: Period) -> list[Call]:
    q = select(Call).where(col(Call.received_at) >= period.start, col(Call.received_at) < period.end)
    return list(s.exec(q.order_by(col(Call.id))).all())


def _workflow_counts(cb: CallbackFigures, missed: MissedCallFigures) -> dict[str, int]:
    """The trend's workflow counts; zeros are left out like the other counts."""
    counts = {"callbacks_due": cb.due, "callbacks_done": cb.done, "callbacks_on_time": cb.on_time,
              "satisfied": cb.satisfaction.get(SATISFIED, 0) + cb.satisfaction.get(FAIRLY_SATISFIED, 0),
              "unsatisfied": cb.satisfaction.get(UNSATISFIED, 0), "missed_called_back": missed.called_back}
    return {k: v for k, v in counts.items() if v}


def _counts(entries: Iterable[Entry], calls: Iterable[Call]) -> dict[str, int]:
    """The counts the trend compares, keyed 'total', 'category:报修', 'department:工程', ..."""
    counts: Counter[str] = Counter()
    for e in entries:
        counts["total"] += 1
        counts[f"category:{e.category or '(未分类)'}"] += 1
        counts["important" if e.urgent else "general"] += 1
        counts["open" if e.status in OPEN_STATUSES else "closed"] += 1
    for c in calls:
        counts["calls_received"] += 1
        counts["calls_answered"] += c.answered_at is not None
        counts["calls_missed"] += c.status == "missed"
    return dict(counts)


def monthly_statistics(engine: Engine, period: Period, *, ring_seconds: float = 5.0,
                       register_limit: timedelta = timedelta(minutes=1)) -> MonthlyReport:
    """Everything about the entries created and the calls received in `period` (normally a
    month), with each count of `_counts` compared against the previous period and the same
    period last year.

    - Calls are counted by `received_at`; answered = has `answered_at`; missed = status missed.
    - Answer rings: see `rings`; buckets 1, 2, 3 and >3.
    - Registration timeliness (登记及时, one minute): over entries of kind "call" that have a
      linked call, an entry is in time when it was confirmed no later than `register_limit`
      after its first call ended (answered_at when the call has no end); never confirmed = late.
    - Draft accuracy: Correction rows written (`at`) in the period, per field, and how many the
      clerk changed.
    - By clerk: entries per owner (首接人) display name (else username); entries without an owner under UNOWNED.
    """
    with Session(engine) as s:
        entries, calls = _entries(s, period), _calls(s, period)
        first_call: dict[int, Call] = {}
        ids = [e.id for e in entries if e.kind == "call" and e.id is not None]
        if ids:
            linked = s.exec(select(Call).where(col(Call.entry_id).in_(ids)).order_by(col(Call.received_at)))
            for c in linked.all():
                assert c.entry_id is not None
                first_call.setdefault(c.entry_id, c)
        corrections = s.exec(select(Correction.field, Correction.changed)
                              .where(col(Correction.at) >= period.start, col(Correction.at) < period.end)).all()
        owner_ids = {e.owner_id for e in entries if e.owner_id is not None}
        # by the name people know (the display name, else the login name)
        names = {u.id: u.display_name or u.username
                 for u in s.exec(select(User).where(col(User.id).in_(owner_ids))).all()} if owner_ids else {}
        previous, last_year = period.previous(), period.same_period_last_year()
        callbacks, missed = callbacks_in(s, period), missed_calls_in(s, period)
        clerks = clerks_in(s, period, entries)
        prev_counts = _counts(_entries(s, previous), _calls(s, previous)) | _workflow_counts(
            callbacks_in(s, previous), missed_calls_in(s, previous))
        year_counts = _counts(_entries(s, last_year), _calls(s, last_year)) | _workflow_counts(
            callbacks_in(s, last_year), missed_calls_in(s, last_year))

    counts = _counts(entries, calls) | _workflow_counts(callbacks, missed)
    ring_counts = Counter(_ring_bucket(rings(c.received_at, c.answered_at, ring_seconds))
                          for c in calls if c.answered_at is not None)
    by_id = {e.id: e for e in entries}
    in_time = 0
    for entry_id, c in first_call.items():
        entry = by_id[entry_id]
        after = c.ended_at or c.answered_at or c.received_at
        in_time += entry.confirmed_at is not None and entry.confirmed_at - after <= register_limit
    accuracy: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for name, changed in corrections:
        accuracy[name][0] += 1
        accuracy[name][1] += bool(changed)
    keys = sorted(set(counts) | set(prev_counts) | set(year_counts), key=_trend_order)
    return MonthlyReport(
        period=period, total=len(entries),
        by_category=dict(Counter(e.category or "(未分类)" for e in entries).most_common()),
        by_department=dict(Counter(e.department or "(未分派)" for e in entries).most_common()),
        important=counts.get("important", 0), general=counts.get("general", 0),
        by_status=dict(Counter(e.status for e in entries).most_common()),
        open=counts.get("open", 0), closed=counts.get("closed", 0),
        calls_received=counts.get("calls_received", 0), calls_answered=counts.get("calls_answered", 0),
        calls_missed=counts.get("calls_missed", 0),
        answer_rings={b: ring_counts.get(b, 0) for b in RING_BUCKETS},
        registrations=len(first_call), registered_in_time=in_time,
        draft_accuracy=tuple(FieldAccuracy(f, n, c) for f, (n, c) in sorted(accuracy.items())),
        by_clerk=dict(Counter(names.get(e.owner_id, f"#{e.owner_id}") if e.owner_id is not None
                              else UNOWNED for e in entries).most_common()),
        trend=tuple(Trend(k, counts.get(k, 0), prev_counts.get(k, 0), year_counts.get(k, 0)) for k in keys),
        callbacks=callbacks, missed=missed, clerks=clerks)


def _trend_order(key: str) -> tuple[int, str]:
    order = ("total", "important", "general", "open", "closed", "calls_received", "calls_answered",
             "calls_missed", "missed_called_back", "callbacks_due", "callbacks_done", "callbacks_on_time",
             "satisfied", "unsatisfied")
    return (order.index(key), "") if key in order else (len(order), key)


@dataclass(frozen=True)
class HotTopic:
    topic: str
    department: str
    count: int
    entry_ids: tuple[int, ...]


def topic_of(summary: str, topics: Mapping[str, Sequence[str]] = DEFAULT_TOPICS) -> str:
    """The first topic one of whose words occurs in the summary, else '其他'."""
    for topic, words in topics.items():
        if any(w in summary for w in words):
            return topic
    return "其他"


def hot_complaint_topics(engine: Engine, week: Period, top: int = 10,
                         topics: Mapping[str, Sequence[str]] = DEFAULT_TOPICS) -> tuple[HotTopic, ...]:
    """Weekly hot complaint topics (for the estate manager's unified reply, 统一口径).

    Complaints (category 投诉, not cancelled/merged) created in `week`, grouped by
    (topic_of(summary), department), most complaints first (ties: topic, department), at most
    `top` groups."""
    with Session(engine) as s:
        q = select(Entry).where(col(Entry.created_at) >= week.start, col(Entry.created_at) < week.end,
                                Entry.category == COMPLAINT, col(Entry.status).not_in(INVALID_STATUSES))
        rows = s.exec(q.order_by(col(Entry.id))).all()
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for e in rows:
        assert e.id is not None
        groups[(topic_of(e.summary, topics), e.department or "(未分派)")].append(e.id)
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return tuple(HotTopic(t, d, len(ids), tuple(ids)) for (t, d), ids in ranked[:top])


@dataclass(frozen=True)
class UnfinishedItem:
    entry_id: int
    created_at: datetime
    age_days: int
    status: str
    category: str
    urgent: bool
    unit: str
    summary: str


@dataclass(frozen=True)
class DepartmentBacklog:
    department: str
    items: tuple[UnfinishedItem, ...]  # oldest first


def unfinished_by_department(engine: Engine, now: datetime, older_than_days: int = 0,
                             statuses: Sequence[str] = UNFINISHED_STATUSES) -> tuple[DepartmentBacklog, ...]:
    """The half-monthly unfinished list for department heads: entries whose status is one of
    `statuses` (default: not yet completed by the department) created at least
    `older_than_days` days before `now`, grouped by department; departments ordered by their
    oldest item, items oldest first. age_days = whole days between created_at and now."""
    cutoff = now - timedelta(days=older_than_days)
    with Session(engine) as s:
        q = select(Entry).where(col(Entry.status).in_(list(statuses)), col(Entry.created_at) <= cutoff)
        rows = s.exec(q.order_by(col(Entry.created_at), col(Entry.id))).all()
    groups: dict[str, list[UnfinishedItem]] = {}
    for e in rows:
        assert e.id is not None
        groups.setdefault(e.department or "(未分派)", []).append(UnfinishedItem(
            e.id, e.created_at, (now - e.created_at).days, e.status, e.category, e.urgent, e.unit, e.summary))
    return tuple(DepartmentBacklog(d, tuple(items)) for d, items in groups.items())


@dataclass(frozen=True)
class ComplaintRates:
    period: Period
    complaints: int
    valid: int
    handled: int
    timely: int

    @property
    def valid_rate(self) -> float | None:
        """投诉有效率 = valid / complaints."""
        return self.valid / self.complaints if self.complaints else None

    @property
    def timely_rate(self) -> float | None:
        """处理及时率 = timely / valid."""
        return self.timely / self.valid if self.valid else None


def complaint_rates(engine: Engine, period: Period,
                    limit: timedelta = timedelta(hours=24)) -> ComplaintRates:
    """Complaint statistics (quantified on the 27th) for entries created in `period`.

    - complaints: entries of category 投诉.
    - valid (有效投诉): complaints whose status is not cancelled/merged and that are not merged
      into another entry.
    - handled: valid complaints whose status was ever set to completed, called_back or closed
      (the first such AuditLog row on field "status" is the handling time).
    - timely (处理及时): handled no later than `limit` after the entry was created.
    """
    with Session(engine) as s:
        q = select(Entry).where(col(Entry.created_at) >= period.start, col(Entry.created_at) < period.end,
                                Entry.category == COMPLAINT)
        rows = list(s.exec(q).all())
        valid = [e for e in rows if e.status not in INVALID_STATUSES and e.merged_into_id is None]
        done: dict[int, datetime] = {}
        ids = [e.id for e in valid]
        if ids:
            audit = s.exec(select(AuditLog.entry_id, AuditLog.at).where(
                col(AuditLog.entry_id).in_(ids), AuditLog.field == "status",
                col(AuditLog.new).in_(HANDLED_STATUSES)).order_by(col(AuditLog.at)))
            for entry_id, at in audit.all():
                assert entry_id is not None
                done.setdefault(entry_id, at)
    timely = sum(1 for e in valid if e.id in done and done[e.id] - e.created_at <= limit)
    return ComplaintRates(period, len(rows), len(valid), len(done), timely)

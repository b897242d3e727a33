"""The workflow figures (issue 5): callbacks (回访) and their satisfaction, returned missed
calls, per-clerk work, complaint subjects and draft accuracy over time.

Like statistics.py: parameterised selects against UTC bounds, counted in Python, so SQLite and
PostgreSQL give identical answers. Each figure takes an open Session so the monthly report can
compute the same figure for the previous period and last year in one transaction.

Definitions:
- Callbacks due in a period: CallbackTask rows of kind "callback", not cancelled, whose due_at
  falls in the period. Done = has done_at (status done); on time = done_at <= due_at.
- Satisfaction: the result of the done callbacks above; rate (满意率) = (满意 + 基本满意) / rated.
- Missed calls: calls received in the period with status "missed"; called back = the missed call's
  entry has a done missed_call task; in time = that task was done by its due_at.
- Calls returned on the missed-call clock: CallbackTask rows of kind "missed_call", not cancelled,
  whose due_at falls in the period, by reason (vocabulary.CALLBACK_REASONS: missed, 转人工 unanswered,
  cut off...). Returned = done; in time = done_at <= due_at. Counts tasks, so the missed calls above
  are its "missed" row seen from the tasks' due time.
- Per clerk: entries owned (首接), call registrations they confirmed with the mean seconds from
  the call's end to confirmation (as for 登记及时), callbacks and missed calls they completed
  (task.actor, done_at in the period).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from callcenter.drafting.rules import packaged_terms
from callcenter.drafting.terms import SiteTerms
from callcenter.ledger.lifecycle import COMPLAINT, FAIRLY_SATISFIED, SATISFACTIONS, SATISFIED
from callcenter.ledger.lifecycle import INVALID as INVALID_STATUSES
from callcenter.ledger.models import Call, CallbackTask, Correction, Entry, User
from callcenter.ledger.vocabulary import CALLBACK_REASONS
from callcenter.reports.periods import Period

# 投诉项目分类 (seed 004) are the site's complaint subjects (its drafting rules file). Words in the
# summary name the subjects no single department stands for; otherwise the department decides
# (the subject that is its department's only one); nothing -> the fallback subject (其它).
_SUBJECT_WORDS: Mapping[str, Sequence[str]] = {
    "员工服务态度": ("态度", "不理", "推诿", "骂"),
    "信件报刊": ("信件", "报刊", "报纸", "快递", "包裹"),
    "装修管理": ("装修",),
}


@dataclass(frozen=True)
class CallbackFigures:
    due: int
    done: int
    on_time: int
    satisfaction: Mapping[str, int]  # 满意 / 基本满意 / 不满意 -> done callbacks

    @property
    def rated(self) -> int:
        return sum(self.satisfaction.values())

    @property
    def completion_rate(self) -> float | None:
        return self.done / self.due if self.due else None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.due if self.due else None

    @property
    def satisfaction_rate(self) -> float | None:
        """满意率 = (满意 + 基本满意) / rated callbacks."""
        good = self.satisfaction.get(SATISFIED, 0) + self.satisfaction.get(FAIRLY_SATISFIED, 0)
        return good / self.rated if self.rated else None


@dataclass(frozen=True)
class MissedCallFigures:
    missed: int
    called_back: int
    called_back_in_time: int

    @property
    def called_back_rate(self) -> float | None:
        return self.called_back / self.missed if self.missed else None


@dataclass(frozen=True)
class OwedCallFigures:
    """Calls owed on the missed-call clock, by reason: reason -> (owed, returned, in time)."""

    by_reason: Mapping[str, tuple[int, int, int]]

    @property
    def owed(self) -> int:
        return sum(v[0] for v in self.by_reason.values())

    @property
    def returned(self) -> int:
        return sum(v[1] for v in self.by_reason.values())

    @property
    def in_time(self) -> int:
        return sum(v[2] for v in self.by_reason.values())


@dataclass(frozen=True)
class ClerkFigures:
    clerk: str  # the login name (stable: what the figures are keyed on)
    entries: int  # owned (首接)
    registrations: int  # call entries with a linked call that they confirmed
    avg_registration_s: float | None  # mean seconds from the call's end to confirmation
    callbacks_done: int
    missed_returned: int
    name: str = ""  # what the reports show: the display name, else the login name

    @property
    def shown(self) -> str:
        return self.name or self.clerk


@dataclass(frozen=True)
class ComplaintSubjects:
    period: Period
    by_subject: Mapping[str, int]  # every complaint subject of the site, valid complaints only
    by_status: Mapping[str, int]
    satisfaction: Mapping[str, int]  # the latest callback result on the complaint entries


@dataclass(frozen=True)
class AccuracyPoint:
    period: Period
    field: str
    confirmations: int
    changed: int

    @property
    def changed_share(self) -> float:
        return self.changed / self.confirmations if self.confirmations else 0.0


def _in(column, period: Period):  # type: ignore[no-untyped-def]
    return (col(column) >= period.start, col(column) < period.end)


def display_names(s: Session) -> dict[str, str]:
    """Login name -> the name people know (the display name, else the login name)."""
    return {u: d or u for u, d in s.exec(select(User.username, User.display_name)).all()}


# What makes a period worth a report: entries registered, calls received, callbacks due, corrections.
_ACTIVITY = ((Entry.id, Entry.created_at), (Call.id, Call.received_at),
             (CallbackTask.id, CallbackTask.due_at), (Correction.id, Correction.at))


def has_activity(s: Session, period: Period) -> bool:
    """Whether anything happened in `period` (in the estates being read: estates.reading)."""
    return any(s.exec(select(key).where(*_in(at, period)).limit(1)).first() is not None for key, at in _ACTIVITY)


def latest_activity(s: Session) -> datetime | None:
    """When the newest entry was registered or call received (None: a site without any)."""
    found = [s.exec(select(at).order_by(col(at).desc()).limit(1)).first() for at in (Entry.created_at, Call.received_at)]
    times = [t for t in found if t is not None]
    return max(times) if times else None


def callbacks_in(s: Session, period: Period) -> CallbackFigures:
    q = select(CallbackTask).where(CallbackTask.kind == "callback", CallbackTask.status != "cancelled",
                                   *_in(CallbackTask.due_at, period))
    tasks = s.exec(q).all()
    done = [t for t in tasks if t.done_at is not None]
    sat = Counter(t.satisfaction for t in done if t.satisfaction in SATISFACTIONS)
    return CallbackFigures(len(tasks), len(done), sum(1 for t in done if t.done_at and t.done_at <= t.due_at),
                           {k: sat.get(k, 0) for k in SATISFACTIONS})


def missed_calls_in(s: Session, period: Period) -> MissedCallFigures:
    calls = s.exec(select(Call).where(Call.status == "missed", *_in(Call.received_at, period))).all()
    entry_ids = {c.entry_id for c in calls if c.entry_id is not None}
    best: dict[int, bool] = {}  # entry -> returned in time (any done task)
    if entry_ids:
        tasks = s.exec(select(CallbackTask).where(CallbackTask.kind == "missed_call",
                                                  col(CallbackTask.entry_id).in_(entry_ids),
                                                  col(CallbackTask.done_at).is_not(None))).all()
        for t in tasks:
            assert t.done_at is not None
            best[t.entry_id] = best.get(t.entry_id, False) or t.done_at <= t.due_at
    returned = [c for c in calls if c.entry_id in best]
    return MissedCallFigures(len(calls), len(returned), sum(1 for c in returned if best[c.entry_id or 0]))


def owed_calls_in(s: Session, period: Period) -> OwedCallFigures:
    tasks = s.exec(select(CallbackTask).where(CallbackTask.kind == "missed_call", CallbackTask.status != "cancelled",
                                              *_in(CallbackTask.due_at, period))).all()
    counts: dict[str, list[int]] = {}
    for task in tasks:
        row = counts.setdefault(task.reason or "missed", [0, 0, 0])  # "": a task older than reasons
        row[0] += 1
        if task.done_at is not None:
            row[1] += 1
            row[2] += task.done_at <= task.due_at
    order = list(CALLBACK_REASONS)
    ranked = sorted(counts, key=lambda r: order.index(r) if r in order else len(order))
    return OwedCallFigures({r: (counts[r][0], counts[r][1], counts[r][2]) for r in ranked})


def clerks_in(s: Session, period: Period, entries: Sequence[Entry] | None = None) -> tuple[ClerkFigures, ...]:
    """Per clerk (username), most entries first; only clerks with something in the period."""
    if entries is None:
        entries = s.exec(select(Entry).where(*_in(Entry.created_at, period))).all()
    names = {u.id: u.username for u in s.exec(select(User)).all()}
    owned: Counter[str] = Counter(names.get(e.owner_id, f"#{e.owner_id}") for e in entries if e.owner_id)
    reg_secs: dict[str, list[float]] = defaultdict(list)
    call_ids = [e.id for e in entries if e.kind == "call" and e.owner_id and e.confirmed_at]
    if call_ids:
        first: dict[int, Call] = {}
        for linked in s.exec(select(Call).where(col(Call.entry_id).in_(call_ids)).order_by(col(Call.received_at))):
            assert linked.entry_id is not None
            first.setdefault(linked.entry_id, linked)
        for e in entries:
            c = first.get(e.id or 0)
            if c is not None and e.confirmed_at is not None and e.owner_id:
                after = c.ended_at or c.answered_at or c.received_at
                reg_secs[names.get(e.owner_id, f"#{e.owner_id}")].append((e.confirmed_at - after).total_seconds())
    tasks = s.exec(select(CallbackTask.kind, CallbackTask.actor).where(
        CallbackTask.status == "done", *_in(CallbackTask.done_at, period))).all()
    done: dict[str, Counter[str]] = defaultdict(Counter)
    for kind, actor in tasks:
        done[actor or "(未知)"][kind] += 1
    clerks = set(owned) | set(done)
    shown = display_names(s)
    out = [ClerkFigures(c, owned.get(c, 0), len(reg_secs.get(c, ())),
                        round(sum(reg_secs[c]) / len(reg_secs[c]), 1) if reg_secs.get(c) else None,
                        done[c]["callback"], done[c]["missed_call"], shown.get(c, c)) for c in clerks]
    return tuple(sorted(out, key=lambda f: (-f.entries, -f.callbacks_done, f.clerk)))


def complaint_subject(summary: str, department: str, terms: SiteTerms | None = None) -> str:
    terms = terms or packaged_terms()
    for subject, words in _SUBJECT_WORDS.items():
        if subject in terms.complaint_subjects and any(w in summary for w in words):
            return subject
    return terms.subject_for_department(department)


def complaint_subjects_in(s: Session, period: Period, terms: SiteTerms | None = None) -> ComplaintSubjects:
    terms = terms or packaged_terms()
    rows = s.exec(select(Entry).where(Entry.category == COMPLAINT, *_in(Entry.created_at, period))).all()
    valid = [e for e in rows if e.status not in INVALID_STATUSES and e.merged_into_id is None]
    subjects = Counter(complaint_subject(e.summary, e.department, terms) for e in valid)
    sat = Counter(e.satisfaction for e in valid if e.satisfaction in SATISFACTIONS)
    return ComplaintSubjects(period, {k: subjects.get(k, 0) for k in terms.complaint_subjects},
                             dict(Counter(e.status for e in valid).most_common()),
                             {k: sat.get(k, 0) for k in SATISFACTIONS})


def draft_accuracy_points(s: Session, periods: Sequence[Period]) -> tuple[AccuracyPoint, ...]:
    """Per period (e.g. consecutive weeks or months) and drafted field: confirmations and how
    many the clerk changed (Correction rows by `at`). Fields without rows in a period are absent."""
    out: list[AccuracyPoint] = []
    for p in periods:
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for name, changed in s.exec(select(Correction.field, Correction.changed).where(*_in(Correction.at, p))):
            counts[name][0] += 1
            counts[name][1] += bool(changed)
        out.extend(AccuracyPoint(p, f, n, c) for f, (n, c) in sorted(counts.items()))
    return tuple(out)


# Engine-level wrappers for callers outside a report.

def callback_figures(engine: Engine, period: Period) -> CallbackFigures:
    with Session(engine) as s:
        return callbacks_in(s, period)


def missed_call_figures(engine: Engine, period: Period) -> MissedCallFigures:
    with Session(engine) as s:
        return missed_calls_in(s, period)


def clerk_figures(engine: Engine, period: Period) -> tuple[ClerkFigures, ...]:
    with Session(engine) as s:
        return clerks_in(s, period)


def complaint_subjects(engine: Engine, period: Period, terms: SiteTerms | None = None) -> ComplaintSubjects:
    with Session(engine) as s:
        return complaint_subjects_in(s, period, terms)


def draft_accuracy_trend(engine: Engine, last: Period, count: int = 12) -> tuple[AccuracyPoint, ...]:
    """`count` consecutive periods of last's kind ending with `last`, oldest first."""
    periods = [last]
    while len(periods) < count:
        periods.insert(0, periods[0].previous())
    with Session(engine) as s:
        return draft_accuracy_points(s, periods)

"""The draft-accuracy report (read-only): what the drafting proposed vs what clerks confirmed,
per field and ISO week, the rules and the model each on their own, the most frequent
corrections with example entries, and the reliability of the confidence (bins -> accuracy).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from callcenter.ledger.models import Correction, Entry

REPORT_FIELDS = ("category", "department", "urgent", "unit", "summary", "caller_name")
# the fields the rules and the model both draft, whose sources are kept in Entry.draft
COMPARED = ("category", "department", "urgent")
BINS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001)


@dataclass
class WeekField:
    week: str
    field: str
    confirmed: int = 0
    draft_right: int = 0
    rules_n: int = 0
    rules_right: int = 0
    model_n: int = 0
    model_right: int = 0

    def as_dict(self) -> dict[str, Any]:
        def rate(right: int, n: int) -> float | None:
            return round(right / n, 4) if n else None

        return {"week": self.week, "field": self.field, "confirmed": self.confirmed,
                "draft_accuracy": rate(self.draft_right, self.confirmed),
                "rules_accuracy": rate(self.rules_right, self.rules_n), "rules_n": self.rules_n,
                "model_accuracy": rate(self.model_right, self.model_n), "model_n": self.model_n}


@dataclass
class AccuracyReport:
    weeks: list[dict[str, Any]] = field(default_factory=list)
    corrections: list[dict[str, Any]] = field(default_factory=list)
    reliability: list[dict[str, Any]] = field(default_factory=list)


def iso_week(at: datetime, zone: ZoneInfo) -> str:
    year, week, _ = at.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def accuracy_report(engine: Engine, *, since: datetime | None = None, until: datetime | None = None,
                    tz: str = "Asia/Shanghai", top: int = 10, examples: int = 5) -> AccuracyReport:
    zone = ZoneInfo(tz)
    with Session(engine) as s:
        q = select(Correction)
        if since is not None:
            q = q.where(col(Correction.at) >= since)
        if until is not None:
            q = q.where(col(Correction.at) < until)
        rows = list(s.exec(q.order_by(col(Correction.at))))
        ids = sorted({r.entry_id for r in rows})
        drafts: dict[int, dict[str, Any]] = {}
        for chunk in range(0, len(ids), 500):
            for entry_id, draft in s.exec(select(Entry.id, Entry.draft).where(col(Entry.id).in_(ids[chunk:chunk + 500]))):
                if entry_id is not None and isinstance(draft, dict):
                    drafts[entry_id] = draft
    cells: dict[tuple[str, str], WeekField] = {}
    changes: Counter[tuple[str, str, str]] = Counter()
    change_examples: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    bins: dict[str, list[list[int]]] = defaultdict(lambda: [[0, 0] for _ in BINS[:-1]])
    for r in rows:
        if r.field not in REPORT_FIELDS:
            continue
        week = iso_week(r.at, zone)
        cell = cells.setdefault((week, r.field), WeekField(week, r.field))
        cell.confirmed += 1
        cell.draft_right += not r.changed
        alternatives = (drafts.get(r.entry_id, {}).get("alternatives") or {}).get(r.field) or {}
        if r.field in COMPARED:
            if alternatives.get("rules") is not None:
                cell.rules_n += 1
                cell.rules_right += alternatives["rules"] == r.confirmed_value
            if alternatives.get("model") is not None:
                cell.model_n += 1
                cell.model_right += alternatives["model"] == r.confirmed_value
        if r.changed:
            key = (r.field, r.draft_value, r.confirmed_value)
            changes[key] += 1
            if len(change_examples[key]) < examples:
                change_examples[key].append(r.entry_id)
        if r.confidence is not None:
            k = min(max(sum(1 for b in BINS[1:-1] if r.confidence >= b), 0), len(BINS) - 2)
            bins[r.field][k][0] += 1
            bins[r.field][k][1] += not r.changed
    report = AccuracyReport()
    report.weeks = [c.as_dict() for _k, c in sorted(cells.items())]
    report.corrections = [
        {"field": f, "drafted": d, "confirmed": c, "count": n, "example_entry_ids": change_examples[(f, d, c)]}
        for (f, d, c), n in changes.most_common(top)
    ]
    report.reliability = [
        {"field": name, "low": BINS[k], "high": min(1.0, BINS[k + 1]), "n": n, "accuracy": round(right / n, 4) if n else None}
        for name, rows_ in sorted(bins.items()) for k, (n, right) in enumerate(rows_)
    ]
    return report

"""The company roll-up: each estate's key figures of a month side by side, and the company's
total, which is the same statistics over every estate read at once (so the rows add up to it
by construction of the data, not by summing here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from callcenter.estates.directory import Estate
from callcenter.estates.reading import only_estates
from callcenter.ledger.lifecycle import COMPLAINT
from callcenter.reports.periods import Period
from callcenter.reports.statistics import MonthlyReport, monthly_statistics

# (key, column title) of the comparison, in order
COLUMNS: tuple[tuple[str, str], ...] = (
    ("calls_received", "来电"), ("calls_answered", "接听"), ("calls_missed", "未接"),
    ("entries", "台账"), ("complaints", "投诉"), ("important", "重要"), ("open", "未办结"),
    ("registered_in_time", "登记及时"), ("callbacks_done", "已回访"), ("unsatisfied", "不满意"),
)


@dataclass(frozen=True)
class EstateFigures:
    estate_id: int | None  # None: the company total
    code: str
    name: str
    figures: dict[str, int]


def figures_of(r: MonthlyReport) -> dict[str, int]:
    return {"calls_received": r.calls_received, "calls_answered": r.calls_answered,
            "calls_missed": r.calls_missed, "entries": r.total,
            "complaints": int(r.by_category.get(COMPLAINT, 0)), "important": r.important, "open": r.open,
            "registered_in_time": r.registered_in_time, "callbacks_done": r.callbacks.done,
            "unsatisfied": int(r.callbacks.satisfaction.get("不满意", 0))}


def estate_comparison(engine: Engine, period: Period, estates: Sequence[Estate], *,
                      ring_seconds: float = 5.0,
                      register_limit: timedelta = timedelta(minutes=1)) -> list[EstateFigures]:
    """One row per estate of `estates`, then the total over exactly those estates."""
    rows = []
    for e in estates:
        with only_estates({e.id}):
            r = monthly_statistics(engine, period, ring_seconds=ring_seconds, register_limit=register_limit)
        rows.append(EstateFigures(e.id, e.code, e.name, figures_of(r)))
    with only_estates({e.id for e in estates}):
        total = monthly_statistics(engine, period, ring_seconds=ring_seconds, register_limit=register_limit)
    rows.append(EstateFigures(None, "", "合计", figures_of(total)))
    return rows

"""The company roll-up: each estate's key figures of a month side by side, and the company's
total, which is the same statistics over every estate read at once (so the rows add up to it
by construction of the data, not by summing here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from callcenter.estates.directory import Estate
from callcenter.estates.reading import only_estates
from callcenter.ledger.lifecycle import COMPLAINT
from callcenter.reports import charts
from callcenter.reports.documents import Cell, Document, Section
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


ROLLUP_KIND = "estates"  # the report kind of the roll-up (GET /api/reports/estates)
ROLLUP_TITLE = "各项目对比（公司汇总）"


def rollup_document(engine: Engine, period: Period, estates: Sequence[Estate], now: datetime) -> Document:
    """The roll-up as a report document: the panel shows it, and it downloads as XLSX/CSV/HTML
    like every other report."""
    rows = estate_comparison(engine, period, estates)
    keys = [k for k, _ in COLUMNS]
    table: list[tuple[Cell, ...]] = [(r.name, *(r.figures[k] for k in keys)) for r in rows]
    shown = rows[:-1]
    chart = charts.grouped_bar("各项目：来电 / 台账 / 投诉", [r.name for r in shown],
                               {"来电": [r.figures["calls_received"] for r in shown],
                                "台账": [r.figures["entries"] for r in shown],
                                "投诉": [r.figures["complaints"] for r in shown]}) if shown else None
    doc = Document(ROLLUP_KIND, ROLLUP_TITLE, period, now,
                   data={"rows": [{"estate_id": r.estate_id, "code": r.code, "name": r.name, **r.figures}
                                  for r in rows], "columns": [{"key": k, "title": t} for k, t in COLUMNS]})
    doc.sections.append(Section("各项目对比", ("项目", *(t for _, t in COLUMNS)), table, chart,
                                note="合计为所列项目合并统计；各项目按其热线号码归属来电与台账。"))
    return doc

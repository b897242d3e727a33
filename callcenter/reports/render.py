"""A MonthlyReport as a readable Chinese text table, or as CSV rows (section, item, value...)."""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from callcenter.ledger.lifecycle import FAIRLY_SATISFIED, SATISFIED
from callcenter.ledger.lifecycle import label as status_label
from callcenter.reports.statistics import MonthlyReport

TREND_NAMES = {"total": "信息总数", "important": "重要", "general": "一般", "open": "未办结", "closed": "已办结",
               "calls_received": "来电", "calls_answered": "接听", "calls_missed": "未接",
               "missed_called_back": "未接已回拨", "callbacks_due": "应回访", "callbacks_done": "已回访",
               "callbacks_on_time": "按时回访", "satisfied": "满意及基本满意", "unsatisfied": "不满意"}


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def rows(report: MonthlyReport) -> Iterator[tuple[str, str, str]]:
    """(section, item, value) for every figure of the report."""
    yield "概况", "信息总数", str(report.total)
    for name, n in report.by_category.items():
        yield "按类别", name, str(n)
    for name, n in report.by_department.items():
        yield "按部门", name, str(n)
    yield "按性质", "重要", str(report.important)
    yield "按性质", "一般", str(report.general)
    for name, n in report.by_status.items():
        yield "处理状态", status_label(name), str(n)
    yield "处理状态", "未办结合计", str(report.open)
    yield "处理状态", "已办结合计", str(report.closed)
    yield "来电", "来电", str(report.calls_received)
    yield "来电", "接听", str(report.calls_answered)
    yield "来电", "未接", str(report.calls_missed)
    yield "来电", "未接已回拨", f"{report.missed.called_back}/{report.missed.missed} " \
                           f"({_pct(report.missed.called_back, report.missed.missed)})"
    for bucket, n in report.answer_rings.items():
        yield "接听响铃", f"{bucket}声", f"{n} ({_pct(n, report.calls_answered)})"
    yield "登记及时", "一分钟内登记", (f"{report.registered_in_time}/{report.registrations} "
                                 f"({_pct(report.registered_in_time, report.registrations)})")
    for acc in report.draft_accuracy:
        yield "草稿准确", acc.field, f"改动 {acc.changed}/{acc.confirmations} ({_pct(acc.changed, acc.confirmations)})"
    cb = report.callbacks
    yield "回访", "应回访", str(cb.due)
    yield "回访", "已回访", f"{cb.done} ({_pct(cb.done, cb.due)})"
    yield "回访", "按时回访", f"{cb.on_time} ({_pct(cb.on_time, cb.due)})"
    for name, n in cb.satisfaction.items():
        yield "客户反映", name, str(n)
    good = cb.satisfaction.get(SATISFIED, 0) + cb.satisfaction.get(FAIRLY_SATISFIED, 0)
    yield "客户反映", "满意率", _pct(good, cb.rated)
    for name, n in report.by_clerk.items():
        yield "首接人", name, str(n)
    for t in report.trend:
        name = TREND_NAMES.get(t.key) or t.key.replace("category:", "类别:")
        yield "趋势", name, f"本期 {t.current} 上期 {t.previous} ({t.vs_previous:+d}) 去年同期 {t.last_year} " \
                            f"({t.vs_last_year:+d})"


def _pad(item: str, width: int = 14) -> str:
    """Left-justify by display width: a Chinese character takes two columns."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in item)
    return item + " " * max(1, width - used)


def text(report: MonthlyReport) -> str:
    p = report.period
    lines = [f"{p.label} 月度统计（{p.tz}）", ""]
    section = ""
    for sec, item, value in rows(report):
        if sec != section:
            lines.append(f"【{sec}】")
            section = sec
        lines.append(f"  {_pad(item)}{value}")
    return "\n".join(lines)


def write_csv(report: MonthlyReport, path: Path) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:  # BOM: Excel opens it as UTF-8
        w = csv.writer(f)
        w.writerow(["section", "item", "value"])
        w.writerows(rows(report))

"""Each report as a Document: titled sections of (columns, rows) with an optional SVG chart,
plus the raw figures as JSON-ready data. One Document feeds the panel (JSON), the XLSX and CSV
downloads and the printable HTML, so all four always show the same numbers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from callcenter.drafting.terms import SiteTerms
from callcenter.learning.accuracy_report import AccuracyReport, accuracy_report
from callcenter.ledger.lifecycle import FAIRLY_SATISFIED, SATISFIED, UNSATISFIED
from callcenter.ledger.lifecycle import LABELS as STATUS_NAMES
from callcenter.ledger.lifecycle import label as status_label
from callcenter.ledger.vocabulary import CALLBACK_REASONS, label_of
from callcenter.ledger.vocabulary import ENTRY_FIELDS as FIELD_NAMES
from callcenter.reports import charts
from callcenter.reports.figures import (
    OwedCallFigures,
    callbacks_in,
    clerks_in,
    complaint_subjects_in,
    draft_accuracy_trend,
    has_activity,
    latest_activity,
    missed_calls_in,
    owed_calls_in,
)
from callcenter.reports.periods import DEFAULT_TZ, Kind, Period, containing
from callcenter.reports.render import TREND_NAMES
from callcenter.reports.statistics import (
    complaint_rates,
    hot_complaint_topics,
    monthly_statistics,
    unfinished_by_department,
)

ReportKind = Literal["monthly", "weekly", "unfinished", "complaints", "callbacks", "clerks", "accuracy",
                     "accuracy-weekly"]
# Which period each report covers.
PERIOD_KIND: Mapping[str, Kind] = {"monthly": "month", "weekly": "week", "unfinished": "half_month",
                                   "complaints": "complaint_month", "callbacks": "month", "clerks": "month",
                                   "accuracy": "month", "accuracy-weekly": "week"}
TITLES: Mapping[str, str] = {"monthly": "月度信息统计", "weekly": "每周热点投诉", "unfinished": "半月未完成事项",
                             "complaints": "投诉统计（27日量化）", "callbacks": "回访与未接来电",
                             "clerks": "客服人员工作量", "accuracy": "草稿准确率（按月）",
                             "accuracy-weekly": "草稿准确率（按周）"}
Cell = str | int | float | None


@dataclass
class Section:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]]
    chart: str | None = None  # SVG markup
    note: str = ""


@dataclass
class Document:
    kind: str
    title: str
    period: Period
    generated_at: datetime
    sections: list[Section] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    # nothing happened in the period (figures.has_activity): the panel and the printout say
    # EMPTY instead of tables of zeros
    empty: bool = False

    @property
    def heading(self) -> str:
        return f"{self.title} · {self.period.label}"

    def to_json(self, charts_too: bool = True) -> dict[str, Any]:
        p = self.period
        return {"kind": self.kind, "title": self.title, "heading": self.heading,
                "period": {"kind": p.kind, "key": p.key, "label": p.label, "tz": p.tz,
                           "first": p.first.isoformat(),
                           "last": (p.last_exclusive - timedelta(days=1)).isoformat(),
                           "previous": p.previous().key, "next": p.next().key},
                "generated_at": self.generated_at.isoformat(), "empty": self.empty,
                "sections": [{"title": s.title, "columns": list(s.columns), "rows": [list(r) for r in s.rows],
                              "chart": s.chart if charts_too else None, "note": s.note} for s in self.sections],
                "data": self.data}


def jsonable(value: Any) -> Any:
    """Dataclasses, periods, datetimes and mappings as plain JSON values."""
    if isinstance(value, Period):
        return value.key
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in ("rated", "completion_rate", "on_time_rate", "satisfaction_rate", "called_back_rate",
                     "valid_rate", "timely_rate", "changed_share", "vs_previous", "vs_last_year"):
            if hasattr(value, name):
                out[name] = getattr(value, name)
        return out
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _rate(r: float | None) -> str:
    return f"{100 * r:.1f}%" if r is not None else "-"


def _counts(title: str, head: str, values: Mapping[str, int], chart: bool = True,
            names: Mapping[str, str] | None = None) -> Section:
    named = {(names or {}).get(k, k): v for k, v in values.items()}
    total = sum(named.values())
    return Section(title, (head, "数量", "占比"), [(k, v, pct(v, total)) for k, v in named.items()],
                   charts.bar(title, named) if chart and named else None)


def _trend_section(trend: tuple[Any, ...], names: Mapping[str, str]) -> Section:
    rows: list[tuple[Cell, ...]] = []
    for t in trend:
        name = names.get(t.key) or t.key.replace("category:", "类别:")
        rows.append((name, t.current, t.previous, f"{t.vs_previous:+d}", t.last_year, f"{t.vs_last_year:+d}"))
    main = [t for t in trend if t.key in ("total", "important", "open", "calls_received", "calls_missed",
                                           "callbacks_done", "satisfied")]
    chart = charts.grouped_bar("趋势：本期 / 上期 / 去年同期", [names.get(t.key, t.key) for t in main],
                               {"本期": [t.current for t in main], "上期": [t.previous for t in main],
                                "去年同期": [t.last_year for t in main]}) if main else None
    return Section("趋势（环比、同比）", ("项目", "本期", "上期", "环比", "去年同期", "同比"), rows, chart)


def _callback_sections(cb: Any, missed: Any) -> list[Section]:
    rows: list[tuple[Cell, ...]] = [
        ("应回访", cb.due, ""), ("已回访", cb.done, _rate(cb.completion_rate)),
        ("按时回访（完成不晚于期限）", cb.on_time, _rate(cb.on_time_rate)),
        ("满意", cb.satisfaction.get(SATISFIED, 0), ""), ("基本满意", cb.satisfaction.get(FAIRLY_SATISFIED, 0), ""),
        ("不满意", cb.satisfaction.get(UNSATISFIED, 0), ""), ("满意率（满意+基本满意）", cb.rated, _rate(cb.satisfaction_rate))]
    sat = {k: v for k, v in cb.satisfaction.items() if v}
    missed_rows: list[tuple[Cell, ...]] = [
        ("未接来电", missed.missed, ""), ("已回拨", missed.called_back, _rate(missed.called_back_rate)),
        ("按时回拨", missed.called_back_in_time, pct(missed.called_back_in_time, missed.missed))]
    return [Section("回访完成及满意度", ("项目", "数量", "比率"), rows, charts.pie("回访满意度", sat) if sat else None),
            Section("未接来电回拨", ("项目", "数量", "比率"), missed_rows)]


def _clerk_section(clerks: tuple[Any, ...]) -> Section:
    rows: list[tuple[Cell, ...]] = [
        (c.shown, c.entries, c.registrations, c.avg_registration_s, c.callbacks_done, c.missed_returned)
        for c in clerks]
    chart = charts.grouped_bar("客服人员工作量", [c.shown for c in clerks],
                               {"首接台账": [c.entries for c in clerks], "回访": [c.callbacks_done for c in clerks],
                                "未接回拨": [c.missed_returned for c in clerks]}) if clerks else None
    return Section("客服人员", ("客服", "首接台账", "来电登记", "平均登记用时（秒）", "完成回访", "未接回拨"), rows, chart)


def monthly(engine: Engine, period: Period, now: datetime, ring_seconds: float = 5.0) -> Document:
    r = monthly_statistics(engine, period, ring_seconds=ring_seconds)
    doc = Document("monthly", TITLES["monthly"], period, now, data=jsonable(r))
    doc.sections += [
        Section("概况", ("项目", "数量"), [("信息总数", r.total), ("重要", r.important), ("一般", r.general),
                                        ("未办结", r.open), ("已办结", r.closed)]),
        _counts("按类别", "类别", r.by_category),
        _counts("按部门", "部门", r.by_department),
        _counts("处理状态", "状态", r.by_status, names=STATUS_NAMES),
        Section("来电接听", ("项目", "数量", "比率"), [
            ("来电", r.calls_received, ""), ("接听", r.calls_answered, pct(r.calls_answered, r.calls_received)),
            ("未接", r.calls_missed, pct(r.calls_missed, r.calls_received)),
            ("一分钟内登记", r.registered_in_time, pct(r.registered_in_time, r.registrations))]),
        _counts("接听响铃（三声内接听）", "响铃", {f"{k}声": v for k, v in r.answer_rings.items()}),
        *_callback_sections(r.callbacks, r.missed),
        _clerk_section(r.clerks),
        Section("草稿准确", ("字段", "确认次数", "客服改动", "改动率"),
                [(FIELD_NAMES.get(a.field, a.field), a.confirmations, a.changed, pct(a.changed, a.confirmations))
                 for a in r.draft_accuracy]),
        _trend_section(r.trend, TREND_NAMES),
    ]
    return doc


def weekly(engine: Engine, period: Period, now: datetime, top: int = 10) -> Document:
    topics = hot_complaint_topics(engine, period, top=top)
    doc = Document("weekly", TITLES["weekly"], period, now, data={"topics": jsonable(topics)})
    chart = charts.bar("热点投诉", {f"{t.topic}（{t.department}）": t.count for t in topics}, horizontal=True) \
        if topics else None
    doc.sections.append(Section("热点投诉（供统一口径）", ("话题", "部门", "次数", "台账编号"),
                                [(t.topic, t.department, t.count, "、".join(map(str, t.entry_ids))) for t in topics],
                                chart))
    return doc


def unfinished(engine: Engine, period: Period, now: datetime, older_than_days: int = 0) -> Document:
    """Items still unfinished now that were created before the end of `period`."""
    as_of = min(now, period.end)
    backlog = unfinished_by_department(engine, as_of, older_than_days)
    tz = ZoneInfo(period.tz)
    doc = Document("unfinished", TITLES["unfinished"], period, now, data={"departments": jsonable(backlog)})
    counts = {d.department: len(d.items) for d in backlog}
    doc.sections.append(_counts("各部门未完成数", "部门", counts))
    doc.sections.append(Section("未完成明细", ("部门", "编号", "登记时间", "天数", "状态", "类别", "紧急", "房号", "摘要"),
                                [(d.department, i.entry_id, i.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                                  (now - i.created_at).days, status_label(i.status), i.category,
                                  "是" if i.urgent else "", i.unit, i.summary) for d in backlog for i in d.items]))
    return doc


def complaints(engine: Engine, period: Period, now: datetime, limit: timedelta = timedelta(hours=24),
               terms: SiteTerms | None = None) -> Document:
    rates = complaint_rates(engine, period, limit)
    prev, year = complaint_rates(engine, period.previous(), limit), \
        complaint_rates(engine, period.same_period_last_year(), limit)
    with Session(engine) as s:
        subjects = complaint_subjects_in(s, period, terms)
    doc = Document("complaints", TITLES["complaints"], period, now,
                   data={"rates": jsonable(rates), "previous": jsonable(prev), "last_year": jsonable(year),
                         "subjects": jsonable(subjects)})
    rows: list[tuple[Cell, ...]] = [
        ("投诉总数", rates.complaints, prev.complaints, year.complaints),
        ("有效投诉", rates.valid, prev.valid, year.valid),
        ("投诉有效率", _rate(rates.valid_rate), _rate(prev.valid_rate), _rate(year.valid_rate)),
        ("已处理", rates.handled, prev.handled, year.handled),
        (f"及时处理（{int(limit.total_seconds() // 3600)}小时内）", rates.timely, prev.timely, year.timely),
        ("处理及时率", _rate(rates.timely_rate), _rate(prev.timely_rate), _rate(year.timely_rate))]
    doc.sections += [
        Section("投诉量化", ("项目", "本期", "上期", "去年同期"), rows),
        _counts("投诉项目分类", "项目", subjects.by_subject),
        _counts("投诉处理状态", "状态", subjects.by_status, chart=False, names=STATUS_NAMES),
        _counts("投诉回访结果", "结果", subjects.satisfaction, chart=False),
    ]
    return doc


def callbacks(engine: Engine, period: Period, now: datetime) -> Document:
    with Session(engine) as s:
        cb, missed, owed = callbacks_in(s, period), missed_calls_in(s, period), owed_calls_in(s, period)
    doc = Document("callbacks", TITLES["callbacks"], period, now,
                   data={"callbacks": jsonable(cb), "missed": jsonable(missed), "owed": jsonable(owed)})
    doc.sections += _callback_sections(cb, missed)
    doc.sections.append(_owed_section(owed))
    return doc


def _owed_section(owed: OwedCallFigures) -> Section:
    """Every call owed on the missed-call clock, by why: missed, 转人工 unanswered, cut off."""
    rows: list[tuple[Cell, ...]] = [
        (label_of(CALLBACK_REASONS, reason), n, done, pct(done, n), on_time, pct(on_time, n))
        for reason, (n, done, on_time) in owed.by_reason.items()]
    rows.append(("合计", owed.owed, owed.returned, pct(owed.returned, owed.owed), owed.in_time,
                 pct(owed.in_time, owed.owed)))
    return Section("回拨任务（按原因）", ("原因", "应回拨", "已回拨", "回拨率", "按时回拨", "按时率"), rows,
                   note="按回拨期限计入本期；含未接来电、转人工未接通和通话中断（来电人可能未办完事）。")


def clerks(engine: Engine, period: Period, now: datetime) -> Document:
    with Session(engine) as s:
        figures = clerks_in(s, period)
    doc = Document("clerks", TITLES["clerks"], period, now, data={"clerks": jsonable(figures)})
    doc.sections.append(_clerk_section(figures))
    return doc


def accuracy(engine: Engine, period: Period, now: datetime, count: int = 12, kind: str = "accuracy") -> Document:
    """Draft accuracy over the `count` periods ending with `period`: how often clerks changed
    each drafted field (Correction rows)."""
    points = draft_accuracy_trend(engine, period, count)
    doc = Document(kind, TITLES[kind], period, now, data={"points": jsonable(points)})
    labels: list[str] = []
    for p in points:
        if p.period.key not in labels:
            labels.append(p.period.key)
    fields = sorted({p.field for p in points})
    share = {(p.period.key, p.field): p.changed_share for p in points}
    series = {FIELD_NAMES.get(f, f): [share.get((lab, f)) for lab in labels] for f in fields}
    doc.sections.append(Section(
        "各字段改动率趋势", ("期间", "字段", "确认次数", "客服改动", "改动率"),
        [(p.period.key, FIELD_NAMES.get(p.field, p.field), p.confirmations, p.changed,
          pct(p.changed, p.confirmations)) for p in points],
        charts.line("草稿被改动的比例（越低越准）", labels, series, percent=True) if points else None))
    first = points[0].period if points else period
    doc.sections.extend(_draft_sources_sections(accuracy_report(engine, since=first.start, until=period.end,
                                                                tz=period.tz)))
    return doc


def _draft_sources_sections(report: AccuracyReport) -> list[Section]:
    """What a site needs to see what to teach: per week and field the draft, the rules alone and
    the model alone against what clerks confirmed; the commonest corrections with example
    entries; whether a stated confidence holds (bins → share right)."""
    def right(n: int, share: float | None) -> str:
        return "—" if not n or share is None else f"{round(share * n)}/{n}（{pct(round(share * n), n)}）"

    sources = Section(
        "规则与模型分别的准确率（按周）", ("周", "字段", "确认次数", "草稿正确", "仅规则", "仅模型"),
        [(w["week"], FIELD_NAMES.get(w["field"], w["field"]), w["confirmed"], right(w["confirmed"], w["draft_accuracy"]),
          right(w["rules_n"], w["rules_accuracy"]), right(w["model_n"], w["model_accuracy"])) for w in report.weeks],
        note="「仅规则」「仅模型」：同一通来电只用规则或只用模型时的结果，用来判断每个字段该信哪一个。")
    corrections = Section(
        "最常见的改动", ("字段", "草稿", "客服改为", "次数", "示例台账"),
        [(FIELD_NAMES.get(c["field"], c["field"]), _shown(c["drafted"]), _shown(c["confirmed"]), c["count"],
          "、".join(f"#{i}" for i in c["example_entry_ids"])) for c in report.corrections],
        note="示例台账可在台账页按编号打开，听录音、看转写，找出草稿为何判错。")
    reliability = Section(
        "置信度是否可信", ("字段", "置信度区间", "确认次数", "其中草稿正确"),
        [(FIELD_NAMES.get(r["field"], r["field"]), f"{r['low']:.1f}–{r['high']:.1f}", r["n"],
          pct(round(r["accuracy"] * r["n"]), r["n"]) if r["n"] else "—") for r in report.reliability if r["n"]],
        note="置信度 ≥ 0.9 的字段应至少九成正确；低于「请核对」阈值的字段在面板上标为请核对。")
    return [sources, corrections, reliability]


def _shown(value: Any) -> str:
    if value in (None, ""):
        return "（空）"
    return {"True": "紧急", "False": "不紧急", "true": "紧急", "false": "不紧急"}.get(str(value), str(value))


BUILDERS: Mapping[str, Callable[[Engine, Period, datetime], Document]] = {
    "monthly": monthly, "weekly": weekly, "unfinished": unfinished, "complaints": complaints,
    "callbacks": callbacks, "clerks": clerks, "accuracy": accuracy,
    "accuracy-weekly": lambda e, p, n: accuracy(e, p, n, kind="accuracy-weekly"),
}


def build(kind: str, engine: Engine, period: Period, now: datetime,
          complaint_limit: timedelta = timedelta(hours=24), terms: SiteTerms | None = None) -> Document:
    """`terms`: the site's complaint subjects (its drafting rules file); None, the packaged ones."""
    if kind not in BUILDERS:
        raise ValueError(f"unknown report {kind!r}; one of {', '.join(BUILDERS)}")
    if period.kind != PERIOD_KIND[kind]:
        raise ValueError(f"report {kind} covers a {PERIOD_KIND[kind]}, not a {period.kind}")
    if kind == "complaints":
        doc = complaints(engine, period, now, complaint_limit, terms)
    else:
        doc = BUILDERS[kind](engine, period, now)
    doc.empty = is_empty(doc, engine)
    return doc


EMPTY = "该时段无数据"


def is_empty(doc: Document, engine: Engine) -> bool:
    """Nothing to report: no open items (unfinished, which looks at what is still open), or nothing
    happened in the period (the others)."""
    if doc.kind == "unfinished":
        return not any(s.rows for s in doc.sections)
    with Session(engine) as s:
        return not has_activity(s, doc.period)


def opening_period(kind: str, engine: Engine, now: datetime, tz: str = DEFAULT_TZ) -> Period:
    """The period a report opens on: the latest complete one when anything happened in it, else
    the one holding the newest entry or call (a new site's first calls are in the current
    period), so a supervisor does not open on an empty page; with no data at all, the latest
    complete period (which says EMPTY)."""
    latest = default_period(kind, now, tz)
    with Session(engine) as s:
        if has_activity(s, latest):
            return latest
        newest = latest_activity(s)
    return containing(PERIOD_KIND[kind], min(newest, now), tz) if newest is not None else latest


def default_period(kind: str, now: datetime, tz: str = DEFAULT_TZ) -> Period:
    """The latest complete period of the report's kind (what a supervisor usually wants)."""
    return containing(PERIOD_KIND[kind], now, tz).previous()

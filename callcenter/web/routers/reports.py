"""统计报表: every report as JSON (with its SVG charts) and as XLSX / CSV / printable HTML.
Supervisors and admins only (permission "reports"). The older per-field totals stay at
/api/reports/draft-accuracy (meta.py); the accuracy trend here is /api/reports/accuracy."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from callcenter.accounts import Principal
from callcenter.estates.reading import only_estates
from callcenter.estates.rollup import ROLLUP_KIND, ROLLUP_TITLE, rollup_document
from callcenter.ledger.service import LedgerService
from callcenter.reports import documents, export
from callcenter.reports.periods import Period, parse
from callcenter.reports.settings import ReportSettings
from callcenter.web.deps import Ledger, Reports
from callcenter.web.estate_scope import EstateFilter
from callcenter.web.schemas import refusals
from callcenter.web.security import require

router = APIRouter(prefix="/api/reports", tags=["reports"], responses=refusals(401, 403))
_MEDIA = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
          "csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8"}


def _opening(kind: str, ledger: LedgerService, now: datetime, settings: ReportSettings,
             estates: frozenset[int] | None) -> Period:
    """The period a report opens on without one asked for (documents.opening_period), by the
    reader's estates' data."""
    with only_estates(estates):
        return documents.opening_period(kind, ledger.engine, now, settings.timezone)


def _document(ledger: LedgerService, settings: ReportSettings, kind: str, period: str | None,
              estates: frozenset[int] | None = None) -> documents.Document:
    """`settings`: the site's `reports:` (the defaults, Asia/Shanghai, when the app was given none);
    `estates`: the estates it covers (None: the company)."""
    if kind == ROLLUP_KIND:  # the company roll-up: each estate of the reader's side by side
        now = ledger.clock.now()
        try:
            p = parse("month", period, settings.timezone) if period \
                else _opening("monthly", ledger, now, settings, estates)
        except ValueError as exc:
            raise HTTPException(422, f"期间格式不对：{exc}") from exc
        shown = [e for e in ledger.estates.all() if estates is None or e.id in estates]
        doc = rollup_document(ledger.engine, p, shown, now)
        with only_estates(estates):
            doc.empty = documents.is_empty(doc, ledger.engine)
        return doc
    if kind not in documents.BUILDERS:
        raise HTTPException(404, f"没有这个报表 ({kind})")
    engine: Engine = ledger.engine
    now = ledger.clock.now()
    try:
        p = parse(documents.PERIOD_KIND[kind], period, settings.timezone) if period \
            else _opening(kind, ledger, now, settings, estates)
    except ValueError as exc:
        raise HTTPException(422, f"期间格式不对：{exc}") from exc

    with only_estates(estates):
        return documents.build(kind, engine, p, now,
                               complaint_limit=timedelta(hours=settings.complaint_timely_hours), terms=ledger.terms)


@router.get("")
def report_kinds(ledger: Ledger, settings: Reports, _: Principal = Depends(require("reports")), *,
                 estates: EstateFilter) -> list[dict[str, str]]:
    """The reports on offer, each with its period kind and the period it opens on: the latest
    complete one if anything happened in it, else the one with the newest data (the reader's
    estates'; documents.opening_period)."""
    now = ledger.clock.now()

    def opening(kind: str) -> str:
        return _opening(kind, ledger, now, settings, estates).key

    kinds = [{"kind": k, "title": documents.TITLES[k], "period_kind": documents.PERIOD_KIND[k],
              "default": opening(k)} for k in documents.BUILDERS]
    if ledger.estates.several:  # the company roll-up, where there is something to roll up
        kinds.append({"kind": ROLLUP_KIND, "title": ROLLUP_TITLE, "period_kind": "month", "default": opening("monthly")})
    return kinds


@router.get("/{kind}.{fmt}", responses={200: {"content": {m.split(";")[0]: {} for m in _MEDIA.values()}},
                                        **refusals(404, 422)})
def report_download(kind: str, fmt: str, ledger: Ledger, settings: Reports,
                    period: str | None = Query(None, max_length=16, description="2026-11, 2026-11-H2, 2026-W45"),
                    _: Principal = Depends(require("reports")), *, estates: EstateFilter) -> Response:
    """The report as a download: .xlsx (one sheet per section), .csv, or printable .html (A4)."""
    if fmt not in _MEDIA:
        raise HTTPException(404, "格式只能是 xlsx、csv 或 html")
    doc = _document(ledger, settings, kind, period, estates)
    if fmt == "html":
        return HTMLResponse(export.html(doc))
    body = export.xlsx_bytes(doc) if fmt == "xlsx" else export.csv_bytes(doc)
    name = f"report-{kind}-{doc.period.key}.{fmt}"
    return Response(body, media_type=_MEDIA[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/{kind}", responses=refusals(404, 422))
def report_json(kind: str, ledger: Ledger, settings: Reports,
                period: str | None = Query(None, max_length=16, description="2026-11, 2026-11-H2, 2026-W45"),
                _: Principal = Depends(require("reports")), *, estates: EstateFilter) -> dict[str, Any]:
    """monthly / weekly / unfinished / complaints / callbacks / clerks / accuracy / accuracy-weekly:
    sections (columns, rows, SVG chart) and the raw figures under "data". `estate`: one estate's
    report; without it, the reader's estates (the company's for company scope)."""
    return _document(ledger, settings, kind, period, estates).to_json()

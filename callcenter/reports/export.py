"""A Document as XLSX (one sheet per section), CSV and printable HTML (Jinja2, A4 print CSS);
files are written atomically so a reader never sees half a report."""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from callcenter.reports.documents import Document

_ENV = Environment(loader=PackageLoader("callcenter.reports", "templates"),
                   autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def _safe(cell: object) -> object:
    """Text starting with = + - @ would run as a formula in Excel (summaries come from callers);
    a leading tab or carriage return hides such a start from a naive check (OWASP CSV injection)."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not re.fullmatch(r"[+-]\d+", cell):
        return "'" + cell
    return cell


def _sheet_title(title: str, used: set[str]) -> str:
    name = re.sub(r"[\[\]:*?/\\]", "_", title)[:28] or "sheet"
    base, n = name, 2
    while name in used:
        name, n = f"{base}{n}", n + 1
    used.add(name)
    return name


def xlsx_bytes(doc: Document) -> bytes:
    wb = Workbook()
    first = wb.active
    assert first is not None
    first.title = "说明"
    first.append([doc.heading])
    first["A1"].font = Font(bold=True, size=14)
    first.append(["统计期间", f"{doc.period.first:%Y-%m-%d} 至 {doc.period.last_exclusive - timedelta(days=1):%Y-%m-%d}"])
    first.append(["时区", doc.period.tz])
    first.append(["生成时间", doc.generated_at.astimezone(ZoneInfo(doc.period.tz)).strftime("%Y-%m-%d %H:%M")])
    first.column_dimensions["A"].width = 14
    first.column_dimensions["B"].width = 30
    used = {"说明"}
    head_fill = PatternFill("solid", fgColor="DDDDDD")
    for section in doc.sections:
        ws = wb.create_sheet(_sheet_title(section.title, used))
        ws.append(list(section.columns))
        for cell in ws[1]:
            cell.font, cell.fill = Font(bold=True), head_fill
        for row in section.rows:
            ws.append([_safe(v) for v in row])
        for i, name in enumerate(section.columns):
            width = max([len(str(name)) * 2] + [len(str(r[i])) * 2 for r in section.rows if i < len(r)])
            ws.column_dimensions[ws.cell(1, i + 1).column_letter].width = min(60, max(8, width))
        ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_text(doc: Document) -> str:
    """Every section's rows as (section, columns...) — one CSV for the whole report."""
    buf = io.StringIO()
    w = csv.writer(buf)
    for section in doc.sections:
        w.writerow([section.title, *section.columns])
        w.writerows([section.title, *(_safe(v) for v in row)] for row in section.rows)
    return buf.getvalue()


def csv_bytes(doc: Document) -> bytes:
    return csv_text(doc).encode("utf-8-sig")  # BOM: Excel opens it as UTF-8


def html(doc: Document) -> str:
    tz = ZoneInfo(doc.period.tz)
    return _ENV.get_template("report.html").render(
        doc=doc, first=f"{doc.period.first:%Y-%m-%d}",
        last=f"{doc.period.last_exclusive - timedelta(days=1):%Y-%m-%d}",
        generated=doc.generated_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"))


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename over it (atomic on one filesystem)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_files(doc: Document, out_dir: Path) -> tuple[Path, Path]:
    """out_dir/<kind>/<period key>.xlsx and .html; rerunning for the same period overwrites."""
    base = out_dir / doc.kind / doc.period.key
    xlsx_path, html_path = base.with_suffix(".xlsx"), base.with_suffix(".html")
    write_atomic(xlsx_path, xlsx_bytes(doc))
    write_atomic(html_path, html(doc).encode("utf-8"))
    return xlsx_path, html_path

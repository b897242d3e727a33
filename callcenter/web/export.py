"""Ledger exports (CSV for anything, XLSX for Excel users); pure functions over entry rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from callcenter.ledger.lifecycle import label as status_label
from callcenter.ledger.models import Entry
from callcenter.ledger.vocabulary import label_of

# Ledger times are shown in the estate's local time (a candidate for config.yaml).
DISPLAY_TIMEZONE = "Asia/Shanghai"
HEADER = ("编号", "登记时间", "来源", "状态", "来电号码", "来电人", "房号", "类别", "部门", "紧急", "摘要",
          "重复来电次数", "首接人")
# A cell starting with one of these is a formula to Excel: defuse it (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def local_time(at: datetime) -> str:
    """An instant as the desk reads it: 12-07 13:05 in the estate's time."""
    return at.astimezone(ZoneInfo(DISPLAY_TIMEZONE)).strftime("%m-%d %H:%M")


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def rows(entries: Sequence[Entry], owner_name: Callable[[int | None], str], mask: Callable[[str], str],
         tz: ZoneInfo, sources: Mapping[str, str]) -> list[list[str]]:
    out = []
    for e in entries:
        local: datetime = e.created_at.astimezone(tz)
        out.append([str(e.id), local.strftime("%Y-%m-%d %H:%M:%S"), label_of(sources, e.source),
                    status_label(e.status), mask(e.caller_number), e.caller_name, e.unit,
                    e.category, e.department, "是" if e.urgent else "否", e.summary, str(e.repeat_count),
                    owner_name(e.owner_id)])
    return [[_cell(v) for v in r] for r in out]


def to_csv(table: list[list[str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HEADER)
    writer.writerows(table)
    return buf.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8


def to_xlsx(table: list[list[str]]) -> bytes:
    from openpyxl import Workbook  # imported on use: only exports need it

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("台账")
    ws.append(list(HEADER))
    for r in table:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

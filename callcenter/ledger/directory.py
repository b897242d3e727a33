"""Residents directory import (CSV): unit, name, phones, key-customer flag.

Every bad row is reported with its line number and reason; good rows are imported.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from callcenter.drafting.units import normalize_unit
from callcenter.ledger.service import LedgerService

CANONICAL_UNIT = re.compile(r"^\d{1,3}-\d{1,2}-\d{3,4}$")
_REQUIRED = ("unit", "name", "phones")
_TRUE = {"1", "true", "yes", "y", "是", "重要", "重要客户"}
_FALSE = {"", "0", "false", "no", "n", "否"}


@dataclass
class ImportResult:
    imported: int = 0
    errors: list[str] = field(default_factory=list)


def import_residents_csv(text: str, ledger: LedgerService, estate_id: int | None = None) -> ImportResult:
    """Columns: unit,name,phones[,key_customer][,note]; phones separated by ';' or '/' or spaces.
    A unit may be written any way a clerk types it (4-2-301, 4 2 301, 4栋2单元301室). Every row
    goes to the estate `estate_id` (None: the default estate)."""
    result = ImportResult()
    # Excel writes a BOM; newline="" lets the csv module see every line ending (a lone CR too)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        result.errors.append(f"第1行（表头）：不是有效的 CSV（{exc}）")
        return result
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        result.errors.append(f"第1行（表头）：缺少列 {', '.join(missing)}；需要 unit,name,phones[,key_customer][,note]")
        return result
    reader.fieldnames = header
    rows = enumerate(reader, start=2)
    while True:
        try:
            line_no, row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:  # a row the csv module cannot read: reported, the rest imported
            result.errors.append(f"第{reader.line_num}行：不是有效的 CSV（{exc}）")
            continue
        raw_unit = (row.get("unit") or "").strip()
        unit = raw_unit if CANONICAL_UNIT.match(raw_unit) else normalize_unit(raw_unit)
        name = (row.get("name") or "").strip()
        phones = [p for p in re.split(r"[;/,\s]+", row.get("phones") or "") if p]
        flag = (row.get("key_customer") or "").strip().lower()
        problems = []
        if not unit or not CANONICAL_UNIT.match(unit):
            problems.append(f"房号 {raw_unit!r} 无法识别（应为 楼栋-单元-房号，如 4-2-301）")
        if not name:
            problems.append("姓名为空")
        elif len(name) > 64:  # the column's size (PostgreSQL refuses longer, SQLite would not)
            problems.append("姓名超过 64 个字")
        note = (row.get("note") or "").strip()
        if len(note) > 255:
            problems.append("备注超过 255 个字")
        bad_phones = [p for p in phones if not re.fullmatch(r"\+?[\d-]{5,20}", p)]
        if not phones or bad_phones:
            problems.append(f"电话无效：{' '.join(bad_phones) or '（空）'}")
        if flag not in _TRUE | _FALSE:
            problems.append(f"重要客户标记 {flag!r} 无法识别（用 是/否 或 1/0）")
        if problems:
            result.errors.append(f"第{line_no}行：" + "；".join(problems))
            continue
        assert unit is not None
        ledger.upsert_resident(unit, name, phones, flag in _TRUE, note, estate_id=estate_id)
        result.imported += 1
    return result

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, UploadFile

from callcenter.accounts import Principal
from callcenter.ledger.directory import import_residents_csv
from callcenter.web.deps import Ledger
from callcenter.web.estate_scope import EstateFilter
from callcenter.web.schemas import ImportReport, refusals
from callcenter.web.security import require

router = APIRouter(prefix="/api/residents", tags=["residents"], responses=refusals(401, 403, 413, 422))
MAX_CSV_BYTES = 10 * 1024 * 1024


@router.post("/import", response_model=ImportReport)
async def import_csv(file: UploadFile, ledger: Ledger,
                     _: Principal = Depends(require("admin")), *, estates: EstateFilter) -> ImportReport:
    """`estate`: the estate (项目) the residents live in; required when there are several."""
    if estates is None or len(estates) != 1:
        if ledger.estates.several:
            raise HTTPException(422, "请选择项目（estate）：住户名录按项目导入")
        estates = frozenset({ledger.estates.default.id})
    data = await file.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise HTTPException(413, "文件太大（上限 10 MB）")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")  # Excel on Chinese Windows saves CSV as GBK
        except UnicodeDecodeError as exc:
            raise HTTPException(422, "无法识别文件编码，请另存为 UTF-8 CSV") from exc
    if "\x00" in text:  # PostgreSQL text cannot hold it, and no CSV of residents has one
        raise HTTPException(422, "文件包含空字符（NUL），不是有效的 CSV / the file contains NUL characters")
    result = import_residents_csv(text, ledger, estate_id=next(iter(estates)))
    return ImportReport(imported=result.imported, errors=result.errors)

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from callcenter.accounts import Principal
from callcenter.ledger.service import LedgerError, NotFound
from callcenter.web.schemas import AuditOut, EntryOut, EntryPage, EntryPatch
from callcenter.web.security import current_principal, require

router = APIRouter(prefix="/api/entries", tags=["entries"])


@router.get("", response_model=EntryPage)
def list_entries(request: Request, status: str | None = None, category: str | None = None,
                 department: str | None = None, unit: str | None = None, caller: str | None = None,
                 urgent: bool | None = None, since: datetime | None = None, until: datetime | None = None,
                 q: str | None = Query(None, max_length=100), limit: int = Query(50, ge=1, le=500),
                 offset: int = Query(0, ge=0), _: Principal = Depends(current_principal)) -> EntryPage:
    ledger = request.app.state.ledger
    total, rows = ledger.list_entries(status=status, category=category, department=department, unit=unit,
                                      caller_number=caller, urgent=urgent, since=since, until=until,
                                      text=q, limit=limit, offset=offset)
    return EntryPage(total=total, items=[EntryOut.of(e, ledger.calls_of_entry(e.id)) for e in rows])


@router.get("/{entry_id}", response_model=EntryOut)
def get_entry(entry_id: int, request: Request, _: Principal = Depends(current_principal)) -> EntryOut:
    ledger = request.app.state.ledger
    try:
        return EntryOut.of(ledger.get_entry(entry_id), ledger.calls_of_entry(entry_id))
    except NotFound as exc:
        raise HTTPException(404, "没有这条台账") from exc


@router.patch("/{entry_id}", response_model=EntryOut)
def patch_entry(entry_id: int, patch: EntryPatch, request: Request,
                who: Principal = Depends(require("edit_entries"))) -> EntryOut:
    ledger = request.app.state.ledger
    changes = patch.model_dump(exclude_none=True)
    if "unit" in changes and changes["unit"]:
        unit = request.app.state.normalize_unit(changes["unit"])
        if unit is None:
            raise HTTPException(422, f"房号 {changes['unit']!r} 无法识别（应为 楼栋-单元-房号，如 4-2-301）")
        changes["unit"] = unit
    try:
        ledger.update_entry(entry_id, changes, who.username)
    except NotFound as exc:
        raise HTTPException(404, "没有这条台账") from exc
    except LedgerError as exc:
        raise HTTPException(422, str(exc)) from exc
    return EntryOut.of(ledger.get_entry(entry_id), ledger.calls_of_entry(entry_id))


@router.get("/{entry_id}/audit", response_model=list[AuditOut])
def entry_audit(entry_id: int, request: Request, _: Principal = Depends(current_principal)) -> list[AuditOut]:
    return [AuditOut(at=a.at, actor=a.actor, action=a.action, field=a.field, old=a.old, new=a.new)
            for a in request.app.state.ledger.audit_of_entry(entry_id)]

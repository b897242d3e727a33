from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from callcenter.accounts import PERMISSIONS, Principal
from callcenter.ledger.service import CATEGORIES, DEPARTMENTS, SOURCES, STATUSES
from callcenter.web.schemas import FieldAccuracy, Meta, UnitSuggestion, UserBrief
from callcenter.web.security import current_principal, require

router = APIRouter(tags=["meta"])


@router.get("/api/meta", response_model=Meta)
def meta(request: Request, who: Principal = Depends(current_principal)) -> Meta:
    """What the pickers offer (categories, departments, statuses, sources, owners) and what
    the signed-in user may do."""
    users = [UserBrief(id=i, username=u, display_name=d) for i, u, d in request.app.state.accounts.users()]
    return Meta(username=who.username, role=who.role, permissions=sorted(PERMISSIONS.get(who.role, ())),
                categories=list(CATEGORIES), departments=list(DEPARTMENTS), statuses=list(STATUSES),
                sources=dict(SOURCES), users=users)


@router.get("/api/residents/units", response_model=list[UnitSuggestion])
def units(request: Request, prefix: str = Query("", max_length=32),
          _: Principal = Depends(current_principal)) -> list[UnitSuggestion]:
    """Directory completion for the unit field: "4-2" -> 4-2-301 王建国, ..."""
    typed = prefix.strip()
    canonical = request.app.state.normalize_unit(typed) if typed else None
    rows = request.app.state.ledger.units_like(canonical or typed)
    return [UnitSuggestion(unit=u, name=n) for u, n in rows]


@router.get("/api/reports/draft-accuracy", response_model=list[FieldAccuracy])
def draft_accuracy(request: Request, _: Principal = Depends(require("reports"))) -> list[FieldAccuracy]:
    """Per drafted field: confirmations, how many the clerk corrected, and the share kept as drafted."""
    return [FieldAccuracy(field=f, confirmed=n, corrected=c, accuracy=round(1 - c / n, 4) if n else 0.0)
            for f, n, c in request.app.state.ledger.correction_stats()]

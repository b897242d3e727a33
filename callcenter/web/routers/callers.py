from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from callcenter.accounts import Principal
from callcenter.drafting.units import normalize_unit
from callcenter.web.deps import Ledger
from callcenter.web.estate_scope import EstateFilter
from callcenter.web.masking import must_mask
from callcenter.web.schemas import CallerHistoryOut, refusals
from callcenter.web.security import current_principal

router = APIRouter(prefix="/api/callers", tags=["callers"], responses=refusals(401, 422))


@router.get("/history", response_model=CallerHistoryOut)
def history(ledger: Ledger, number: str = Query("", max_length=32), unit: str = Query("", max_length=32),
            recent: int = Query(5, ge=1, le=50), who: Principal = Depends(current_principal),
            *, estates: EstateFilter) -> CallerHistoryOut:
    """The screen pop (seed 002): every open entry of this number or unit, and the last entries of
    the caller and of the unit. The unit may be written any way a resident says it; with no unit
    the directory's unit of the number is used. `estate`: the estate the call is for (the
    screen pop of a call passes it); without it, the user's estates."""
    canonical = normalize_unit(unit) if unit else None
    h = ledger.caller_history(number, canonical or "", recent=recent, estate_ids=estates)
    return CallerHistoryOut.of(h, mask=must_mask(who))

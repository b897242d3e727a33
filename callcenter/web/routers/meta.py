from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from callcenter.accounts import PERMISSIONS, Principal
from callcenter.ledger.service import CATEGORIES, DEPARTMENTS, SOURCES, STATUSES
from callcenter.web.schemas import FieldAccuracy, Meta, UnitSuggestion, UserBrief, refusals
from callcenter.web.security import current_principal, require

router = APIRouter(tags=["meta"], responses=refusals(401))


@router.get("/api/meta", response_model=Meta)
def meta(request: Request, who: Principal = Depends(current_principal)) -> Meta:
    """What the pickers offer (categories, departments, statuses, sources, owners) and what
    the signed-in user may do."""
    users = [UserBrief(id=i, username=u, display_name=d) for i, u, d in request.app.state.accounts.users()]
    return Meta(username=who.username, role=who.role, permissions=sorted(PERMISSIONS.get(who.role, ())),
                categories=list(CATEGORIES), departments=list(DEPARTMENTS), statuses=list(STATUSES),
                sources=dict(SOURCES), users=users)


@router.get("/api/residents/units", response_model=list[UnitSuggestion], responses=refusals(422))
def units(request: Request, prefix: str = Query("", max_length=32),
          _: Principal = Depends(current_principal)) -> list[UnitSuggestion]:
    """Directory completion for the unit field: "4-2" -> 4-2-301 王建国, ..."""
    typed = prefix.strip()
    canonical = request.app.state.normalize_unit(typed) if typed else None
    rows = request.app.state.ledger.units_like(canonical or typed)
    return [UnitSuggestion(unit=u, name=n) for u, n in rows]


@router.get("/api/reports/draft-accuracy", response_model=list[FieldAccuracy], responses=refusals(403))
def draft_accuracy(request: Request, _: Principal = Depends(require("reports"))) -> list[FieldAccuracy]:
    """Per drafted field: confirmations, how many the clerk corrected, and the share kept as drafted."""
    return [FieldAccuracy(field=f, confirmed=n, corrected=c, accuracy=round(1 - c / n, 4) if n else 0.0)
            for f, n, c in request.app.state.ledger.correction_stats()]


class AgentLoad(BaseModel):
    node: str  # host:pid of the agent process
    line: str  # its SIP username
    live: int
    live_max: int
    files: int


class QueueDepth(BaseModel):
    todo: int
    doing: int
    failed: int


class SystemStatus(BaseModel):
    mode: Literal["inprocess", "queue"]
    role: str
    backlog: int = Field(description="transcripts waiting: queued + unavailable (no model)")
    failed: int
    transcripts: dict[str, int] = Field(description="calls per transcript status not done")
    live_streams: int
    live_streams_max: int
    files_pending: int = Field(description="recordings waiting in in-process worker processes")
    queue: QueueDepth | None = Field(description="the job queue (asr.mode: queue)")
    agents: list[AgentLoad] = Field(description="agent processes reporting (other roles than all)")
    warn_at: int
    warn: bool
    sip: dict[str, Any] | None = Field(
        None, description="this process's SIP registration (role all/agent): state registered / registering / "
        "unregistered / direct / stopped, registrar, status, reason, expires_s, since; other agents send the "
        "event sip.registration")


@router.get("/api/system/status", response_model=SystemStatus, responses=refusals(503))
def system_status(request: Request, _: Principal = Depends(current_principal)) -> dict[str, Any]:
    """The transcription backlog: calls whose transcript is queued / unavailable (no model) /
    failed, live recognizers in use, recordings waiting for a worker, the job queue's depth
    (asr.mode: queue), and whether the panel should warn (转写积压)."""
    status = getattr(request.app.state, "system_status", None)
    if status is None:  # an app built without the composition root (tests of single routers)
        raise HTTPException(503, "系统状态不可用")
    result: dict[str, Any] = status()
    return result

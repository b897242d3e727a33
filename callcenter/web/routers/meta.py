from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from callcenter.accounts import PERMISSIONS, Principal
from callcenter.drafting.units import normalize_unit
from callcenter.ledger.lifecycle import STATES
from callcenter.ledger.vocabulary import SOURCES
from callcenter.web.deps import NO_STATUS, AccountBook, Drafting, EstateList, Ledger, available
from callcenter.web.deps import SystemStatus as SystemStatusOf
from callcenter.web.estate_scope import EstateFilter, Scope
from callcenter.web.schemas import EstateBrief, FieldAccuracy, Meta, UnitSuggestion, UserBrief, refusals
from callcenter.web.security import current_principal, require
from callcenter.web.vocab import vocabulary

router = APIRouter(tags=["meta"], responses=refusals(401))


@router.get("/api/meta", response_model=Meta)
def meta(ledger: Ledger, accounts: AccountBook, drafting: Drafting,
         who: Principal = Depends(current_principal), *, scope: Scope, estates: EstateList) -> Meta:
    """What the pickers offer (categories, departments, statuses, sources, owners), what the
    signed-in user may do, and `vocab`: every code the panel shows with its label."""
    users = [UserBrief(id=i, username=u, display_name=d) for i, u, d in accounts.users()]
    terms = ledger.terms  # the site's rules file
    return Meta(username=who.username, role=who.role, permissions=sorted(PERMISSIONS.get(who.role, ())),
                categories=list(terms.categories), departments=list(terms.departments), statuses=list(STATES),
                sources=dict(SOURCES), users=users, vocab=vocabulary(terms),
                review_threshold=drafting.review_threshold,
                estates=[EstateBrief(id=e.id, code=e.code, name=e.name) for e in estates.all()
                         if scope.allows(e.id) and (e.active or scope.ids is None)],
                all_estates=len(estates.all()))


@router.get("/api/residents/units", response_model=list[UnitSuggestion], responses=refusals(422))
def units(ledger: Ledger, prefix: str = Query("", max_length=32),
          _: Principal = Depends(current_principal), *, estates: EstateFilter) -> list[UnitSuggestion]:
    """Directory completion for the unit field: "4-2" -> 4-2-301 王建国, ..."""
    typed = prefix.strip()
    canonical = normalize_unit(typed) if typed else None
    rows = ledger.units_like(canonical or typed, estate_ids=estates)
    return [UnitSuggestion(unit=u, name=n) for u, n in rows]


@router.get("/api/reports/draft-accuracy", response_model=list[FieldAccuracy], responses=refusals(403))
def draft_accuracy(ledger: Ledger, _: Principal = Depends(require("reports"))) -> list[FieldAccuracy]:
    """Per drafted field: confirmations, how many the clerk corrected, and the share kept as drafted."""
    return [FieldAccuracy(field=f, confirmed=n, corrected=c, accuracy=round(1 - c / n, 4) if n else 0.0)
            for f, n, c in ledger.correction_stats()]


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


class SpeechModel(BaseModel):
    ok: bool
    message: str = Field(description="the header chip's words when not ok (语音识别模型缺失：来电改走按键登记)")
    detail: str = Field(description="what is wrong and the fix (callcenter models fetch)")


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
    speech_model: SpeechModel | None = Field(
        None, description="this process's speech model (role all/agent): not ok means calls take the keypad "
        "path and transcripts wait for a model; the panel shows a warning chip")


@router.get("/api/system/status", response_model=SystemStatus, responses=refusals(503))
def system_status(_: Principal = Depends(current_principal), *, status: SystemStatusOf) -> dict[str, Any]:
    """The transcription backlog: calls whose transcript is queued / unavailable (no model) /
    failed, live recognizers in use, recordings waiting for a worker, the job queue's depth
    (asr.mode: queue), and whether the panel should warn (转写积压)."""
    result: dict[str, Any] = available(status, NO_STATUS)()
    return result

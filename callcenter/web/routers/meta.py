from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from callcenter.accounts import PERMISSIONS, ROLE_LABELS, Principal
from callcenter.drafting.rules import DraftingRules
from callcenter.ledger import service as ledger
from callcenter.ledger.service import CATEGORIES, DEPARTMENTS, SOURCES, STATUSES
from callcenter.notify.message import SEVERITY_LABELS
from callcenter.qa.evidence import SPAN_KINDS
from callcenter.qa.service import VERDICT_LABELS
from callcenter.reports.periods import HINTS as PERIOD_HINTS
from callcenter.web.schemas import CodeLabel, FieldAccuracy, Meta, UnitSuggestion, UserBrief, Vocab, refusals
from callcenter.web.security import current_principal, require
from callcenter.workflow import callback_tasks, lifecycle, work_orders
from callcenter.workflow.clocks import CLOCK_LABELS

router = APIRouter(tags=["meta"], responses=refusals(401))


@router.get("/api/meta", response_model=Meta)
def meta(request: Request, who: Principal = Depends(current_principal)) -> Meta:
    """What the pickers offer (categories, departments, statuses, sources, owners) and what
    the signed-in user may do."""
    users = [UserBrief(id=i, username=u, display_name=d) for i, u, d in request.app.state.accounts.users()]
    return Meta(username=who.username, role=who.role, permissions=sorted(PERMISSIONS.get(who.role, ())),
                categories=list(CATEGORIES), departments=list(DEPARTMENTS), statuses=list(STATUSES),
                sources=dict(SOURCES), users=users, vocab=vocabulary())


def _pairs(labels: Mapping[str, str] | Iterable[str]) -> list[CodeLabel]:
    """A code -> label mapping (or codes that are their own labels) as {code, label} in order."""
    if isinstance(labels, Mapping):
        return [CodeLabel(code=c, label=v) for c, v in labels.items()]
    return [CodeLabel(code=c, label=c) for c in labels]


@lru_cache(maxsize=1)
def vocabulary() -> Vocab:
    """The vocabulary from where each list is defined. Categories and departments are those the
    ledger accepts; complaint subjects come from the packaged drafting rules."""
    return Vocab(
        entry_statuses=_pairs({s: lifecycle.LABELS[s] for s in lifecycle.STATES}),
        open_statuses=list(ledger.OPEN_STATUSES),
        reopened_from=[lifecycle.COMPLETED, lifecycle.CALLED_BACK, lifecycle.CLOSED],
        entry_kinds=_pairs(ledger.ENTRY_KINDS),
        categories=_pairs(CATEGORIES),
        departments=_pairs(DEPARTMENTS),
        complaint_subjects=_pairs(list(DraftingRules.load().complaint_subjects)),
        sources=_pairs(SOURCES),
        end_reasons=_pairs(ledger.END_REASONS),
        missed_reasons=_pairs(ledger.MISSED_REASONS),
        entry_fields=_pairs(ledger.FIELD_LABELS),
        audit_actions=_pairs(ledger.AUDIT_ACTIONS),
        work_order_kinds=_pairs(work_orders.KINDS),
        work_order_statuses=_pairs({s: work_orders.LABELS[s] for s in work_orders.STATUSES}),
        work_order_moves=_pairs(work_orders.MOVE_LABELS),
        work_order_transitions={k: list(v) for k, v in work_orders.MOVES.items()},
        task_kinds=_pairs(callback_tasks.KINDS),
        task_statuses=_pairs(callback_tasks.STATUS_LABELS),
        callback_outcomes=_pairs(callback_tasks.OUTCOMES),
        satisfactions=_pairs(lifecycle.SATISFACTIONS),
        severities=_pairs(SEVERITY_LABELS),
        qa_verdicts=_pairs(VERDICT_LABELS),
        clock_kinds=_pairs(CLOCK_LABELS),
        period_hints=_pairs(PERIOD_HINTS),
        roles=_pairs(ROLE_LABELS),
        transcript_statuses=_pairs(ledger.TRANSCRIPT_STATUSES),
        evidence_kinds=_pairs(SPAN_KINDS),
        entry_defaults={"category": ledger.DEFAULT_CATEGORY, "department": ledger.DEFAULT_DEPARTMENT},
    )


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

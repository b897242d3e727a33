"""The drafting's API: the 「请核对」 threshold and model state the panel reads, the model
versions, and the draft-accuracy report (rules vs model vs what clerks confirmed).

Reads `app.state.drafting_settings` (config's DraftingSettings) and `app.state.draft_models`
(the ModelProvider), which the composition root sets; without them: defaults / 503.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from callcenter.accounts import Principal
from callcenter.drafting.accuracy_report import accuracy_report
from callcenter.drafting.hazard import HAZARD_NAMES
from callcenter.web.schemas import refusals
from callcenter.web.security import current_principal, require

router = APIRouter(tags=["drafting"], responses=refusals(401))

DEFAULT_REVIEW_THRESHOLD = 0.9


class ModelState(BaseModel):
    version: str = Field(description="the serving model version, 'seed' for the packaged one, '' = rules only")
    rules_only: bool = Field(description="true when no model could be read: every field needs checking")
    problem: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict, description="held-out accuracy per field")


class DraftingInfo(BaseModel):
    review_threshold: float = Field(description="mark a drafted field 「请核对」 below this confidence")
    hazards: dict[str, str] = Field(description="hazard class -> Chinese name, for the urgent badge")
    model: ModelState


class WeekRow(BaseModel):
    week: str
    field: str
    confirmed: int
    draft_accuracy: float | None
    rules_accuracy: float | None
    rules_n: int
    model_accuracy: float | None
    model_n: int


class CorrectionRow(BaseModel):
    field: str
    drafted: str
    confirmed: str
    count: int
    example_entry_ids: list[int]


class ReliabilityRow(BaseModel):
    field: str
    low: float
    high: float
    n: int
    accuracy: float | None


class DraftAccuracyReport(BaseModel):
    weeks: list[WeekRow]
    corrections: list[CorrectionRow]
    reliability: list[ReliabilityRow]


class ModelVersion(BaseModel):
    version: str
    created_at: str
    serving: bool
    promoted: bool
    decision: str
    metrics: dict[str, Any]
    examples: dict[str, Any]
    holdout: dict[str, Any] | None


def _threshold(request: Request) -> float:
    settings = getattr(request.app.state, "drafting_settings", None)
    return float(getattr(settings, "review_threshold", DEFAULT_REVIEW_THRESHOLD))


@router.get("/api/drafting", response_model=DraftingInfo)
def drafting_info(request: Request, _: Principal = Depends(current_principal)) -> DraftingInfo:
    """The 「请核对」 threshold (confidences are calibrated) and which model drafts."""
    provider = getattr(request.app.state, "draft_models", None)
    model = provider.get() if provider is not None else None
    state = ModelState(version=str(model.meta.get("version", "")) if model is not None else "",
                       rules_only=model is None, problem=getattr(provider, "problem", None),
                       metrics=model.meta.get("metrics", {}) if model is not None else {})
    return DraftingInfo(review_threshold=_threshold(request), hazards=dict(HAZARD_NAMES), model=state)


@router.get("/api/drafting/models", response_model=list[ModelVersion], responses=refusals(403, 503))
def drafting_models(request: Request, _: Principal = Depends(require("reports"))) -> list[ModelVersion]:
    """Every trained version with its held-out metrics and why it was (not) promoted."""
    provider = getattr(request.app.state, "draft_models", None)
    if provider is None:
        raise HTTPException(503, "草稿模型未配置")
    return [ModelVersion(**vars(v)) for v in provider.registry.versions()]


@router.get("/api/reports/draft-accuracy/weekly", response_model=DraftAccuracyReport,
            responses=refusals(403, 422))
def draft_accuracy_weekly(request: Request, weeks: int = Query(12, ge=1, le=104),
                          tz: str = Query("Asia/Shanghai", max_length=64),
                          _: Principal = Depends(require("reports"))) -> DraftAccuracyReport:
    """Per field and ISO week: drafted vs confirmed, the rules alone and the model alone; the most
    frequent corrections (e.g. 其他 → 求助) with example entries; confidence bins -> accuracy."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise HTTPException(422, f"未知时区：{tz}") from exc
    since = datetime.now(UTC) - timedelta(weeks=weeks)
    report = accuracy_report(request.app.state.ledger.engine, since=since, tz=tz)
    return DraftAccuracyReport(weeks=[WeekRow(**w) for w in report.weeks],
                               corrections=[CorrectionRow(**c) for c in report.corrections],
                               reliability=[ReliabilityRow(**r) for r in report.reliability])

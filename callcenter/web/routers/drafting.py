"""The drafting's API: the 「请核对」 threshold and model state the panel reads, the model
versions, and the draft-accuracy report (rules vs model vs what clerks confirmed).

The composition root hands it the drafting settings and the ModelProvider (web/deps.py); without
them: the default threshold, and 503 for the model versions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from callcenter.accounts import Principal
from callcenter.drafting.hazard import HAZARD_NAMES
from callcenter.learning.accuracy_report import accuracy_report
from callcenter.web.deps import NO_DRAFT_MODELS, Drafting, DraftModels, Ledger, available
from callcenter.web.schemas import refusals
from callcenter.web.security import current_principal, require

router = APIRouter(tags=["drafting"], responses=refusals(401))


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


@router.get("/api/drafting", response_model=DraftingInfo)
def drafting_info(provider: DraftModels, settings: Drafting,
                  _: Principal = Depends(current_principal)) -> DraftingInfo:
    """The 「请核对」 threshold (confidences are calibrated) and which model drafts. Read from the
    model folder's metadata: answering never loads (or, on a new site, builds) a model."""
    state = ModelState(version="", rules_only=True)
    if provider is not None:
        serving = next((v for v in provider.registry.versions() if v.serving), None)
        # no metadata yet: the seed model is still being built from the corpus (rules meanwhile)
        broken = provider.problem is not None or serving is None or not serving.created_at
        state = ModelState(version=serving.version if serving is not None and not broken else "",
                           rules_only=broken, problem=provider.problem,
                           metrics=serving.metrics if serving is not None and not broken else {})
    return DraftingInfo(review_threshold=settings.review_threshold, hazards=dict(HAZARD_NAMES), model=state)


@router.get("/api/drafting/models", response_model=list[ModelVersion], responses=refusals(403, 503))
def drafting_models(provider: DraftModels, _: Principal = Depends(require("reports"))) -> list[ModelVersion]:
    """Every trained version with its held-out metrics and why it was (not) promoted."""
    return [ModelVersion(**vars(v)) for v in available(provider, NO_DRAFT_MODELS).registry.versions()]


@router.get("/api/reports/draft-accuracy/weekly", response_model=DraftAccuracyReport,
            responses=refusals(403, 422))
def draft_accuracy_weekly(ledger: Ledger, weeks: int = Query(12, ge=1, le=104),
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
    report = accuracy_report(ledger.engine, since=since, tz=tz)
    return DraftAccuracyReport(weeks=[WeekRow(**w) for w in report.weeks],
                               corrections=[CorrectionRow(**c) for c in report.corrections],
                               reliability=[ReliabilityRow(**r) for r in report.reliability])

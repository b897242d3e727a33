"""QA settings (config.yaml `qa:`): which scorecard, how prompts are matched, how long recordings stay."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class RetentionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keep_days: int | None = Field(
        None, ge=1, description="Delete recordings older than this many days; None keeps them forever. "
        "Recordings of open entries and of training sets are never deleted.")


class QaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scorecard_file: Path | None = Field(
        None, description="A site's own scorecard YAML; None uses the packaged callcenter/qa/scorecard.yaml")
    prompt_match_threshold: float = Field(
        0.7, gt=0, le=1, description="Normalized cross-correlation above which a prompt clip counts as played")
    retention: RetentionSettings = Field(default_factory=RetentionSettings)  # type: ignore[arg-type]

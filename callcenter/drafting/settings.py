"""The drafting's settings (config.yaml `drafting:`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class DraftingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules_file: Path | None = Field(
        None, description="Keywords, departments and urgent terms (YAML). Empty: the packaged defaults "
                          "(callcenter/drafting/rules.yaml); copy that file to edit it.")
    models_dir: Path = Field(
        Path("draft_models"), description="Trained draft models, one folder per version (owner-only). "
                                          "Empty of models: the packaged seed model serves.")
    review_threshold: float = Field(
        0.9, ge=0.0, le=1.0, description="The panel marks a drafted field 「请核对」 below this confidence. "
                                         "Confidences are calibrated: 0.9 means right at least 9 times in 10.")
    retrain: bool = Field(True, description="Retrain the draft model every night on the confirmed entries")
    retrain_hour: int = Field(3, ge=0, le=23, description="Hour (workflow.timezone) of the nightly retraining")
    retrain_minute: int = Field(10, ge=0, le=59, description="Minute of the nightly retraining")
    holdout_share: float = Field(0.2, gt=0.0, lt=1.0, description="Newest share of the confirmed entries held "
                                 "back to compare a new model with the serving one")
    min_holdout: int = Field(30, ge=1, description="Fewer held-back entries than this: a new model is kept "
                             "but not promoted (too few to judge)")

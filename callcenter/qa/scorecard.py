"""The scorecard (质检评分表): items with a weight, a critical flag and an automatic check (or
none: judged by a person), loaded from YAML and validated so a typo is an error that says where."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from callcenter.qa.checks import CHECKS, CheckResult, Verdict
from callcenter.qa.evidence import CallEvidence

DEFAULT_SCORECARD = Path(__file__).with_name("scorecard.yaml")


class ScorecardError(ValueError):
    """The scorecard file is wrong; the message names the file, the item and the fix."""


class ScorecardItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=64)
    weight: float = Field(gt=0, le=100)
    critical: bool = False
    check: str | None = None  # None: manual only
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("check")
    @classmethod
    def _known_check(cls, name: str | None) -> str | None:
        if name is not None and name not in CHECKS:
            raise ValueError(f"unknown check {name!r}; known checks: {', '.join(sorted(CHECKS))} "
                             "(or leave it out for a manual-only item)")
        return name

    @model_validator(mode="after")
    def _params_fit(self) -> ScorecardItem:
        if self.check is None:
            if self.params:
                raise ValueError("params given but the item has no check")
            return self
        try:
            CHECKS[self.check][0].model_validate(self.params)
        except ValidationError as exc:
            raise ValueError(f"params of check {self.check!r}: {exc}") from None
        return self


class Scorecard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=40)
    version: int = Field(1, ge=1)
    pass_score: float = Field(80, ge=0, le=100, description="Below this score the call fails")
    items: list[ScorecardItem] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Scorecard:
        seen: set[str] = set()
        dupes = [i.id for i in self.items if i.id in seen or seen.add(i.id)]  # type: ignore[func-returns-value]
        if dupes:
            raise ValueError(f"duplicate item ids: {', '.join(sorted(set(dupes)))}; every item needs its own id")
        return self

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def item(self, item_id: str) -> ScorecardItem:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


def load_scorecard(path: Path | None = None) -> Scorecard:
    path = path or DEFAULT_SCORECARD
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScorecardError(f"scorecard {path}: cannot read it ({exc.strerror}); fix qa.scorecard_file") from exc
    except yaml.YAMLError as exc:
        raise ScorecardError(f"scorecard {path}: not valid YAML ({exc})") from exc
    try:
        return Scorecard.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors())
        raise ScorecardError(f"scorecard {path}: {problems}") from None


# ----- scoring ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scored:
    score: float | None  # 0..100 over the items judged pass/fail; None when none is judged
    passed: bool | None  # None while a critical item is still unknown and nothing failed
    critical_failed: list[str]


def run_checks(card: Scorecard, ev: CallEvidence) -> dict[str, CheckResult]:
    out = {}
    for item in card.items:
        if item.check is None:
            out[item.id] = CheckResult("unknown", "人工评分项")
            continue
        params_model, fn = CHECKS[item.check]
        out[item.id] = fn(ev, params_model.model_validate(item.params))
    return out


def score(card: Scorecard, verdicts: dict[str, Verdict]) -> Scored:
    """Weighted share of passed items among those judged; any critical fail fails the call."""
    judged = [i for i in card.items if verdicts.get(i.id) in ("pass", "fail")]
    total = sum(i.weight for i in judged)
    value = round(100 * sum(i.weight for i in judged if verdicts[i.id] == "pass") / total, 1) if total else None
    critical_failed = [i.id for i in card.items if i.critical and verdicts.get(i.id) == "fail"]
    if critical_failed:
        return Scored(value, False, critical_failed)
    if any(i.critical and verdicts.get(i.id) == "unknown" for i in card.items) or value is None:
        return Scored(value, None, [])
    return Scored(value, value >= card.pass_score, [])

"""`callcenter drafting train` and its scheduled job: seed corpus + the site's confirmed
entries -> a new model version, promoted only if it beats the serving one on a held-back
slice of the site's entries (the newest ones, which the candidate did not train on).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from callcenter.drafting.model import ModelFileError, TextModel
from callcenter.drafting.registry import SEED, ModelRegistry
from callcenter.drafting.rules import DraftingRules
from callcenter.drafting.train import Example, evaluate, seed_corpus, train
from callcenter.learning.site_data import site_examples

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainSettings:
    holdout_share: float = 0.2
    min_holdout: int = 30


@dataclass
class RetrainResult:
    version: str
    promoted: bool
    reason: str
    seconds: float
    examples: dict[str, int]
    candidate: dict[str, Any] | None = None  # accuracy on the held-back slice
    serving: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def split_site(examples: list[Example], settings: RetrainSettings) -> tuple[list[Example], list[Example]]:
    """(to train on, held back): the newest `holdout_share` of the site's entries are held back
    when there are enough of them to decide anything."""
    count = int(len(examples) * settings.holdout_share)
    if count < settings.min_holdout:
        return examples, []
    return examples[:-count], examples[-count:]


def retrain(engine: Engine | None, rules: DraftingRules, registry: ModelRegistry,
            settings: RetrainSettings | None = None, *, site: list[Example] | None = None,
            now: datetime | None = None, progress: Callable[[str], None] | None = None) -> RetrainResult:
    settings = settings or RetrainSettings()
    now = now or datetime.now(UTC)
    if site is None:
        site = site_examples(engine) if engine is not None else []
    to_train, held_back = split_site(site, settings)
    seed = seed_corpus()
    report = train([*seed, *to_train], rules, progress=progress,
                   extra_meta={"created_at": now.isoformat(),
                               "site_until": to_train[-1].at.isoformat() if to_train and to_train[-1].at else None})
    version = registry.new_version_name(now)
    registry.save(report.model, version)
    current = registry.current()
    serving_model: TextModel | None
    try:
        serving_model = registry.load(current)
    except ModelFileError as exc:
        log.error("serving draft model %s unreadable (%s): the candidate is compared with the rules", current, exc)
        serving_model = None
    candidate_score = serving_score = None
    if held_back:
        candidate_score = evaluate(report.model, held_back, rules)
        serving_score = evaluate(serving_model, held_back, rules)
        better = (candidate_score["score"] or 0.0) > (serving_score["score"] or 0.0)
        promoted = better
        reason = (f"held-back slice of {len(held_back)} site entries: candidate {candidate_score['score']:.4f} "
                  f"vs serving {current} {serving_score['score'] or 0.0:.4f}: "
                  + ("promoted" if better else "kept, not serving (not better)"))
    elif not site and current == SEED and serving_model is not None:
        promoted = False
        reason = "no confirmed site entries: the seed model keeps serving (kept, not serving)"
    elif serving_model is None:
        promoted = True
        reason = f"the serving model {current} is unreadable: promoted without comparison"
    else:
        promoted = False
        reason = (f"only {len(site)} confirmed site entries, fewer than needed to hold back "
                  f"{settings.min_holdout}: kept, not serving")
    registry.record_decision(version, {"reason": reason, "promoted": promoted, "at": now.isoformat(),
                                       "holdout": {"n": len(held_back), "candidate": candidate_score,
                                                   "serving": serving_score, "serving_version": current}})
    if promoted:
        registry.promote(version, reason)
    log.info("draft model %s trained on %d texts in %.1f s; %s", version, report.examples, report.seconds, reason)
    return RetrainResult(version, promoted, reason, report.seconds,
                         {"seed": len(seed), "site_trained": len(to_train), "site_held_back": len(held_back)},
                         candidate_score, serving_score, report.metrics)


def register_drafting_jobs(scheduler: Any, engine: Engine, rules: DraftingRules, models_dir: Path, *,
                           hour: int = 3, minute: int = 10, timezone: str = "Asia/Shanghai",
                           settings: RetrainSettings | None = None,
                           after: Callable[[RetrainResult], None] | None = None) -> None:
    """The nightly retraining (web/worker role, one process per site). `after` gets each result
    (the composition root reloads its ModelProvider and posts a notice)."""

    def job() -> None:
        try:
            result = retrain(engine, rules, ModelRegistry(models_dir), settings)
        except Exception:
            log.exception("draft model retraining failed; the serving model is unchanged")
            return
        if after is not None:
            after(result)

    scheduler.add_job(job, "cron", hour=hour, minute=minute, timezone=timezone, id="draft_model_retrain",
                      replace_existing=True, coalesce=True, max_instances=1)

"""Category, department and urgency of a call, each with confidence and evidence.

All knowledge comes from `DraftingRules`; this module only scores matches.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fields import Evidence, FieldGuess
from .normalize import normalized
from .rules import DraftingRules
from .terms import COMPLAINT, GUARDS
from .text import CompactText, find_terms

# Confidence of a value that follows from the category alone (no topic words matched).
_DEFAULT_ROUTE_CONFIDENCE = 0.7
_NOT_URGENT_CONFIDENCE = 0.8
_FALLBACK_CONFIDENCE = 0.2


@dataclass(frozen=True)
class Classification:
    category: FieldGuess[str]
    department: FieldGuess[str]
    urgent: FieldGuess[bool]
    # 投诉项目分类 when the category is 投诉, else None.
    complaint_subject: FieldGuess[str | None]


@dataclass(frozen=True)
class _Scored:
    score: float
    evidence: tuple[Evidence, ...]


def _score(compact: CompactText, terms: dict[str, float], rules: DraftingRules, label: str) -> _Scored:
    """Sum of weights of non-overlapping matches, longest first, negated matches left out."""
    hits = sorted(
        find_terms(compact, terms, negations=rules.negations, window=rules.negation_window),
        key=lambda hit: (-(hit[3] - hit[2]), hit[2]),
    )
    taken: list[tuple[int, int]] = []
    total = 0.0
    evidence: list[Evidence] = []
    for _pattern, weight, start, end in hits:
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            continue
        taken.append((start, end))
        total += weight
        evidence.append(compact.evidence(start, end, label))
    evidence.sort(key=lambda e: e.start)
    return _Scored(total, tuple(evidence))


def _best(scores: dict[str, _Scored]) -> tuple[str, _Scored, float] | None:
    """(name, its score, runner-up score) of the highest-scoring entry, ties to the first listed."""
    if not scores:
        return None
    ranked = sorted(scores.items(), key=lambda item: -item[1].score)
    runner_up = ranked[1][1].score if len(ranked) > 1 else 0.0
    return ranked[0][0], ranked[0][1], runner_up


def _margin_confidence(top: float, runner_up: float, saturation: float = 4.0) -> float:
    # Sure when the winner is both clear of the runner-up and backed by enough weight.
    share = top / (top + runner_up) if top + runner_up > 0 else 0.0
    strength = min(1.0, top / saturation)
    return round(min(0.97, 0.3 + 0.7 * share * strength), 3)


def classify_category(compact: CompactText, rules: DraftingRules) -> FieldGuess[str]:
    scores = {
        name: _score(compact, terms, rules, f"category:{name}") for name, terms in rules.categories.items()
    }
    best = _best(scores)
    if best is None or best[1].score < rules.category_min_score:
        return FieldGuess(rules.fallback_category, _FALLBACK_CONFIDENCE, ())
    name, scored, runner_up = best
    return FieldGuess(name, _margin_confidence(scored.score, runner_up), scored.evidence)


def complaint_subject(compact: CompactText, rules: DraftingRules) -> FieldGuess[str]:
    scores = {
        name: _score(compact, subject.terms, rules, f"complaint_subject:{name}")
        for name, subject in rules.complaint_subjects.items()
    }
    best = _best(scores)
    if best is None or best[1].score <= 0:
        return FieldGuess(rules.fallback_complaint_subject, 0.4, ())
    name, scored, runner_up = best
    return FieldGuess(name, _margin_confidence(scored.score, runner_up, saturation=3.0), scored.evidence)


def route_department(
    compact: CompactText, category: str, rules: DraftingRules
) -> tuple[FieldGuess[str], FieldGuess[str | None]]:
    """(department, complaint subject) for a call of `category`, per the routing conventions."""
    subject: FieldGuess[str | None] = FieldGuess(None, 1.0, ())
    department = FieldGuess(rules.routing.default_department[category], _DEFAULT_ROUTE_CONFIDENCE, ())
    if category == COMPLAINT:
        found = complaint_subject(compact, rules)
        subject = FieldGuess(found.value, found.confidence, found.evidence)
        owner = rules.complaint_subjects[found.value].department
        department = FieldGuess(owner, found.confidence if found.evidence else 0.5, found.evidence)
        # Asking the guards to act (late-night noise) sends the complaint to 安保 whatever it is about.
        guards = _score(compact, rules.complaint_guard_requests, rules, f"department:{GUARDS}")
        if guards.score > 0:
            department = FieldGuess(GUARDS, 0.85, guards.evidence)
    routes = [route for route in rules.routing.topics if category in route.categories]
    best_route: tuple[float, str, tuple[Evidence, ...]] | None = None
    for route in routes:
        scored = _score(compact, route.terms, rules, f"department:{route.department}")
        if scored.score >= route.min_score and (best_route is None or scored.score > best_route[0]):
            best_route = (scored.score, route.department, scored.evidence)
    if best_route is not None:
        department = FieldGuess(best_route[1], round(min(0.95, 0.6 + best_route[0] / 10), 3), best_route[2])
    return department, subject


def detect_urgency(compact: CompactText, rules: DraftingRules) -> FieldGuess[bool]:
    """Important information (信息性质: 重要): any urgent term not negated."""
    hits = list(
        find_terms(compact, rules.urgent_terms, negations=rules.negations, window=rules.negation_window)
    )
    if not hits:
        return FieldGuess(False, _NOT_URGENT_CONFIDENCE, ())
    evidence = tuple(
        sorted((compact.evidence(start, end, "urgent") for _p, _w, start, end in hits), key=lambda e: e.start)
    )
    return FieldGuess(True, max(weight for _p, weight, _s, _e in hits), evidence)


def classify(transcript: str, rules: DraftingRules) -> Classification:
    compact = normalized(transcript)  # spaces out, known ASR confusions fixed
    category = classify_category(compact, rules)
    department, subject = route_department(compact, category.value, rules)
    # A weakly-known category makes the department it implies weak too.
    if not department.evidence:
        department = FieldGuess(
            department.value, round(department.confidence * max(category.confidence, 0.3), 3), ()
        )
    return Classification(category, department, detect_urgency(compact, rules), subject)

"""A one-line Chinese summary of the caller's problem for the ledger's 内容 column."""

from __future__ import annotations

import re

from .fields import FieldGuess
from .rules import DraftingRules, compile_term
from .text import CompactText, find_terms
from .units import parse_unit

# Cue-only clauses ("我要投诉一下") are this short; longer clauses with problem words stay.
_CUE_CLAUSE_MAX_CHARS = 6
_CLAUSE_SPLIT = re.compile(r"[，,。！？!?；;…]+|\.{2,}")


def _clauses(text: str) -> list[tuple[int, int]]:
    """(start, end) of each clause of the compact text."""
    spans = []
    position = 0
    for match in _CLAUSE_SPLIT.finditer(text):
        if match.start() > position:
            spans.append((position, match.start()))
        position = match.end()
    if position < len(text):
        spans.append((position, len(text)))
    return spans


def _strip(clause: str, rules: DraftingRules) -> str:
    for pattern in rules.summary.strip_fragments:
        clause = compile_term(pattern).sub("", clause)
    return clause.strip()


def _problem_weight(compact: CompactText, rules: DraftingRules, start: int, end: int) -> float:
    sub = CompactText.of(compact.text[start:end])
    weight = sum(w for _p, w, _s, _e in find_terms(sub, rules.urgent_terms))
    for terms in rules.categories.values():
        weight += sum(w for _p, w, _s, _e in find_terms(sub, terms))
    return weight


def summarize(transcript: str, rules: DraftingRules) -> FieldGuess[str]:
    """The clauses carrying the problem, greetings/self-introductions/thanks dropped, <= max_chars."""
    compact = CompactText.of(transcript)
    limit = rules.summary.max_chars
    kept: list[tuple[str, int, int, float]] = []
    for start, end in _clauses(compact.text):
        clause = compact.text[start:end]
        weight = _problem_weight(compact, rules, start, end)
        # "我在三栋楼下闻到煤气味" opens like an introduction but carries the problem: keep it.
        droppable = weight == 0 or len(clause) <= _CUE_CLAUSE_MAX_CHARS
        if droppable and any(compile_term(p).search(clause) for p in rules.summary.drop_clauses):
            continue
        # A clause naming a unit and no problem is the caller's address: the unit field has it.
        if weight == 0 and parse_unit(clause) is not None:
            continue
        stripped = _strip(clause, rules)
        if stripped:
            kept.append((stripped, start, end, weight))
    if not kept:
        text = compact.text[:limit]
        return FieldGuess(text, 0.2, ())
    # Greetings and introductions are gone; start at the first clause left, or at the first naming
    # the problem when that one would not fit on the line with it.
    first = 0
    problem_at = next((i for i, item in enumerate(kept) if item[3] > 0), 0)
    if sum(len(item[0]) + 1 for item in kept[: problem_at + 1]) > limit:
        first = problem_at
    parts: list[str] = []
    used: list[tuple[int, int]] = []
    length = 0
    for text, start, end, _weight in kept[first:]:
        extra = len(text) + (1 if parts else 0)
        if length + extra > limit:
            if not parts:
                parts.append(text[:limit])
                used.append((start, end))
            break
        parts.append(text)
        used.append((start, end))
        length += extra
    summary = "，".join(parts)
    evidence = tuple(compact.evidence(s, e, "summary") for s, e in used)
    confidence = 0.8 if any(item[3] > 0 for item in kept) else 0.4
    return FieldGuess(summary, confidence, evidence)


def caller_surname(transcript: str, rules: DraftingRules) -> FieldGuess[str | None]:
    """The surname the caller gives (我姓王, 我是李女士, 免贵姓欧阳), or None."""
    compact = CompactText.of(transcript)
    for pattern in rules.caller_name.patterns:
        for match in compile_term(pattern).finditer(compact.text):
            surname = match.group("surname")
            if surname in rules.caller_name.not_surnames:
                continue
            start, end = match.span("surname")
            return FieldGuess(surname, 0.8, (compact.evidence(start, end, "caller_name"),))
    return FieldGuess(None, 1.0, ())

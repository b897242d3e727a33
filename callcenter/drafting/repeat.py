"""The repeat rule: the same resident raising the same problem twice or more is a complaint.

(同一个业户就同一个问题反映两次或两次以上，均可视为投诉 — DOMAIN.md, seed 002.)
"Same resident" is the same caller number or the same unit; "same problem" is a
shared topic from the rules (停电/没电/跳闸 are one topic).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .draft import Draft
from .fields import Evidence, FieldGuess
from .rules import DraftingRules, compile_term
from .terms import COMPLAINT
from .text import CompactText


@dataclass(frozen=True)
class OpenEntry:
    """A ledger entry still open, as the ledger hands it to the repeat rule."""

    entry_id: int
    unit: str | None
    caller_number: str | None
    category: str
    summary: str
    transcript: str


@dataclass(frozen=True)
class RepeatMatch:
    entry_id: int
    # Chinese, for the clerk: who matched and on which problem.
    reason: str
    score: float
    topics: tuple[str, ...] = ()
    # Words in this call's transcript naming the shared problem.
    evidence: tuple[Evidence, ...] = ()


def problem_topics(text: str, rules: DraftingRules) -> dict[str, Evidence]:
    """Each rules topic named in `text`, with the first words naming it."""
    compact = CompactText.of(text)
    found: dict[str, Evidence] = {}
    for topic, synonyms in rules.topics.items():
        for synonym in synonyms:
            match = compile_term(synonym).search(compact.text)
            if match is not None and match.end() > match.start():
                found[topic] = compact.evidence(match.start(), match.end(), f"topic:{topic}")
                break
    return found


def find_repeat(
    draft: Draft,
    caller_number: str | None,
    open_entries: Sequence[OpenEntry],
    rules: DraftingRules,
) -> RepeatMatch | None:
    """The open entry this call repeats (same caller or unit, same problem topic), best first."""
    # Evidence spans must point into the transcript; a draft without one cannot be matched on words.
    topics = problem_topics(draft.transcript, rules)
    if not topics:
        return None
    best: RepeatMatch | None = None
    for entry in open_entries:
        same_caller = bool(caller_number) and entry.caller_number == caller_number
        same_unit = draft.unit.value is not None and entry.unit == draft.unit.value
        if not (same_caller or same_unit):
            continue
        earlier = problem_topics(f"{entry.summary}。{entry.transcript}", rules)
        shared = tuple(sorted(set(topics) & set(earlier)))
        if not shared:
            continue
        # Both number and unit agreeing is surer than either; more shared topics, surer still.
        identity = 1.0 if same_caller and same_unit else 0.85
        overlap = len(shared) / max(1, min(len(topics), len(earlier)))
        score = round(identity * (0.7 + 0.3 * overlap), 3)
        who = (
            "同一来电号码和房号"
            if same_caller and same_unit
            else "同一来电号码"
            if same_caller
            else "同一房号"
        )
        words = "、".join(topics[t].text for t in shared)
        reason = f"{who}再次反映同一问题（{words}），按重复反映视为投诉"
        if best is None or score > best.score:
            evidence = tuple(replace(topics[t], label=f"repeat:{entry.entry_id}") for t in shared)
            best = RepeatMatch(entry.entry_id, reason, score, shared, evidence)
    return best


def apply_repeat(draft: Draft, match: RepeatMatch | None) -> Draft:
    """The draft with its category upgraded to 投诉 and linked to the repeated entry.

    The department stays: the problem still has to be fixed by whoever owns it.
    """
    if match is None:
        return draft
    evidence = (*match.evidence, *draft.category.evidence)
    category = FieldGuess(COMPLAINT, max(draft.category.confidence, match.score), evidence)
    return replace(draft, category=category, repeat_of=match.entry_id)

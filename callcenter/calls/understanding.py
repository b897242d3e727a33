"""What the agent understands of the caller during the call, after each turn: the live transcript
so far and the keypad, drafted the same way the finished call is (`drafting.draft_entry`), so the
conversation can react (safety prompt and escalation, unit read-back, the category menu, 转人工).

Pure apart from the model it is handed: no database, no audio. The facts the caller confirmed
on the keypad (`CallerFacts`) go into the final draft as the caller's own word.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from callcenter.drafting.draft import Draft, draft_entry
from callcenter.drafting.fields import FieldGuess
from callcenter.drafting.hazard import HAZARDS, detect_hazard
from callcenter.drafting.rules import DraftingRules
from callcenter.drafting.serving import ModelProvider

# Saying these asks for a person; "不用人工" / "不要转人工" does not.
DEFAULT_PERSON_WORDS = ("转人工", "人工服务", "人工", "找客服", "找人", "接客服")
_NOT_WANTED = re.compile(r"(?:不用|不要|不需要|别|没)(?:转)?$")


@dataclass(frozen=True)
class TurnView:
    """The draft of the call so far, as far as the conversation needs it."""

    hazard: str | None  # urgent hazard class (gas, fire, water, lift, ...) or None
    category: str
    category_confidence: float
    unit: str | None  # canonical "4-2-301"
    unit_source: str | None  # directory / dtmf / speech
    wants_person: bool  # the caller asked for a person (人工/转人工/找客服/找人)


@dataclass
class CallerFacts:
    """What the caller settled on the keypad during the call; the final draft takes them as given.
    `intake_path` says how the call was taken: 'speech' (a live recognizer listened) or 'keypad'."""

    intake_path: str = "speech"
    unit: str | None = None
    unit_confirmed: bool = False
    keyed_unit: str | None = None  # the unit as keyed on the pad ("4-2-301"), confirmed or not
    category: str | None = None  # chosen from the category menu
    hazard: str | None = None  # detected during the call (the escalation's reason)
    steps: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"intake_path": self.intake_path, "unit": self.unit, "unit_confirmed": self.unit_confirmed,
                "keyed_unit": self.keyed_unit,
                "category": self.category, "hazard": self.hazard}

    @classmethod
    def from_dict(cls, data: dict[str, object] | None) -> CallerFacts | None:
        if not data:
            return None
        return cls(intake_path=str(data.get("intake_path") or "speech"),
                   unit=str(data["unit"]) if data.get("unit") else None,
                   unit_confirmed=bool(data.get("unit_confirmed")),
                   keyed_unit=str(data["keyed_unit"]) if data.get("keyed_unit") else None,
                   category=str(data["category"]) if data.get("category") else None,
                   hazard=str(data["hazard"]) if data.get("hazard") else None)


def wants_person(text: str, words: tuple[str, ...] = DEFAULT_PERSON_WORDS) -> bool:
    """The caller asks for a person somewhere in `text`, not negated right before the word."""
    compact = re.sub(r"\s+", "", text)
    for word in sorted(words, key=len, reverse=True):
        for m in re.finditer(re.escape(word), compact):
            if not _NOT_WANTED.search(compact[max(0, m.start() - 3):m.start()]):
                return True
    return False


def apply_facts(draft: Draft, facts: CallerFacts | None) -> Draft:
    """The final draft with what the caller confirmed on the keypad taken as certain."""
    if facts is None:
        return draft
    changes: dict[str, object] = {}
    sources = dict(draft.sources or {})
    if facts.unit and facts.unit_confirmed:
        changes["unit"] = FieldGuess(facts.unit, 1.0, ())
        changes["source_unit"] = "dtmf" if draft.source_unit != "speech" or draft.unit.value != facts.unit \
            else "speech"
        sources["unit"] = "caller_confirmed"
    if facts.category:
        changes["category"] = FieldGuess(facts.category, 1.0, ())
        sources["category"] = "caller_keypad"
    if facts.hazard and not draft.urgent.value:
        changes["urgent"] = FieldGuess(True, 1.0, ())
        changes["hazard"] = FieldGuess(facts.hazard, 1.0, ())
        sources["urgent"] = "hazard"
    sources["intake_path"] = facts.intake_path
    changes["sources"] = sources
    return dataclasses.replace(draft, **changes)  # type: ignore[arg-type]


class Understanding:
    """Drafts the call so far after each turn (cheap: the rules and, when loaded, the model)."""

    def __init__(self, rules: DraftingRules, models: ModelProvider | None = None,
                 person_words: tuple[str, ...] = DEFAULT_PERSON_WORDS) -> None:
        self.rules = rules
        self.models = models
        self.person_words = person_words

    def view(self, text: str, *, directory_unit: str | None, dtmf_unit: str | None) -> TurnView:
        model = None
        if self.models is not None:
            try:
                model = self.models.get()
            except Exception:  # an unreadable model: the rules decide, as for the final draft
                model = None
        draft = draft_entry(text, self.rules, directory_unit=directory_unit, dtmf_unit=dtmf_unit, model=model)
        hazard = draft.hazard.value if draft.urgent.value else None
        if hazard is None:  # the model may call it urgent without a class; the detector names one
            match = detect_hazard(text)
            hazard = match.hazard if match is not None else None
        if hazard is None and draft.urgent.value:
            hazard = "other"
        return TurnView(hazard=hazard, category=draft.category.value,
                        category_confidence=draft.category.confidence, unit=draft.unit.value,
                        unit_source=draft.source_unit, wants_person=wants_person(text, self.person_words))


def safety_prompt_key(hazard: str) -> str:
    """The safety clip of a hazard class; one clip per class, 'other' for an urgency the model saw."""
    return f"safety_{hazard if hazard in HAZARDS else 'other'}"

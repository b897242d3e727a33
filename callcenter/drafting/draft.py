"""The drafted ledger entry (台账) for one call: every field a guess with its evidence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .classify import classify
from .combine import Urgency, assess_urgency, decide_fields, rules_view
from .fields import Evidence, FieldGuess
from .hazard import detect_hazard
from .model import TextModel
from .rules import DraftingRules
from .summary import caller_surname, summarize
from .units import normalize_unit, parse_dtmf_unit, parse_unit

UnitSource = Literal["directory", "dtmf", "speech"]

# A unit spoken (or keyed) that differs from the caller's directory unit: callers
# do call about another unit (a parent's flat, a neighbour's leak), so take it, unsure.
_OTHER_UNIT_CONFIDENCE = 0.6
_DTMF_CONFIDENCE = 0.95

__all__ = ["Draft", "Evidence", "FieldGuess", "UnitSource", "draft_entry"]


@dataclass(frozen=True)
class Draft:
    unit: FieldGuess[str | None]
    category: FieldGuess[str]
    department: FieldGuess[str]
    urgent: FieldGuess[bool]
    summary: FieldGuess[str]
    # Surname only ("王"); the panel adds 先生/女士.
    caller_name: FieldGuess[str | None]
    source_unit: UnitSource | None
    # 投诉项目分类 (DOMAIN.md) when the category is 投诉.
    complaint_subject: FieldGuess[str | None]
    # The transcript all evidence spans point into.
    transcript: str
    # Set by the repeat rule: the open entry this call repeats.
    repeat_of: int | None = None
    # The urgent hazard's class (gas, fire, water, lift, ...), None when not urgent: it picks
    # the safety prompt and the duty roster.
    hazard: FieldGuess[str | None] = FieldGuess(None, 1.0, ())
    # Per field, which source decided (rules / model / both / hazard / implied) and what the
    # rules and the model each said: the accuracy report compares them with the clerk's.
    sources: dict[str, str] | None = None
    alternatives: dict[str, dict[str, str | None]] | None = None
    # The model version that drafted it ("" = rules only).
    model_version: str = ""


def choose_unit(
    transcript: str, *, directory_unit: str | None, dtmf_unit: str | None
) -> tuple[FieldGuess[str | None], UnitSource | None]:
    """Directory beats DTMF beats speech, except that a different unit keyed or said wins, unsure."""
    spoken = parse_unit(transcript)
    speech: FieldGuess[str | None] | None = None
    if spoken is not None:
        evidence = Evidence(transcript[spoken.start : spoken.end], spoken.start, spoken.end, "unit")
        speech = FieldGuess(spoken.unit, spoken.confidence, (evidence,))
    keyed = (parse_dtmf_unit(dtmf_unit) or normalize_unit(dtmf_unit)) if dtmf_unit else None
    directory = normalize_unit(directory_unit) if directory_unit else None
    if directory is not None:
        if keyed is not None and keyed != directory:
            return FieldGuess(keyed, _OTHER_UNIT_CONFIDENCE + 0.2, ()), "dtmf"
        if speech is not None and speech.value != directory and keyed is None:
            return FieldGuess(speech.value, _OTHER_UNIT_CONFIDENCE, speech.evidence), "speech"
        return FieldGuess(directory, 1.0, speech.evidence if speech is not None else ()), "directory"
    if keyed is not None:
        agreeing = speech.evidence if speech is not None and speech.value == keyed else ()
        return FieldGuess(keyed, _DTMF_CONFIDENCE, agreeing), "dtmf"
    if speech is not None:
        return speech, "speech"
    return FieldGuess(None, 0.0, ()), None


def _urgent_alternatives(urgency: Urgency, model: TextModel | None) -> dict[str, str | None]:
    """What the hazard rules and the model each said about urgency ("true"/"false", as confirmed)."""
    threshold = float(model.meta.get("policy", {}).get("urgent", {}).get("threshold", 2.0)) if model else 2.0
    said = None if urgency.probability is None else str(urgency.probability >= threshold).lower()
    return {"rules": str(urgency.source == "rules").lower(), "model": said}


def draft_entry(
    transcript: str,
    rules: DraftingRules,
    *,
    directory_unit: str | None = None,
    dtmf_unit: str | None = None,
    model: TextModel | None = None,
) -> Draft:
    """Draft the ledger entry for a call from its transcript and what is known of the caller.

    With a model, category/department/subject follow the model's measured policy (rules, model
    or both) with calibrated confidence, and the call is urgent when the hazard rules fire or the
    model's urgency probability passes its measured threshold; without one (none trained, or its
    file broken) the rules decide alone and every field is marked for checking."""
    unit, source = choose_unit(transcript, directory_unit=directory_unit, dtmf_unit=dtmf_unit)
    classified = classify(transcript, rules)
    predictions = model.predict(transcript) if model is not None else None
    urgency = assess_urgency(transcript, detect_hazard(transcript), model, predictions)
    decisions = decide_fields(transcript, rules_view(transcript, classified, rules), urgency, model, predictions)
    return Draft(
        unit=unit,
        category=decisions["category"].guess,
        department=decisions["department"].guess,
        urgent=urgency.urgent,
        summary=summarize(transcript, rules),
        caller_name=caller_surname(transcript, rules),
        source_unit=source,
        complaint_subject=decisions["subject"].guess,
        transcript=transcript,
        hazard=urgency.hazard,
        sources={**{name: d.source for name, d in decisions.items()}, "urgent": urgency.source},
        alternatives={**{name: {"rules": d.rules_value, "model": d.model_value} for name, d in decisions.items()},
                      "urgent": _urgent_alternatives(urgency, model)},
        model_version=str(model.meta.get("version", "")) if model is not None else "",
    )

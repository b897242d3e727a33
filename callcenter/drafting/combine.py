"""Per field, rules, model or both: the decision and a confidence calibrated on held-out data.

The policy (which source decides, when the model overrules the rules) and the calibration
tables come from the trained model's metadata (train.py measures them on held-out folds);
nothing here is set by hand. Without a model the rules decide alone, and every field is
marked for checking (their confidence capped), because the rules' own scores are not
calibrated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .classify import Classification, complaint_subject
from .fields import Evidence, FieldGuess
from .hazard import HazardMatch, hazard_route
from .model import FieldPrediction, TextModel
from .normalize import normalized
from .rules import DraftingRules

# Without a (working) model, the rules' confidence is at most this: below the 「请核对」 mark.
RULES_ONLY_CONFIDENCE_CAP = 0.5
# Department implied by the category (labelling conventions); 投诉 and 求助 are open.
IMPLIED_DEPARTMENT = {"报修": "工程", "咨询": "客服", "建议": "客服", "其他": "客服"}
ALLOWED_DEPARTMENTS = {"求助": ("安保", "客服")}
COMPLAINT = "投诉"
# "No subject" (the category is not 投诉) is never a confident claim: a complaint drafted as
# something else would hide behind it.
NO_SUBJECT_CONFIDENCE_CAP = 0.85


@dataclass(frozen=True)
class Decision:
    """One field as drafted, with what each source said (for the accuracy report)."""

    guess: FieldGuess[Any]
    source: str  # rules / model / both / hazard / implied
    rules_value: str | None
    model_value: str | None


@dataclass(frozen=True)
class RulesView:
    """What the rules alone say about a transcript: the readable baseline."""

    category: FieldGuess[str]
    department: FieldGuess[str]
    subject: FieldGuess[str]


def rules_view(transcript: str, classified: Classification, rules: DraftingRules) -> RulesView:
    # The subject the rules would give if it were a complaint, so the model can be compared on
    # every complaint, whatever category the rules chose.
    subject = classified.complaint_subject
    if subject.value is None:
        found = complaint_subject(normalized(transcript), rules)
        subject = FieldGuess(found.value, found.confidence, found.evidence)
    return RulesView(classified.category, classified.department,
                     FieldGuess(str(subject.value), subject.confidence, subject.evidence))


def calibrate(meta: dict[str, Any], name: str, group: str, score: float) -> float:
    """Calibrated confidence of a `name` decision of kind `group` with raw score `score`."""
    table = meta.get("calibration", {}).get(name, {}).get(group)
    if not table:
        table = meta.get("calibration", {}).get(name, {}).get("all")
    if not table:
        return round(min(score, RULES_ONLY_CONFIDENCE_CAP), 3)
    return round(float(np.interp(score, table["x"], table["y"])), 3)


def _route_hazard(policy: dict[str, Any], urgency: Urgency | None) -> str | None:
    """The hazard class whose route decides category and department, if the policy says so:
    "rules" routes the detector's hazards, "any" the model's too."""
    if urgency is None or urgency.hazard.value is None:
        return None
    route = policy.get("hazard_route") or ""
    if route == "any" or (route == "rules" and urgency.source == "rules"):
        return urgency.hazard.value
    return None


def _decide(name: str, rules_guess: FieldGuess[str], prediction: FieldPrediction | None,
            model: TextModel | None, urgency: Urgency | None, transcript: str,
            allowed: tuple[str, ...] | None = None, explain: bool = True) -> Decision:
    policy: dict[str, Any] = model.meta.get("policy", {}).get(name, {}) if model is not None else {}
    rules_value = rules_guess.value
    routed = _route_hazard(policy, urgency) if name in ("category", "department") else None
    if routed is not None and urgency is not None:
        value = hazard_route(routed)[0 if name == "category" else 1]
        confidence = calibrate(model.meta if model else {}, name, "hazard", 1.0)
        return Decision(FieldGuess(value, confidence, urgency.hazard.evidence), "hazard", rules_value,
                        prediction.value if prediction else None)
    if model is None or prediction is None:
        guess = FieldGuess(rules_value, round(min(rules_guess.confidence, RULES_ONLY_CONFIDENCE_CAP), 3),
                           rules_guess.evidence)
        return Decision(guess, "rules", rules_value, None)
    probabilities = prediction.probabilities
    if allowed:
        # A department the category rules out is not drafted ("求助" goes to 安保 or 客服).
        candidates = {c: p for c, p in probabilities.items() if c in allowed} or probabilities
        total = sum(candidates.values()) or 1.0
        probabilities = {c: p / total for c, p in candidates.items()}
    model_value = max(probabilities, key=probabilities.__getitem__)
    threshold = float(policy.get("threshold", 0.0))
    if model_value == rules_value:
        group, value = "agree", model_value
    elif probabilities[model_value] >= threshold or rules_value not in probabilities:
        group, value = "model", model_value
    else:
        group, value = "rules", rules_value
    score = probabilities.get(value, 0.0)
    confidence = calibrate(model.meta, name, group, score)
    evidence: tuple[Evidence, ...]
    if group == "rules" or (group == "agree" and rules_guess.evidence) or not explain:
        evidence = rules_guess.evidence if group != "model" else ()
    else:
        evidence = model.explain(transcript, name, value)
    source = {"agree": "both", "model": "model", "rules": "rules"}[group]
    return Decision(FieldGuess(value, confidence, evidence), source, rules_value, model_value)


def decide_fields(transcript: str, view: RulesView, urgency: Urgency | None, model: TextModel | None,
                  predictions: dict[str, FieldPrediction] | None = None, explain: bool = True,
                  fields: tuple[str, ...] = ("category", "department", "subject"),
                  category: Decision | None = None) -> dict[str, Decision]:
    """category, department and subject (None unless the category is 投诉) for one call.
    `predictions` given: the model's (the trainer's held-out ones) instead of predicting;
    `fields` and a decided `category`: the trainer's policy search, one field at a time."""
    if predictions is None:
        predictions = model.predict(transcript) if model is not None else {}
    if category is None:
        category = _decide("category", view.category, predictions.get("category"), model, urgency, transcript,
                           explain=explain)
    out = {"category": category}
    if "department" in fields:
        out["department"] = _department(view, urgency, model, predictions, transcript, category, explain)
    if "subject" in fields:
        out["subject"] = _subject(view, model, predictions, transcript, category, explain)
    return out


def _department(view: RulesView, urgency: Urgency | None, model: TextModel | None,
                predictions: dict[str, FieldPrediction], transcript: str, category: Decision,
                explain: bool) -> Decision:
    policy = model.meta.get("policy", {}).get("department", {}) if model is not None else {}
    implied = IMPLIED_DEPARTMENT.get(category.guess.value) if policy.get("consistent") else None
    if implied is not None and _route_hazard(policy, urgency) is None:
        department_prediction = predictions.get("department")
        return Decision(
            FieldGuess(implied, category.guess.confidence, category.guess.evidence), "implied",
            view.department.value, department_prediction.value if department_prediction else None)
    allowed = ALLOWED_DEPARTMENTS.get(category.guess.value) if policy.get("consistent") else None
    return _decide("department", view.department, predictions.get("department"), model, urgency,
                   transcript, allowed, explain)


def _subject(view: RulesView, model: TextModel | None, predictions: dict[str, FieldPrediction], transcript: str,
             category: Decision, explain: bool) -> Decision:
    subject = _decide("subject", view.subject, predictions.get("subject"), model, None, transcript,
                      explain=explain)
    if category.guess.value != COMPLAINT:
        # No subject: right exactly when the call is not a complaint; at most as sure as the
        # category, and below the review mark (NO_SUBJECT_CONFIDENCE_CAP).
        subject = Decision(FieldGuess(None, min(category.guess.confidence, NO_SUBJECT_CONFIDENCE_CAP), ()),
                           subject.source, subject.rules_value, subject.model_value)
    return subject


@dataclass(frozen=True)
class Urgency:
    """Is the call urgent, which hazard, and who said so: "rules" (the detector's pattern, with
    its evidence), "model" (the learned probability passed the measured threshold) or "none"."""

    urgent: FieldGuess[bool]
    hazard: FieldGuess[str | None]
    source: str
    probability: float | None = None  # the model's P(urgent), None without a model


def assess_urgency(transcript: str, hazard: HazardMatch | None, model: TextModel | None,
                   predictions: dict[str, FieldPrediction] | None = None, explain: bool = True) -> Urgency:
    """Urgent if the hazard rules fire OR the model's probability reaches the threshold chosen
    on writer-held-out folds (recall first). The rules' class and evidence win when both say so."""
    meta: dict[str, Any] = model.meta if model is not None else {}
    if model is not None and predictions is None:
        predictions = model.predict(transcript, ("urgent", "hazard"))
    urgent_p = (predictions or {}).get("urgent")
    probability = urgent_p.probabilities.get("1", 0.0) if urgent_p is not None else None
    threshold = float(meta.get("policy", {}).get("urgent", {}).get("threshold", 2.0))
    if hazard is not None:
        confidence = calibrate(meta, "urgent", "rules", 1.0) if meta else round(hazard.confidence, 3)
        return Urgency(FieldGuess(True, confidence, (hazard.evidence,)),
                       FieldGuess(hazard.hazard, round(hazard.confidence, 3), (hazard.evidence,)), "rules",
                       probability)
    if probability is not None and probability >= threshold:
        assert model is not None
        kind = (predictions or {}).get("hazard")
        value = kind.value if kind is not None else None
        evidence = model.explain(transcript, "hazard", value) if explain and value else ()
        return Urgency(FieldGuess(True, calibrate(meta, "urgent", "model", probability), evidence),
                       FieldGuess(value, round(kind.probability, 3) if kind is not None else 0.0, evidence),
                       "model", probability)
    if probability is None:
        return Urgency(FieldGuess(False, 0.8, ()), FieldGuess(None, 1.0, ()), "none", None)
    return Urgency(FieldGuess(False, calibrate(meta, "urgent", "none", 1.0 - probability), ()),
                   FieldGuess(None, 1.0, ()), "none", probability)

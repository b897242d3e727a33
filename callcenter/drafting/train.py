"""Training the draft model: seed corpus + the site's confirmed entries -> a TextModel whose
metadata holds, per field, the measured policy (rules, model or both), the calibration of its
confidence, and the held-out metrics. Only this module imports scikit-learn.

Model choice (see README, "Libraries"): TF-IDF over character 1-3-grams and a multinomial
logistic regression per field. Short Chinese texts need no word segmenter with character
n-grams (ASR spacing and dialect spellings share most of their n-grams); a linear model trains
on 100,000 texts in seconds on two cores, predicts in microseconds, and gives probabilities
that calibrate well; nothing is downloaded.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

import numpy as np

from .classify import classify
from .combine import Decision, RulesView, decide_fields, rules_view
from .hazard import HazardMatch, detect_hazard
from .model import MODEL_FIELDS, FieldHead, FieldPrediction, TextModel, char_ngrams
from .rules import DraftingRules

SEED_FILES = ("train_a.tsv", "train_b.tsv", "train_c.tsv", "train_d.tsv", "train_e.tsv")
# Frozen hyper-parameters (chosen by 5-fold cross-validation on the seed corpus, see README).
C_BY_FIELD = {"category": 10.0, "department": 10.0, "subject": 10.0}
CLASS_WEIGHT: str | None = "balanced"
MIN_DF_LARGE = 2  # above LARGE_CORPUS texts a gram must occur twice to become a feature
LARGE_CORPUS = 5000
MAX_FEATURES = 300_000
FOLDS = 5
# Above this many examples the policy and calibration are measured on one held-out slice of
# this size instead of k folds (time: training on 100,000 entries must stay under a minute).
HOLDOUT_MAX = 4000
THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)
RELIABILITY_BINS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001)
_WILSON_Z = 1.0
_MIN_GROUP = 30


@dataclass(frozen=True)
class Example:
    """One labelled caller text. Labels a clerk did not confirm are None (the field is skipped)."""

    text: str
    category: str | None = None
    department: str | None = None
    subject: str | None = None
    urgent: bool | None = None
    hazard: str | None = None
    source: str = "seed"  # seed / site
    entry_id: int | None = None
    at: datetime | None = None

    def label(self, name: str) -> str | None:
        value: str | None = getattr(self, name)
        if name == "subject" and self.category != "投诉":
            return None
        return value or None


@dataclass
class TrainReport:
    model: TextModel
    seconds: float
    examples: int
    metrics: dict[str, Any] = field(default_factory=dict)


def read_corpus_tsv(text: str, source: str = "seed") -> list[Example]:
    rows = csv.DictReader(text.splitlines(), delimiter="\t")
    out = []
    for row in rows:
        urgent = row.get("urgent")
        out.append(Example(
            text=row["caller_text"], category=row.get("category") or None,
            department=row.get("department") or None, subject=row.get("subject") or None,
            urgent=None if urgent in (None, "") else urgent == "1", hazard=row.get("hazard") or None,
            source=source))
    return out


def seed_corpus() -> list[Example]:
    """The packaged seed corpus (callcenter/drafting/corpus)."""
    folder = resources.files(__package__).joinpath("corpus")
    examples: list[Example] = []
    for name in SEED_FILES:
        examples.extend(read_corpus_tsv(folder.joinpath(name).read_text(encoding="utf-8")))
    return examples


def seed_corpus_sha256() -> str:
    folder = resources.files(__package__).joinpath("corpus")
    digest = hashlib.sha256()
    for name in SEED_FILES:
        digest.update(folder.joinpath(name).read_bytes())
    return digest.hexdigest()


# ----- fitting ------------------------------------------------------------------------------

def _vectorizer(n: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer=char_ngrams, sublinear_tf=True, dtype=np.float32,
                           min_df=MIN_DF_LARGE if n > LARGE_CORPUS else 1, max_features=MAX_FEATURES)


def _classifier(name: str) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C_BY_FIELD[name], class_weight=CLASS_WEIGHT, solver="newton-cg", max_iter=200, tol=1e-3)


def _fit_head(name: str, X: Any, labels: Sequence[str]) -> FieldHead:
    classes = sorted(set(labels))
    if len(classes) == 1:  # one class only: a constant head
        return FieldHead((classes[0],), np.zeros((1, X.shape[1]), dtype=np.float32), np.zeros(1))
    clf = _classifier(name).fit(X, labels)
    coef = np.asarray(clf.coef_, dtype=np.float32)
    intercept = np.asarray(clf.intercept_, dtype=np.float64)
    if len(clf.classes_) == 2:  # binary: sklearn keeps one row; softmax needs both
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.asarray([-intercept[0] / 2, intercept[0] / 2])
    return FieldHead(tuple(str(c) for c in clf.classes_), coef, intercept)


def _folds(labels: Sequence[str], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs: stratified k folds, or one held-out slice for large sets."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    y = np.asarray(labels)
    counts = Counter(labels)
    # classes too rare to stratify stay in training
    can_stratify = all(c >= FOLDS for c in counts.values())
    index = np.arange(len(y))
    if len(y) > HOLDOUT_MAX * FOLDS:
        train, test = train_test_split(index, test_size=HOLDOUT_MAX, random_state=seed,
                                       stratify=y if can_stratify else None)
        return [(np.asarray(train), np.asarray(test))]
    if can_stratify:
        return list(StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(index, y))
    from sklearn.model_selection import KFold

    return list(KFold(FOLDS, shuffle=True, random_state=seed).split(index))


def _held_out_predictions(X: Any, examples: Sequence[Example], seed: int,
                          ) -> dict[int, dict[str, FieldPrediction]]:
    """Per example index (held-out ones only): the model's prediction from a model that did not
    see it, for every field the example is labelled with."""
    out: dict[int, dict[str, FieldPrediction]] = defaultdict(dict)
    for name in MODEL_FIELDS:
        labelled = [i for i, e in enumerate(examples) if e.label(name) is not None]
        labels = [str(examples[i].label(name)) for i in labelled]
        if len(set(labels)) < 2:
            continue
        rows = np.asarray(labelled)
        for train, test in _folds(labels, seed):
            head = _fit_head(name, X[rows[train]], [labels[i] for i in train])
            scores = np.asarray(X[rows[test]] @ head.coef.T) + head.intercept
            scores -= scores.max(axis=1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=1, keepdims=True)
            for k, i in enumerate(rows[test]):
                best = int(np.argmax(probs[k]))
                out[int(i)][name] = FieldPrediction(
                    head.classes[best], float(probs[k, best]),
                    {c: float(p) for c, p in zip(head.classes, probs[k], strict=True)})
    return out


# ----- policy and calibration ---------------------------------------------------------------

class _MetaOnly:
    """Enough of a TextModel for combine.decide_fields with given predictions."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    def explain(self, *_: Any) -> tuple[()]:
        return ()


@dataclass(frozen=True)
class _Held:
    example: Example
    view: RulesView
    hazard: HazardMatch | None
    predictions: dict[str, FieldPrediction]


def _decisions(held: Sequence[_Held], meta: dict[str, Any]) -> list[dict[str, Decision]]:
    stub: Any = _MetaOnly(meta)
    return [decide_fields(h.example.text, h.view, h.hazard, stub, h.predictions, explain=False) for h in held]


def _accuracy(held: Sequence[_Held], decisions: Sequence[dict[str, Decision]], name: str,
              pick: Callable[[Decision], str | None] = lambda d: d.guess.value) -> tuple[int, int]:
    right = total = 0
    for h, d in zip(held, decisions, strict=True):
        truth = h.example.label(name)
        if truth is None:
            continue
        total += 1
        right += pick(d[name]) == truth
    return right, total


def _subject_right(h: _Held, d: dict[str, Decision]) -> bool | None:
    # Subject is judged on complaints as such: the subject drafted had the category been 投诉.
    truth = h.example.label("subject")
    if truth is None:
        return None
    return _subject_value(d) == truth


def _subject_value(d: dict[str, Decision]) -> str | None:
    decision = d["subject"]
    if decision.guess.value is not None:
        return str(decision.guess.value)
    # category was not 投诉: the value the policy would have chosen
    return decision.model_value if decision.source == "model" else decision.rules_value


def choose_policy(held: Sequence[_Held]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The per-field policy with the best held-out accuracy, and the accuracies it was chosen by."""
    policy: dict[str, Any] = {"category": {}, "department": {}, "subject": {}}
    tried: dict[str, Any] = {}

    def score(name: str) -> float:
        decisions = _decisions(held, {"policy": policy})
        if name == "subject":
            results = [r for r in (_subject_right(h, d) for h, d in zip(held, decisions, strict=True))
                       if r is not None]
            return sum(results) / len(results) if results else 0.0
        right, total = _accuracy(held, decisions, name)
        return right / total if total else 0.0

    options: dict[str, list[dict[str, Any]]] = {
        "category": [{"threshold": t, "hazard_route": h} for h in (False, True) for t in THRESHOLDS],
        "department": [{"threshold": t, "hazard_route": h, "consistent": c}
                       for h in (False, True) for c in (False, True) for t in THRESHOLDS],
        "subject": [{"threshold": t} for t in THRESHOLDS],
    }
    for name in ("category", "department", "subject"):
        best: tuple[float, int, dict[str, Any]] | None = None
        for rank, option in enumerate(options[name]):
            policy[name] = option
            value = score(name)
            # ties: the simpler option (listed first: no hazard routing, model alone)
            if best is None or value > best[0] + 1e-9:
                best = (value, rank, option)
        assert best is not None
        policy[name] = best[2]
        threshold = best[2]["threshold"]
        best[2]["source"] = "model" if threshold <= 0 else "rules" if threshold > 1 else "both"
        tried[name] = round(best[0], 4)
    return policy, tried


def _wilson_lower(right: float, n: int) -> float:
    if n == 0:
        return 0.0
    p = right / n
    z2 = _WILSON_Z * _WILSON_Z
    centre = p + z2 / (2 * n)
    margin = _WILSON_Z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return float(max(0.0, (centre - margin) / (1 + z2 / n)))


def _calibration_table(points: Sequence[tuple[float, bool]]) -> dict[str, list[float]]:
    """Isotonic fit of correctness on score, each block lowered to its Wilson lower bound, as
    (x, y) for np.interp: a confidence of 0.9 is a lower estimate of the accuracy at that score."""
    from sklearn.isotonic import IsotonicRegression

    ordered = sorted(points)
    x = np.asarray([p for p, _ in ordered], dtype=np.float64)
    y = np.asarray([1.0 if r else 0.0 for _, r in ordered])
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit_transform(x, y)
    xs: list[float] = []
    ys: list[float] = []
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or fitted[end] != fitted[start]:
            value = _wilson_lower(float(y[start:end].sum()), end - start)
            xs += [float(x[start]), float(x[end - 1])]
            ys += [value, value]
            start = end
    # np.interp needs increasing x: nudge equal neighbours apart
    for i in range(1, len(xs)):
        if xs[i] <= xs[i - 1]:
            xs[i] = xs[i - 1] + 1e-9
    return {"x": [round(v, 9) for v in xs], "y": [round(v, 4) for v in ys]}


def fit_calibration(held: Sequence[_Held], meta: dict[str, Any]) -> dict[str, Any]:
    decisions = _decisions(held, {"policy": meta["policy"]})
    groups: dict[str, dict[str, list[tuple[float, bool]]]] = defaultdict(lambda: defaultdict(list))
    for h, d in zip(held, decisions, strict=True):
        for name in ("category", "department", "subject"):
            truth = h.example.label(name)
            decision = d[name]
            if truth is None or (name == "subject" and decision.guess.value is None):
                continue
            group = {"both": "agree"}.get(decision.source, decision.source)
            if group in ("hazard", "implied"):
                raw = 1.0 if group == "hazard" else float(decision.guess.confidence)
            else:
                prediction = h.predictions.get(name)
                raw = prediction.probabilities.get(str(decision.guess.value), 0.0) if prediction else 0.0
            groups[name][group].append((raw, decision.guess.value == truth))
            groups[name]["all"].append((raw, decision.guess.value == truth))
    calibration: dict[str, Any] = {}
    for name, by_group in groups.items():
        calibration[name] = {g: _calibration_table(points) for g, points in by_group.items()
                             if len(points) >= _MIN_GROUP or g == "all"}
    return calibration


def _reliability(held: Sequence[_Held], meta: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    stub: Any = _MetaOnly(meta)
    bins: dict[str, list[list[int]]] = {n: [[0, 0] for _ in RELIABILITY_BINS[:-1]] for n in MODEL_FIELDS}
    for h in held:
        d = decide_fields(h.example.text, h.view, h.hazard, stub, h.predictions, explain=False)
        for name in MODEL_FIELDS:
            truth = h.example.label(name)
            if truth is None or d[name].guess.value is None:
                continue
            k = int(np.searchsorted(RELIABILITY_BINS, d[name].guess.confidence, side="right")) - 1
            k = min(max(k, 0), len(RELIABILITY_BINS) - 2)
            bins[name][k][0] += 1
            bins[name][k][1] += d[name].guess.value == truth
    return {name: [{"low": RELIABILITY_BINS[k], "high": min(1.0, RELIABILITY_BINS[k + 1]), "n": n,
                    "accuracy": round(r / n, 4) if n else None} for k, (n, r) in enumerate(rows)]
            for name, rows in bins.items()}


def _urgent_calibration(examples: Sequence[Example], hazards: Sequence[HazardMatch | None]) -> dict[str, Any]:
    tp = fp = tn = fn = 0
    for e, h in zip(examples, hazards, strict=True):
        if e.urgent is None:
            continue
        if h is not None:
            tp, fp = tp + bool(e.urgent), fp + (not e.urgent)
        else:
            fn, tn = fn + bool(e.urgent), tn + (not e.urgent)
    return {"true": round(_wilson_lower(tp, tp + fp), 4) if tp + fp else 0.9,
            "false": round(_wilson_lower(tn, tn + fn), 4) if tn + fn else 0.8,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None,
            "false_alarm_rate": round(fp / (fp + tn), 4) if fp + tn else None, "n": tp + fp + tn + fn}


# ----- the whole training -------------------------------------------------------------------

def train(examples: Sequence[Example], rules: DraftingRules, *, seed: int = 0,
          extra_meta: dict[str, Any] | None = None, progress: Callable[[str], None] | None = None,
          ) -> TrainReport:
    """Fit the model on `examples`; measure policy, calibration and metrics on held-out folds."""
    say = progress or (lambda _m: None)
    started = time.perf_counter()
    examples = [e for e in examples if e.text.strip()]
    vectorizer = _vectorizer(len(examples))
    X = vectorizer.fit_transform([e.text for e in examples]).tocsr()
    say(f"features: {X.shape[1]} n-grams from {len(examples)} texts")
    predictions = _held_out_predictions(X, examples, seed)
    held_index = sorted(predictions)
    say(f"held-out predictions for {len(held_index)} texts")
    held = []
    for i in held_index:
        e = examples[i]
        held.append(_Held(e, rules_view(e.text, classify(e.text, rules), rules), detect_hazard(e.text),
                          predictions[i]))
    policy, chosen_accuracy = choose_policy(held)
    meta: dict[str, Any] = {"policy": policy}
    meta["calibration"] = fit_calibration(held, meta)
    say(f"policy {policy}")
    metrics = held_out_metrics(held, meta)
    metrics["chosen_accuracy"] = chosen_accuracy
    meta["reliability"] = _reliability(held, meta)
    hazards = [h.hazard for h in held]
    meta["calibration"]["urgent"] = _urgent_calibration([h.example for h in held], hazards)
    heads = {}
    for name in MODEL_FIELDS:
        labelled = [(i, e.label(name)) for i, e in enumerate(examples) if e.label(name) is not None]
        if labelled:
            heads[name] = _fit_head(name, X[np.asarray([i for i, _ in labelled])], [str(v) for _, v in labelled])
    vocabulary = {str(g): int(i) for g, i in vectorizer.vocabulary_.items()}
    seconds = time.perf_counter() - started
    meta.update({
        "metrics": metrics,
        "examples": {"total": len(examples), "seed": sum(e.source == "seed" for e in examples),
                     "site": sum(e.source == "site" for e in examples)},
        "hyper_parameters": {"C": C_BY_FIELD, "class_weight": CLASS_WEIGHT, "ngram_range": [1, 3],
                             "min_df": vectorizer.min_df, "folds": FOLDS, "holdout_max": HOLDOUT_MAX},
        "seed_corpus_sha256": seed_corpus_sha256(),
        "train_seconds": round(seconds, 2),
        **(extra_meta or {}),
    })
    model = TextModel(vocabulary, np.asarray(vectorizer.idf_, dtype=np.float32), heads, meta)
    return TrainReport(model, seconds, len(examples), metrics)


def held_out_metrics(held: Sequence[_Held], meta: dict[str, Any]) -> dict[str, Any]:
    """Per field: accuracy of the rules alone, the model alone and the chosen combination."""
    decisions = _decisions(held, meta)
    out: dict[str, Any] = {"n": len(held)}
    for name in MODEL_FIELDS:
        if name == "subject":
            rows = [(h, d) for h, d in zip(held, decisions, strict=True) if h.example.label("subject")]
            n = len(rows)
            rules_right = sum(d["subject"].rules_value == h.example.label("subject") for h, d in rows)
            model_right = sum(d["subject"].model_value == h.example.label("subject") for h, d in rows)
            chosen_right = sum(_subject_value(d) == h.example.label("subject") for h, d in rows)
        else:
            chosen_right, n = _accuracy(held, decisions, name)
            rules_right, _ = _accuracy(held, decisions, name, lambda d: d.rules_value)
            model_right, _ = _accuracy(held, decisions, name, lambda d: d.model_value)
        out[name] = {"n": n, "rules": round(rules_right / n, 4) if n else None,
                     "model": round(model_right / n, 4) if n else None,
                     "draft": round(chosen_right / n, 4) if n else None}
    return out


def evaluate(model: TextModel | None, examples: Iterable[Example], rules: DraftingRules) -> dict[str, Any]:
    """The drafting's accuracy per field on labelled examples (promotion compares two models by it)."""
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for e in examples:
        hazard = detect_hazard(e.text)
        decisions = decide_fields(e.text, rules_view(e.text, classify(e.text, rules), rules), hazard, model,
                                  explain=False)
        for name in MODEL_FIELDS:
            truth = e.label(name)
            if truth is None:
                continue
            total[name] += 1
            right[name] += (decisions[name].guess.value if name != "subject" else _subject_value(decisions)) == truth
        if e.urgent is not None:
            total["urgent"] += 1
            right["urgent"] += (hazard is not None) == e.urgent
    fields = {name: round(right[name] / total[name], 4) for name in total}
    scored = [name for name in ("category", "department", "subject") if total[name]]
    mean = sum(right[n] for n in scored) / sum(total[n] for n in scored) if scored else None
    return {"fields": fields, "n": dict(total), "score": round(mean, 4) if mean is not None else None}


def build_seed_model(directory: Any, rules: DraftingRules | None = None) -> TrainReport:
    """Train the packaged seed model from the seed corpus alone (callcenter/drafting/seed_model:
    `python -m callcenter.drafting.train`)."""
    from pathlib import Path

    report = train(seed_corpus(), rules or DraftingRules.load(), extra_meta={"version": "seed"})
    report.model.save(Path(directory))
    return report


if __name__ == "__main__":
    from pathlib import Path

    target = Path(__file__).resolve().parent / "seed_model"
    built = build_seed_model(target)
    print(f"seed model in {target}: {built.seconds:.1f} s, {built.metrics}")

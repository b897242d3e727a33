"""The learned text classifier's serving side: features, prediction, and its file format.

Features are TF-IDF weights of character 1-3-grams of the normalised transcript (spaces out,
ASR confusions fixed, every digit or Chinese numeral folded to one symbol so unit numbers do
not become vocabulary). Each field (category, department, complaint subject) is a linear
model over them; its probabilities are a softmax of the linear scores.

The file format executes no code when read: `meta.json` (classes, policy, calibration,
metrics, the SHA-256 of the arrays) and `arrays.npz` read with allow_pickle=False. Numbers and
strings only, so a model survives upgrades of scikit-learn, which only the trainer imports.
Serving needs numpy alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .fields import Evidence
from .normalize import normalized

FORMAT = "callcenter-draft-model/1"
MODEL_FIELDS: tuple[str, ...] = ("category", "department", "subject")
_NUMERAL = re.compile("[0-9零〇一二两三四五六七八九十百千幺洞]")
_DROP = re.compile(r"[\s，。！？；：、,.!?;:“”\"'‘’（）()【】\[\]…~～—\-]+")


class ModelFileError(RuntimeError):
    """A model directory that cannot be used: missing, unreadable, corrupted or of another format."""


def features_text(text: str) -> str:
    """The text the n-grams are cut from (shared by training and serving, so they agree)."""
    compact = normalized(text).text
    return _NUMERAL.sub("#", _DROP.sub("", compact))


def char_ngrams(text: str, low: int = 1, high: int = 3) -> list[str]:
    """Character n-grams of the prepared text; the trainer's analyzer, so the two never differ."""
    prepared = features_text(text)
    grams: list[str] = []
    for n in range(low, high + 1):
        grams.extend(prepared[i : i + n] for i in range(len(prepared) - n + 1))
    return grams


@dataclass(frozen=True)
class FieldHead:
    """One field's linear model: scores = coef @ x + intercept, one row per class."""

    classes: tuple[str, ...]
    coef: np.ndarray  # (classes, features) float32
    intercept: np.ndarray  # (classes,)
    # (features, classes) float64 copy: one text's few hundred features are contiguous rows
    coef_t: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "coef_t", np.ascontiguousarray(self.coef.T, dtype=np.float64))


@dataclass(frozen=True)
class FieldPrediction:
    value: str
    probability: float
    probabilities: dict[str, float]
    evidence: tuple[Evidence, ...] = ()


@dataclass
class TextModel:
    """A trained model: vocabulary, idf, one head per field, and the metadata it was saved with."""

    vocabulary: dict[str, int]
    idf: np.ndarray
    heads: dict[str, FieldHead]
    meta: dict[str, Any] = field(default_factory=dict)
    ngram_range: tuple[int, int] = (1, 3)
    sublinear_tf: bool = True

    def vectorize(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(feature indices, l2-normalised tf-idf weights) of one text."""
        counts = Counter(char_ngrams(text, *self.ngram_range))
        idx: list[int] = []
        val: list[float] = []
        for gram, count in counts.items():
            j = self.vocabulary.get(gram)
            if j is None:
                continue
            tf = 1.0 + math.log(count) if self.sublinear_tf else float(count)
            idx.append(j)
            val.append(tf * float(self.idf[j]))
        indices = np.asarray(idx, dtype=np.int64)
        weights = np.asarray(val, dtype=np.float64)
        norm = float(np.sqrt((weights * weights).sum()))
        if norm > 0:
            weights /= norm
        return indices, weights

    def predict(self, text: str, fields: tuple[str, ...] = MODEL_FIELDS,
                vector: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, FieldPrediction]:
        indices, weights = vector if vector is not None else self.vectorize(text)
        out: dict[str, FieldPrediction] = {}
        for name in fields:
            head = self.heads.get(name)
            if head is None:
                continue
            scores = weights @ head.coef_t[indices] + head.intercept
            probs = _softmax(scores)
            best = int(np.argmax(probs))
            out[name] = FieldPrediction(
                head.classes[best], float(probs[best]),
                {c: float(p) for c, p in zip(head.classes, probs, strict=True)},
            )
        return out

    def explain(self, text: str, name: str, value: str, top: int = 3) -> tuple[Evidence, ...]:
        """The n-grams that pushed `name` towards `value` most, as spans in the caller's words."""
        head = self.heads.get(name)
        if head is None or value not in head.classes:
            return ()
        row = head.coef[head.classes.index(value)]
        compact = normalized(text)
        prepared = _NUMERAL.sub("#", compact.text)
        scored = []
        for gram in set(char_ngrams(text, 2, self.ngram_range[1])):
            j = self.vocabulary.get(gram)
            if j is not None and "#" not in gram:
                scored.append((float(row[j]) * float(self.idf[j]), gram))
        scored.sort(reverse=True)
        evidence: list[Evidence] = []
        taken: list[tuple[int, int]] = []
        for weight, gram in scored[: top * 3]:
            if weight <= 0 or len(evidence) >= top:
                break
            at = prepared.find(gram)
            if at < 0 or any(at < e and s < at + len(gram) for s, e in taken):
                continue
            taken.append((at, at + len(gram)))
            evidence.append(compact.evidence(at, at + len(gram), f"model:{name}"))
        return tuple(sorted(evidence, key=lambda e: e.start))

    # ----- persistence -------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write the model to `directory` (created owner-only); meta.json is written last."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        directory.chmod(0o700)
        grams = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        arrays: dict[str, np.ndarray] = {
            "vocabulary": np.asarray(grams, dtype=np.str_),
            "idf": self.idf.astype(np.float32),
        }
        for name, head in self.heads.items():
            arrays[f"{name}.coef"] = head.coef.astype(np.float32)
            arrays[f"{name}.intercept"] = head.intercept.astype(np.float64)
        path = directory / "arrays.npz"
        with path.open("wb") as handle:
            np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]
        path.chmod(0o600)
        meta = dict(self.meta)
        meta.update({
            "format": FORMAT,
            "ngram_range": list(self.ngram_range),
            "sublinear_tf": self.sublinear_tf,
            "heads": {name: list(head.classes) for name, head in self.heads.items()},
            "arrays_sha256": _sha256(path),
        })
        tmp = directory / "meta.json.tmp"
        tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(directory / "meta.json")
        self.meta = meta

    @classmethod
    def load(cls, directory: Path) -> TextModel:
        """Read a saved model; any problem is a ModelFileError naming the file and the cause."""
        meta_path, arrays_path = directory / "meta.json", directory / "arrays.npz"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{meta_path}: cannot read the model's metadata: {exc}") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ModelFileError(f"{meta_path}: not a {FORMAT} model")
        try:
            digest = _sha256(arrays_path)
        except OSError as exc:
            raise ModelFileError(f"{arrays_path}: cannot read the model's arrays: {exc}") from exc
        if digest != meta.get("arrays_sha256"):
            raise ModelFileError(f"{arrays_path}: checksum mismatch, the file is corrupted or was changed")
        try:
            with np.load(arrays_path, allow_pickle=False) as data:
                grams = [str(g) for g in data["vocabulary"]]
                idf = np.asarray(data["idf"], dtype=np.float32)
                heads = {
                    name: FieldHead(tuple(classes), np.asarray(data[f"{name}.coef"], dtype=np.float32),
                                    np.asarray(data[f"{name}.intercept"], dtype=np.float64))
                    for name, classes in meta["heads"].items()
                }
        except (OSError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{arrays_path}: unreadable model arrays: {exc}") from exc
        for name, head in heads.items():
            if head.coef.shape != (len(head.classes), len(grams)) or head.intercept.shape != (len(head.classes),):
                raise ModelFileError(f"{arrays_path}: the {name} head does not fit the vocabulary")
        low, high = meta.get("ngram_range", [1, 3])
        return cls({g: i for i, g in enumerate(grams)}, idf, heads, meta, (int(low), int(high)),
                   bool(meta.get("sublinear_tf", True)))


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max())
    result: np.ndarray = shifted / shifted.sum()
    return result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

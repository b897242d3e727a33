"""The learned text classifier's serving side: features, prediction, and its file format.

Features are TF-IDF weights of character 1-3-grams of the normalised transcript (spaces out,
ASR confusions fixed, every digit or Chinese numeral folded to one symbol so unit numbers do
not become vocabulary). Each n-gram is an integer key (its code points in base 0x110000), cut
from all texts at once with numpy: the trainer vectorises 100,000 texts in seconds, and serving
looks one text's keys up in the sorted vocabulary. Each head (category, department, complaint
subject, urgent, hazard class) is a linear model over them; its probabilities are a softmax of
the linear scores.

The file format executes no code when read: `meta.json` (classes, policy, calibration,
metrics, the SHA-256 of the arrays) and `arrays.npz` read with allow_pickle=False. Numbers and
strings only, so a model survives upgrades of scikit-learn, which only the trainer imports.
Serving needs numpy alone.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .fields import Evidence
from .normalize import fix_asr, normalized

FORMAT = "callcenter-draft-model/2"
MODEL_FIELDS: tuple[str, ...] = ("category", "department", "subject")
# Heads beside the three fields: is the call urgent (binary), and which hazard class (urgent calls).
URGENCY_HEADS: tuple[str, ...] = ("urgent", "hazard")
ALL_HEADS: tuple[str, ...] = MODEL_FIELDS + URGENCY_HEADS
_NUMERAL = re.compile("[0-9零〇一二两三四五六七八九十百千幺洞]")
_SPACE = re.compile(r"\s+")
_DROP = re.compile(r"[\s，。！？；：、,.!?;:“”\"'‘’（）()【】\[\]…~～—\-]+")
# An n-gram is one integer: its code points in base 0x110000 (unigrams < B <= bigrams < B**2 <=
# trigrams < B**3 < 2**63), so the vocabulary is a sorted int64 array and no string is hashed.
_BASE = 0x110000
_MAX_N = 3


class ModelFileError(RuntimeError):
    """A model directory that cannot be used: missing, unreadable, corrupted or of another format."""


def features_text(text: str) -> str:
    """The text the n-grams are cut from (shared by training and serving, so they agree):
    NFKC-folded, spaces out, ASR confusions and dialect words fixed, punctuation out, numerals
    folded to "#". No span is kept, so this is the fast whole-string path (the trainer runs it
    on every confirmed entry)."""
    compact = _SPACE.sub("", unicodedata.normalize("NFKC", text))
    return _NUMERAL.sub("#", _DROP.sub("", fix_asr(compact))).lower()


def char_ngrams(text: str, low: int = 1, high: int = 3) -> list[str]:
    """Character n-grams of the prepared text, as strings (explanations; tests)."""
    prepared = features_text(text)
    grams: list[str] = []
    for n in range(low, high + 1):
        grams.extend(prepared[i : i + n] for i in range(len(prepared) - n + 1))
    return grams


def gram_key(gram: str) -> int:
    key = 0
    for char in gram:
        key = key * _BASE + ord(char)
    return key


def key_gram(key: int) -> str:
    chars: list[str] = []
    while key:
        key, code = divmod(key, _BASE)
        chars.append(chr(code))
    return "".join(reversed(chars))


def gram_keys(prepared: list[str], low: int = 1, high: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(document index, n-gram key) of every n-gram of every prepared text, vectorised: the texts
    are joined with NUL (never in a prepared text) and n-grams spanning a NUL are dropped."""
    if high > _MAX_N:
        raise ValueError(f"n-grams up to {_MAX_N} characters")
    joined = "\0".join(prepared)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    docs = np.cumsum(codes == 0)
    all_keys: list[np.ndarray] = []
    all_docs: list[np.ndarray] = []
    for n in range(low, high + 1):
        count = len(codes) - n + 1
        if count <= 0:
            continue
        key = codes[:count].copy()
        valid = key != 0
        for i in range(1, n):
            part = codes[i : i + count]
            key = key * _BASE + part
            valid &= part != 0
        all_keys.append(key[valid])
        all_docs.append(docs[:count][valid])
    if not all_keys:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(all_docs), np.concatenate(all_keys)


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
    """A trained model: vocabulary (sorted n-gram keys), idf, one head per field, and metadata."""

    keys: np.ndarray  # sorted int64 n-gram keys; a feature's index is its position
    idf: np.ndarray
    heads: dict[str, FieldHead]
    meta: dict[str, Any] = field(default_factory=dict)
    ngram_range: tuple[int, int] = (1, 3)
    sublinear_tf: bool = True

    @property
    def vocabulary_size(self) -> int:
        return len(self.keys)

    def vectorize(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(feature indices, l2-normalised tf-idf weights) of one text."""
        _docs, keys = gram_keys([features_text(text)], *self.ngram_range)
        if not len(keys) or not len(self.keys):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        unique, counts = np.unique(keys, return_counts=True)
        at = np.searchsorted(self.keys, unique)
        at[at >= len(self.keys)] = 0
        known = self.keys[at] == unique
        indices = at[known].astype(np.int64)
        tf = counts[known].astype(np.float64)
        if self.sublinear_tf:
            tf = 1.0 + np.log(tf)
        weights = tf * self.idf[indices].astype(np.float64)
        norm = float(np.sqrt((weights * weights).sum()))
        if norm > 0:
            weights /= norm
        return indices, weights

    def predict(self, text: str, fields: tuple[str, ...] = ALL_HEADS,
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
        prepared = _NUMERAL.sub("#", compact.text).lower()
        scored = []
        for gram in set(char_ngrams(text, 2, self.ngram_range[1])):
            if "#" in gram:
                continue
            key = gram_key(gram)
            j = int(np.searchsorted(self.keys, key))
            if j < len(self.keys) and int(self.keys[j]) == key:
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
        arrays: dict[str, np.ndarray] = {
            "keys": np.asarray(self.keys, dtype=np.int64),
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
                keys = np.asarray(data["keys"], dtype=np.int64)
                idf = np.asarray(data["idf"], dtype=np.float32)
                heads = {
                    name: FieldHead(tuple(classes), np.asarray(data[f"{name}.coef"], dtype=np.float32),
                                    np.asarray(data[f"{name}.intercept"], dtype=np.float64))
                    for name, classes in meta["heads"].items()
                }
        except (OSError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{arrays_path}: unreadable model arrays: {exc}") from exc
        for name, head in heads.items():
            if head.coef.shape != (len(head.classes), len(keys)) or head.intercept.shape != (len(head.classes),):
                raise ModelFileError(f"{arrays_path}: the {name} head does not fit the vocabulary")
        if len(keys) != len(idf) or (len(keys) > 1 and not bool(np.all(keys[1:] > keys[:-1]))):
            raise ModelFileError(f"{arrays_path}: the vocabulary is not a sorted set of n-gram keys")
        low, high = meta.get("ngram_range", [1, 3])
        return cls(keys, idf, heads, meta, (int(low), int(high)),
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

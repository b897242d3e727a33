"""Typed values a draft is made of: a guess, how sure it is, and the words behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Evidence:
    """Words behind a drafted field: what matched, where in the transcript, and why it counts."""

    text: str
    start: int
    end: int
    label: str


@dataclass(frozen=True)
class FieldGuess(Generic[T]):
    """A drafted field value with confidence 0..1 and the evidence the panel highlights."""

    value: T
    confidence: float
    evidence: tuple[Evidence, ...] = ()

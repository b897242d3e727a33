"""Personal data a role does not need is masked at the API edge (PIPL: minimum necessary)."""

from __future__ import annotations

import re
from typing import Any

from callcenter.accounts import Principal

_ID_NUMBER = re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?!\d)")  # 18-digit resident ID


def mask_phone(number: str) -> str:
    """13800138000 -> 138****8000: first three and last four digits stay, as on Chinese receipts."""
    if len(number) >= 8:
        return number[:3] + "*" * (len(number) - 7) + number[-4:]
    return "*" * max(0, len(number) - 2) + number[-2:]


def mask_id_numbers(text: str) -> str:
    """Resident ID numbers in transcripts: 110101********1234."""
    return _ID_NUMBER.sub(lambda m: m.group(1) + "********" + m.group(2), text)


def mask_words(words: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """The same masking on timed words: an ID number is often one word per digit, so mask the
    joined text and cut it back into the words (masking keeps the length)."""
    if not words:
        return words
    texts = [str(w.get("text", "")) for w in words]
    masked = mask_id_numbers("".join(texts))
    out, pos = [], 0
    for w, t in zip(words, texts, strict=True):
        out.append({**w, "text": masked[pos:pos + len(t)]})
        pos += len(t)
    return out


def must_mask(principal: Principal) -> bool:
    return not principal.may("see_phone")

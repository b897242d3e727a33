"""Personal data a role does not need is masked at the API edge (PIPL: minimum necessary).
The finding and hiding is callcenter/privacy.py's (the logs use it too)."""

from __future__ import annotations

from typing import Any

from callcenter.accounts import Principal
from callcenter.privacy import mask_id_numbers, mask_phone, mask_phones_in_text, mask_text

__all__ = ["mask_id_numbers", "mask_phone", "mask_phones_in_text", "mask_text", "mask_words", "must_mask"]


def mask_words(words: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """The same masking on timed words: a number is often one word per digit, so mask the
    joined text and cut it back into the words (masking keeps the length of a plain run of
    digits; where it does not — separators inside a number — the joined text is re-cut by
    each word's length, so what remains of a word is still masked)."""
    if not words:
        return words
    texts = [str(w.get("text", "")) for w in words]
    joined = "".join(texts)
    masked = mask_text(joined)
    if len(masked) != len(joined):  # a formatted number collapsed: mask word by word as well
        masked = "".join(mask_text(t) for t in texts)
    out, pos = [], 0
    for w, t in zip(words, texts, strict=True):
        out.append({**w, "text": masked[pos:pos + len(t)]})
        pos += len(t)
    return out


def must_mask(principal: Principal) -> bool:
    return not principal.may("see_phone")

"""Phone numbers and ID numbers hidden from whom does not need them (PIPL: minimum necessary):
QA staff in the panel and API (web/masking.py), and every log line (logs.py).

Numbers are found however they are written: 13912345678, +86 139-1234-5678, 139 1234 5678,
full-width digits, and spoken digits in transcripts (幺三九一二三四五六七八).
"""

from __future__ import annotations

import re

_CN_DIGITS = "零〇一幺二两三四五六七八九"
_DIGIT = rf"[0-9０-９{_CN_DIGITS}]"
_SEP = r"[\s\-－.]?"
# A mainland mobile number: 1, then 3-9, then nine digits, optionally after +86 / 0086, with the
# separators people and formatters put between groups.
_MOBILE = re.compile(
    rf"(?<![0-9０-９{_CN_DIGITS}])(?P<cc>(?:\+|00)?86{_SEP})?"
    rf"(?P<num>[1１一幺]{_SEP}[3-9３-９三四五六七八九](?:{_SEP}{_DIGIT}){{9}})(?![0-9０-９{_CN_DIGITS}])")
# A landline with its area code: 010-12345678, 0755 1234 5678.
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[\s\-]?(\d{3,4})[\s\-]?(\d{4})(?!\d)")
_ID_NUMBER = re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?!\d)")  # 18-digit resident ID


def mask_phone(number: str) -> str:
    """13800138000 -> 138****8000: first three and last four digits stay, as on Chinese receipts."""
    if len(number) >= 8:
        return number[:3] + "*" * (len(number) - 7) + number[-4:]
    return "*" * max(0, len(number) - 2) + number[-2:]


def _mask_mobile(m: re.Match[str]) -> str:
    digits = re.sub(r"[\s\-－.]", "", m.group("num"))
    return (m.group("cc") or "") + digits[:3] + "****" + digits[-4:]


def mask_phones_in_text(text: str) -> str:
    """Every phone number inside free text (summaries, transcripts, notes, display names, logs)."""
    if not text:
        return text
    text = _MOBILE.sub(_mask_mobile, text)
    return _LANDLINE.sub(lambda m: m.group(1) + "****" + m.group(3), text)


def mask_id_numbers(text: str) -> str:
    """Resident ID numbers in transcripts: 110101********1234."""
    return _ID_NUMBER.sub(lambda m: m.group(1) + "********" + m.group(2), text)


def mask_text(text: str) -> str:
    return mask_phones_in_text(mask_id_numbers(text))

"""Transcript normalisation shared by the hazard detector, the rules and the learned model.

Vosk and hurried typists produce near-homophones (燃起 for 燃气, 电题 for 电梯, 着活 for 着火).
Each fix replaces a string by one of the SAME length, so an index into the fixed text is an
index into the compact text, and evidence spans still map back to what the caller said.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .text import CompactText

# Known ASR confusions (wrong -> right), every pair of equal length. Only pairs that are never
# right as written in a hotline call: 燃起 is "ignite" but callers say 燃气 (unless 燃起来, a fire);
# 楼到 is never a word.
ASR_CONFUSIONS: dict[str, str] = {
    "燃起": "燃气", "然气": "燃气", "煤起": "煤气", "天燃气": "天然气", "燃汽": "燃气", "煤汽": "煤气",
    "电题": "电梯", "电体": "电梯", "电提": "电梯", "店梯": "电梯",
    "着活": "着火", "着伙": "着火", "失活": "失火", "起活": "起火", "冒眼": "冒烟",
    "楼到": "楼道", "下水到": "下水道", "漏谁": "漏水",
    "停店": "停电", "停点": "停电", "断店": "断电", "没店": "没电", "店线": "电线", "电现": "电线",
    "漏店": "漏电", "触店": "触电", "跳炸": "跳闸", "跳匝": "跳闸",
    "漏起": "漏气", "暖器": "暖气", "插坐": "插座", "物页": "物业", "报休": "报修",
    "困任": "困人", "火心": "火星",
}  # fmt: skip
# Dialect words folded to Mandarin of the same length, so one trigger covers them: Cantonese
# 唔 (not), 冇 (have not), 咗 (aspect 了), 喺 (at), 佢 (he/she); Wu 勿 (not), 里厢 (inside),
# 停牢 (stuck); northern 木有 (have not).
DIALECT_FOLDS: dict[str, str] = {
    "唔": "不", "冇": "没", "咗": "了", "喺": "在", "佢": "他", "勿": "不", "木有": "没有", "里厢": "里面",
    "停牢": "停住",
}  # fmt: skip
_FOLDS = {**ASR_CONFUSIONS, **DIALECT_FOLDS}
assert all(len(k) == len(v) for k, v in _FOLDS.items()), "ASR and dialect fixes must keep the length"
# A fix that is wrong in some contexts: the context that keeps the text as it is.
_KEEP_WHEN = {"燃起": "(?!来|了)"}

_CONFUSION = re.compile(
    "|".join(re.escape(k) + _KEEP_WHEN.get(k, "") for k in sorted(_FOLDS, key=len, reverse=True))
)


def fix_asr(compact: str) -> str:
    """`compact` with the known ASR confusions and dialect words folded; same length, same positions."""
    return _CONFUSION.sub(lambda m: _FOLDS[m.group(0)], compact)


@lru_cache(maxsize=512)
def normalized(source: str) -> CompactText:
    """Whitespace removed, NFKC-folded and ASR-fixed text, with spans back into `source`.

    Cached: the live path calls this on the growing partial transcript every turn.
    """
    compact = CompactText.of(source)
    fixed = fix_asr(compact.text)
    if fixed == compact.text:
        return compact
    return CompactText(compact.source, fixed, compact.origin)

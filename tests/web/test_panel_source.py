"""The panel's source read as text: ES modules only, nothing a strict Content-Security-Policy would
block (inline scripts, inline event handlers, eval), markup only through core/dom.js's escaping
templates, no globals, and no copy of the vocabulary /api/meta serves (`vocab`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callcenter.drafting.rules import DraftingRules
from callcenter.web.vocab import vocabulary

WEB = Path(__file__).resolve().parents[2] / "web"
STATIC = WEB / "static"
SCRIPTS = sorted(STATIC.rglob("*.js"))
DOM_MODULE = STATIC / "core" / "dom.js"


def _source(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _name(path: Path) -> str:
    return str(path.relative_to(STATIC))


def test_the_page_loads_one_module_and_has_no_inline_script_or_handler() -> None:
    page = (WEB / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.S) == [(' type="module" src="/static/main.js"', "")]
    assert not re.search(r"<[a-z][^<>]*\son[a-z]+\s*=", page, re.I), "inline event handler in index.html"
    assert "javascript:" not in page.lower()
    assert SCRIPTS, "no scripts found"


@pytest.mark.parametrize("path", SCRIPTS, ids=_name)
def test_modules_keep_to_the_rules(path: Path) -> None:
    src = _source(path)
    name = _name(path)
    # an ES module: imports or exports, no sloppy-mode script
    assert re.search(r"^(import|export) ", src, re.M), f"{name} is not an ES module"
    # nothing a strict CSP forbids, in code or in generated markup
    assert not re.search(r"<[a-z][^<>]*\son[a-z]+\s*=", src, re.I), f"{name}: inline event handler in markup"
    assert not re.search(r"\beval\s*\(|\bnew\s+Function\s*\(|set(Timeout|Interval)\(\s*[\"'`]", src), f"{name}: eval"
    assert "javascript:" not in src
    # no globals: nothing assigned on window/globalThis, no handler properties (addEventListener only)
    assert not re.search(r"\b(window|globalThis|self)\.[\w$]+\s*=(?!=)", src), f"{name}: assigns a global"
    assert not re.search(r"\.on[a-z]+\s*=(?!=)", src), f"{name}: assigns an on* handler property"
    # markup enters the page only through core/dom.js's render(), which takes html`` templates
    if path != DOM_MODULE:
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment",
                             src), f"{name}: markup outside core/dom.js"
    else:
        assert len(re.findall(r"\.innerHTML\s*=", src)) == 1


# Whole runs of Chinese characters: a label counts as copied where it stands on its own.
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
# Literal strings: "..." and '...' and `...` without interpolation.
_LITERAL = re.compile(r"\"((?:[^\"\\\n]|\\.)*)\"|'((?:[^'\\\n]|\\.)*)'|`([^`$\\]*)`")
# Status and kind labels: these words never appear in the JS at all, in code, markup or comments.
STATUS_GROUPS = ("entry_statuses", "work_order_kinds", "work_order_statuses", "callback_outcomes", "satisfactions",
                 "qa_verdicts")
# The same word meaning something else: the transcription job queue's "doing" in the backlog chip.
NOT_THE_VOCABULARY = {("features/system.js", "处理中")}
# Field names double as column captions in markup; every other group's labels are never a literal.
CAPTIONS = ("entry_fields",)


def _groups() -> dict[str, list[str]]:
    vocab = vocabulary(DraftingRules.load().site_terms()).model_dump()
    return {g: [x["label"] for x in v] for g, v in vocab.items()
            if isinstance(v, list) and v and isinstance(v[0], dict)}


def test_the_vocabulary_has_the_example_labels() -> None:
    labels = {label for group in _groups().values() for label in group}
    assert {"已派工", "待确认", "维修调度单", "满意", "不满意", "已接通", "合格"} <= labels


@pytest.mark.parametrize("path", SCRIPTS, ids=_name)
def test_the_js_keeps_no_copy_of_the_vocabulary(path: Path) -> None:
    src = _source(path)
    name = _name(path)
    groups = _groups()
    status_words = {label for g in STATUS_GROUPS for label in groups[g]}
    runs = set(_CJK_RUN.findall(src))
    copied = sorted((runs & status_words) - {w for n, w in NOT_THE_VOCABULARY if n == name})
    assert not copied, f"{name} spells status/kind labels itself: {copied}"
    literals = {next(g for g in m.groups() if g is not None).strip() for m in _LITERAL.finditer(src)}
    labels = {label for g, ls in groups.items() if g not in CAPTIONS for label in ls}
    assert not sorted(literals & labels), f"{name} holds vocabulary labels as literals: {sorted(literals & labels)}"


def test_the_checks_catch_a_copy() -> None:
    """The rules above find the old panel.js's way of holding labels."""
    groups = _groups()
    old = 'const STATUS = { draft: "待确认", dispatched: "已派工" }; const SATISFACTIONS = ["满意", "基本满意"];'
    assert set(_CJK_RUN.findall(old)) & {w for g in STATUS_GROUPS for w in groups[g]} == {"待确认", "已派工", "满意", "基本满意"}
    info = groups["severities"][0]
    literals = {next(g for g in m.groups() if g is not None) for m in _LITERAL.finditer(f'x = {{ info: "{info}" }}')}
    assert literals & set(groups["severities"]) == {info}

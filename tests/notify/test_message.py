from __future__ import annotations

import pytest

from callcenter.notify import Notice


def test_notice_is_immutable_and_normalised() -> None:
    n = Notice("missed_call", "warning", "未接来电", "", None, ["clerk"], mention_mobiles=["13800138000"])  # type: ignore[arg-type]
    assert n.audience == ("clerk",) and n.mention_mobiles == ("13800138000",)
    assert n.severity_label == "提醒"
    hash(n)
    with pytest.raises(AttributeError):
        n.title = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"severity": "high"}, "severity must be one of"),
        ({"audience": ()}, "at least one audience"),
        ({"link": "entries/12"}, "starting with '/'"),
        ({"title": " "}, "needs a title"),
    ],
)
def test_notice_validation(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"kind": "overdue", "severity": "info", "title": "超时", "body": "",
                                 "entry_id": 1, "audience": ("clerk",)} | kwargs
    with pytest.raises(ValueError, match=message):
        Notice(**fields)  # type: ignore[arg-type]

"""QA's replay of a call bridged to a clerk: GET /api/qa/calls/{id} gives both speakers' lines,
labelled 来电人 / 坐席, in time order on the recording's timeline, numbers masked on both sides
for a reader without see_phone; a call without a bridge has caller lines only."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from callcenter.asr.interface import Transcript, Word
from callcenter.ledger.models import Call
from tests.qa.conftest import prompts  # noqa: F401  (fixture)
from tests.web.test_qa_api import client, setup  # noqa: F401  (fixture)

pytestmark = pytest.mark.both_dbs


def words(text: str, start_s: float, step_s: float = 0.25) -> tuple[Word, ...]:
    return tuple(Word(ch, start_s + i * step_s, start_s + (i + 1) * step_s, 0.9) for i, ch in enumerate(text))


def test_the_clerks_lines_are_labelled_and_interleaved_by_time(setup, ledger) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    app, call_id, tokens = setup
    with Session(ledger.engine) as s:
        call = s.get(Call, call_id)
        assert call is not None
        sip, caller_words = call.sip_call_id, call.transcript_words or []
    assert caller_words  # the caller speaks from about 6 s (tests/web/test_qa_api.py)
    first_caller = min(w["start_s"] for w in caller_words)
    # the clerk answers before the caller's sentence and again after it, with a number to mask
    ledger.set_clerk_spans(sip, [(first_caller - 2.0, first_caller + 12.0)])
    clerk = words("您好我是客服", first_caller - 1.8) + words("回电13912345678", first_caller + 9.0)
    ledger.set_clerk_transcript(sip, Transcript("您好我是客服回电13912345678", clerk, "scripted-double"), "done")

    for who, masked in (("qa1", True), ("boss", False)):
        got = client(app, tokens[who]).get(f"/api/qa/calls/{call_id}").json()
        assert got["clerk_transcript_status"] == "done"
        lines = got["dialogue"]
        assert [(line["speaker"], line["label"]) for line in lines] == [
            ("clerk", "坐席"), ("caller", "来电人"), ("clerk", "坐席")]
        assert [line["start_s"] for line in lines] == sorted(line["start_s"] for line in lines)
        assert lines[0]["text"] == "您好我是客服"
        assert lines[0]["words"][0] == {"text": "您", "start_s": pytest.approx(first_caller - 1.8),
                                        "end_s": pytest.approx(first_caller - 1.55)}
        assert "楼道灯坏了" in lines[1]["text"]
        assert ("13912345678" in lines[2]["text"]) is not masked, (who, lines[2]["text"])
        assert ("13800138000" in lines[1]["text"]) is not masked, (who, lines[1]["text"])
        assert "139" in lines[2]["text"] and lines[2]["text"].startswith("回电")
        # the caller's own transcript is as it was
        assert "客服" not in got["transcript"]


def test_a_call_without_a_bridge_has_caller_lines_only(setup) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    app, call_id, tokens = setup
    got = client(app, tokens["qa1"]).get(f"/api/qa/calls/{call_id}").json()
    assert got["clerk_transcript_status"] == ""
    assert got["dialogue"] and {line["label"] for line in got["dialogue"]} == {"来电人"}
    # the list of calls stays light: no lines there
    page = client(app, tokens["qa1"]).get("/api/qa/calls").json()
    assert page["items"][0]["dialogue"] is None

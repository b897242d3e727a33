"""QA staff in real headless Chromium: log in, search recordings, open a call, see the automatic
pre-scores with evidence, override one with a note, save. Screenshots: test-artifacts/browser/."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.accounts import Accounts
from callcenter.qa.scorecard import load_scorecard
from callcenter.qa.service import QaService
from callcenter.qa.settings import QaSettings
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from tests.browser.conftest import PanelServer
from tests.qa.conftest import CallMaker, clip, prompts, silence, track  # noqa: F401  (fixture)

pytestmark = [pytest.mark.slow]


def test_qa_reviews_a_call(ledger, clock, prompts, chromium, artifacts: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    store = WavRecordingStore(RecordingSettings(root=tmp_path / "rec"), background_flush=False)
    accounts = Accounts(ledger.engine, clock)
    accounts.add_user("qa1", "qa", "qa-password", display_name="李质检")
    qa = QaService(ledger.engine, clock, store, load_scorecard(), QaSettings(), prompts=prompts, org_names=("幸福家园",))
    agent = track().at(0.2, clip(prompts, "greeting")).at(11, clip(prompts, "thanks"))
    call_id = CallMaker(ledger, store, clock).make(track().at(6, silence(1) + 3000), agent,
                                                   caller_text="楼道灯坏了请派人修")
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=ledger.bus, recordings=store, settings=WebSettings(secret_file=tmp_path / "k"), qa=qa))
    with PanelServer(app) as server:
        page = chromium.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url + "/")
        page.fill("#login-form [name=username]", "qa1")
        page.fill("#login-form [name=password]", "qa-password")
        page.press("#login-form [name=password]", "Enter")
        page.click("#nav-qa:has-text('质检')")
        page.fill("#qa-filters [name=q]", "楼道灯")
        page.click("#qa-filters button[type=submit]")
        page.wait_for_selector(f"#qa-list a[href='#qa/{call_id}']")
        page.click(f"#qa-list a[href='#qa/{call_id}']")
        page.wait_for_selector("#qa-items tr[data-item=greeting] .ev")
        assert "系统提示音" in page.inner_text("#qa-items tr[data-item=greeting]")
        assert page.input_value("#qa-items select[name=v-ask_surname]") == "fail"
        page.screenshot(path=str(artifacts / "01-qa-prescores.png"))
        page.click("#qa-items tr[data-item=greeting] .ev")  # evidence seeks the player
        page.select_option("#qa-items select[name=v-ask_surname]", "pass")
        page.fill("#qa-items input[name=n-ask_surname]", "来电人开头已报姓名")
        page.click("#qa-review button[type=submit]")
        page.wait_for_selector("#qa-msg:has-text('评分已保存')")
        page.wait_for_selector("#qa-result:has-text('已复核')")
        page.screenshot(path=str(artifacts / "02-qa-saved.png"))
        assert not errors, errors
    review = qa.review(call_id)
    assert review.status == "reviewed" and review.final["items"]["ask_surname"]["overridden"] is True


def test_qa_sees_the_clerks_lines_labelled(ledger, clock, prompts, chromium, artifacts: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """A call bridged to a clerk: the transcript shows 来电人 and 坐席 lines in time order."""
    from callcenter.asr.interface import Transcript, Word

    store = WavRecordingStore(RecordingSettings(root=tmp_path / "rec"), background_flush=False)
    accounts = Accounts(ledger.engine, clock)
    accounts.add_user("qa1", "qa", "qa-password")
    qa = QaService(ledger.engine, clock, store, load_scorecard(), QaSettings(), prompts=prompts, org_names=("幸福家园",))
    agent = track().at(0.2, clip(prompts, "greeting"))
    call_id = CallMaker(ledger, store, clock).make(track().at(6, silence(1) + 3000), agent, caller_text="楼道灯坏了")
    sip = "qa-1"
    first = min(w["start_s"] for w in ledger.call_by_key(sip).transcript_words or [])
    ledger.set_clerk_spans(sip, [(first - 2.0, first + 12.0)])
    said = [("您好", first - 1.5), ("马上派人", first + 9.5)]
    ledger.set_clerk_transcript(sip, Transcript("您好马上派人", tuple(
        Word(ch, at + i * 0.2, at + (i + 1) * 0.2, 0.9) for text, at in said for i, ch in enumerate(text)),
        "scripted-double"), "done")
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=ledger.bus, recordings=store,
                                 settings=WebSettings(secret_file=tmp_path / "k"), qa=qa))
    with PanelServer(app) as server:
        page = chromium.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url + "/")
        page.fill("#login-form [name=username]", "qa1")
        page.fill("#login-form [name=password]", "qa-password")
        page.press("#login-form [name=password]", "Enter")
        page.click("#nav-qa:has-text('质检')")
        page.goto(server.url + f"/#qa/{call_id}")
        page.wait_for_selector("#qa-transcript .line.clerk")
        lines = page.eval_on_selector_all("#qa-transcript .line", "els => els.map(e => [e.dataset.speaker, e.querySelector('.who').textContent, e.textContent])")
        assert [(s, who) for s, who, _ in lines] == [("clerk", "坐席"), ("caller", "来电人"), ("clerk", "坐席")]
        assert "您好" in lines[0][2] and "楼道灯坏了" in lines[1][2] and "马上派人" in lines[2][2]
        page.screenshot(path=str(artifacts / "03-qa-clerk-lines.png"))
        assert not errors, errors

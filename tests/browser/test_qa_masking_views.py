"""QA reads every panel view with personal data masked, in real headless Chromium (issue 16): the
live board, the ledger list and its full-text search, the entry page (caller, formatted display
number, summary, transcript, audit), the work-order slip, the QA replay and the CSV/XLSX exports;
the reports are not open to QA at all. A clerk sees the same pages unmasked (the check can fail)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine

from callcenter.accounts import Accounts
from callcenter.asr.interface import Transcript
from callcenter.clock import SystemClock
from callcenter.events import EventBus
from callcenter.ledger.service import LedgerService
from callcenter.qa.scorecard import load_scorecard
from callcenter.qa.service import QaService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from callcenter.workflow.cases import CaseWorkflow
from callcenter.workflow.notices import NoticeBoard
from callcenter.workflow.settings import WorkflowSettings
from tests.browser.conftest import PanelServer, login

pytestmark = pytest.mark.only_db("sqlite")  # masking is the web layer's; the API on both: tests/web

NUMBER, LIVE = "13912345678", "13700001111"
ID_NUMBER = "110101199003071234"
# every spelling of the personal data planted below; none may reach a QA page
PLAIN = (NUMBER, "139 1234 5678", "139-1234-5678", "12345678", "1234-5678", "1234 5678", ID_NUMBER, LIVE)


def leaks(text: str) -> list[str]:
    return [p for p in PLAIN if p in text]


def test_qa_sees_every_view_masked(engine: Engine, chromium, artifacts: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clock = SystemClock()
    bus = EventBus()
    ledger = LedgerService(engine, clock, bus)
    accounts = Accounts(engine, clock)
    clerk_id = accounts.add_user("clerk1", "clerk", "clerk-password", display_name="张敏")
    accounts.add_user("qa1", "qa", "qa-password", display_name="质检小刘")
    store = WavRecordingStore(RecordingSettings(root=tmp_path / "rec"), background_flush=False)
    notices = NoticeBoard(engine, clock, bus)
    workflow = CaseWorkflow(ledger, clock, WorkflowSettings(), notices, inline=True)
    workflow.attach(bus)
    qa = QaService(engine, clock, store, load_scorecard(None))
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=bus, recordings=store, qa=qa,
                                 workflow=workflow, settings=WebSettings(secret_file=tmp_path / "secret.key")))
    # a recorded call: the number in every form (digits, the formatted display, inside the
    # summary and the transcript), an ID number, and a work order with its slip
    ledger.upsert_resident("7-1-502", "赵强", [NUMBER], key_customer=False)
    sip = "masked-1"
    call_pk = ledger.call_ringing(sip, NUMBER, "+86 139-1234-5678", "hotline", datetime.now(UTC))
    entry_id = ledger.call_answered(sip).entry_id
    rec = store.open(sip, datetime.now(UTC))
    rec.write_caller(b"\x10\x00" * 8000, 0)
    rec.write_agent(b"\x20\x00" * 8000)
    ledger.call_ended(sip, "caller_hangup", rec.close())
    ledger.set_transcript(sip, Transcript(f"楼道灯坏了，我电话{NUMBER}，身份证{ID_NUMBER}", (), "test"), "done")
    ledger.confirm_entry(entry_id, {"category": "报修", "department": "工程", "unit": "7-1-502",
                                    "summary": "楼道灯坏了，回电 139 1234 5678"}, "clerk1", clerk_id)
    clerk_api = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('clerk1')}"})
    order = clerk_api.post(f"/api/entries/{entry_id}/work-orders", json={"assignee": "李师傅"})
    assert order.status_code in (200, 201), order.text
    slip_url = f"/api/work-orders/{order.json()['id']}/slip"
    assert leaks(clerk_api.get(slip_url).text)  # a clerk's slip names the number: the check can fail

    context = chromium.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        with PanelServer(app) as server:
            login(page, server.url, "qa1", "qa-password")
            # the live board: a call ringing now
            live_pk = ledger.call_ringing("masked-live", LIVE, "", "hotline", datetime.now(UTC))
            card = page.wait_for_selector(f"#call-{live_pk}:has-text('137****1111')")
            assert not leaks(card.inner_text()) and not leaks(page.content())
            page.screenshot(path=str(artifacts / "01-board.png"))
            # the ledger list, then its full-text search
            page.click("nav a[data-view=ledger]")
            row = page.wait_for_selector(f"#ledger tbody tr[data-id='{entry_id}']")
            assert "139****5678" in row.inner_text() and not leaks(page.content())
            page.fill("#filters [name=q]", "楼道灯")
            with page.expect_response(lambda r: "/api/entries?" in r.url and "q=" in r.url):
                page.press("#filters [name=q]", "Enter")
            row = page.wait_for_selector(f"#ledger tbody tr[data-id='{entry_id}']")
            assert "楼道灯" in row.inner_text() and not leaks(page.content())
            # the entry: meta, summary field, transcript, audit (a locator: the list may render again)
            page.locator(f"#ledger tbody tr[data-id='{entry_id}']").click()
            page.wait_for_selector(f"#e-id:has-text('#{entry_id}')")
            page.wait_for_selector("#e-meta:has-text('139****5678')")
            page.wait_for_selector("#view-entry:not([hidden]) :text('身份证110101********1234')")
            assert not leaks(page.input_value("#f-summary")) and "139****5678" in page.input_value("#f-summary")
            assert not leaks(page.inner_text("#view-entry")) and not leaks(page.content())
            page.screenshot(path=str(artifacts / "02-entry.png"), full_page=True)
            # the work-order slip the entry page links to
            slip = context.new_page()
            slip.goto(server.url + slip_url)
            assert "139****5678" in slip.inner_text("body") and not leaks(slip.content())
            slip.close()
            # the QA replay: search, open, the transcript
            page.click("#nav-qa")
            page.fill("#qa-filters [name=q]", "楼道灯")
            page.click("#qa-filters button[type=submit]")
            page.click(f"#qa-list a[href='#qa/{call_pk}']")
            page.wait_for_selector("#qa-transcript:has-text('楼道灯坏了')")
            assert not leaks(page.inner_text("#view-qa")) and not leaks(page.content())
            page.screenshot(path=str(artifacts / "03-qa-replay.png"), full_page=True)
            # the exports, with QA's own session (what the export links download)
            csv = page.request.get(server.url + "/api/entries/export.csv")
            assert csv.ok and "139****5678" in csv.text() and not leaks(csv.text())
            xlsx = page.request.get(server.url + "/api/entries/export.xlsx")
            assert xlsx.ok
            cells = " ".join(str(c.value) for ws in load_workbook(io.BytesIO(xlsx.body())).worksheets
                             for r in ws.iter_rows() for c in r if c.value is not None)
            assert "139****5678" in cells and not leaks(cells)
            # the reports are not QA's: no link, and the API refuses
            assert page.is_hidden("#nav-reports")
            assert page.request.get(server.url + "/api/reports/monthly").status == 403
    finally:
        context.close()
        workflow.shutdown()
        store.shutdown()
    assert errors == []

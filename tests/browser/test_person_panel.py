"""「接听」 and 我的分机 in headless Chromium: a clerk sets an extension and 在岗 in the header, a real
SIPp call comes in through kamailio, the clerk presses 「接听」 on its live card, the agent rings the
clerk's phone (a SIPp called party registered at kamailio) and bridges the caller to it; the
clerk's panel opens the call's entry, and the audit log says who took the call."""

from __future__ import annotations

import time
from datetime import time as day_time
from pathlib import Path

import pytest
from sqlmodel import Session, select

from callcenter.accounts import Accounts
from callcenter.calls.desk import StaffDesk
from callcenter.calls.understanding import Understanding
from callcenter.clock import SystemClock
from callcenter.drafting.rules import DraftingRules
from callcenter.ledger.models import AuditLog
from callcenter.staffing.lines import StaffLines
from callcenter.staffing.settings import TransferSettings
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from callcenter.workflow.settings import WorkflowSettings
from tests.browser.conftest import PanelServer, login
from tests.calls.callers import caller_scenario
from tests.calls.conftest import Pipeline
from tests.sipbench import audio
from tests.sipbench.sipp import finish, start_uas

pytestmark = [pytest.mark.sip, pytest.mark.slow]


def test_take_over_a_live_call_from_the_panel(pipeline_factory, chromium, artifacts: Path,  # type: ignore[no-untyped-def]
                                              tmp_path: Path, kamailio) -> None:
    p: Pipeline = pipeline_factory()
    ledger = p.ledger
    accounts = Accounts(ledger.engine, SystemClock())
    accounts.add_user("clerk1", "clerk", "clerk-password", display_name="张敏")
    staff = StaffLines(ledger.engine, SystemClock())
    desk = StaffDesk(Understanding(DraftingRules.load()), TransferSettings(ring_timeout_s=8),
                     WorkflowSettings(business_open=day_time(0, 0), business_close=day_time(23, 59, 59)),
                     staff, agent=p.agent)
    p.handler.desk = desk
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=ledger.bus, recordings=p.store,
                                 settings=WebSettings(secret_file=tmp_path / "secret.key"),
                                 staff=staff, takeover=desk))
    extension = "8601"
    phone_dir = tmp_path / "clerk-phone"
    phone_dir.mkdir()
    audio.write_rtp_pcap(phone_dir / "uas.pcap", audio.tone(1100, 2.0), codec="PCMU")
    phone, _ = start_uas("uas_answer_bye.xml", kamailio.port, phone_dir, extension, duration_ms=3000)
    # the caller stays on the line, silent, until the agent hangs up (waiting for its BYE)
    scenario = caller_scenario(tmp_path / "caller.xml", [("pause", 500)], hang_up="agent")
    with PanelServer(app) as server:
        page = chromium.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN",
                                 bypass_csp=True)  # wait_for_function evals its predicate; the CSP forbids eval
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        login(page, server.url, "clerk1", "clerk-password")
        # 我的分机: the extension, then 在岗
        page.fill("#my-extension", extension)
        page.press("#my-extension", "Tab")
        page.wait_for_function(f"document.querySelector('#my-extension')?.value === '{extension}'")
        page.select_option("#my-presence", "on_duty")
        deadline = time.monotonic() + 10  # the PUT reaches the server
        while staff.on_duty_extensions() != [extension] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert staff.on_duty_extensions() == [extension]
        caller = p.start_call(scenario, timeout_s=90)
        page.wait_for_selector("li.call button.take", timeout=20_000)
        page.screenshot(path=str(artifacts / "person-01-live-call.png"))
        page.click("li.call button.take")
        # the phone answers, the caller is bridged: the clerk's panel opens the call's entry
        page.wait_for_function("location.hash.startsWith('#entry/')", timeout=20_000)
        page.screenshot(path=str(artifacts / "person-02-entry-opened.png"))
        rc_phone, out_phone = finish(phone, 60)
        rc_caller, out_caller = finish(caller, 60)
        assert rc_phone == 0, out_phone
        assert rc_caller == 0, out_caller  # the agent hung up the caller when the clerk did
        assert not errors, errors
    [call] = p.wait_for(lambda cs: bool(cs) and cs[0].status == "ended")
    with Session(ledger.engine) as s:
        rows = s.exec(select(AuditLog).where(AuditLog.call_id == call.id,
                                             AuditLog.action == "person_answered")).all()
    assert [(r.new, r.actor) for r in rows] == [(f"takeover|{extension}|clerk1", "clerk1")]
    assert staff.on_duty_extensions() == [extension]  # 在岗 again after the call

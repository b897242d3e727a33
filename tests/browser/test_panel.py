"""A clerk's shift in real headless Chromium: log in, a real SIPp call arrives live with the
caller's open entry on the card (seed 002), open the draft, correct a field with the keyboard,
confirm, find the entry in the ledger, and the recording plays. Screenshots: test-artifacts/browser/."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from callcenter.accounts import Accounts
from callcenter.clock import SystemClock
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from tests.browser.conftest import PanelServer
from tests.calls.callers import caller_scenario
from tests.calls.conftest import Pipeline
from tests.doubles import ScriptedFactoryDouble

pytestmark = [pytest.mark.sip, pytest.mark.slow]


def test_live_call_to_confirmed_entry(pipeline_factory, speak, shared_dir: Path, chromium,  # type: ignore[no-untyped-def]
                                      artifacts: Path, tmp_path: Path) -> None:
    with (shared_dir / "scenarios" / "dev.tsv").open(encoding="utf-8") as f:
        row = {r["id"]: r for r in csv.DictReader(f, delimiter="\t")}["d01"]  # burst pipe, 4-2-301, urgent
    p: Pipeline = pipeline_factory(recognizer=ScriptedFactoryDouble([row["caller_text"]]))
    ledger = p.ledger
    accounts = Accounts(ledger.engine, SystemClock())
    accounts.add_user("clerk1", "clerk", "clerk-password", display_name="张敏")
    clerk_id = accounts.users()[0][0]
    ledger.upsert_resident("4-2-301", "王建国", ["13800138000"], key_customer=True)
    earlier = ledger.create_manual_entry({"unit": "4-2-301", "category": "报修", "department": "工程",
                                          "summary": "楼道灯不亮，已答应今晚派电工"}, "walk_in", "clerk1", clerk_id)
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=ledger.bus, recordings=p.store,
                                 settings=WebSettings(secret_file=tmp_path / "secret.key")))
    speech = speak(row["caller_text"])
    scenario = caller_scenario(tmp_path / "d01.xml", [("speak", speech), ("pause", len(speech) // 16 + 1500)])

    with PanelServer(app) as server:
        page = chromium.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN",
                             bypass_csp=True)  # wait_for_function evals its predicate; the CSP forbids eval
        recordings: list[tuple[int, str]] = []
        page.on("response", lambda r: recordings.append((r.status, r.headers.get("content-type", "")))
                if "/recording" in r.url else None)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # log in
        page.goto(server.url + "/")
        page.fill("#login-form [name=username]", "clerk1")
        page.fill("#login-form [name=password]", "wrong-password")
        page.press("#login-form [name=password]", "Enter")
        page.wait_for_selector("#login-error:has-text('用户名或密码错误')")
        page.fill("#login-form [name=password]", "clerk-password")
        page.screenshot(path=str(artifacts / "01-login.png"))
        page.press("#login-form [name=password]", "Enter")
        page.wait_for_selector("#link-state:has-text('实时连接正常')")

        # a real call through kamailio from SIPp: the card shows live with the screen pop
        call = p.start_call(scenario)
        card = page.wait_for_selector("li.call:has-text('13800138000')", timeout=15_000)
        page.wait_for_selector(f"li.call .pop a[href='#entry/{earlier.id}']", timeout=10_000)
        assert "王建国" in card.inner_text() and "重要客户" in card.inner_text()
        page.screenshot(path=str(artifacts / "02-call-ringing-screen-pop.png"))
        assert call.wait(60) == 0
        page.wait_for_selector("li.call .draft", timeout=30_000)
        page.wait_for_selector("li.call.urgent .alarm")  # the burst pipe stands out...
        page.screenshot(path=str(artifacts / "03-draft-urgent.png"))
        page.click("li.call button.ack")  # ...until acknowledged (audited)
        page.wait_for_selector("li.call:not(.urgent)")
        page.wait_for_selector("li.call .alarm:has-text('clerk1已知悉')")
        assert not page.inner_text("li.call .link-msg"), page.inner_text("li.call .link-msg")

        # open the draft: confidence per field, evidence marked on the transcript, the recording
        page.click("li.call a.open")
        page.wait_for_selector("#view-entry:not([hidden]) #e-status:has-text('待确认')")
        assert page.input_value("#f-unit") == "4-2-301"
        assert page.is_checked("#f-urgent")
        assert page.inner_text(".field[data-field=category] .conf").startswith("置信度")
        page.wait_for_selector("#e-transcript span.ev[data-fields~=unit]")
        page.wait_for_function("document.querySelector('#e-audio').duration > 1")
        assert any(status == 200 and ctype == "audio/wav" for status, ctype in recordings), recordings
        words = page.query_selector_all("#e-transcript .w[data-start]")
        assert len(words) > 3
        last = words[-1]
        target_s = float(last.get_attribute("data-start") or 0)
        last.click()
        page.wait_for_function(f"Math.abs(document.querySelector('#e-audio').currentTime - {target_s}) < 1.5")
        page.click("#p-back")
        page.evaluate("document.querySelector('#e-audio').pause()")

        # correct a field with the keyboard and confirm with Ctrl+Enter; a stray Enter only moves on
        page.focus("#f-unit")
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "f-category"
        assert page.inner_text("#e-status") == "待确认"
        page.focus("#f-summary")
        page.keyboard.press("End")
        page.keyboard.type("（已通知工程部关总阀）")
        page.select_option("#f-department", "工程")
        page.screenshot(path=str(artifacts / "04-confirm-screen.png"), full_page=True)
        page.keyboard.press("Control+Enter")
        page.wait_for_selector("#e-msg:has-text('已确认登记')")
        page.wait_for_selector("#e-status:has-text('已登记')")
        page.screenshot(path=str(artifacts / "05-confirmed.png"), full_page=True)
        entry_id = int(page.inner_text("#e-id").lstrip("#"))
        entry = ledger.get_entry(entry_id)
        assert entry.status == "registered" and entry.owner_id == clerk_id
        assert entry.summary.endswith("（已通知工程部关总阀）")
        assert any(c.field == "summary" and c.changed for c in ledger.corrections_of_entry(entry_id))
        assert any(a.action == "urgent_ack" and a.actor == "clerk1" for a in ledger.audit_of_entry(entry_id))

        # find it in the ledger
        page.click("nav a[data-view=ledger]")
        page.fill("#filters [name=unit]", "4-2-301")
        page.select_option("#filters [name=status]", "registered")
        page.click("#filters button[type=submit]")
        row = page.wait_for_selector(f"#ledger tr[data-id='{entry_id}']")
        text = row.inner_text()
        assert "已通知工程部关总阀" in text and "已登记" in text and "张敏" in text
        page.screenshot(path=str(artifacts / "06-ledger.png"), full_page=True)
        page.click("nav a[data-view=board]")  # the confirmed, finished call has left the board
        page.wait_for_selector("li.call", state="detached")
        page.wait_for_selector("#drafts:has-text('没有待确认的草稿')")
        assert not errors, errors
        page.close()


def test_repeat_call_linked_from_the_screen_pop(pipeline_factory, speak, shared_dir: Path, chromium,  # type: ignore[no-untyped-def]
                                                artifacts: Path, tmp_path: Path) -> None:
    """Seed 002 in the browser: the resident reported a power cut an hour ago; while he calls
    again, the clerk sees that open entry on the card and links the call to it with one click."""
    text = "你好，我是四栋二单元三零一的，一个小时前报过停电，到现在还没有人来。"
    p: Pipeline = pipeline_factory(recognizer=ScriptedFactoryDouble([text]))
    ledger = p.ledger
    accounts = Accounts(ledger.engine, SystemClock())
    accounts.add_user("clerk2", "clerk", "clerk-password", display_name="李华")
    clerk_id = accounts.users()[0][0]
    ledger.upsert_resident("4-2-301", "王建国", ["13800138000"], key_customer=False)
    first = ledger.create_manual_entry({"unit": "4-2-301", "caller_number": "13800138000", "category": "报修",
                                        "department": "工程", "summary": "家里停电，已答应派电工"},
                                       "staff", "clerk1", clerk_id)
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=ledger.bus, recordings=p.store,
                                 settings=WebSettings(secret_file=tmp_path / "secret.key")))
    speech = speak(text)
    scenario = caller_scenario(tmp_path / "repeat.xml", [("speak", speech), ("pause", len(speech) // 16 + 1500)])

    with PanelServer(app) as server:
        page = chromium.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN",
                             bypass_csp=True)  # wait_for_function evals its predicate; the CSP forbids eval
        page.goto(server.url + "/")
        page.fill("#login-form [name=username]", "clerk2")
        page.fill("#login-form [name=password]", "clerk-password")
        page.press("#login-form [name=password]", "Enter")
        page.wait_for_selector("#link-state:has-text('实时连接正常')")

        call = p.start_call(scenario)
        button = page.wait_for_selector(f"li.call button.link[data-link='{first.id}']", timeout=15_000)
        assert "家里停电，已答应派电工" in page.inner_text("li.call .pop")
        page.screenshot(path=str(artifacts / "01-open-entry-on-the-card.png"))
        button.click()
        page.wait_for_selector(f"li.call .ok a[href='#entry/{first.id}']")
        assert call.wait(60) == 0
        page.wait_for_selector("li.call .draft", timeout=30_000)
        page.screenshot(path=str(artifacts / "02-linked.png"))

        page.click("li.call a.open")
        page.wait_for_selector(f"#e-id:has-text('#{first.id}')")
        page.wait_for_selector("#e-meta:has-text('重复来电 1 次')")
        page.wait_for_selector("#e-calls button:has-text('再次来电')")
        page.wait_for_selector("#e-audit td:has-text('关联来电')")
        page.wait_for_function("document.querySelector('#e-audio').duration > 1")
        page.screenshot(path=str(artifacts / "03-entry-with-linked-call.png"), full_page=True)
        entry = ledger.get_entry(first.id)
        assert entry.repeat_count == 1 and entry.category == "投诉" and entry.status == "registered"
        assert [c.caller_number for c in ledger.calls_of_entry(first.id)] == ["13800138000"]
        page.close()

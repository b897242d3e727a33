"""Two clerks, one entry, in two browser contexts of headless Chromium (issue 16): the second
confirmation is refused naming the first clerk; a change by one appears in the other's open form
(fields she did not touch refreshed, the ones both changed marked); a save from a page that missed
the change (a network blip) is refused and merged, never silently reverting; a reload keeps the
unsaved text (after asking before leaving); a login ended elsewhere closes the live connection.
Screenshots: test-artifacts/browser/."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from callcenter.accounts import Accounts
from callcenter.clock import ManualClock
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from tests.browser.conftest import PanelServer, login

pytestmark = [pytest.mark.slow]


@pytest.fixture
def desk(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    db.upgrade(db_url)
    engine = db.make_engine(db_url)
    clock = ManualClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    bus = EventBus()
    ledger = LedgerService(engine, clock, bus)
    accounts = Accounts(engine, clock)
    accounts.add_user("wang", "clerk", "wang-password", display_name="王芳")
    accounts.add_user("li", "clerk", "li-password", display_name="李强")
    store = WavRecordingStore(RecordingSettings(root=tmp_path / "rec"), background_flush=False)
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=bus, recordings=store,
                                 settings=WebSettings(secret_file=tmp_path / "secret.key")))
    with PanelServer(app) as server:
        yield SimpleNamespace(url=server.url, ledger=ledger, accounts=accounts, clock=clock)
    engine.dispose()


def draft(desk: SimpleNamespace, sip_id: str = "c1") -> int:
    ledger = desk.ledger
    ledger.call_ringing(sip_id, "13800138000", "", "hotline", desk.clock.now())
    entry_id = ledger.call_answered(sip_id).entry_id
    ledger.call_ended(sip_id, "caller_hangup", None)
    ledger.update_entry(entry_id, {"summary": "楼道灯不亮", "unit": "3-1-502"}, "system")
    return int(entry_id)


def two_clerks(chromium, desk):  # type: ignore[no-untyped-def]
    pages = []
    for user in ("wang", "li"):
        page = chromium.new_context().new_page()
        page.set_default_timeout(10_000)
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        # the panel runs under its strict CSP (no inline script, no eval): any violation is an error
        page.on("console", lambda m, errors=errors: errors.append(m.text) if "Content Security Policy" in m.text
                else None)
        page.errors = errors
        page.drop_events = False  # a network blip: live events to this page are lost while True

        def relay(ws, page=page) -> None:  # type: ignore[no-untyped-def]
            server = ws.connect_to_server()
            server.on_message(lambda message: None if page.drop_events else ws.send(message))

        page.route_web_socket("**/api/events", relay)
        login(page, desk.url, user, f"{user}-password")
        pages.append(page)
    return pages


def open_entry(page, desk, entry_id: int) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{desk.url}/#entry/{entry_id}")
    page.wait_for_selector(f"#e-id:has-text('#{entry_id}')")


def test_double_confirm_is_refused_with_the_first_clerks_name(desk, chromium, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    wang, li = two_clerks(chromium, desk)
    entry_id = draft(desk)
    open_entry(wang, desk, entry_id)
    open_entry(li, desk, entry_id)
    # each sees that the other has the entry open
    wang.wait_for_selector("#e-editors:has-text('李强 正在编辑')", timeout=15_000)  # her next beat
    li.wait_for_selector("#e-editors:has-text('王芳 正在编辑')")
    wang.select_option("#f-category", "报修")
    li.select_option("#f-category", "投诉")
    wang.click("#e-confirm")
    wang.wait_for_selector("#e-msg:has-text('已确认登记')")
    li.wait_for_selector("#e-msg:has-text('王芳 已确认登记这条草稿')")  # live, before she presses
    li.click("#e-confirm")
    li.wait_for_selector("#e-msg:has-text('不能重复确认')")
    li.screenshot(path=str(artifacts / "second-confirm-refused.png"))
    assert "不能重复确认" in li.inner_text("#e-msg")
    e = desk.ledger.get_entry(entry_id)
    assert e.category == "报修" and e.owner_id == desk.accounts.users()[1][0]  # users() by username: li, wang
    assert not wang.errors and not li.errors


def test_live_refresh_and_a_stale_save_merged_not_reverted(desk, chromium, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    wang, li = two_clerks(chromium, desk)
    entry_id = draft(desk)
    desk.ledger.confirm_entry(entry_id, {}, "wang", desk.accounts.users()[1][0])
    open_entry(wang, desk, entry_id)
    open_entry(li, desk, entry_id)
    # live: 王芳 changes the unit; 李强, typing in the summary, sees the unit refresh in place
    li.fill("#f-summary", "楼道灯不亮，三楼")
    wang.fill("#f-unit", "3-1-503")
    wang.click("#e-confirm")
    wang.wait_for_selector("#e-msg:has-text('已保存')")
    li.wait_for_selector("#e-msg:has-text('王芳 刚修改了这条台账')")
    assert li.input_value("#f-unit") == "3-1-503" and li.input_value("#f-summary") == "楼道灯不亮，三楼"
    li.click("#e-confirm")
    li.wait_for_selector("#e-msg:has-text('已保存')")
    e = desk.ledger.get_entry(entry_id)
    assert (e.unit, e.summary) == ("3-1-503", "楼道灯不亮，三楼")  # both clerks' work kept
    # a blip: 李强's page misses 王芳's next change and saves from the stale form
    li.drop_events = True
    wang.fill("#f-summary", "楼道灯不亮，三楼，已报电工")
    wang.click("#e-confirm")
    wang.wait_for_selector("#e-msg:has-text('已保存')")
    li.fill("#f-summary", "楼道灯不亮，三楼东侧")
    li.drop_events = False
    li.click("#e-confirm")
    li.wait_for_selector("#e-msg:has-text('保存未生效')")
    li.screenshot(path=str(artifacts / "stale-save-merged.png"))
    assert "王芳" in li.inner_text("#e-msg")
    assert desk.ledger.get_entry(entry_id).summary == "楼道灯不亮，三楼，已报电工"  # not reverted
    assert li.is_visible("#e-form .field.conflict[data-field=summary]")
    assert "已报电工" in li.inner_text("#e-form .field.conflict[data-field=summary] .conf")
    assert li.input_value("#f-summary") == "楼道灯不亮，三楼东侧"  # her text kept, to merge by hand
    li.fill("#f-summary", "楼道灯不亮，三楼东侧，已报电工")
    li.click("#e-confirm")
    li.wait_for_selector("#e-msg:has-text('已保存')")
    assert desk.ledger.get_entry(entry_id).summary == "楼道灯不亮，三楼东侧，已报电工"


def test_a_reload_keeps_unsaved_text_after_asking(desk, chromium, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    wang, _ = two_clerks(chromium, desk)
    entry_id = draft(desk)
    open_entry(wang, desk, entry_id)
    wang.click("#f-summary")
    wang.fill("#f-summary", "业主说楼道灯一直闪，晚上看不见")
    asked: list[str] = []

    def on_dialog(dialog) -> None:  # type: ignore[no-untyped-def]
        asked.append(dialog.type)
        dialog.accept()

    wang.on("dialog", on_dialog)
    wang.reload()
    wang.wait_for_selector("#e-msg:has-text('已恢复未保存的修改')")
    wang.screenshot(path=str(artifacts / "restored-after-reload.png"))
    assert asked == ["beforeunload"]
    assert wang.input_value("#f-summary") == "业主说楼道灯一直闪，晚上看不见"
    wang.click("#e-confirm")
    wang.wait_for_selector("#e-msg:has-text('已确认登记')")
    assert desk.ledger.get_entry(entry_id).summary == "业主说楼道灯一直闪，晚上看不见"
    wang.reload()
    wang.wait_for_selector(f"#e-id:has-text('#{entry_id}')")
    assert "已恢复" not in wang.inner_text("#e-msg")  # saved: nothing left to restore


def test_a_login_ended_elsewhere_closes_the_live_connection(desk, chromium) -> None:  # type: ignore[no-untyped-def]
    wang, _ = two_clerks(chromium, desk)
    desk.accounts.end_sessions_of("wang")  # `callcenter users logout wang`, another process
    wang.wait_for_selector("#login:not([hidden])", timeout=15_000)  # within the periodic re-check


def test_an_ended_call_card_can_be_dismissed(desk, chromium) -> None:  # type: ignore[no-untyped-def]
    wang, _ = two_clerks(chromium, desk)
    ledger = desk.ledger
    for sip_id in ("gone", "missed"):
        pk = ledger.call_ringing(sip_id, "13800138000", "", "hotline", desk.clock.now())
        if sip_id == "gone":
            ledger.call_answered(sip_id)
            ledger.call_ended(sip_id, "caller_hangup", None)
        else:
            ledger.call_missed(sip_id, "cancelled")
        card = f"#call-{pk}"
        wang.wait_for_selector(f"{card} button.dismiss")
        wang.click(f"{card} button.dismiss")
        wang.wait_for_selector(card, state="detached")
    assert not wang.errors

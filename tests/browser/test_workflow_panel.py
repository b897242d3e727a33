"""The case workflow in real headless Chromium (issue 4): a clerk moves a complaint from
registered through a work order (and its printed slip), completion and the callback to closed,
with the clocks counting down and turning red; the notification bell, the shift-handover banner
and the 回访任务 view. Screenshots: test-artifacts/browser/<test name>/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from callcenter.accounts import Accounts
from callcenter.clock import ManualClock
from callcenter.events import EventBus
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from callcenter.workflow.cases import CaseWorkflow
from callcenter.workflow.notices import NoticeBoard
from callcenter.workflow.settings import WorkflowSettings
from tests.browser.conftest import PanelServer, login

# Monday 2026-01-05 09:00 in Shanghai: inside business hours, so the clocks run in minutes.
MONDAY_9AM = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


@dataclass
class Desk:
    ledger: LedgerService
    clock: ManualClock
    wf: CaseWorkflow
    clerk_id: int
    server: PanelServer

    def registered(self, sip_id: str, category: str = "投诉", department: str = "客服",
                   summary: str = "楼上装修超时施工，噪音很大") -> int:
        self.ledger.call_ringing(sip_id, "13800138000", "", "8001", self.clock.now())
        entry_id = self.ledger.call_answered(sip_id).entry_id
        self.ledger.confirm_entry(entry_id, {"category": category, "department": department, "unit": "4-2-301",
                                             "urgent": False, "summary": summary}, "clerk1", self.clerk_id)
        return entry_id


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Iterator[Desk]:
    clock = ManualClock(MONDAY_9AM)
    bus = EventBus()
    settings = WorkflowSettings()
    ledger = LedgerService(engine, clock, bus, callbacks=settings.callback_sampling)
    wf = CaseWorkflow(ledger, clock, settings, NoticeBoard(engine, clock, bus), inline=True)
    wf.attach(bus)
    accounts = Accounts(engine, clock)
    clerk_id = accounts.add_user("clerk1", "clerk", "clerk-password", display_name="张敏")
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=bus,
                                 recordings=WavRecordingStore(RecordingSettings(root=tmp_path / "rec"),
                                                              background_flush=False),
                                 settings=WebSettings(secret_file=tmp_path / "secret.key"), workflow=wf))
    with PanelServer(app) as server:
        yield Desk(ledger, clock, wf, clerk_id, server)
    wf.shutdown()


def _status(page, label: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_selector(f"#e-workflow .wf-status:has-text('{label}')")
    page.wait_for_selector(f"#e-status:has-text('{label}')")


def test_complaint_from_work_order_to_closed(desk: Desk, chromium, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    entry_id = desk.registered("wf-1")
    page = chromium.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN",
                             bypass_csp=True)  # wait_for_function evals its predicate; the CSP forbids eval
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, desk.server.url, "clerk1", "clerk-password")
    page.evaluate(f"location.hash = '#entry/{entry_id}'")
    _status(page, "已登记")

    # the dispatch clock counts down, green while there is time...
    clock = page.wait_for_selector("#e-workflow .wf-clock-row[data-clock=dispatch] .wf-clock.ok")
    first = clock.inner_text()
    assert first.startswith("剩余"), first
    page.wait_for_function(f"document.querySelector('.wf-clock-row[data-clock=dispatch] .wf-clock').textContent !== '{first}'",
                           timeout=3000)
    page.locator("#e-workflow").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "01-registered-dispatch-clock.png"), full_page=True)

    # ...and red once it has run out (a ManualClock moved past the due time, then a refresh)
    desk.clock.advance(minutes=10)
    page.reload()
    page.wait_for_selector("#e-workflow .wf-clock-row[data-clock=dispatch] .wf-clock.red")
    assert "已超时" in page.inner_text(".wf-clock-row[data-clock=dispatch] .wf-clock")
    page.screenshot(path=str(artifacts / "02-dispatch-clock-red.png"), full_page=True)

    # a work order to 工程 with an assignee; the description defaults to the summary
    form = "#e-workflow .wf-new-order"
    assert page.input_value(f"{form} [name=wo_department]") == "客服"  # the entry's department
    assert page.input_value(f"{form} [name=description]") == "楼上装修超时施工，噪音很大"
    assert page.is_hidden(f"{form} [name=fee]")  # paid/fee only for 工程维修单
    page.select_option(f"{form} [name=wo_department]", "工程")
    page.fill(f"{form} [name=assignee]", "李师傅")
    page.click(f"{form} button[type=submit]")
    _status(page, "已派工")
    row = page.wait_for_selector("#e-workflow .wf-orders tr[data-order]:has-text('李师傅')")
    assert "维修调度单" in row.inner_text() and "工程" in row.inner_text() and "待接单" in row.inner_text()
    assert page.query_selector(".wf-clock-row[data-clock=dispatch]") is None  # dispatched: that clock stopped
    [order] = desk.wf.work_orders.of_entry(entry_id)
    assert order.department == "工程" and order.assignee == "李师傅"

    # the printable slip opens in a new tab with the ledger's fields
    with page.context.expect_page() as slip_info:
        page.click("#e-workflow .wf-slip")
    slip = slip_info.value
    slip.wait_for_load_state()
    text = slip.inner_text("body")
    assert "维修调度单" in text and "4-2-301" in text and "李师傅" in text, text
    slip.screenshot(path=str(artifacts / "03-slip.png"), full_page=True)
    slip.close()

    # accepted → the entry is in progress; done with a result → completed, the callback clock starts
    page.click("#e-workflow tr[data-order] button[data-order-move=accepted]")
    _status(page, "处理中")
    page.click("#e-workflow tr[data-order] button[data-order-move=done]")
    page.fill("#e-workflow .wf-done-form [name=result]", "已联系施工方，按规定时间施工")
    page.click("#e-workflow .wf-done-form button[type=submit]")
    _status(page, "已完成")
    task_row = page.wait_for_selector("#e-workflow .wf-tasks tr[data-task]:has-text('回访')")
    assert page.query_selector("#e-workflow .wf-tasks tr[data-task] .wf-clock.ok") is not None
    assert "剩余" in task_row.inner_text()
    page.screenshot(path=str(artifacts / "04-completed-callback-task.png"), full_page=True)

    # a complaint cannot be closed before the callback: the refusal is shown as the server gives it
    page.click("#e-workflow button[data-move=closed]")
    page.wait_for_selector("#e-workflow .wf-msg .error:has-text('投诉必须回访后才能结案')")
    assert desk.ledger.get_entry(entry_id).status == "completed"

    # log the callback: connected needs a satisfaction, then 已回访
    page.click("#e-workflow button[data-task-log]")
    page.select_option("#e-workflow .wf-log-form [name=outcome]", "connected")
    page.click("#e-workflow .wf-log-form button[type=submit]")
    page.wait_for_selector("#e-workflow .wf-msg .error:has-text('须选择业户满意度')")
    page.select_option("#e-workflow .wf-log-form [name=satisfaction]", "满意")
    page.fill("#e-workflow .wf-log-form [name=notes]", "业户表示噪音已解决")
    page.screenshot(path=str(artifacts / "05-log-callback.png"), full_page=True)
    page.click("#e-workflow .wf-log-form button[type=submit]")
    _status(page, "已回访")
    page.wait_for_selector("#e-workflow .wf-tasks tr[data-task]:has-text('已接通 · 满意')")

    # close
    page.click("#e-workflow button[data-move=closed]")
    _status(page, "已结案")
    page.screenshot(path=str(artifacts / "06-closed.png"), full_page=True)
    entry = desk.ledger.get_entry(entry_id)
    assert entry.status == "closed" and entry.satisfaction == "满意"
    assert not errors, errors
    page.close()


def test_bell_handover_and_callback_tasks(desk: Desk, chromium, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    entry_id = desk.registered("wf-2", category="报修", department="工程", summary="厨房水管漏水")
    page = chromium.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN",
                             bypass_csp=True)  # wait_for_function evals its predicate; the CSP forbids eval
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, desk.server.url, "clerk1", "clerk-password")
    page.wait_for_selector("#bell:not([hidden])")
    assert page.is_hidden("#bell-count") and page.is_hidden("#handover-banner")

    # a critical notice reaches the bell within a second, flashing; 知悉 clears it
    note_id = desk.wf.notices.post("urgent", f"紧急来电：台账 {entry_id} 4-2-301", "报修｜工程｜厨房水管漏水",
                                   severity="critical", audience=("clerk", "supervisor"), entry_id=entry_id)
    page.wait_for_selector("#bell-count:has-text('1')", timeout=1000)
    page.wait_for_selector("#bell-button.flash")
    page.click("#bell-button")
    item = page.wait_for_selector(f"#bell-list li.note.critical[data-note='{note_id}']")
    assert "厨房水管漏水" in item.inner_text()
    assert page.get_attribute(f"#bell-list li[data-note='{note_id}'] a", "href") == f"#entry/{entry_id}"
    page.screenshot(path=str(artifacts / "01-bell.png"))
    page.click(f"#bell-list button[data-ack='{note_id}']")
    page.wait_for_selector("#bell-count", state="hidden")
    page.wait_for_selector("#bell-button:not(.flash)")
    assert desk.wf.notices.for_role("clerk") == []

    # the shift handover: a banner until the incoming clerk acknowledges it
    handover = desk.wf.handovers.compile()
    banner = page.wait_for_selector("#handover-banner:not([hidden])")
    assert f"交接班：{handover.open_count} 项未完结" in banner.inner_text()
    banner.click()
    page.wait_for_selector(f"#handover-dialog[open] a[href='#entry/{entry_id}']")
    assert "厨房水管漏水" in page.inner_text("#handover-dialog")
    page.screenshot(path=str(artifacts / "02-handover.png"))
    page.fill("#handover-dialog [name=note]", "已阅，水管漏水单继续跟进")
    page.click("#handover-dialog button[type=submit]")
    page.wait_for_selector("#handover-banner", state="hidden")
    latest = desk.wf.handovers.latest()
    assert latest is not None and latest.acknowledged_by == "clerk1" and latest.note == "已阅，水管漏水单继续跟进"
    page.reload()
    page.wait_for_selector("#link-state:has-text('实时连接正常')")
    assert page.is_hidden("#handover-banner")

    # a missed call: its task is in 回访任务 with a countdown; dialing without the agent says so
    desk.ledger.call_ringing("wf-missed", "13900139000", "", "8001", desk.clock.now())
    missed_entry = desk.ledger.call_missed("wf-missed", "caller_hangup")
    page.click("#nav-callbacks")
    row = page.wait_for_selector("#cb-list tr[data-task]:has-text('未接回拨')")
    assert "13900139000" in row.inner_text()
    assert row.query_selector(".wf-reason").inner_text() == "未接来电"  # the reason, as /api/meta labels it
    assert page.get_attribute("#cb-list tr[data-task] a", "href") == f"#entry/{missed_entry}"
    assert page.query_selector("#cb-list tr[data-task] .wf-clock.ok") is not None
    page.click("#cb-list button[data-task-dial]")
    page.fill("#cb-list .wf-dial-form [name=extension]", "8001")
    page.click("#cb-list .wf-dial-form button[type=submit]")
    page.wait_for_selector("#cb-list .wf-msg:has-text('本机未启用外呼')")
    assert page.evaluate("localStorage.getItem('callcenter.extension')") == "8001"
    page.screenshot(path=str(artifacts / "03-callback-tasks.png"))

    # returned by hand: the task leaves the list
    page.click("#cb-list button[data-task-log]")
    page.select_option("#cb-list .wf-log-form [name=outcome]", "connected")
    page.fill("#cb-list .wf-log-form [name=notes]", "业户说已自行处理")
    page.click("#cb-list .wf-log-form button[type=submit]")
    page.wait_for_selector("#cb-list tr[data-task]", state="detached")
    page.wait_for_selector("#cb-list:has-text('没有待办的回访/回拨任务')")
    assert desk.ledger.get_entry(missed_entry).status == "completed"

    # a call whose media stopped mid-way: returned on the same clock, the row says why
    desk.ledger.call_ringing("wf-cut", "13700137000", "", "8001", desk.clock.now())
    desk.ledger.call_answered("wf-cut")
    desk.ledger.call_ended("wf-cut", "rtp_timeout", None)
    page.reload()
    page.click("#nav-callbacks")
    row = page.wait_for_selector("#cb-list tr[data-task]:has-text('13700137000')")
    assert row.query_selector(".wf-reason").inner_text() == "通话中断（线路无声）"
    assert "未接回拨" in row.inner_text()
    assert not errors, errors
    page.close()


def test_panel_without_a_workflow_stays_quiet(engine: Engine, chromium, artifacts: Path,  # type: ignore[no-untyped-def]
                                              tmp_path: Path) -> None:
    """Where the process runs no workflow (503), the panel shows no bell, no 办理 section and no
    回访任务 link, and raises no errors."""
    clock = ManualClock(MONDAY_9AM)
    bus = EventBus()
    ledger = LedgerService(engine, clock, bus)
    accounts = Accounts(engine, clock)
    clerk_id = accounts.add_user("clerk1", "clerk", "clerk-password", display_name="张敏")
    entry = ledger.create_manual_entry({"unit": "4-2-301", "caller_number": "13800138000", "category": "报修",
                                        "department": "工程", "summary": "家里停电"}, "staff", "clerk1", clerk_id)
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=bus,
                                 recordings=WavRecordingStore(RecordingSettings(root=tmp_path / "rec"),
                                                              background_flush=False),
                                 settings=WebSettings(secret_file=tmp_path / "secret.key")))
    with PanelServer(app) as server:
        page = chromium.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN",
                             bypass_csp=True)  # wait_for_function evals its predicate; the CSP forbids eval
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        login(page, server.url, "clerk1", "clerk-password")
        page.evaluate(f"location.hash = '#entry/{entry.id}'")
        page.wait_for_selector("#e-status:has-text('已登记')")
        page.wait_for_timeout(500)
        assert page.is_hidden("#bell") and page.is_hidden("#nav-callbacks") and page.is_hidden("#e-workflow")
        assert page.is_hidden("#handover-banner")
        page.screenshot(path=str(artifacts / "01-no-workflow.png"))
        assert not errors, errors
        page.close()


def test_unsatisfied_through_record_callback_reopens_escalates_and_counts(desk: Desk, chromium,  # type: ignore[no-untyped-def]
                                                                          artifacts: Path) -> None:
    """「记录回访」 on an entry the sampling gave no callback task (issue 16): 不满意 is stored,
    the entry reopens, the supervisor and the project head are told, and the callback report
    counts it."""
    from types import SimpleNamespace

    from sqlmodel import Session

    from callcenter.reports.figures import callbacks_in

    for n in range(40):  # 建议 is sampled at 10 %: take one the sampling passed over
        entry_id = desk.registered(f"uns-{n}", category="建议", department="客服", summary="希望增加快递柜")
        desk.ledger.transition(entry_id, "completed", "clerk1")
        if not desk.wf.callbacks.list(entry_id=entry_id):
            break
    else:
        raise AssertionError("every 建议 entry got a callback task")
    page = chromium.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, desk.server.url, "clerk1", "clerk-password")
    page.evaluate(f"location.hash = '#entry/{entry_id}'")
    _status(page, "已完成")
    page.click("#e-workflow button[data-move=called_back]")
    page.select_option("#e-workflow .wf-move-form [name=satisfaction]", "不满意")
    page.fill("#e-workflow .wf-move-form [name=note]", "快递柜位置太远，业户不满意")
    page.click("#e-workflow .wf-move-form button[type=submit]")
    _status(page, "处理中")  # reopened for rework
    page.screenshot(path=str(artifacts / "unsatisfied-reopened.png"), full_page=True)
    entry = desk.ledger.get_entry(entry_id)
    assert entry.status == "in_progress" and entry.satisfaction == "不满意"
    [task] = desk.wf.callbacks.list(status="done", entry_id=entry_id)
    assert (task.outcome, task.satisfaction) == ("connected", "不满意")
    alarms = [n for n in desk.wf.notices.for_role("supervisor", unacknowledged_only=False) if n.kind == "unsatisfied"]
    assert len(alarms) == 1 and "project_head" in alarms[0].audience and alarms[0].entry_id == entry_id
    with Session(desk.ledger.engine) as s:
        day = SimpleNamespace(start=desk.clock.now() - timedelta(days=1), end=desk.clock.now() + timedelta(days=1))
        figures = callbacks_in(s, day)  # type: ignore[arg-type]
    assert figures.satisfaction.get("不满意") == 1
    assert not errors, errors
    page.close()

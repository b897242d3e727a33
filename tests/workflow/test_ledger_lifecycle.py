"""The lifecycle through the ledger's one write path, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callcenter.accounts import Accounts
from callcenter.clock import ManualClock
from callcenter.events import EventBus
from callcenter.ledger.service import LedgerError, LedgerService
from callcenter.workflow.settings import CallbackRates, WorkflowSettings


def answered_entry(ledger: LedgerService, sip_call_id: str) -> int:
    ledger.call_ringing(sip_call_id, "13800138000", "", "8001", datetime(2026, 1, 5, 1, 0, tzinfo=UTC))
    return ledger.call_answered(sip_call_id).entry_id


def registered(ledger: LedgerService, clock: ManualClock, sip_call_id: str, category: str) -> int:
    clerk = "clerk_" + sip_call_id.replace("-", "_")
    clerk_id = Accounts(ledger.engine, clock).add_user(clerk, "clerk")
    entry_id = answered_entry(ledger, sip_call_id)
    ledger.confirm_entry(entry_id, {"category": category, "department": "客服" if category == "投诉" else "工程",
                                    "unit": "4-2-301", "summary": "楼道灯坏了一周没人修"},
                         clerk, clerk_id)
    return entry_id


def status_trail(ledger: LedgerService, entry_id: int) -> list[tuple[str, str, str, str, str]]:
    return [(a.actor, a.action, a.field, a.old, a.new) for a in ledger.audit_of_entry(entry_id)
            if a.field in ("status", "satisfaction")]


def test_complaint_walks_draft_to_closed_with_audit(ledger: LedgerService, clock: ManualClock) -> None:
    entry_id = registered(ledger, clock, "c-1", "投诉")
    assert ledger.get_entry(entry_id).status == "registered"
    for to in ("dispatched", "in_progress", "completed"):
        clock.advance(minutes=5)
        assert ledger.transition(entry_id, to, "wang").status == to

    # a complaint that was never called back cannot be closed, by either path
    with pytest.raises(LedgerError, match="投诉必须回访") as err:
        ledger.transition(entry_id, "closed", "wang")
    assert "called back" in str(err.value)
    with pytest.raises(LedgerError, match="complaint cannot be closed"):
        ledger.update_entry(entry_id, {"status": "closed"}, "wang")
    assert ledger.get_entry(entry_id).status == "completed"

    # callback without a result is refused; an unsatisfied one blocks closing and reopens
    with pytest.raises(LedgerError, match="needs its result"):
        ledger.transition(entry_id, "called_back", "wang")
    ledger.transition(entry_id, "called_back", "wang", satisfaction="不满意", note="灯还是不亮")
    with pytest.raises(LedgerError, match="not satisfied"):
        ledger.transition(entry_id, "closed", "wang")
    ledger.transition(entry_id, "in_progress", "wang")  # 不满意 is the reason
    ledger.transition(entry_id, "completed", "li")
    ledger.transition(entry_id, "called_back", "wang", satisfaction="满意")
    closed = ledger.transition(entry_id, "closed", "wang")
    assert closed.status == "closed" and closed.updated_at == clock.now()
    assert ledger.get_entry(entry_id).status == "closed"

    assert status_trail(ledger, entry_id) == [
        ("clerk_c_1", "confirm", "status", "draft", "registered"),
        ("wang", "transition", "status", "registered", "dispatched"),
        ("wang", "transition", "status", "dispatched", "in_progress"),
        ("wang", "transition", "status", "in_progress", "completed"),
        ("wang", "transition", "status", "completed", "called_back"),
        ("wang", "callback", "satisfaction", "", "不满意"),
        ("wang", "note", "status", "", "灯还是不亮"),
        ("wang", "transition", "status", "called_back", "in_progress"),
        ("li", "transition", "status", "in_progress", "completed"),
        ("wang", "transition", "status", "completed", "called_back"),
        ("wang", "callback", "satisfaction", "", "满意"),
        ("wang", "transition", "status", "called_back", "closed"),
    ]
    # closed is final unless reopened with a reason
    with pytest.raises(LedgerError, match="reopening needs a reason"):
        ledger.transition(entry_id, "in_progress", "wang")
    ledger.transition(entry_id, "in_progress", "wang", note="业户再次来电：灯又坏了")
    assert ledger.get_entry(entry_id).status == "in_progress"


def test_update_entry_checks_status_changes(ledger: LedgerService, clock: ManualClock) -> None:
    no_callbacks = WorkflowSettings(callback_rates=CallbackRates(by_category={"咨询": 0.0}))
    ledger = LedgerService(ledger.engine, clock, EventBus(), no_callbacks.callback_sampling)
    entry_id = registered(ledger, clock, "c-2", "咨询")
    with pytest.raises(LedgerError, match="cannot move from registered to closed"):
        ledger.update_entry(entry_id, {"status": "closed"}, "wang")
    # answered on the spot, not sampled for a callback (rate 0 here): completed → closed is fine
    ledger.update_entry(entry_id, {"status": "completed"}, "wang")
    # ...but the category changed in the same request counts: now it is a complaint
    with pytest.raises(LedgerError, match="投诉必须回访"):
        ledger.update_entry(entry_id, {"status": "closed", "category": "投诉"}, "wang")
    entry = ledger.get_entry(entry_id)
    assert (entry.status, entry.category) == ("completed", "咨询")  # nothing half-applied
    # an unchanged status is no transition at all
    ledger.update_entry(entry_id, {"status": "completed", "summary": "已当场答复"}, "wang")
    assert ledger.get_entry(entry_id).summary == "已当场答复"


def test_cancel_and_merged_are_final(ledger: LedgerService, clock: ManualClock) -> None:
    entry_id = registered(ledger, clock, "c-3", "报修")
    ledger.update_entry(entry_id, {"status": "cancelled"}, "wang")
    with pytest.raises(LedgerError, match="is final"):
        ledger.transition(entry_id, "registered", "wang")
    with pytest.raises(LedgerError, match="status must be one of"):
        ledger.update_entry(entry_id, {"status": "done"}, "wang")


def test_dispatch_needs_a_department(ledger: LedgerService, clock: ManualClock) -> None:
    entry_id = answered_entry(ledger, "c-4")
    ledger.transition(entry_id, "registered", "wang")
    with pytest.raises(LedgerError, match="department"):
        ledger.transition(entry_id, "dispatched", "wang")


@pytest.mark.parametrize(("rate", "closable"), [(1.0, False), (0.0, True)])
def test_sampled_repair_needs_its_callback(ledger: LedgerService, clock: ManualClock, rate: float,
                                           closable: bool) -> None:
    settings = WorkflowSettings(callback_rates=CallbackRates(by_category={"报修": rate}))
    svc = LedgerService(ledger.engine, clock, EventBus(), settings.callback_sampling)
    entry_id = registered(svc, clock, "c-5", "报修")
    for to in ("dispatched", "completed"):
        svc.transition(entry_id, to, "wang")
    if closable:
        assert svc.transition(entry_id, "closed", "wang").status == "closed"
    else:
        with pytest.raises(LedgerError, match="sampled for a callback"):
            svc.transition(entry_id, "closed", "wang")

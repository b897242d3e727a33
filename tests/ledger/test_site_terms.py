"""The site's own departments and categories (its drafting rules file) are the ledger's: what the
drafting proposes from them the clerk can confirm, a work order can go to them, and anything
else is refused naming the rules file. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine

from callcenter.accounts import Accounts
from callcenter.asr.interface import Transcript
from callcenter.calls.drafter import CallDrafter
from callcenter.clock import ManualClock
from callcenter.drafting.rules import DraftingRules, site_terms_of
from callcenter.events import EventBus
from callcenter.ledger.service import LedgerError, LedgerService
from callcenter.workflow.settings import WorkflowSettings
from callcenter.workflow.work_orders import NewWorkOrder, WorkOrders

PACKAGED = Path(__file__).resolve().parents[2] / "callcenter" / "drafting" / "rules.yaml"
LIFTS = "电梯维保部"  # a department this site adds: lifts go to the maintenance contractor's desk
WALK_IN_QUESTION = "表扬"  # and a category of its own


def site_rules(tmp_path: Path) -> Path:
    data = yaml.safe_load(PACKAGED.read_text(encoding="utf-8"))
    data["departments"].append(LIFTS)
    data["routing"]["topics"].insert(0, {"department": LIFTS, "categories": ["报修"], "min_score": 1.0,
                                         "terms": {"电梯": 3.0}})
    data["categories"][WALK_IN_QUESTION] = {"表扬|感谢|谢谢你们": 3.0}
    data["routing"]["default_department"][WALK_IN_QUESTION] = "客服"
    path = tmp_path / "site-rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_department_added_in_the_site_rules_is_drafted_and_confirmed(engine: Engine, tmp_path: Path) -> None:
    rules_file = site_rules(tmp_path)
    rules = DraftingRules.load(rules_file)
    clock = ManualClock(datetime(2026, 1, 5, 1, 0, tzinfo=UTC))
    ledger = LedgerService(engine, clock, EventBus(), terms=site_terms_of(rules_file))
    clerk_id = Accounts(engine, clock).add_user("wang", "clerk")

    ledger.call_ringing("lift-1", "13800138000", "", "8001", clock.now())
    entry_id = ledger.call_answered("lift-1").entry_id
    CallDrafter(ledger, rules).draft("lift-1", "13800138000", entry_id,
                                     Transcript("我是4栋2单元301的，电梯坏了，一直停在三楼不动"), "")
    drafted = ledger.get_entry(entry_id)
    assert (drafted.category, drafted.department) == ("报修", LIFTS)

    # the clerk confirms the draft as it is: the ledger accepts the site's department
    confirmed = ledger.confirm_entry(entry_id, {"department": drafted.department, "category": "报修"},
                                     "wang", clerk_id)
    assert (confirmed.status, confirmed.department) == ("registered", LIFTS)
    # and the work goes to that department
    order = WorkOrders(ledger, clock, WorkflowSettings()).create(entry_id, NewWorkOrder(), "wang")
    assert order.department == LIFTS

    # the site's own category too, for a walk-in
    praise = ledger.create_manual_entry({"summary": "感谢保安帮忙搬东西", "category": WALK_IN_QUESTION},
                                        "walk_in", "wang", clerk_id)
    assert praise.category == WALK_IN_QUESTION


def test_departments_and_categories_the_site_rules_do_not_define_are_refused(engine: Engine,
                                                                             tmp_path: Path) -> None:
    rules_file = site_rules(tmp_path)
    clock = ManualClock(datetime(2026, 1, 5, 1, 0, tzinfo=UTC))
    ledger = LedgerService(engine, clock, EventBus(), terms=site_terms_of(rules_file))
    clerk_id = Accounts(engine, clock).add_user("wang", "clerk")
    ledger.call_ringing("x-1", "13800138000", "", "8001", clock.now())
    entry_id = ledger.call_answered("x-1").entry_id
    with pytest.raises(LedgerError, match=r"department must be one of .*电梯维保部.*site-rules\.yaml.*'维修部'"):
        ledger.confirm_entry(entry_id, {"department": "维修部"}, "wang", clerk_id)
    with pytest.raises(LedgerError, match=r"category must be one of .*表扬.*'闲聊'"):
        ledger.update_entry(entry_id, {"category": "闲聊"}, "wang")
    # the packaged rules (no site file) do not know the site's department
    packaged = LedgerService(engine, clock, EventBus())
    packaged.confirm_entry(entry_id, {"department": "工程"}, "wang", clerk_id)
    with pytest.raises(LedgerError, match=r"\(the departments of rules\.yaml\), got '电梯维保部'"):
        packaged.update_entry(entry_id, {"department": LIFTS}, "wang")
    with pytest.raises(LedgerError, match="department must be one of"):
        WorkOrders(packaged, clock, WorkflowSettings()).create(entry_id, NewWorkOrder(department=LIFTS), "wang")


def test_missed_calls_and_walk_ins_start_in_the_sites_fallback_category(ledger: LedgerService) -> None:
    ledger.call_ringing("m-1", "13800138000", "", "8001", datetime(2026, 1, 5, 1, 0, tzinfo=UTC))
    missed = ledger.get_entry(ledger.call_missed("m-1", "cancelled"))
    assert (missed.category, missed.department) == ("其他", "客服")
    assert missed.summary == "未接来电（振铃时挂断），需回拨"

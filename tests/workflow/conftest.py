"""A case workflow over a real ledger (SQLite and PostgreSQL), a controllable clock and a
recording notifier behind the real dispatcher."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from callcenter.accounts import Accounts
from callcenter.clock import ManualClock
from callcenter.events import EventBus
from callcenter.ledger.service import LedgerService
from callcenter.notify.base import Dispatcher, RecordingNotifier
from callcenter.workflow.cases import CaseWorkflow
from callcenter.workflow.notices import NoticeBoard
from callcenter.workflow.settings import WorkflowSettings

# Monday 2026-01-05 09:00 in Shanghai: inside business hours.
MONDAY_9AM = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


@dataclass
class Desk:
    ledger: LedgerService
    clock: ManualClock
    wf: CaseWorkflow
    outside: RecordingNotifier
    dispatcher: Dispatcher
    clerk_id: int

    def answered(self, sip_id: str, number: str = "13800138000") -> int:
        self.ledger.call_ringing(sip_id, number, "", "8001", self.clock.now())
        return self.ledger.call_answered(sip_id).entry_id

    def registered(self, sip_id: str, category: str = "报修", department: str = "工程", urgent: bool = False) -> int:
        entry_id = self.answered(sip_id)
        self.ledger.confirm_entry(entry_id, {"category": category, "department": department, "unit": "4-2-301",
                                             "urgent": urgent, "summary": "厨房水管漏水"}, "wang", self.clerk_id)
        return entry_id


def make_desk(engine: Engine, clock: ManualClock, settings: WorkflowSettings | None = None) -> Desk:
    settings = settings or WorkflowSettings()
    bus = EventBus()
    ledger = LedgerService(engine, clock, bus, callbacks=settings.callback_sampling)
    outside = RecordingNotifier("group-chat")
    dispatcher = Dispatcher()
    dispatcher.add(outside)
    notices = NoticeBoard(engine, clock, bus, dispatcher)
    wf = CaseWorkflow(ledger, clock, settings, notices, inline=True)
    wf.attach(bus)
    clerk_id = Accounts(engine, clock).add_user("wang", "clerk")
    return Desk(ledger, clock, wf, outside, dispatcher, clerk_id)


@pytest.fixture
def desk(engine: Engine) -> Iterator[Desk]:
    d = make_desk(engine, ManualClock(MONDAY_9AM))
    yield d
    d.dispatcher.close(5)

"""Fixtures for the web layer: an app over a real ledger with one user per role."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from callcenter.accounts import Accounts
from callcenter.clock import ManualClock
from callcenter.drafting.serving import ModelProvider
from callcenter.events import EventBus
from callcenter.ledger.service import LedgerService
from callcenter.qa.scorecard import load_scorecard
from callcenter.qa.service import QaService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.staffing.lines import StaffLines
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from callcenter.workflow.cases import CaseWorkflow
from callcenter.workflow.notices import NoticeBoard
from callcenter.workflow.settings import WorkflowSettings


@pytest.fixture
def parts(engine: Engine, clock: ManualClock, tmp_path: Path):  # type: ignore[no-untyped-def]
    bus = EventBus()
    ledger = LedgerService(engine, clock, bus)
    accounts = Accounts(engine, clock)
    store = WavRecordingStore(RecordingSettings(root=tmp_path / "rec"), background_flush=False)
    notices = NoticeBoard(engine, clock, bus)
    workflow = CaseWorkflow(ledger, clock, WorkflowSettings(), notices, inline=True)
    workflow.attach(bus)
    qa = QaService(engine, clock, store, load_scorecard(None))
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=bus, recordings=store,
                                 settings=WebSettings(secret_file=tmp_path / "secret.key"),
                                 qa=qa, workflow=workflow,
                                 # an empty model folder: versions list empty, nothing trained here
                                 draft_models=ModelProvider.for_dir(tmp_path / "draft_models"),
                                 staff=StaffLines(engine, clock)))
    accounts.add_user("admin", "admin", "admin-password")
    accounts.add_user("clerk1", "clerk", "clerk-password")
    accounts.add_user("qa1", "qa", "qa-password")
    return app, ledger, accounts, store


def recorded_call(ledger: LedgerService, store: WavRecordingStore, sip_id: str = "call-1",
                  number: str = "13800138000") -> int:
    t = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
    pk = ledger.call_ringing(sip_id, number, "", "hotline", t)
    ledger.call_answered(sip_id)
    rec = store.open(sip_id, t)
    rec.write_caller(b"\x10\x00" * 8000, 0)
    rec.write_agent(b"\x20\x00" * 8000)
    ledger.call_ended(sip_id, "caller_hangup", rec.close())
    return pk



"""Two estates on the test's database: 幸福家园 (hotline 8001, the default) and 和园华府 (8002)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from callcenter.clock import ManualClock
from callcenter.estates.directory import Estate, Estates, sync_estates
from callcenter.estates.settings import EstateSettings
from callcenter.events import EventBus
from callcenter.ledger.service import LedgerService

A_NUMBER, B_NUMBER = "8001", "0571-8888 8002"  # B written as a site writes a DID
B_DIALLED = "057188888002"  # ...and as it arrives in the Request-URI


@dataclass
class TwoEstates:
    engine: Engine
    clock: ManualClock
    bus: EventBus
    estates: Estates
    ledger: LedgerService
    a: Estate
    b: Estate


@pytest.fixture
def two_estates(engine: Engine) -> TwoEstates:
    clock = ManualClock(datetime(2026, 11, 10, 2, 0, tzinfo=UTC))
    estates = sync_estates(engine, clock, [EstateSettings(code="xfjy", name="幸福家园", numbers=[A_NUMBER]),
                                           EstateSettings(code="hyhf", name="和园华府", numbers=[B_NUMBER])])
    bus = EventBus()
    a, b = estates.by_code("xfjy"), estates.by_code("hyhf")
    assert a is not None and b is not None
    return TwoEstates(engine, clock, bus, estates, LedgerService(engine, clock, bus, estates=estates), a, b)

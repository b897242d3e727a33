"""Migration 0009 carries a single-estate site's data into the default estate, and the first
configured estate claims it; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import JSON, Boolean, DateTime, Integer, MetaData, String, Table, Text, insert, select
from sqlmodel import Session

from callcenter.clock import ManualClock
from callcenter.estates.directory import DEFAULT_ESTATE_ID, sync_estates
from callcenter.estates.settings import EstateSettings
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.models import Estate
from callcenter.ledger.service import LedgerService

pytestmark = pytest.mark.both_dbs
T0 = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)


def _row(table: Table, **given: Any) -> dict[str, Any]:
    """Every NOT NULL column of a reflected table filled (the 0005 schema, not today's models)."""
    out = dict(given)
    for c in table.columns:
        if c.name in out or c.nullable or c.primary_key or c.server_default is not None:
            continue
        t = c.type
        out[c.name] = (T0.replace(tzinfo=None) if isinstance(t, DateTime) else False if isinstance(t, Boolean)
                       else 0 if isinstance(t, Integer) else [] if isinstance(t, JSON)
                       else "" if isinstance(t, String | Text) else None)
    return out


def test_existing_data_lands_in_the_default_estate(empty_db_url: str) -> None:
    cfg = db.alembic_config(empty_db_url)
    db.make_engine(empty_db_url).dispose()
    command.upgrade(cfg, "0005")  # the site as it was before estates
    engine = db.make_engine(empty_db_url)
    meta = MetaData()
    meta.reflect(engine, only=("entry", "call", "resident", "residentphone"))
    with engine.begin() as conn:
        conn.execute(insert(meta.tables["resident"]).values(_row(meta.tables["resident"], unit="4-2-301",
                                                                 name="王建国")))
        conn.execute(insert(meta.tables["residentphone"]).values(resident_id=1, phone="13800138000"))
        conn.execute(insert(meta.tables["entry"]).values(_row(meta.tables["entry"], status="registered",
                                                              caller_number="13800138000", unit="4-2-301",
                                                              summary="厨房漏水")))
        conn.execute(insert(meta.tables["call"]).values(_row(meta.tables["call"], sip_call_id="old-1",
                                                             status="ended", entry_id=1,
                                                             caller_number="13800138000")))
    engine.dispose()

    command.upgrade(cfg, "head")
    engine = db.make_engine(empty_db_url)
    with engine.connect() as conn:
        for table in ("entry", "call", "resident"):
            t = Table(table, MetaData(), autoload_with=conn)
            assert conn.execute(select(t.c.estate_id)).scalars().all() == [DEFAULT_ESTATE_ID], table
    with Session(engine) as s:
        row = s.get(Estate, DEFAULT_ESTATE_ID)
        assert row is not None and row.code == "default"

    # The first configured estate claims the carried data; a second one is new (on PostgreSQL
    # too: the migration's explicit id 1 must not collide with the sequence).
    clock = ManualClock(T0)
    a, b = (EstateSettings(code="xfjy", name="幸福家园", numbers=["8001"]),
            EstateSettings(code="hyhf", name="和园华府", numbers=["8002"]))
    estates = sync_estates(engine, clock, [a, b])
    xfjy, hyhf = estates.by_code("xfjy"), estates.by_code("hyhf")
    assert xfjy is not None and hyhf is not None
    assert xfjy.id == DEFAULT_ESTATE_ID and hyhf.id != DEFAULT_ESTATE_ID
    assert estates.default is xfjy and estates.for_number("8002") is hyhf
    assert estates.for_number("9999") is xfjy  # a number nobody lists: the default estate

    ledger = LedgerService(engine, clock, EventBus(), estates=estates)
    # the old resident answers in its estate only, the old entry is found within it
    assert ledger.resident_for_number("13800138000", xfjy.id) is not None
    assert ledger.resident_for_number("13800138000", hyhf.id) is None
    assert [e.id for e in ledger.open_entries("13800138000", "4-2-301", xfjy.id)] == [1]
    assert ledger.open_entries("13800138000", "4-2-301", hyhf.id) == []

    # Reordering the list moves the default, never the data; a removed estate keeps its rows.
    again = sync_estates(engine, clock, [b, a])
    assert again.by_code("xfjy").id == xfjy.id and again.by_code("hyhf").id == hyhf.id  # type: ignore[union-attr]
    assert again.default.code == "hyhf"
    only_b = sync_estates(engine, clock, [b])
    gone = only_b.by_code("xfjy")
    assert gone is not None and not gone.active and only_b.for_number("8001").code == "hyhf"
    engine.dispose()


def test_a_single_estate_site_changes_nothing(db_url: str) -> None:
    """No `estates:`: one estate (row 1, code default) named as the prompts say, every number its own."""
    from callcenter.config import Settings

    engine = db.make_engine(db_url)
    settings = Settings()
    estates = sync_estates(engine, ManualClock(T0), settings.configured_estates())
    assert [e.id for e in estates.all()] == [DEFAULT_ESTATE_ID] and not estates.several
    assert estates.default.name == settings.prompts.estate_name and estates.default.code == "default"
    assert estates.for_number("hotline").id == DEFAULT_ESTATE_ID
    engine.dispose()


def test_processes_started_together_agree_on_the_estates(db_url: str) -> None:
    """web, agents and workers of one site sync the same `estates:` at the same moment."""
    import threading

    engine = db.make_engine(db_url)
    wanted = [EstateSettings(code=f"e{k}", name=f"项目{k}", numbers=[f"80{k}"]) for k in range(1, 5)]
    barrier = threading.Barrier(4)
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            found = sync_estates(engine, ManualClock(T0), wanted)
            results.append({e.code: e.id for e in found.all()})
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert len(results) == 4 and all(r == results[0] for r in results), results
    assert sorted(results[0]) == ["e1", "e2", "e3", "e4"] and results[0]["e1"] == DEFAULT_ESTATE_ID
    engine.dispose()

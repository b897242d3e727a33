"""The migrations build exactly the schema the models describe, on both databases: after
`db.upgrade`, autogenerate finds nothing to do (objects made in raw SQL on purpose excepted)."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select

from callcenter.clock import SystemClock
from callcenter.events import EventBus
from callcenter.ledger import db, models  # noqa: F401  (models registers the tables)
from callcenter.ledger.models import CallbackTask
from callcenter.ledger.search import FTS_TABLES, TRGM_INDEXES
from callcenter.ledger.service import LedgerService


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """The same filter as callcenter/ledger/migrations/env.py (which cannot be imported outside
    an Alembic run)."""
    if type_ == "table" and name is not None:
        return name != "apscheduler_jobs" and not name.startswith(FTS_TABLES)
    if type_ == "index":
        return name not in TRGM_INDEXES
    return True


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    return include_object(None, name, type_, True, None)


def test_upgraded_schema_matches_the_models(empty_db_url: str) -> None:
    """From an empty database (the other tests copy a database migrated once per session)."""
    db.upgrade(empty_db_url)
    engine = db.make_engine(empty_db_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include_object,
                                                     "include_name": include_name,
                                                     "compare_type": True})
        diff = compare_metadata(ctx, SQLModel.metadata)
    engine.dispose()
    assert diff == []


def test_the_filter_is_needed(engine: Engine) -> None:
    """Without the filter the FTS tables / trigram indexes show up: the test above can fail."""
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    names = {str(d) for d in diff}
    assert any("fts" in n or "trgm" in n for n in names), diff


def test_env_py_has_the_same_filter() -> None:
    from pathlib import Path

    env = (Path(models.__file__).parent / "migrations" / "env.py").read_text(encoding="utf-8")
    assert "include_object=include_object" in env and "apscheduler_jobs" in env
    for name in (*FTS_TABLES, *TRGM_INDEXES):
        assert name in env


def test_0012_gives_existing_missed_call_tasks_their_reason(empty_db_url: str) -> None:
    """Tasks made before reasons existed: a missed call's is 'missed', a 转人工 one's the step the
    audit log names (nobody on duty, else unanswered)."""
    db.upgrade(empty_db_url)
    engine = db.make_engine(empty_db_url)
    ledger = LedgerService(engine, SystemClock(), EventBus())
    now = ledger.clock.now()
    entries = {}
    for key in ("missed", "nobody", "unanswered", "both"):
        ledger.call_ringing(key, "13800138000", "", "8001", now)
    entries["missed"] = ledger.call_missed("missed", "cancelled")
    for key in ("nobody", "unanswered", "both"):
        entries[key] = ledger.call_answered(key).entry_id
    ledger.call_person("nobody", "nobody", "caller")
    ledger.call_person("unanswered", "unanswered", "caller")
    ledger.call_person("both", "nobody", "caller")
    ledger.call_person("both", "unanswered", "caller", at=now.replace(microsecond=1))
    with Session(engine) as s:
        for entry_id in (*entries.values(), entries["unanswered"]):
            s.add(CallbackTask(entry_id=entry_id, kind="missed_call", created_at=now, due_at=now))
        s.add(CallbackTask(entry_id=entries["nobody"], kind="callback", created_at=now, due_at=now))
        s.commit()
    engine.dispose()
    command.downgrade(db.alembic_config(empty_db_url), "0012-1")
    db.upgrade(empty_db_url)
    engine = db.make_engine(empty_db_url)
    with Session(engine) as s:
        got = sorted((t.entry_id, t.kind, t.reason) for t in s.exec(select(CallbackTask)).all())
    engine.dispose()
    assert got == sorted([(entries["missed"], "missed_call", "missed"),
                          (entries["nobody"], "missed_call", "person_nobody"),
                          (entries["nobody"], "callback", ""),
                          (entries["unanswered"], "missed_call", "person_unanswered"),
                          (entries["unanswered"], "missed_call", "person_unanswered"),
                          (entries["both"], "missed_call", "person_unanswered")])

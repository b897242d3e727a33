"""The migrations build exactly the schema the models describe, on both databases: after
`db.upgrade`, autogenerate finds nothing to do (objects made in raw SQL on purpose excepted)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

from callcenter.ledger import db, models  # noqa: F401  (models registers the tables)
from callcenter.ledger.search import FTS_TABLES, TRGM_INDEXES


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

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

from callcenter.ledger import models  # noqa: F401  (registers the tables)

config = context.config
target_metadata = SQLModel.metadata

# Made by migrations 0004 and 0013 in raw SQL (FTS5 tables and their shadow tables, trigram indexes) or by
# the scheduler: not in SQLModel.metadata, and autogenerate must not propose dropping them.
_FOREIGN_TABLES = ("apscheduler_jobs",)
_FOREIGN_PREFIXES = ("entry_fts", "call_fts", "call_clerk_fts")
_FOREIGN_INDEXES = ("ix_entry_summary_trgm", "ix_call_transcript_trgm", "ix_call_clerk_transcript_trgm")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    if type_ == "table" and name is not None:
        return name not in _FOREIGN_TABLES and not name.startswith(_FOREIGN_PREFIXES)
    if type_ == "index":
        return name not in _FOREIGN_INDEXES
    return True


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # Skip reflecting FTS5 virtual tables at all (their reflection is meaningless).
    return include_object(None, name, type_, True, None)


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True,
                      include_object=include_object, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        # render_as_batch: SQLite can only ALTER tables by copying them.
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          include_object=include_object, include_name=include_name)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

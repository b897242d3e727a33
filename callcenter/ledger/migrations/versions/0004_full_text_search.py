"""full-text search: FTS5 trigram tables (SQLite), pg_trgm GIN indexes (PostgreSQL)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 15:45:00

SQLite: external-content FTS5 tables (content='entry' / content='call'). External content, not
contentless: the text already lives in entry.summary and call.transcript_text, so it is not
stored twice, and unlike a contentless table (before SQLite 3.43) rows can be deleted from the
index with the 'delete' command and the whole index rebuilt from the base table ('rebuild',
the backfill below). Triggers keep it in sync.

Caution for later migrations: a batch (copy-and-rename) ALTER of `entry` or `call` on SQLite
drops these triggers with the old table; such a migration must run SQLITE_TRIGGERS again.
"""
import sqlite3
from collections.abc import Sequence

from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (fts table, base table, column)
_FTS = (("entry_fts", "entry", "summary"), ("call_fts", "call", "transcript_text"))


def _sqlite_triggers(fts: str, table: str, column: str) -> list[str]:
    # Identifiers come from _FTS above, never from input.
    delete = f"INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, old.{column});"  # noqa: S608
    insert = f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column});"  # noqa: S608
    return [
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN {delete} END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {column} ON {table} BEGIN {delete} {insert} END",
    ]


SQLITE_TRIGGERS = [sql for spec in _FTS for sql in _sqlite_triggers(*spec)]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        if sqlite3.sqlite_version_info < (3, 34, 0):
            raise RuntimeError(f"full-text search needs SQLite >= 3.34 (trigram tokenizer); "
                               f"this Python has {sqlite3.sqlite_version}")
        for fts, table, column in _FTS:
            op.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5({column}, content='{table}', "
                       f"content_rowid='id', tokenize='trigram')")
            op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")  # noqa: S608  (backfill existing rows)
        for sql in SQLITE_TRIGGERS:
            op.execute(sql)
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        # Building the index indexes the existing rows: no separate backfill.
        op.execute("CREATE INDEX ix_entry_summary_trgm ON entry USING gin (summary gin_trgm_ops)")
        op.execute("CREATE INDEX ix_call_transcript_trgm ON call USING gin (transcript_text gin_trgm_ops)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for fts, _table, _column in _FTS:
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {fts}")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_call_transcript_trgm")
        op.execute("DROP INDEX IF EXISTS ix_entry_summary_trgm")
        # The pg_trgm extension stays: other objects in the database may use it.

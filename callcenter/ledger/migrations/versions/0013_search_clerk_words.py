"""search the clerk's words too: FTS5 table `call_clerk_fts` (SQLite), a pg_trgm index (PostgreSQL)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 16:40:00

The ledger search found a call by what the caller said (call.transcript_text) but not by what the
clerk or duty person said on a bridged call (call.clerk_transcript_text, 0010), which QA needs
(「找出坐席说过“不知道”的通话」). Same design as 0004: an external-content FTS5 trigram table kept
by triggers on SQLite, a GIN gin_trgm_ops index on PostgreSQL. A separate FTS5 table rather than
a second column of call_fts: changing call_fts's columns means dropping and rebuilding it.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FTS, TABLE, COLUMN = "call_clerk_fts", "call", "clerk_transcript_text"


def sqlite_triggers() -> list[str]:
    # Identifiers are the constants above, never input.
    delete = f"INSERT INTO {FTS}({FTS}, rowid, {COLUMN}) VALUES ('delete', old.id, old.{COLUMN});"  # noqa: S608
    insert = f"INSERT INTO {FTS}(rowid, {COLUMN}) VALUES (new.id, new.{COLUMN});"  # noqa: S608
    return [
        f"CREATE TRIGGER {FTS}_ai AFTER INSERT ON {TABLE} BEGIN {insert} END",
        f"CREATE TRIGGER {FTS}_ad AFTER DELETE ON {TABLE} BEGIN {delete} END",
        f"CREATE TRIGGER {FTS}_au AFTER UPDATE OF {COLUMN} ON {TABLE} BEGIN {delete} {insert} END",
    ]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(f"CREATE VIRTUAL TABLE {FTS} USING fts5({COLUMN}, content='{TABLE}', "
                   f"content_rowid='id', tokenize='trigram')")
        op.execute(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')")  # noqa: S608  (existing calls)
        for sql in sqlite_triggers():
            op.execute(sql)
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(f"CREATE INDEX ix_call_clerk_transcript_trgm ON {TABLE} USING gin ({COLUMN} gin_trgm_ops)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_call_clerk_transcript_trgm")

"""websession (server-side panel sessions that can be ended) and a version per entry, work order
and callback task (optimistic concurrency: a stale write is refused, not silently applied)

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-07 05:00:00

Plain ADD COLUMNs (no batch copy of `entry`), so the FTS5 triggers of 0004 stay in place.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callcenter.ledger.models import UTCDateTime

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_VERSIONED = ("entry", "workorder", "callbacktask")


def upgrade() -> None:
    op.create_table(
        "websession",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_reason", sa.String(length=32), nullable=False, server_default=""),
    )
    op.create_index("ix_websession_token_sha256", "websession", ["token_sha256"], unique=True)
    op.create_index("ix_websession_user_id", "websession", ["user_id"])
    for table in _VERSIONED:
        op.add_column(table, sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    for table in _VERSIONED:
        op.drop_column(table, "version")
    op.drop_index("ix_websession_user_id", table_name="websession")
    op.drop_index("ix_websession_token_sha256", table_name="websession")
    op.drop_table("websession")

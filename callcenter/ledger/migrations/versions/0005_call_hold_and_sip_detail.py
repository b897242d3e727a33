"""call.hold_ms (time on hold, RFC 3264 holds) and call.sip_detail (why the agent refused a call)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 02:30:00

Plain ADD COLUMNs (no batch copy of `call`), so the FTS5 triggers of 0004 stay in place.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("call", sa.Column("hold_ms", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("call", sa.Column("sip_detail", sa.String(length=255), nullable=False, server_default=""))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35): a batch copy of `call` would drop 0004's triggers.
    op.drop_column("call", "sip_detail")
    op.drop_column("call", "hold_ms")

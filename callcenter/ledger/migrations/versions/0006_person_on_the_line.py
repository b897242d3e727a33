"""A person on the line: staff extensions and presence (staffline), the call's intake path

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 05:00:00

A plain ADD COLUMN (no batch copy of `call`), so the FTS5 triggers of 0004 stay in place.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callcenter.ledger.models import UTCDateTime

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("call", sa.Column("intake_path", sa.String(length=16), nullable=False, server_default=""))
    op.create_table(
        "staffline",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user.id"), primary_key=True),
        sa.Column("extension", sa.String(length=32), nullable=False, server_default=""),
        sa.Column("presence", sa.String(length=16), nullable=False, server_default="away"),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_staffline_extension", "staffline", ["extension"])


def downgrade() -> None:
    op.drop_index("ix_staffline_extension", table_name="staffline")
    op.drop_table("staffline")
    op.drop_column("call", "intake_path")

"""agent_command: 「接听」 and 监听 sent by the web process to the agent that owns the call

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 16:30:00

The web process inserts the command and NOTIFYs the owning agent in one transaction; the agent
claims the row (taken_at) when it runs it, and after each reconnect reads the rows it missed.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from callcenter.ledger.models import UTCDateTime

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_command",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("agent_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("sip_call_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("extension", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("asked_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("taken_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    )
    op.create_index("ix_agent_command_agent_id", "agent_command", ["agent_id"])


def downgrade() -> None:
    op.drop_index("ix_agent_command_agent_id", table_name="agent_command")
    op.drop_table("agent_command")

"""call.agent_id (the agent that carries the call), agent_lease (agents' presence by heartbeat) and
event_log (events with a sequence number, for the panel to resume from)

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-07 05:00:00

A plain ADD COLUMN on `call` (no batch copy), so the FTS5 triggers of 0004 stay in place.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callcenter.ledger.models import UTCDateTime

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("call", sa.Column("agent_id", sa.String(length=64), nullable=True))
    op.create_index("ix_call_agent_id", "call", ["agent_id"])
    op.create_table(
        "agent_lease",
        sa.Column("agent_id", sa.String(length=64), primary_key=True),
        sa.Column("token", sa.String(length=36), nullable=False),
        sa.Column("node", sa.String(length=128), nullable=False),
        sa.Column("line", sa.String(length=64), nullable=False),
        sa.Column("lease_s", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
        sa.Column("released", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "event_log",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=128), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_event_log_at", "event_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_event_log_at", table_name="event_log")
    op.drop_table("event_log")
    op.drop_table("agent_lease")
    op.drop_index("ix_call_agent_id", table_name="call")
    op.drop_column("call", "agent_id")

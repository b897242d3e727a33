"""the clerk's side of a bridged call (转人工 / 接听): its spans and transcript

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 14:20:00

A call bridged to a clerk or duty person has the person's voice on the recording's right
channel, from the bridge start to its end (`clerk_spans`, seconds from the recording's start).
That span is transcribed after the call (`clerk_transcript_*`, word times relative to the
recording) so QA replays both speakers. Plain ADD COLUMNs with server defaults (no batch copy
of `call`), so the FTS5 triggers of 0004 stay in place.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('call', sa.Column('clerk_spans', sa.JSON(), nullable=True))
    op.add_column('call', sa.Column('clerk_transcript_status', sqlmodel.sql.sqltypes.AutoString(length=16),
                                    nullable=False, server_default=''))
    op.add_column('call', sa.Column('clerk_transcript_text', sa.Text(), nullable=False, server_default=''))
    op.add_column('call', sa.Column('clerk_transcript_words', sa.JSON(), nullable=True))


def downgrade() -> None:
    for column in ('clerk_transcript_words', 'clerk_transcript_text', 'clerk_transcript_status', 'clerk_spans'):
        op.drop_column('call', column)  # plain DROP COLUMN (SQLite >= 3.35), triggers kept

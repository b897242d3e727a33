"""why a resident is owed a call on the missed-call clock: callbacktask.reason

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 16:40:00

Missed calls and unanswered 转人工 had a task on the missed-call clock; calls cut off mid-way
(the process died, the media stopped, the caller left while being transferred...) get one too,
so the task says why (`vocabulary.CALLBACK_REASONS`). Existing tasks are given theirs from what
the ledger already knows: the entry of a missed call, else the 转人工 step in the audit log. A
plain ADD COLUMN with a server default (no batch copy).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('callbacktask', sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=24),
                                            nullable=False, server_default=''))
    op.execute("UPDATE callbacktask SET reason = 'missed' WHERE kind = 'missed_call' AND entry_id IN "
               "(SELECT id FROM entry WHERE kind = 'missed_call')")
    op.execute("UPDATE callbacktask SET reason = 'person_nobody' WHERE kind = 'missed_call' AND reason = '' "
               "AND entry_id IN (SELECT entry_id FROM auditlog WHERE action = 'person_nobody') "
               "AND entry_id NOT IN (SELECT entry_id FROM auditlog WHERE action = 'person_unanswered' "
               "AND entry_id IS NOT NULL)")
    op.execute("UPDATE callbacktask SET reason = 'person_unanswered' WHERE kind = 'missed_call' AND reason = ''")


def downgrade() -> None:
    op.drop_column('callbacktask', 'reason')

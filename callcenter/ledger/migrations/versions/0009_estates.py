"""estates (项目): the estate table, users' estates, and estate_id on calls, entries and residents

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-07 05:00:00

Every existing call, entry and resident is carried into the default estate (row 1, code
`default`), which the first estate of config.yaml's `estates:` claims at the next start
(callcenter/estates/directory.py). Plain ADD COLUMNs with a server default (no batch copy of
`call` or `entry`), so the FTS5 triggers of 0004 stay in place; no foreign key on the new
columns for the same reason (SQLite cannot add one without copying the table).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from callcenter.ledger.models import UTCDateTime

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_ESTATE_ID = 1  # callcenter.estates.directory.DEFAULT_ESTATE_ID
_SCOPED = ("call", "entry", "resident")


def upgrade() -> None:
    op.create_table(
        'estate',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('numbers', sa.JSON(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_estate_code'), 'estate', ['code'], unique=True)
    estate = sa.table('estate', sa.column('id', sa.Integer()), sa.column('code', sa.String()),
                      sa.column('name', sa.String()), sa.column('numbers', sa.JSON()),
                      sa.column('active', sa.Boolean()), sa.column('created_at', UTCDateTime()))
    from datetime import UTC, datetime
    op.bulk_insert(estate, [{"id": DEFAULT_ESTATE_ID, "code": "default", "name": "", "numbers": [],
                             "active": True, "created_at": datetime.now(UTC)}])
    if op.get_bind().dialect.name == "postgresql":  # an explicit id does not move the sequence
        op.execute("SELECT setval(pg_get_serial_sequence('estate', 'id'), (SELECT max(id) FROM estate))")
    op.create_table(
        'userestate',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('estate_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['estate_id'], ['estate.id'], ),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], ),
        sa.PrimaryKeyConstraint('user_id', 'estate_id'),
    )
    for table in _SCOPED:
        op.add_column(table, sa.Column('estate_id', sa.Integer(), nullable=False,
                                       server_default=str(DEFAULT_ESTATE_ID)))
        op.create_index(op.f(f'ix_{table}_estate_id'), table, ['estate_id'], unique=False)


def downgrade() -> None:
    for table in reversed(_SCOPED):
        op.drop_index(op.f(f'ix_{table}_estate_id'), table_name=table)
        op.drop_column(table, 'estate_id')  # plain DROP COLUMN (SQLite >= 3.35), triggers kept
    op.drop_table('userestate')
    op.drop_index(op.f('ix_estate_code'), table_name='estate')
    op.drop_table('estate')

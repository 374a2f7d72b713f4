"""example notes

Revision ID: example_0001
Revises:
Create Date: 2026-11-24 10:33:32.389723
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = 'example_0001'
down_revision = None
branch_labels = ('example',)
depends_on = 'core_0001'


def upgrade() -> None:
    op.create_table('example_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('text', sa.String(length=1000), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_example_notes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_example_notes'))
    )
    with op.batch_alter_table('example_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_example_notes_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('example_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_example_notes_user_id'))

    op.drop_table('example_notes')

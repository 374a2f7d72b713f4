"""notifications and the email outbox

Revision ID: core_0002
Revises: core_0001
Create Date: 2026-11-24 10:43:29.549159
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = 'core_0002'
down_revision = 'core_0001'
branch_labels = None
depends_on = None

QUEUED = "status IN ('pending', 'sending')"


def upgrade() -> None:
    op.create_table('outbox_emails',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('to_address', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=998), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('headers', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('locked_until', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name=op.f('ck_outbox_emails_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_emails'))
    )
    # Partial: only rows a worker may still act on, so sent history never slows the claim.
    op.create_index('ix_outbox_emails_due', 'outbox_emails', ['next_attempt_at'], unique=False,
                    postgresql_where=sa.text(QUEUED), sqlite_where=sa.text(QUEUED))

    op.create_table('notifications',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('is_read', sa.Boolean(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    op.create_index('ix_notifications_user_created', 'notifications', ['user_id', 'created_at'], unique=False)
    op.create_index('ix_notifications_user_read_created', 'notifications', ['user_id', 'is_read', 'created_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_notifications_user_read_created', table_name='notifications')
    op.drop_index('ix_notifications_user_created', table_name='notifications')
    op.drop_table('notifications')
    op.drop_index('ix_outbox_emails_due', table_name='outbox_emails',
                  postgresql_where=sa.text(QUEUED), sqlite_where=sa.text(QUEUED))
    op.drop_table('outbox_emails')

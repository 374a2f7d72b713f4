"""coaching: sessions, activity log, points, to-dos and their session links

Revision ID: coaching_0001
Revises:
Create Date: 2026-11-24 10:45:49.722016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = 'coaching_0001'
down_revision = None
branch_labels = ('coaching',)
depends_on = 'core_0001'


def upgrade() -> None:
    op.create_table('coaching_points',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('classification', sa.String(length=16), nullable=False),
    sa.Column('ticket_id', sa.String(length=255), nullable=False),
    sa.Column('subject', sa.String(length=1024), nullable=False),
    sa.Column('rubric_name', sa.String(length=255), nullable=False),
    sa.Column('criteria_name', sa.String(length=255), nullable=False),
    sa.Column('kpi_name', sa.String(length=255), nullable=False),
    sa.Column('score', sa.String(length=64), nullable=False),
    sa.Column('agent_notes', sa.Text(), nullable=False),
    sa.Column('coach_notes', sa.Text(), nullable=False),
    sa.Column('creator_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.CheckConstraint("classification IN ('general', 'qa', 'csat', 'productivity')", name=op.f('ck_coaching_points_classification')),
    sa.CheckConstraint("type IN ('strength', 'opportunity', 'n/a')", name=op.f('ck_coaching_points_type')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coaching_points'))
    )
    op.create_table('coaching_sessions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('coaching_form_name', sa.String(length=255), nullable=False),
    sa.Column('coaching_template_id', sa.String(length=64), nullable=False),
    sa.Column('coaching_template_name', sa.String(length=255), nullable=False),
    sa.Column('meeting_format', sa.String(length=64), nullable=False),
    sa.Column('form_creator_id', sa.String(length=36), nullable=False),
    sa.Column('form_creator_name', sa.String(length=255), nullable=False),
    sa.Column('coach_id', sa.String(length=36), nullable=False),
    sa.Column('coach_name', sa.String(length=255), nullable=False),
    sa.Column('agent_id', sa.String(length=36), nullable=False),
    sa.Column('agent_name', sa.String(length=255), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('shared_with_agent', sa.Boolean(), nullable=False),
    sa.Column('meeting_date', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('agent_confirmed', sa.Boolean(), nullable=False),
    sa.Column('coach_confirmed', sa.Boolean(), nullable=False),
    sa.Column('coach_notes', sa.Text(), nullable=False),
    sa.Column('agent_notes', sa.Text(), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coaching_sessions'))
    )
    with op.batch_alter_table('coaching_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coaching_sessions_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_coaching_sessions_coach_id'), ['coach_id'], unique=False)
        batch_op.create_index('ix_coaching_sessions_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_coaching_sessions_meeting_date_id', ['meeting_date', 'id'], unique=False)

    op.create_table('coaching_todos',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('action_string', sa.String(length=255), nullable=False),
    sa.Column('completed_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('creator_id', sa.String(length=36), nullable=False),
    sa.Column('creator_name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=2048), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.CheckConstraint("status IN ('open', 'completed')", name=op.f('ck_coaching_todos_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coaching_todos'))
    )
    op.create_table('coaching_activity_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('user_email', sa.String(length=320), nullable=False),
    sa.Column('action_type', sa.String(length=32), nullable=False),
    sa.Column('descriptions', sa.JSON(), nullable=False),
    sa.Column('timestamp', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ip_address', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['coaching_sessions.id'], name=op.f('fk_coaching_activity_log_session_id_coaching_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coaching_activity_log'))
    )
    with op.batch_alter_table('coaching_activity_log', schema=None) as batch_op:
        batch_op.create_index('ix_coaching_activity_log_session_id_id', ['session_id', 'id'], unique=False)

    op.create_table('coaching_point_sessions',
    sa.Column('point_id', sa.String(length=32), nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['point_id'], ['coaching_points.id'], name=op.f('fk_coaching_point_sessions_point_id_coaching_points'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['coaching_sessions.id'], name=op.f('fk_coaching_point_sessions_session_id_coaching_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('point_id', 'session_id', name=op.f('pk_coaching_point_sessions'))
    )
    with op.batch_alter_table('coaching_point_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coaching_point_sessions_session_id'), ['session_id'], unique=False)

    op.create_table('coaching_todo_sessions',
    sa.Column('todo_id', sa.String(length=32), nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['coaching_sessions.id'], name=op.f('fk_coaching_todo_sessions_session_id_coaching_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['todo_id'], ['coaching_todos.id'], name=op.f('fk_coaching_todo_sessions_todo_id_coaching_todos'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('todo_id', 'session_id', name=op.f('pk_coaching_todo_sessions'))
    )
    with op.batch_alter_table('coaching_todo_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coaching_todo_sessions_session_id'), ['session_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('coaching_todo_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coaching_todo_sessions_session_id'))

    op.drop_table('coaching_todo_sessions')
    with op.batch_alter_table('coaching_point_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coaching_point_sessions_session_id'))

    op.drop_table('coaching_point_sessions')
    with op.batch_alter_table('coaching_activity_log', schema=None) as batch_op:
        batch_op.drop_index('ix_coaching_activity_log_session_id_id')

    op.drop_table('coaching_activity_log')
    op.drop_table('coaching_todos')
    with op.batch_alter_table('coaching_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_coaching_sessions_meeting_date_id')
        batch_op.drop_index('ix_coaching_sessions_created_at_id')
        batch_op.drop_index(batch_op.f('ix_coaching_sessions_coach_id'))
        batch_op.drop_index(batch_op.f('ix_coaching_sessions_agent_id'))

    op.drop_table('coaching_sessions')
    op.drop_table('coaching_points')

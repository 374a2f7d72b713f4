"""qna: tags, questions, question tags, orders

Revision ID: qna_0001
Revises:
Create Date: 2026-11-24 10:43:55.468168
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = 'qna_0001'
down_revision = None
branch_labels = ('qna',)
depends_on = 'core_0001'

PENDING = sa.text("status = 'PD'")
UNANSWERED = sa.text("answered_at IS NULL")


def upgrade() -> None:
    op.create_table('qna_tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('alias', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qna_tags')),
    sa.UniqueConstraint('alias', name=op.f('uq_qna_tags_alias'))
    )
    op.create_table('qna_questions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alias', sa.String(length=32), nullable=False),
    sa.Column('q1', sa.Text(), nullable=False),
    sa.Column('q2', sa.Text(), nullable=True),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('suggestion', sa.Text(), nullable=True),
    sa.Column('answered_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_by', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['answered_by'], ['users.id'], name=op.f('fk_qna_questions_answered_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_qna_questions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qna_questions')),
    sa.UniqueConstraint('alias', name=op.f('uq_qna_questions_alias'))
    )
    with op.batch_alter_table('qna_questions', schema=None) as batch_op:
        batch_op.create_index('ix_qna_questions_unanswered', ['created_at', 'id'], unique=False,
                              postgresql_where=UNANSWERED, sqlite_where=UNANSWERED)
        batch_op.create_index('ix_qna_questions_user_created', ['user_id', 'created_at', 'id'], unique=False)

    op.create_table('qna_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('qna_id', sa.Integer(), nullable=False),
    sa.Column('coach_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=2), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expiration', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.String(length=16), nullable=True),
    sa.CheckConstraint("cancel_reason IS NULL OR cancel_reason IN ('coach', 'expired')", name=op.f('ck_qna_orders_cancel_reason')),
    sa.CheckConstraint("status IN ('PD', 'CL', 'CP')", name=op.f('ck_qna_orders_status')),
    sa.ForeignKeyConstraint(['coach_id'], ['users.id'], name=op.f('fk_qna_orders_coach_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['qna_id'], ['qna_questions.id'], name=op.f('fk_qna_orders_qna_id_qna_questions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qna_orders'))
    )
    with op.batch_alter_table('qna_orders', schema=None) as batch_op:
        batch_op.create_index('ix_qna_orders_coach_status', ['coach_id', 'status', 'expiration'], unique=False)
        batch_op.create_index('ix_qna_orders_pending_expiration', ['expiration'], unique=False,
                              postgresql_where=PENDING, sqlite_where=PENDING)
        batch_op.create_index('ix_qna_orders_qna_coach', ['qna_id', 'coach_id'], unique=False)
        # One pending order per question: the backstop behind the take's row locks.
        batch_op.create_index('uq_qna_orders_one_pending', ['qna_id'], unique=True,
                              postgresql_where=PENDING, sqlite_where=PENDING)

    op.create_table('qna_question_tags',
    sa.Column('qna_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['qna_id'], ['qna_questions.id'], name=op.f('fk_qna_question_tags_qna_id_qna_questions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['qna_tags.id'], name=op.f('fk_qna_question_tags_tag_id_qna_tags'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('qna_id', 'tag_id', name=op.f('pk_qna_question_tags'))
    )
    with op.batch_alter_table('qna_question_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qna_question_tags_tag_id'), ['tag_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('qna_question_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qna_question_tags_tag_id'))

    op.drop_table('qna_question_tags')
    with op.batch_alter_table('qna_orders', schema=None) as batch_op:
        batch_op.drop_index('uq_qna_orders_one_pending', postgresql_where=PENDING, sqlite_where=PENDING)
        batch_op.drop_index('ix_qna_orders_qna_coach')
        batch_op.drop_index('ix_qna_orders_pending_expiration', postgresql_where=PENDING, sqlite_where=PENDING)
        batch_op.drop_index('ix_qna_orders_coach_status')

    op.drop_table('qna_orders')
    with op.batch_alter_table('qna_questions', schema=None) as batch_op:
        batch_op.drop_index('ix_qna_questions_user_created')
        batch_op.drop_index('ix_qna_questions_unanswered', postgresql_where=UNANSWERED, sqlite_where=UNANSWERED)

    op.drop_table('qna_questions')
    op.drop_table('qna_tags')

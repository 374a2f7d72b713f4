"""messaging: conversations, chat messages, moderation, read states

Revision ID: messaging_0001
Revises:
Create Date: 2026-11-24 10:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db
import plugins.messaging.models

revision = 'messaging_0001'
down_revision = None
branch_labels = ('messaging',)
depends_on = 'core_0001'


def upgrade() -> None:
    op.create_table('messaging_conversations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('conversation_type', sa.String(length=16), nullable=False),
    sa.Column('participant_a', sa.String(length=36), nullable=False),
    sa.Column('participant_b', sa.String(length=36), nullable=False),
    sa.Column('enrollment_id', sa.String(length=64), nullable=True),
    sa.Column('last_message_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_message_preview', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('participant_a_name', sa.String(length=255), nullable=True),
    sa.Column('participant_b_name', sa.String(length=255), nullable=True),
    sa.Column('course_title', sa.String(length=255), nullable=True),
    sa.Column('message_seq', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_by', sa.String(length=36), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['participant_a'], ['users.id'], name=op.f('fk_messaging_conversations_participant_a_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['participant_b'], ['users.id'], name=op.f('fk_messaging_conversations_participant_b_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messaging_conversations'))
    )
    with op.batch_alter_table('messaging_conversations', schema=None) as batch_op:
        batch_op.create_index('ix_messaging_conversations_a_last', ['participant_a', 'last_message_at'], unique=False)
        batch_op.create_index('ix_messaging_conversations_b_last', ['participant_b', 'last_message_at'], unique=False)
        batch_op.create_index('uq_messaging_conversations_pair', ['conversation_type', 'participant_a', 'participant_b'], unique=True, postgresql_where=sa.text('is_active'), sqlite_where=sa.text('is_active'))

    op.create_table('messaging_chat_messages',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('room_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('sender_id', sa.String(length=36), nullable=False),
    sa.Column('sender_name', sa.String(length=255), nullable=True),
    sa.Column('sender_avatar', sa.String(length=1024), nullable=True),
    sa.Column('message_type', sa.String(length=16), nullable=False),
    sa.Column('content', plugins.messaging.models.CanonicalJSON(), nullable=False),
    sa.Column('timestamp', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reply_to', plugins.messaging.models.CanonicalJSON(), nullable=True),
    sa.Column('client_msg_id', sa.String(length=64), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['room_id'], ['messaging_conversations.id'], name=op.f('fk_messaging_chat_messages_room_id_messaging_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sender_id'], ['users.id'], name=op.f('fk_messaging_chat_messages_sender_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messaging_chat_messages')),
    sa.UniqueConstraint('room_id', 'seq', name=op.f('uq_messaging_chat_messages_room_id_seq'))
    )
    with op.batch_alter_table('messaging_chat_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messaging_chat_messages_sender_id'), ['sender_id'], unique=False)
        batch_op.create_index('ix_messaging_chat_messages_room_ts', ['room_id', 'timestamp'], unique=False)
        batch_op.create_index('uq_messaging_chat_messages_client_msg', ['room_id', 'sender_id', 'client_msg_id'], unique=True, postgresql_where=sa.text('client_msg_id IS NOT NULL'), sqlite_where=sa.text('client_msg_id IS NOT NULL'))

    op.create_table('messaging_chat_moderations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('room_id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('duration', sa.Integer(), nullable=False),
    sa.Column('expires_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('issued_by', sa.String(length=36), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issued_by'], ['users.id'], name=op.f('fk_messaging_chat_moderations_issued_by_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['room_id'], ['messaging_conversations.id'], name=op.f('fk_messaging_chat_moderations_room_id_messaging_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_messaging_chat_moderations_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messaging_chat_moderations'))
    )
    with op.batch_alter_table('messaging_chat_moderations', schema=None) as batch_op:
        batch_op.create_index('ix_messaging_chat_moderations_room_user', ['room_id', 'user_id'], unique=False)

    op.create_table('messaging_chat_read_states',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('room_id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('last_read_message_id', sa.String(length=36), nullable=False),
    sa.Column('last_read_seq', sa.Integer(), nullable=False),
    sa.Column('last_read_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['room_id'], ['messaging_conversations.id'], name=op.f('fk_messaging_chat_read_states_room_id_messaging_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_messaging_chat_read_states_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messaging_chat_read_states')),
    sa.UniqueConstraint('room_id', 'user_id', name=op.f('uq_messaging_chat_read_states_room_id_user_id'))
    )


def downgrade() -> None:
    op.drop_table('messaging_chat_read_states')
    with op.batch_alter_table('messaging_chat_moderations', schema=None) as batch_op:
        batch_op.drop_index('ix_messaging_chat_moderations_room_user')
    op.drop_table('messaging_chat_moderations')
    with op.batch_alter_table('messaging_chat_messages', schema=None) as batch_op:
        batch_op.drop_index('uq_messaging_chat_messages_client_msg', postgresql_where=sa.text('client_msg_id IS NOT NULL'), sqlite_where=sa.text('client_msg_id IS NOT NULL'))
        batch_op.drop_index('ix_messaging_chat_messages_room_ts')
        batch_op.drop_index(batch_op.f('ix_messaging_chat_messages_sender_id'))
    op.drop_table('messaging_chat_messages')
    with op.batch_alter_table('messaging_conversations', schema=None) as batch_op:
        batch_op.drop_index('uq_messaging_conversations_pair', postgresql_where=sa.text('is_active'), sqlite_where=sa.text('is_active'))
        batch_op.drop_index('ix_messaging_conversations_b_last')
        batch_op.drop_index('ix_messaging_conversations_a_last')
    op.drop_table('messaging_conversations')

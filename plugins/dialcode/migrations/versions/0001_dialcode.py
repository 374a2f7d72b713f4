"""dialcode: publishers, content tree, codes, reservations, links, the generator counter

Revision ID: dialcode_0001
Revises:
Create Date: 2026-11-24 10:48:01.589674
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = 'dialcode_0001'
down_revision = None
branch_labels = ('dialcode',)
depends_on = 'core_0002'


def upgrade() -> None:
    op.create_table('dialcode_contents',
    sa.Column('identifier', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('parent_id', sa.String(length=40), nullable=True),
    sa.Column('root_id', sa.String(length=40), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('created_on', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_updated_on', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['dialcode_contents.identifier'], name=op.f('fk_dialcode_contents_parent_id_dialcode_contents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['root_id'], ['dialcode_contents.identifier'], name=op.f('fk_dialcode_contents_root_id_dialcode_contents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('identifier', name=op.f('pk_dialcode_contents'))
    )
    with op.batch_alter_table('dialcode_contents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dialcode_contents_channel'), ['channel'], unique=False)
        batch_op.create_index(batch_op.f('ix_dialcode_contents_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dialcode_contents_root_id'), ['root_id'], unique=False)

    op.create_table('dialcode_counters',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_dialcode_counters'))
    )
    op.create_table('dialcode_publishers',
    sa.Column('identifier', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('channel', sa.String(length=100), nullable=False),
    sa.Column('created_on', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_on', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('identifier', name=op.f('pk_dialcode_publishers'))
    )
    with op.batch_alter_table('dialcode_publishers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dialcode_publishers_channel'), ['channel'], unique=False)

    op.create_table('dialcode_codes',
    sa.Column('identifier', sa.String(length=6), nullable=False),
    sa.Column('dialcode_index', sa.BigInteger(), nullable=False),
    sa.Column('channel', sa.String(length=100), nullable=False),
    sa.Column('publisher', sa.String(length=100), nullable=False),
    sa.Column('batchcode', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('generated_on', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['publisher'], ['dialcode_publishers.identifier'], name=op.f('fk_dialcode_codes_publisher_dialcode_publishers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('identifier', name=op.f('pk_dialcode_codes')),
    sa.UniqueConstraint('dialcode_index', name=op.f('uq_dialcode_codes_dialcode_index'))
    )
    with op.batch_alter_table('dialcode_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dialcode_codes_batchcode'), ['batchcode'], unique=False)
        batch_op.create_index(batch_op.f('ix_dialcode_codes_channel'), ['channel'], unique=False)
        batch_op.create_index(batch_op.f('ix_dialcode_codes_publisher'), ['publisher'], unique=False)

    op.create_table('dialcode_reservations',
    sa.Column('dialcode', sa.String(length=6), nullable=False),
    sa.Column('content_id', sa.String(length=40), nullable=False),
    sa.Column('reserved_index', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['dialcode_contents.identifier'], name=op.f('fk_dialcode_reservations_content_id_dialcode_contents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['dialcode'], ['dialcode_codes.identifier'], name=op.f('fk_dialcode_reservations_dialcode_dialcode_codes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('dialcode', name=op.f('pk_dialcode_reservations')),
    sa.UniqueConstraint('content_id', 'reserved_index', name=op.f('uq_dialcode_reservations_content_id_reserved_index'))
    )
    op.create_table('dialcode_links',
    sa.Column('content_id', sa.String(length=40), nullable=False),
    sa.Column('dialcode', sa.String(length=6), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['dialcode_contents.identifier'], name=op.f('fk_dialcode_links_content_id_dialcode_contents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['dialcode'], ['dialcode_reservations.dialcode'], name=op.f('fk_dialcode_links_dialcode_dialcode_reservations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('content_id', 'dialcode', name=op.f('pk_dialcode_links'))
    )
    with op.batch_alter_table('dialcode_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dialcode_links_dialcode'), ['dialcode'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('dialcode_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dialcode_links_dialcode'))

    op.drop_table('dialcode_links')
    op.drop_table('dialcode_reservations')
    with op.batch_alter_table('dialcode_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dialcode_codes_publisher'))
        batch_op.drop_index(batch_op.f('ix_dialcode_codes_channel'))
        batch_op.drop_index(batch_op.f('ix_dialcode_codes_batchcode'))

    op.drop_table('dialcode_codes')
    with op.batch_alter_table('dialcode_publishers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dialcode_publishers_channel'))

    op.drop_table('dialcode_publishers')
    op.drop_table('dialcode_counters')
    with op.batch_alter_table('dialcode_contents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dialcode_contents_root_id'))
        batch_op.drop_index(batch_op.f('ix_dialcode_contents_parent_id'))
        batch_op.drop_index(batch_op.f('ix_dialcode_contents_channel'))

    op.drop_table('dialcode_contents')

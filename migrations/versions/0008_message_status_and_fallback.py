"""how a reply ended: message status (complete | truncated | incomplete), its reason, and
the model failure that made the local engine answer

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00

Existing messages were all stored whole, so they become `complete` (server default).
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), nullable=False,
                                      server_default='complete'))
        batch_op.add_column(sa.Column('status_reason', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('fallback_reason', sa.String(length=40), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_messages_status'), "status IN ('complete', 'truncated', 'incomplete')")


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_messages_status'), type_='check')
        batch_op.drop_column('fallback_reason')
        batch_op.drop_column('status_reason')
        batch_op.drop_column('status')

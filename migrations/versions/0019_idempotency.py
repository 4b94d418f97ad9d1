"""idempotency_records: the first answer to a POST sent with an Idempotency-Key
(SPEC §12 hardening)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 22:30:00
"""
from alembic import op
import sqlalchemy as sa

import models.types  # noqa: F401 - custom column types

# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'idempotency_records',
        sa.Column('scope', sa.String(length=60), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('status', sa.Integer(), nullable=True),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('content_type', sa.String(length=100), nullable=True),
        sa.Column('location', sa.String(length=500), nullable=True),
        sa.Column('created_at', models.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('scope', 'key', name=op.f('pk_idempotency_records')),
    )
    op.create_index('ix_idempotency_records_created', 'idempotency_records', ['created_at'],
                    unique=False)


def downgrade():
    op.drop_index('ix_idempotency_records_created', table_name='idempotency_records')
    op.drop_table('idempotency_records')

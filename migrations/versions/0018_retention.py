"""per-organization retention: days to keep request logs, conversations and rate-limit
events, and the last enforcement run (SPEC §12)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 22:25:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text  # noqa: F401 - used by rendered JSONB types
from sqlalchemy.dialects import postgresql

import models.types  # noqa: F401 - custom column types

# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retention_request_logs_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('retention_conversations_days', sa.Integer(),
                                      nullable=True))
        batch_op.add_column(sa.Column('retention_rate_limit_events_days', sa.Integer(),
                                      nullable=True))
        batch_op.add_column(sa.Column('retention_last_run_at', models.types.UTCDateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column('retention_last_result', json_type, nullable=True))


def downgrade():
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('retention_last_result')
        batch_op.drop_column('retention_last_run_at')
        batch_op.drop_column('retention_rate_limit_events_days')
        batch_op.drop_column('retention_conversations_days')
        batch_op.drop_column('retention_request_logs_days')

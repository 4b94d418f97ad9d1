"""key scopes, expiry and per-key hourly limit (SPEC §12)

Existing keys get every scope but keys:manage, so they keep working as before.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 19:30:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text  # noqa: F401 - used by rendered JSONB types
from sqlalchemy.dialects import postgresql

import models.types  # noqa: F401 - custom column types

# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# Frozen copy of services.keys.DEFAULT_SCOPES at this revision.
DEFAULT_SCOPES = ["assistants:read", "assistants:write", "knowledge:read", "knowledge:write",
                  "conversations:read", "conversations:write", "analytics:read",
                  "webhooks:manage", "audit:read"]


def upgrade():
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scopes', json_type, nullable=True))
        batch_op.add_column(sa.Column('expires_at', models.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('rate_limit_per_hour', sa.Integer(), nullable=True))
    keys = sa.table('api_keys', sa.column('scopes', json_type))
    op.execute(keys.update().values(scopes=DEFAULT_SCOPES))
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.alter_column('scopes', existing_type=json_type, nullable=False)


def downgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('rate_limit_per_hour')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('scopes')

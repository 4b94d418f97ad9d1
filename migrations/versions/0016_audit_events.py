"""audit_events: the append-only trail of configuration changes (SPEC §12)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 22:15:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text  # noqa: F401 - used by rendered JSONB types
from sqlalchemy.dialects import postgresql

import models.types  # noqa: F401 - custom column types

# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')
    op.create_table(
        'audit_events',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('org_id', sa.String(length=40), nullable=True),
        sa.Column('actor_type', sa.String(length=8), nullable=False),
        sa.Column('actor_id', sa.String(length=40), nullable=True),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('entity_type', sa.String(length=32), nullable=False),
        sa.Column('entity_id', sa.String(length=40), nullable=True),
        sa.Column('changes', json_type, nullable=False),
        sa.Column('request_id', sa.String(length=64), nullable=True),
        sa.Column('client_ip', sa.String(length=64), nullable=True),
        sa.Column('created_at', models.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    )
    op.create_index('ix_audit_events_org_created', 'audit_events',
                    ['org_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_audit_events_org_entity', 'audit_events',
                    ['org_id', 'entity_type', 'entity_id'], unique=False)


def downgrade():
    op.drop_index('ix_audit_events_org_entity', table_name='audit_events')
    op.drop_index('ix_audit_events_org_created', table_name='audit_events')
    op.drop_table('audit_events')

"""request_route_rollups: the hourly rollup without the key split, what analytics reads
without a key filter sum (issue 15: usage and endpoints over 30 days of 10M rows). Filled
from request_rollups, so an upgraded deployment answers from it at once.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 02:15:00
"""
from alembic import op
import sqlalchemy as sa

import models.types  # noqa: F401 - custom column types

# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

HIST = [f"h{i:02d}" for i in range(65)]
SUMMED = ["count", "errors_4xx", "errors_5xx", "rate_limited", "latency_sum_ms", *HIST]


def upgrade():
    op.create_table(
        'request_route_rollups',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('org_id', sa.String(length=40), nullable=True),
        sa.Column('hour', models.types.UTCDateTime(), nullable=False),
        sa.Column('method', sa.String(length=10), nullable=False),
        sa.Column('route', sa.String(length=200), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('errors_4xx', sa.Integer(), nullable=False),
        sa.Column('errors_5xx', sa.Integer(), nullable=False),
        sa.Column('rate_limited', sa.Integer(), nullable=False),
        sa.Column('latency_sum_ms', sa.Float(), nullable=False),
        sa.Column('latency_max_ms', sa.Float(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False, server_default='0') for name in HIST],
        sa.PrimaryKeyConstraint('id', name=op.f('pk_request_route_rollups')),
    )
    with op.batch_alter_table('request_route_rollups', schema=None) as batch_op:
        batch_op.create_index('ix_request_route_rollups_hour', ['hour'], unique=False)
        batch_op.create_index('ix_request_route_rollups_org_hour', ['org_id', 'hour'],
                              unique=False)
    columns = ", ".join(["org_id", "hour", "method", "route", *SUMMED, "latency_max_ms"])
    sums = ", ".join([f"SUM({name})" for name in SUMMED] + ["MAX(latency_max_ms)"])
    op.execute(sa.text(
        f"INSERT INTO request_route_rollups ({columns}) "
        f"SELECT org_id, hour, method, route, {sums} FROM request_rollups "
        "GROUP BY org_id, hour, method, route"))


def downgrade():
    with op.batch_alter_table('request_route_rollups', schema=None) as batch_op:
        batch_op.drop_index('ix_request_route_rollups_org_hour')
        batch_op.drop_index('ix_request_route_rollups_hour')
    op.drop_table('request_route_rollups')

"""rollup latency histograms as integer columns: request_rollups.latency_hist (sparse
JSON) becomes h00…h64, one count per bucket, so reads sum columns instead of unpacking
JSON row by row (issue 15: usage and endpoints over 30 days of 10M rows).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 12:00:00

Existing rollups are converted in place; the downgrade rebuilds the sparse JSON.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

COLUMNS = [f"h{i:02d}" for i in range(65)]
# Functions take at most 100 (PostgreSQL) / 127 (SQLite) arguments: build JSON in parts.
PART = 40


def upgrade():
    with op.batch_alter_table('request_rollups', schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False,
                                          server_default='0'))
    if op.get_bind().dialect.name == 'postgresql':
        value = "COALESCE((latency_hist->>'{i}')::integer, 0)"
    else:
        value = "COALESCE(CAST(json_extract(latency_hist, '$.\"{i}\"') AS INTEGER), 0)"
    sets = ", ".join(f"{name} = " + value.format(i=i) for i, name in enumerate(COLUMNS))
    op.execute(sa.text(f"UPDATE request_rollups SET {sets}"))
    with op.batch_alter_table('request_rollups', schema=None) as batch_op:
        batch_op.drop_column('latency_hist')


def downgrade():
    with op.batch_alter_table('request_rollups', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'latency_hist',
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
            nullable=False, server_default='{}'))
    pg = op.get_bind().dialect.name == 'postgresql'
    parts = []
    for start in range(0, len(COLUMNS), PART):
        pairs = ", ".join(f"'{i}', NULLIF({COLUMNS[i]}, 0)"
                          for i in range(start, min(start + PART, len(COLUMNS))))
        parts.append(f"jsonb_strip_nulls(jsonb_build_object({pairs}))" if pg
                     else f"json_object({pairs})")
    if pg:
        built = " || ".join(parts)
    else:  # json_patch drops the keys whose value is null
        built = "'{}'"
        for part in parts:
            built = f"json_patch({built}, {part})"
    op.execute(sa.text(f"UPDATE request_rollups SET latency_hist = {built}"))
    with op.batch_alter_table('request_rollups', schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
        batch_op.alter_column('latency_hist', server_default=None)

"""assistant promotions: one row each time a version goes live, so the console can tell a
version that was live (and was rolled back from) from a draft that never was

Existing assistants are backfilled with one promotion per version up to the live one, at
that version's creation time: the usual history (each new version promoted in turn); a
draft that was skipped over then reads as once live, which is the lesser error.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 19:00:00
"""
import secrets
import string

from alembic import op
import sqlalchemy as sa

import models.types  # noqa: F401 - custom column types

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_ALPHABET = string.ascii_letters + string.digits


def _id() -> str:
    # Frozen copy of models.ids.new_id("apr"): a migration must not change with the app.
    return "apr_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def upgrade():
    op.create_table('assistant_promotions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('assistant_id', sa.String(length=40), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('previous_number', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=40), nullable=True),
    sa.Column('created_at', models.types.UTCDateTime(), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['assistant_id'], ['assistants.id'], name=op.f('fk_assistant_promotions_assistant_id_assistants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_assistant_promotions_org_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assistant_promotions'))
    )
    with op.batch_alter_table('assistant_promotions', schema=None) as batch_op:
        batch_op.create_index('ix_assistant_promotions_assistant_created', ['assistant_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_assistant_promotions_org_id'), ['org_id'], unique=False)

    rows = op.get_bind().execute(sa.text(
        "SELECT v.org_id, v.assistant_id, v.number, v.created_by, v.created_at "
        "FROM assistant_versions v JOIN assistants a ON a.id = v.assistant_id "
        "WHERE v.number <= a.live_version ORDER BY v.assistant_id, v.number")).all()
    # Untyped columns: each value goes back exactly as the database gave it.
    table = sa.table('assistant_promotions', *(sa.column(c) for c in (
        'id', 'org_id', 'assistant_id', 'number', 'previous_number', 'actor', 'created_at')))
    if rows:
        op.bulk_insert(table, [
            {"id": _id(), "org_id": r.org_id, "assistant_id": r.assistant_id,
             "number": r.number, "previous_number": r.number - 1 if r.number > 1 else None,
             "actor": r.created_by, "created_at": r.created_at}
            for r in rows])


def downgrade():
    with op.batch_alter_table('assistant_promotions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assistant_promotions_org_id'))
        batch_op.drop_index('ix_assistant_promotions_assistant_created')

    op.drop_table('assistant_promotions')

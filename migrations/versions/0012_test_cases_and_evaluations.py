"""test cases and evaluations: an assistant's test cases (tc_), the evaluations that run
them against a version (ev_), and the assistant's promotion_requires_passing_tests switch

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 15:09:15
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text  # noqa: F401 - used by rendered JSONB types

import models.types  # noqa: F401 - custom column types
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('assistant_tests',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('assistant_id', sa.String(length=40), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('expect_source_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('expect_contains', sa.Text(), nullable=True),
    sa.Column('expect_no_answer', sa.Boolean(), nullable=True),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('created_at', models.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['assistant_id'], ['assistants.id'], name=op.f('fk_assistant_tests_assistant_id_assistants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_assistant_tests_org_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assistant_tests'))
    )
    with op.batch_alter_table('assistant_tests', schema=None) as batch_op:
        batch_op.create_index('ix_assistant_tests_assistant_created', ['assistant_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_assistant_tests_org_id'), ['org_id'], unique=False)

    op.create_table('evaluations',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('assistant_id', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('job_id', sa.String(length=40), nullable=True),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('passed', sa.Integer(), nullable=False),
    sa.Column('pass_rate', sa.Float(), nullable=True),
    sa.Column('cases', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('finished_at', models.types.UTCDateTime(), nullable=True),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('created_at', models.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['assistant_id'], ['assistants.id'], name=op.f('fk_evaluations_assistant_id_assistants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_evaluations_org_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluations'))
    )
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.create_index('ix_evaluations_assistant_version', ['assistant_id', 'version', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_evaluations_org_id'), ['org_id'], unique=False)

    with op.batch_alter_table('assistants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('promotion_requires_passing_tests', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade():
    with op.batch_alter_table('assistants', schema=None) as batch_op:
        batch_op.drop_column('promotion_requires_passing_tests')

    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluations_org_id'))
        batch_op.drop_index('ix_evaluations_assistant_version')

    op.drop_table('evaluations')
    with op.batch_alter_table('assistant_tests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assistant_tests_org_id'))
        batch_op.drop_index('ix_assistant_tests_assistant_created')

    op.drop_table('assistant_tests')

"""sentence_vectors: each sentence of an organization's knowledge embedded on its own, by
digest, so search scores a passage by its closest sentence (issue 11). Filled by ingestion
and the re-embed job; a passage whose sentences are not there yet is scored by its own
vector, so an upgraded deployment keeps answering while they are filled.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 16:00:00
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'sentence_vectors',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('model', sa.String(length=100), nullable=False),
        sa.Column('vector', sa.LargeBinary(), nullable=False),
        sa.Column('org_id', sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organizations.id'],
                                name=op.f('fk_sentence_vectors_org_id_organizations'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('digest', name=op.f('pk_sentence_vectors')),
    )
    with op.batch_alter_table('sentence_vectors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sentence_vectors_org_id'), ['org_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('sentence_vectors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sentence_vectors_org_id'))
    op.drop_table('sentence_vectors')

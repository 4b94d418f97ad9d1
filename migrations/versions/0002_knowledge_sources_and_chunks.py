"""knowledge sources and chunks, with the lexical index of each backend

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 07:50:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text  # noqa: F401 - used by rendered JSONB types

import models.types  # noqa: F401 - custom column types
from sqlalchemy.dialects import postgresql  # noqa: F401

# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')


def upgrade():
    op.create_table('knowledge_sources',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('keywords', _JSON, nullable=False),
    sa.Column('enrichment_engine', sa.String(length=40), nullable=True),
    sa.Column('chunk_count', sa.Integer(), nullable=False),
    sa.Column('embedding_model', sa.String(length=100), nullable=True),
    sa.Column('embedding_dim', sa.Integer(), nullable=True),
    sa.Column('content_sha256', sa.String(length=64), nullable=True),
    sa.Column('indexed_at', models.types.UTCDateTime(), nullable=True),
    sa.Column('last_job_id', sa.String(length=40), nullable=True),
    sa.Column('filename', sa.String(length=300), nullable=True),
    sa.Column('file_type', sa.String(length=16), nullable=True),
    sa.Column('byte_size', sa.BigInteger(), nullable=True),
    sa.Column('storage_key', sa.String(length=200), nullable=True),
    sa.Column('details', _JSON, nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=True),
    sa.Column('final_url', sa.String(length=2048), nullable=True),
    sa.Column('fetched_at', models.types.UTCDateTime(), nullable=True),
    sa.Column('question', sa.Text(), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('tags', _JSON, nullable=False),
    sa.Column('created_at', models.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', models.types.UTCDateTime(), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_knowledge_sources_org_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_sources'))
    )
    with op.batch_alter_table('knowledge_sources', schema=None) as batch_op:
        batch_op.create_index('ix_knowledge_sources_org_created', ['org_id', 'created_at'], unique=False)
        batch_op.create_index('ix_knowledge_sources_org_kind_created', ['org_id', 'kind', 'created_at'], unique=False)
        batch_op.create_index('ix_knowledge_sources_org_sha', ['org_id', 'content_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_knowledge_sources_org_id'), ['org_id'], unique=False)

    op.create_table('knowledge_chunks',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('source_id', sa.String(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('provenance', _JSON, nullable=False),
    sa.Column('token_count', sa.Integer(), nullable=False),
    sa.Column('vector_id', sa.BigInteger(), nullable=False),
    sa.Column('embedding_model', sa.String(length=100), nullable=False),
    sa.Column('embedding_dim', sa.Integer(), nullable=False),
    sa.Column('created_at', models.types.UTCDateTime(), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_knowledge_chunks_org_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['knowledge_sources.id'], name=op.f('fk_knowledge_chunks_source_id_knowledge_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_chunks')),
    sa.UniqueConstraint('vector_id', name=op.f('uq_knowledge_chunks_vector_id'))
    )
    with op.batch_alter_table('knowledge_chunks', schema=None) as batch_op:
        batch_op.create_index('ix_knowledge_chunks_source_position', ['source_id', 'position'], unique=False)
        batch_op.create_index(batch_op.f('ix_knowledge_chunks_org_id'), ['org_id'], unique=False)

    # The lexical half of hybrid retrieval (services/knowledge/lexical.py).
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute("CREATE INDEX ix_knowledge_chunks_text_fts ON knowledge_chunks "
                   "USING gin (to_tsvector('simple', text))")
    elif bind.dialect.name == 'sqlite':
        op.execute("CREATE VIRTUAL TABLE knowledge_chunks_fts USING fts5("
                   "text, chunk_id UNINDEXED, org_id UNINDEXED, source_id UNINDEXED, "
                   "tokenize = 'unicode61 remove_diacritics 2')")


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute("DROP INDEX IF EXISTS ix_knowledge_chunks_text_fts")
    elif bind.dialect.name == 'sqlite':
        op.execute("DROP TABLE IF EXISTS knowledge_chunks_fts")
    with op.batch_alter_table('knowledge_chunks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_knowledge_chunks_org_id'))
        batch_op.drop_index('ix_knowledge_chunks_source_position')
    op.drop_table('knowledge_chunks')
    with op.batch_alter_table('knowledge_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_knowledge_sources_org_id'))
        batch_op.drop_index('ix_knowledge_sources_org_sha')
        batch_op.drop_index('ix_knowledge_sources_org_kind_created')
        batch_op.drop_index('ix_knowledge_sources_org_created')
    op.drop_table('knowledge_sources')

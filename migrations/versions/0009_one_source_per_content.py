"""one source per content and kind: a partial unique index on (org_id, kind,
content_sha256) for files and Q&A pairs, so concurrent identical uploads make one source

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 08:00:00

Duplicates made before this revision (the check-then-insert race) are kept, not deleted:
every copy but the oldest loses its digest, so it stays searchable and deletable but is
no longer the one a new identical upload is matched to.
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(sa.text("""
        UPDATE knowledge_sources SET content_sha256 = NULL
        WHERE kind IN ('file', 'qa') AND content_sha256 IS NOT NULL AND EXISTS (
            SELECT 1 FROM knowledge_sources AS older
            WHERE older.org_id = knowledge_sources.org_id
              AND older.kind = knowledge_sources.kind
              AND older.content_sha256 = knowledge_sources.content_sha256
              AND (older.created_at < knowledge_sources.created_at
                   OR (older.created_at = knowledge_sources.created_at
                       AND older.id < knowledge_sources.id)))
    """))
    op.create_index('uq_knowledge_sources_org_kind_sha', 'knowledge_sources',
                    ['org_id', 'kind', 'content_sha256'], unique=True,
                    sqlite_where=sa.text("kind IN ('file', 'qa')"),
                    postgresql_where=sa.text("kind IN ('file', 'qa')"))


def downgrade():
    op.drop_index('uq_knowledge_sources_org_kind_sha', table_name='knowledge_sources')

"""corrections: a Q&A pair made to correct an assistant reply keeps the reply's id
(knowledge_sources.corrects_message_id, set to null if the message is deleted)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 15:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('knowledge_sources') as batch:
        batch.add_column(sa.Column('corrects_message_id', sa.String(length=40), nullable=True))
        batch.create_foreign_key('fk_knowledge_sources_corrects_message', 'messages',
                                 ['corrects_message_id'], ['id'], ondelete='SET NULL')
        batch.create_index('ix_knowledge_sources_corrects_message_id',
                           ['corrects_message_id'])


def downgrade():
    with op.batch_alter_table('knowledge_sources') as batch:
        batch.drop_index('ix_knowledge_sources_corrects_message_id')
        batch.drop_constraint('fk_knowledge_sources_corrects_message', type_='foreignkey')
        batch.drop_column('corrects_message_id')

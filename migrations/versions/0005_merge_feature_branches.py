"""merge the knowledge, conversations and analytics branches into one head

Revision ID: 0005
Revises: 0002, 0003, 0004
Create Date: 2026-11-25 08:05:00

"""

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = ('0002', '0003', '0004')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

"""movie details checked: when `movierec enrich` last asked TMDb about a movie (found or not)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('movies') as batch:
        batch.add_column(sa.Column('details_checked_at', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('movies') as batch:
        batch.drop_column('details_checked_at')

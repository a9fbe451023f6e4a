"""movie posters: the poster path a dataset or `movierec enrich` gives (TMDb's `poster_path`)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 00:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('movies') as batch:
        batch.add_column(sa.Column('poster_path', sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('movies') as batch:
        batch.drop_column('poster_path')

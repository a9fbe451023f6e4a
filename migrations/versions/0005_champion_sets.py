"""champion sets: which algorithm serves each segment under default_algorithm = auto

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 19:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('champion_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('choice', sa.JSON(), nullable=False),
    sa.Column('cause', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('chosen_at', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("status IN ('active', 'retired')", name=op.f('ck_champion_sets_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_champion_sets'))
    )


def downgrade() -> None:
    op.drop_table('champion_sets')

"""feedback besides stars (its table, and its events in the outbox); hidden movies and their
availability window

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 03:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

TYPES = "'view', 'like', 'watchlist', 'not_interested'"
RATING_ONLY = (
    "(kind = 'deleted' AND half_stars IS NULL) OR "
    "(kind <> 'deleted' AND half_stars IS NOT NULL AND half_stars BETWEEN 1 AND 10)"
)
WITH_FEEDBACK = (
    f"(feedback IS NULL AND ({RATING_ONLY})) OR "
    "(feedback IS NOT NULL AND half_stars IS NULL AND kind <> 'updated')"
)


def upgrade() -> None:
    op.create_table(
        'feedback',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('movie_id', sa.Integer(), nullable=False),
        sa.Column('type', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.CheckConstraint(f"type IN ({TYPES})", name=op.f('ck_feedback_type_known')),
        sa.ForeignKeyConstraint(['movie_id'], ['movies.id'], name=op.f('fk_feedback_movie_id_movies'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_feedback_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'movie_id', 'type', name=op.f('pk_feedback')),
    )
    op.create_index('ix_feedback_movie_id', 'feedback', ['movie_id'], unique=False)
    with op.batch_alter_table('rating_events') as batch:
        batch.add_column(sa.Column('feedback', sa.String(length=16), nullable=True))
        batch.drop_constraint(op.f('ck_rating_events_half_stars_matches_kind'), type_='check')
        batch.create_check_constraint(op.f('ck_rating_events_half_stars_matches_kind'), WITH_FEEDBACK)
        batch.create_check_constraint(
            op.f('ck_rating_events_feedback_known'), f"feedback IS NULL OR feedback IN ({TYPES})"
        )
    with op.batch_alter_table('movies') as batch:
        batch.add_column(sa.Column('hidden', sa.Boolean(), server_default=sa.text('false'), nullable=False))
        batch.add_column(sa.Column('available_from', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('available_until', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('movies') as batch:
        batch.drop_column('available_until')
        batch.drop_column('available_from')
        batch.drop_column('hidden')
    op.execute("DELETE FROM rating_events WHERE feedback IS NOT NULL")
    with op.batch_alter_table('rating_events') as batch:
        batch.drop_constraint(op.f('ck_rating_events_feedback_known'), type_='check')
        batch.drop_constraint(op.f('ck_rating_events_half_stars_matches_kind'), type_='check')
        batch.create_check_constraint(op.f('ck_rating_events_half_stars_matches_kind'), RATING_ONLY)
        batch.drop_column('feedback')
    op.drop_index('ix_feedback_movie_id', table_name='feedback')
    op.drop_table('feedback')

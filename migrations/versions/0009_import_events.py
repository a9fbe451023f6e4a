"""an import's one event in the outbox: kind 'imported', of no person and no movie (a bulk
import marks the data changed instead of writing an event per rating)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 06:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

RATING_ONLY = (
    "(kind = 'deleted' AND half_stars IS NULL) OR "
    "(kind <> 'deleted' AND half_stars IS NOT NULL AND half_stars BETWEEN 1 AND 10)"
)
WITH_FEEDBACK = (
    f"(feedback IS NULL AND ({RATING_ONLY})) OR "
    "(feedback IS NOT NULL AND half_stars IS NULL AND kind <> 'updated')"
)
PERSONAL = (
    "kind <> 'imported' AND user_id IS NOT NULL AND movie_id IS NOT NULL AND "
    f"(({WITH_FEEDBACK}))"
)
IMPORTED = (
    "kind = 'imported' AND user_id IS NULL AND movie_id IS NULL AND half_stars IS NULL "
    "AND feedback IS NULL"
)
OLD_KINDS = "'created', 'updated', 'deleted'"


def upgrade() -> None:
    with op.batch_alter_table('rating_events') as batch:
        batch.alter_column('user_id', existing_type=sa.Integer(), nullable=True)
        batch.alter_column('movie_id', existing_type=sa.Integer(), nullable=True)
        batch.drop_constraint(op.f('ck_rating_events_kind_known'), type_='check')
        batch.create_check_constraint(
            op.f('ck_rating_events_kind_known'), f"kind IN ({OLD_KINDS}, 'imported')"
        )
        batch.drop_constraint(op.f('ck_rating_events_half_stars_matches_kind'), type_='check')
        batch.create_check_constraint(
            op.f('ck_rating_events_half_stars_matches_kind'), f"({PERSONAL}) OR ({IMPORTED})"
        )
    op.create_index(
        'ix_rating_events_imported',
        'rating_events',
        ['id'],
        unique=False,
        postgresql_where=sa.text("kind = 'imported'"),
        sqlite_where=sa.text("kind = 'imported'"),
    )


def downgrade() -> None:
    op.drop_index('ix_rating_events_imported', table_name='rating_events')
    op.execute("DELETE FROM rating_events WHERE kind = 'imported'")
    with op.batch_alter_table('rating_events') as batch:
        batch.drop_constraint(op.f('ck_rating_events_half_stars_matches_kind'), type_='check')
        batch.create_check_constraint(op.f('ck_rating_events_half_stars_matches_kind'), WITH_FEEDBACK)
        batch.drop_constraint(op.f('ck_rating_events_kind_known'), type_='check')
        batch.create_check_constraint(op.f('ck_rating_events_kind_known'), f"kind IN ({OLD_KINDS})")
        batch.alter_column('movie_id', existing_type=sa.Integer(), nullable=False)
        batch.alter_column('user_id', existing_type=sa.Integer(), nullable=False)

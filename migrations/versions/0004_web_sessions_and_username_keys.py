"""web sessions and case-insensitive usernames

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 17:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['accounts.user_id'], name=op.f('fk_web_sessions_user_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_web_sessions_secret_hash'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_user_id'), ['user_id'], unique=False)

    # Existing accounts get their lower-cased username; two names differing only in case
    # make the unique constraint fail here, to be renamed by hand (`movierec` refuses new ones).
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('username_key', sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE accounts SET username_key = "
        "(SELECT lower(users.external_id) FROM users WHERE users.id = accounts.user_id)"
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.alter_column('username_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_accounts_username_key'), ['username_key'])


def downgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_accounts_username_key'), type_='unique')
        batch_op.drop_column('username_key')
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_user_id'))
    op.drop_table('web_sessions')

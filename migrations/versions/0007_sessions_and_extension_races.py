"""login_sessions (logout and a new password end sessions); extensions: version, one pending per measure

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

PENDING_SQL = "state = 'pending'"


def upgrade():
    op.create_table(
        'login_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('remember', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=True),
        sa.Column('user_agent', sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_login_sessions_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_sessions')),
        sa.UniqueConstraint('key_hash', name=op.f('uq_login_sessions_key_hash')),
    )
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_sessions_user_id'), ['user_id'], unique=False)

    # Requests that raced each other before this revision: the newest one per measure stays pending.
    op.execute(
        "UPDATE extensions SET state = 'rejected', decision_comment = 'superseded' "
        "WHERE state = 'pending' AND id < (SELECT max(e2.id) FROM extensions e2 "
        "WHERE e2.task_id = extensions.task_id AND e2.state = 'pending')"
    )
    with op.batch_alter_table('extensions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
    with op.batch_alter_table('extensions', schema=None) as batch_op:
        batch_op.alter_column('version', server_default=None)
        batch_op.create_index('ux_extensions_one_pending', ['task_id'], unique=True,
                              sqlite_where=sa.text(PENDING_SQL), postgresql_where=sa.text(PENDING_SQL))


def downgrade():
    with op.batch_alter_table('extensions', schema=None) as batch_op:
        batch_op.drop_index('ux_extensions_one_pending', sqlite_where=sa.text(PENDING_SQL),
                            postgresql_where=sa.text(PENDING_SQL))
        batch_op.drop_column('version')
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_sessions_user_id'))
    op.drop_table('login_sessions')

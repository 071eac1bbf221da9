"""Notices of a measure's transitions: three new notification kinds and the users' email opt-out

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 07:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

OLD_KINDS = ('assigned', 'due_soon', 'overdue', 'escalation', 'ongoing', 'digest')
NEW_KINDS = OLD_KINDS + ('submitted', 'rejected', 'verified')


def _kinds(kinds):
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _replace_check(kinds):
    # SQLite cannot alter a CHECK constraint: batch mode copies the table with the new one.
    with op.batch_alter_table('notifications', schema=None, recreate='auto') as batch_op:
        batch_op.drop_constraint('notificationkind', type_='check')
        batch_op.create_check_constraint('notificationkind', sa.text(_kinds(kinds)))


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify_transitions', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
    _replace_check(NEW_KINDS)


def downgrade():
    op.execute("DELETE FROM notifications WHERE kind IN ('submitted', 'rejected', 'verified')")
    _replace_check(OLD_KINDS)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('notify_transitions')

"""签收: when a measure was assigned to its owner and when they signed for it; two reminder kinds

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 08:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

OLD_KINDS = ('assigned', 'due_soon', 'overdue', 'escalation', 'ongoing', 'digest', 'submitted', 'rejected',
             'verified')
NEW_KINDS = OLD_KINDS + ('ack_due', 'ack_escalation')
AWAITING = {"sqlite": "ack_required = 1 AND acknowledged_at IS NULL",
            "postgresql": "ack_required = true AND acknowledged_at IS NULL"}


def _replace_check(kinds):
    with op.batch_alter_table('notifications', schema=None, recreate='auto') as batch_op:
        batch_op.drop_constraint('notificationkind', type_='check')
        batch_op.create_check_constraint(
            'notificationkind', sa.text("kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"))


def upgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True))
        # Measures that exist before this revision are not asked for a 签收 they never knew of.
        batch_op.add_column(sa.Column('ack_required', sa.Boolean(), nullable=False, server_default=sa.false()))
    # Added in place (no copy of the table on SQLite): assigned_at stays nullable in the schema, and
    # every row has one from here on.
    op.execute("UPDATE tasks SET assigned_at = created_at")
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_awaiting_ack', ['assigned_at', 'unit_id', 'owner_id'], unique=False,
                              sqlite_where=sa.text(AWAITING['sqlite']),
                              postgresql_where=sa.text(AWAITING['postgresql']))
    _replace_check(NEW_KINDS)


def downgrade():
    op.execute("DELETE FROM notifications WHERE kind IN ('ack_due', 'ack_escalation')")
    _replace_check(OLD_KINDS)
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_awaiting_ack', sqlite_where=sa.text(AWAITING['sqlite']),
                            postgresql_where=sa.text(AWAITING['postgresql']))
        batch_op.drop_column('ack_required')
        batch_op.drop_column('acknowledged_at')
        batch_op.drop_column('assigned_at')

"""tasks: partial index for the overdue list in deadline order; scoped counts from the index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 15:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# Kept literal here: a migration must not change when the model module does.
OVERDUE_WORK_SQL = "state IN ('assigned', 'in_progress') AND type <> 'ongoing'"


def upgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_state_deadline')
        batch_op.create_index('ix_tasks_state_deadline', ['state', 'deadline', 'unit_id', 'owner_id'],
                              unique=False)
        batch_op.create_index('ix_tasks_overdue_deadline',
                              ['deadline', 'id', 'unit_id', 'owner_id', 'state', 'type'], unique=False,
                              sqlite_where=sa.text(OVERDUE_WORK_SQL),
                              postgresql_where=sa.text(OVERDUE_WORK_SQL))


def downgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_overdue_deadline',
                            sqlite_where=sa.text(OVERDUE_WORK_SQL),
                            postgresql_where=sa.text(OVERDUE_WORK_SQL))
        batch_op.drop_index('ix_tasks_state_deadline')
        batch_op.create_index('ix_tasks_state_deadline', ['state', 'deadline'], unique=False)

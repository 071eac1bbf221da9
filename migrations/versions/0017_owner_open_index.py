"""tasks: a person's open measures in deadline order off one partial index (我的任务 and its counters
cost the same at 20k and at a million measures)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 16:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# Kept literal here: a migration must not change when the model module does.
OPEN_SQL = "state IN ('assigned', 'in_progress', 'submitted')"


def upgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_owner_open', ['owner_id', 'deadline', 'id', 'state', 'type'],
                              unique=False, sqlite_where=sa.text(OPEN_SQL), postgresql_where=sa.text(OPEN_SQL))


def downgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_owner_open', sqlite_where=sa.text(OPEN_SQL),
                            postgresql_where=sa.text(OPEN_SQL))

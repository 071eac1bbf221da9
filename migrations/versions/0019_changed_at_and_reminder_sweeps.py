"""tasks.changed_at, problems.changed_at and reminder_sweeps: within a day the reminders' passes read only
the measures changed since the last one (existing rows stay NULL: the first pass of a day reads them all)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 22:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('reminder_sweeps',
    sa.Column('rule', sa.String(length=40), nullable=False),
    sa.Column('swept_on', sa.Date(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stamp', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('rule', name=op.f('pk_reminder_sweeps'))
    )
    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_problems_changed_at'), ['changed_at'], unique=False)

    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_tasks_changed_at'), ['changed_at'], unique=False)



def downgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tasks_changed_at'))
        batch_op.drop_column('changed_at')

    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_problems_changed_at'))
        batch_op.drop_column('changed_at')

    op.drop_table('reminder_sweeps')

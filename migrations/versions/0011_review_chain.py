"""多级审核 and 整改成效评价: a unit's chain of verification steps, each submission's copy of it, the
decisions with snapshots; a measure's submission count, current step and rating

Existing data keeps today's behaviour: no unit has a chain (the default single step), and a measure
waiting for verification gets that one step as its copy.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 09:46:06.583721

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('review_steps',
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_unit_id', sa.Integer(), nullable=True),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('managers', 'unit', 'person', name='stepkind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('label', sa.String(length=60), nullable=False),
    sa.CheckConstraint("(kind = 'person') = (reviewer_id IS NOT NULL)", name=op.f('ck_review_steps_person_step_has_person')),
    sa.CheckConstraint("(kind = 'unit') = (reviewer_unit_id IS NOT NULL)", name=op.f('ck_review_steps_unit_step_has_unit')),
    sa.CheckConstraint('position BETWEEN 1 AND 9', name=op.f('ck_review_steps_position')),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_review_steps_reviewer_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reviewer_unit_id'], ['units.id'], name=op.f('fk_review_steps_reviewer_unit_id_units'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_review_steps_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('unit_id', 'position', name=op.f('pk_review_steps'))
    )
    op.create_table('review_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('submission', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('steps', sa.Integer(), nullable=False),
    sa.Column('step_label', sa.String(length=60), nullable=False),
    sa.Column('decision', sa.Enum('pass', 'verify', 'reject', 'return', name='decision', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('to_position', sa.Integer(), nullable=True),
    sa.Column('rating', sa.Enum('satisfied', 'basic', 'unsatisfied', name='rating', native_enum=False, create_constraint=True, length=24), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_review_decisions_decided_by_id_users')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_review_decisions_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_decisions'))
    )
    with op.batch_alter_table('review_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_decisions_decided_by_id'), ['decided_by_id'], unique=False)
        batch_op.create_index('ix_review_decisions_task_submission', ['task_id', 'submission', 'decided_by_id'], unique=False)

    op.create_table('task_review_steps',
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_unit_id', sa.Integer(), nullable=True),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('managers', 'unit', 'person', name='stepkind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('label', sa.String(length=60), nullable=False),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_task_review_steps_reviewer_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reviewer_unit_id'], ['units.id'], name=op.f('fk_task_review_steps_reviewer_unit_id_units'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_task_review_steps_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id', 'position', name=op.f('pk_task_review_steps'))
    )
    with op.batch_alter_table('task_review_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_review_steps_reviewer_id'), ['reviewer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_review_steps_reviewer_unit_id'), ['reviewer_unit_id'], unique=False)

    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submissions', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('review_step', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rating', sa.Enum('satisfied', 'basic', 'unsatisfied', name='rating', native_enum=False, create_constraint=True, length=24), nullable=True))

    op.execute("UPDATE tasks SET submissions = 1 WHERE submitted_at IS NOT NULL OR state = 'closed'")
    op.execute("UPDATE tasks SET review_step = 1 WHERE state = 'submitted'")
    op.execute("INSERT INTO task_review_steps (task_id, position, kind, label) "
               "SELECT id, 1, 'managers', '' FROM tasks WHERE state = 'submitted'")


def downgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_tasks_rating'), type_='check')
        batch_op.drop_column('rating')
        batch_op.drop_column('review_step')
        batch_op.drop_column('submissions')

    with op.batch_alter_table('task_review_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_review_steps_reviewer_unit_id'))
        batch_op.drop_index(batch_op.f('ix_task_review_steps_reviewer_id'))

    op.drop_table('task_review_steps')
    with op.batch_alter_table('review_decisions', schema=None) as batch_op:
        batch_op.drop_index('ix_review_decisions_task_submission')
        batch_op.drop_index(batch_op.f('ix_review_decisions_decided_by_id'))

    op.drop_table('review_decisions')
    op.drop_table('review_steps')

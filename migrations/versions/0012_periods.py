"""阶段性销号: an ongoing measure's period, each period's result and its verification, evidence of a
period; two notification kinds (a period's result due, a period missed)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 10:10:36.253631

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

OLD_KINDS = ('assigned', 'due_soon', 'overdue', 'escalation', 'ongoing', 'digest', 'submitted', 'rejected',
             'verified', 'ack_due', 'ack_escalation', 'notice_issued', 'notice_reply_due',
             'notice_reply_escalation')
NEW_KINDS = OLD_KINDS + ('period_due', 'period_missed')


def _replace_check(kinds):
    with op.batch_alter_table('notifications', schema=None, recreate='auto') as batch_op:
        batch_op.drop_constraint('notificationkind', type_='check')
        batch_op.create_check_constraint(
            'notificationkind', sa.text("kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"))


def upgrade():
    op.create_table('task_periods',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('month', 'quarter', 'half', 'year', name='periodkind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('state', sa.Enum('submitted', 'verified', 'rejected', name='periodstate', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('submitted_by_id', sa.Integer(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_on', sa.Date(), nullable=True),
    sa.Column('decision_comment', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint('period_end >= period_start', name=op.f('ck_task_periods_period_order')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_task_periods_decided_by_id_users')),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['users.id'], name=op.f('fk_task_periods_submitted_by_id_users')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_task_periods_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_periods'))
    )
    with op.batch_alter_table('task_periods', schema=None) as batch_op:
        batch_op.create_index('ix_task_periods_state_decided_on', ['state', 'decided_on'], unique=False)
        batch_op.create_index('ix_task_periods_task_id_period_start', ['task_id', 'period_start'], unique=False)
        batch_op.create_index('ux_task_periods_one_live', ['task_id', 'period_start'], unique=True, sqlite_where=sa.text("state <> 'rejected'"), postgresql_where=sa.text("state <> 'rejected'"))

    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('period_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_evidence_period_id'), ['period_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_evidence_period_id_task_periods'), 'task_periods', ['period_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('period', sa.Enum('month', 'quarter', 'half', 'year', name='periodkind', native_enum=False, create_constraint=True, length=24), nullable=True))

    _replace_check(NEW_KINDS)


def downgrade():
    op.execute("DELETE FROM notifications WHERE kind IN ('period_due', 'period_missed')")
    _replace_check(OLD_KINDS)
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_tasks_periodkind'), type_='check')
        batch_op.drop_column('period')

    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_evidence_period_id_task_periods'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_evidence_period_id'))
        batch_op.drop_column('period_id')

    with op.batch_alter_table('task_periods', schema=None) as batch_op:
        batch_op.drop_index('ux_task_periods_one_live', sqlite_where=sa.text("state <> 'rejected'"), postgresql_where=sa.text("state <> 'rejected'"))
        batch_op.drop_index('ix_task_periods_task_id_period_start')
        batch_op.drop_index('ix_task_periods_state_decided_on')

    op.drop_table('task_periods')

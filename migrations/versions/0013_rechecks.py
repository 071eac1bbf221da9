"""回头看: re-checks of closed measures (scheduled or drawn in a recorded random sample), earlier rounds of
a measure reopened by a rebound, a measure's round, a problem's rebound, evidence of a re-check; one
notification kind (a re-check due)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 10:28:28.044665

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

OLD_KINDS = ('assigned', 'due_soon', 'overdue', 'escalation', 'ongoing', 'digest', 'submitted', 'rejected',
             'verified', 'ack_due', 'ack_escalation', 'notice_issued', 'notice_reply_due',
             'notice_reply_escalation', 'period_due', 'period_missed')
NEW_KINDS = OLD_KINDS + ('recheck_due',)


def _replace_check(kinds):
    with op.batch_alter_table('notifications', schema=None, recreate='auto') as batch_op:
        batch_op.drop_constraint('notificationkind', type_='check')
        batch_op.create_check_constraint(
            'notificationkind', sa.text("kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"))


def upgrade():
    op.create_table('recheck_samples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('date_from', sa.Date(), nullable=False),
    sa.Column('date_to', sa.Date(), nullable=False),
    sa.Column('share', sa.Integer(), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('seed', sa.BigInteger(), nullable=False),
    sa.Column('population', sa.JSON(), nullable=False),
    sa.Column('picked', sa.JSON(), nullable=False),
    sa.Column('drawn_by_id', sa.Integer(), nullable=False),
    sa.Column('drawn_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['drawn_by_id'], ['users.id'], name=op.f('fk_recheck_samples_drawn_by_id_users')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_recheck_samples_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recheck_samples'))
    )
    with op.batch_alter_table('recheck_samples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recheck_samples_unit_id'), ['unit_id'], unique=False)

    op.create_table('rechecks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('scheduled_by_id', sa.Integer(), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.Enum('scheduled', 'consolidated', 'rebounded', 'cancelled', name='recheckstate', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_on', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_rechecks_reviewer_id_users')),
    sa.ForeignKeyConstraint(['sample_id'], ['recheck_samples.id'], name=op.f('fk_rechecks_sample_id_recheck_samples'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['scheduled_by_id'], ['users.id'], name=op.f('fk_rechecks_scheduled_by_id_users')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_rechecks_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rechecks'))
    )
    with op.batch_alter_table('rechecks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rechecks_reviewer_id'), ['reviewer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rechecks_sample_id'), ['sample_id'], unique=False)
        batch_op.create_index('ix_rechecks_state_due_on', ['state', 'due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_rechecks_task_id'), ['task_id'], unique=False)
        batch_op.create_index('ux_rechecks_one_scheduled', ['task_id', 'round'], unique=True, sqlite_where=sa.text("state = 'scheduled'"), postgresql_where=sa.text("state = 'scheduled'"))

    op.create_table('task_rounds',
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('rating', sa.String(length=24), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=False),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('reopened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recheck_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_task_rounds_closed_by_id_users')),
    sa.ForeignKeyConstraint(['recheck_id'], ['rechecks.id'], name=op.f('fk_task_rounds_recheck_id_rechecks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_task_rounds_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id', 'round', name=op.f('pk_task_rounds'))
    )
    with op.batch_alter_table('task_rounds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_rounds_closed_on'), ['closed_on'], unique=False)

    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recheck_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_evidence_recheck_id'), ['recheck_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_evidence_recheck_id_rechecks'), 'rechecks', ['recheck_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rebounded_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('round', sa.Integer(), server_default='1', nullable=False))

    _replace_check(NEW_KINDS)


def downgrade():
    op.execute("DELETE FROM notifications WHERE kind = 'recheck_due'")
    _replace_check(OLD_KINDS)
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_column('round')

    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.drop_column('rebounded_at')

    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_evidence_recheck_id_rechecks'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_evidence_recheck_id'))
        batch_op.drop_column('recheck_id')

    with op.batch_alter_table('task_rounds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_rounds_closed_on'))

    op.drop_table('task_rounds')
    with op.batch_alter_table('rechecks', schema=None) as batch_op:
        batch_op.drop_index('ux_rechecks_one_scheduled', sqlite_where=sa.text("state = 'scheduled'"), postgresql_where=sa.text("state = 'scheduled'"))
        batch_op.drop_index(batch_op.f('ix_rechecks_task_id'))
        batch_op.drop_index('ix_rechecks_state_due_on')
        batch_op.drop_index(batch_op.f('ix_rechecks_sample_id'))
        batch_op.drop_index(batch_op.f('ix_rechecks_reviewer_id'))

    op.drop_table('rechecks')
    with op.batch_alter_table('recheck_samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recheck_samples_unit_id'))

    op.drop_table('recheck_samples')

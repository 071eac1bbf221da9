"""Notices (提醒函 / 督办单): numbered per issuing unit, year and kind; their measures, recipients with
their 签收, replies with files; three notification kinds and the notice a notification is about

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

OLD_KINDS = ('assigned', 'due_soon', 'overdue', 'escalation', 'ongoing', 'digest', 'submitted', 'rejected',
             'verified', 'ack_due', 'ack_escalation')
NEW_KINDS = OLD_KINDS + ('notice_issued', 'notice_reply_due', 'notice_reply_escalation')
TZ = sa.DateTime(timezone=True)


def _enum(name, *values):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=24)


def _kind():
    return _enum('noticekind', 'reminder', 'supervision')


def _colour():
    return _enum('noticecolour', 'blue', 'yellow', 'red')


def _replace_check(kinds):
    with op.batch_alter_table('notifications', schema=None, recreate='auto') as batch_op:
        batch_op.drop_constraint('notificationkind', type_='check')
        batch_op.create_check_constraint(
            'notificationkind', sa.text("kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"))


def upgrade():
    op.create_table(
        'notice_counters',
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('kind', _kind(), nullable=False),
        sa.Column('last_number', sa.Integer(), nullable=False),
        sa.CheckConstraint('last_number >= 0', name=op.f('ck_notice_counters_last_number')),
        sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_notice_counters_unit_id_units'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('unit_id', 'year', 'kind', name=op.f('pk_notice_counters')),
    )
    op.create_table(
        'notices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', _kind(), nullable=False),
        sa.Column('colour', _colour(), nullable=False),
        sa.Column('issuing_unit_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('addressee_unit_id', sa.Integer(), nullable=False),
        sa.Column('issued_by_id', sa.Integer(), nullable=False),
        sa.Column('issued_at', TZ, nullable=False),
        sa.Column('issued_on', sa.Date(), nullable=False),
        sa.Column('reply_due_on', sa.Date(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('state', _enum('noticestate', 'issued', 'acknowledged', 'replied', 'returned', 'closed'),
                  nullable=False),
        sa.Column('replied_at', TZ, nullable=True),
        sa.Column('closed_at', TZ, nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.CheckConstraint('number > 0', name=op.f('ck_notices_number_positive')),
        sa.ForeignKeyConstraint(['addressee_unit_id'], ['units.id'],
                                name=op.f('fk_notices_addressee_unit_id_units')),
        sa.ForeignKeyConstraint(['issued_by_id'], ['users.id'], name=op.f('fk_notices_issued_by_id_users')),
        sa.ForeignKeyConstraint(['issuing_unit_id'], ['units.id'], name=op.f('fk_notices_issuing_unit_id_units')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notices')),
        sa.UniqueConstraint('issuing_unit_id', 'year', 'kind', 'number', name='uq_notices_number'),
    )
    op.create_index('ix_notices_issued_at', 'notices', ['issued_at'])
    op.create_index('ix_notices_issued_on', 'notices', ['issued_on'])
    op.create_index('ix_notices_state_reply_due_on', 'notices', ['state', 'reply_due_on'])
    op.create_index('ix_notices_kind_colour', 'notices', ['kind', 'colour'])
    op.create_index('ix_notices_addressee_unit_id', 'notices', ['addressee_unit_id', 'issued_at'])
    op.create_index('ix_notices_issued_by_id', 'notices', ['issued_by_id'])
    op.create_table(
        'notice_tasks',
        sa.Column('notice_id', sa.Integer(), nullable=False),
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('colour', _colour(), nullable=False),
        sa.Column('deadline', sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], name=op.f('fk_notice_tasks_notice_id_notices'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_notice_tasks_task_id_tasks'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('notice_id', 'task_id', name=op.f('pk_notice_tasks')),
    )
    op.create_index('ix_notice_tasks_task_id', 'notice_tasks', ['task_id'])
    op.create_table(
        'notice_recipients',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('notice_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('role', _enum('recipientrole', 'owner', 'manager', 'copy'), nullable=False),
        sa.Column('acknowledged_at', TZ, nullable=True),
        sa.ForeignKeyConstraint(['notice_id'], ['notices.id'],
                                name=op.f('fk_notice_recipients_notice_id_notices'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notice_recipients_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_recipients')),
        sa.UniqueConstraint('notice_id', 'user_id', name='uq_notice_recipients_user'),
    )
    op.create_index('ix_notice_recipients_user_id', 'notice_recipients', ['user_id', 'notice_id'])
    op.create_table(
        'notice_replies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('notice_id', sa.Integer(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', TZ, nullable=False),
        sa.Column('accepted', sa.Boolean(), nullable=True),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', TZ, nullable=True),
        sa.Column('decision_reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_notice_replies_author_id_users')),
        sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'],
                                name=op.f('fk_notice_replies_decided_by_id_users')),
        sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], name=op.f('fk_notice_replies_notice_id_notices'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_replies')),
    )
    op.create_index('ix_notice_replies_notice_id', 'notice_replies', ['notice_id'])
    op.create_table(
        'notice_files',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('notice_id', sa.Integer(), nullable=False),
        sa.Column('reply_id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('stored_name', sa.String(length=80), nullable=False),
        sa.Column('content_type', sa.String(length=120), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
        sa.Column('created_at', TZ, nullable=False),
        sa.CheckConstraint('size >= 0', name=op.f('ck_notice_files_size')),
        sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], name=op.f('fk_notice_files_notice_id_notices'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['reply_id'], ['notice_replies.id'],
                                name=op.f('fk_notice_files_reply_id_notice_replies'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'],
                                name=op.f('fk_notice_files_uploaded_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_files')),
        sa.UniqueConstraint('stored_name', name=op.f('uq_notice_files_stored_name')),
    )
    op.create_index('ix_notice_files_notice_id', 'notice_files', ['notice_id'])
    op.create_index('ix_notice_files_reply_id', 'notice_files', ['reply_id'])
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_notifications_notice_id', ['notice_id'], unique=False)
        batch_op.create_foreign_key('fk_notifications_notice_id_notices', 'notices', ['notice_id'], ['id'],
                                    ondelete='SET NULL')
    _replace_check(NEW_KINDS)


def downgrade():
    op.execute("DELETE FROM notifications WHERE kind IN ('notice_issued', 'notice_reply_due', "
               "'notice_reply_escalation')")
    _replace_check(OLD_KINDS)
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint('fk_notifications_notice_id_notices', type_='foreignkey')
        batch_op.drop_index('ix_notifications_notice_id')
        batch_op.drop_column('notice_id')
    for table in ('notice_files', 'notice_replies', 'notice_recipients', 'notice_tasks', 'notices',
                  'notice_counters'):
        op.drop_table(table)

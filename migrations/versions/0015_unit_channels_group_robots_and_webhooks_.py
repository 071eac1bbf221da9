"""Unit channels (推送渠道): group robots and webhooks fed by the outbox; a notification goes to a person
or to a channel; two notification kinds (a unit's daily and weekly summary); the robot channel

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 12:13:49.322417

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

OLD_KINDS = ('assigned', 'due_soon', 'overdue', 'escalation', 'ongoing', 'digest', 'submitted', 'rejected',
             'verified', 'ack_due', 'ack_escalation', 'notice_issued', 'notice_reply_due',
             'notice_reply_escalation', 'period_due', 'period_missed', 'recheck_due')
NEW_KINDS = OLD_KINDS + ('unit_daily', 'unit_weekly')


def _replace_checks(kinds, channels):
    with op.batch_alter_table('notifications', schema=None, recreate='auto') as batch_op:
        batch_op.drop_constraint('notificationkind', type_='check')
        batch_op.create_check_constraint(
            'notificationkind', sa.text("kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"))
        batch_op.drop_constraint('channel', type_='check')
        batch_op.create_check_constraint(
            'channel', sa.text("channel IN (" + ", ".join(f"'{c}'" for c in channels) + ")"))


def upgrade():
    op.create_table('unit_channels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('wecom', 'dingtalk', 'feishu', 'webhook', name='channelkind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('url_encrypted', sa.Text(), nullable=False),
    sa.Column('url_hint', sa.String(length=120), nullable=False),
    sa.Column('secret_encrypted', sa.Text(), nullable=True),
    sa.Column('daily', sa.Boolean(), nullable=False),
    sa.Column('weekly', sa.Boolean(), nullable=False),
    sa.Column('escalations', sa.Boolean(), nullable=False),
    sa.Column('notices', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('window_count', sa.Integer(), nullable=False),
    sa.Column('last_test_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_test_ok', sa.Boolean(), nullable=True),
    sa.Column('last_test_note', sa.String(length=255), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint('window_count >= 0', name=op.f('ck_unit_channels_window_count')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_unit_channels_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_unit_channels_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_channels')),
    sa.UniqueConstraint('unit_id', 'name', name='uq_unit_channels_unit_id_name')
    )
    with op.batch_alter_table('unit_channels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_channels_unit_id'), ['unit_id'], unique=False)

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('data', sa.JSON(), nullable=True))
        batch_op.alter_column('user_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_notifications_channel_id'), ['channel_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_notifications_channel_id_unit_channels'), 'unit_channels', ['channel_id'], ['id'], ondelete='CASCADE')
        batch_op.create_check_constraint('one_recipient', sa.text("(user_id IS NULL) <> (channel_id IS NULL)"))

    _replace_checks(NEW_KINDS, ('email', 'robot'))


def downgrade():
    op.execute("DELETE FROM notifications WHERE channel_id IS NOT NULL OR kind IN ('unit_daily', 'unit_weekly')")
    _replace_checks(OLD_KINDS, ('email',))
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_notifications_one_recipient'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_notifications_channel_id_unit_channels'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_notifications_channel_id'))
        batch_op.alter_column('user_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('data')
        batch_op.drop_column('channel_id')

    with op.batch_alter_table('unit_channels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_channels_unit_id'))

    op.drop_table('unit_channels')

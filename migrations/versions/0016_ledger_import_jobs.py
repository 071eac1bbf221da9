"""Ledger imports as background jobs: a job row per check and per import of an uploaded ledger, with its
progress, heartbeat and result

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 13:33:36.606725

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ledger_import_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('check', 'import', name='jobkind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('state', sa.Enum('queued', 'running', 'done', 'failed', name='jobstate', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('phase', sa.Enum('reading', 'checking', 'saving', name='jobphase', native_enum=False, create_constraint=True, length=24), nullable=True),
    sa.Column('stored_name', sa.String(length=80), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done_rows', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=120), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("state <> 'running' OR worker IS NOT NULL", name=op.f('ck_ledger_import_jobs_running_has_worker')),
    sa.CheckConstraint('total >= 0 AND done_rows >= 0 AND attempts >= 0', name=op.f('ck_ledger_import_jobs_counts')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_ledger_import_jobs_owner_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_import_jobs')),
    sa.UniqueConstraint('stored_name', 'kind', name=op.f('uq_ledger_import_jobs_stored_name'))
    )
    with op.batch_alter_table('ledger_import_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_import_jobs_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index('ix_ledger_import_jobs_state_id', ['state', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('ledger_import_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_import_jobs_state_id')
        batch_op.drop_index(batch_op.f('ix_ledger_import_jobs_owner_id'))

    op.drop_table('ledger_import_jobs')

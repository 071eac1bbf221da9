"""dashboard_snapshots: figures that take seconds to count (a province's root) kept a while, shared by
every worker and host

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 21:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('dashboard_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('took_ms', sa.Integer(), nullable=False),
    sa.Column('computing_since', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_dashboard_snapshots_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_snapshots')),
    sa.UniqueConstraint('key', name=op.f('uq_dashboard_snapshots_key'))
    )
    with op.batch_alter_table('dashboard_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dashboard_snapshots_computed_at'), ['computed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_dashboard_snapshots_unit_id'), ['unit_id'], unique=False)



def downgrade():
    with op.batch_alter_table('dashboard_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dashboard_snapshots_unit_id'))
        batch_op.drop_index(batch_op.f('ix_dashboard_snapshots_computed_at'))

    op.drop_table('dashboard_snapshots')

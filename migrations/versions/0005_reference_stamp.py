"""reference_stamp: one row renewed whenever units, people, sources or categories change

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 18:00:00.000000

"""
import uuid

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        'reference_stamp',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('stamp', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reference_stamp')),
    )
    op.bulk_insert(table, [{'id': 1, 'stamp': uuid.uuid4().hex}])


def downgrade():
    op.drop_table('reference_stamp')

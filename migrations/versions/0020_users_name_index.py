"""users (name, id): 整改清单 and the API by owner walk people in name order instead of sorting every match

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 22:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_name', ['name', 'id'], unique=False)



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_name')


"""units.path with zero-padded ids, so a sort by path is the tree's order ("/1/10/" sorted before "/1/9/")

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 18:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

units = sa.table('units', sa.column('id', sa.Integer), sa.column('path', sa.String))


def _rewrite(segment) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(units.c.id, units.c.path)).all()
    for unit_id, path in rows:
        parts = [segment(p) for p in path.strip('/').split('/') if p]
        new = '/' + ''.join(f'{p}/' for p in parts)
        if new != path:
            conn.execute(units.update().where(units.c.id == unit_id).values(path=new))


def upgrade():
    # Kept literal here (the format of tracker.org.models.child_path): a migration must not change
    # when the model module does.
    _rewrite(lambda p: f'{int(p):010d}')


def downgrade():
    _rewrite(lambda p: str(int(p)))

"""How an app context's transaction ends (tracker/transactions.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tracker.extensions import db
from tracker.org.models import Unit


def ends(app) -> list[str]:
    """Record how the engine's transactions end from now on."""
    seen: list[str] = []
    sa.event.listen(db.engine, "commit", lambda conn: seen.append("commit"))
    sa.event.listen(db.engine, "rollback", lambda conn: seen.append("rollback"))
    return seen


def test_a_context_that_only_read_ends_with_commit(app, org):
    seen = ends(app)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Unit.id))) == 4
    assert seen == ["commit"]


def test_flushed_changes_never_committed_by_the_end_of_a_context(app, org):
    seen = ends(app)
    with app.app_context():
        db.session.get(Unit, org.a.id).name = "不该保存"
        db.session.flush()  # an UPDATE went out; the request then returns without committing
    assert seen == ["rollback"]
    with app.app_context():
        assert db.session.get(Unit, org.a.id).name == "第一党支部"


def test_pending_changes_and_errors_roll_back(app, org):
    seen = ends(app)
    with app.app_context():
        db.session.get(Unit, org.a.id).name = "未刷新的修改"
    try:
        with app.app_context():
            db.session.scalar(sa.select(Unit.id).limit(1))
            raise RuntimeError("the view failed")
    except RuntimeError:
        pass
    assert seen == ["rollback", "rollback"]
    with app.app_context():
        assert db.session.get(Unit, org.a.id).name == "第一党支部"


def test_a_read_after_a_write_in_the_same_transaction_still_rolls_back(app, org):
    seen = ends(app)
    with app.app_context():
        db.session.execute(sa.update(Unit).where(Unit.id == org.b.id).values(name="批量"))
        db.session.scalar(sa.select(Unit.name).where(Unit.id == org.b.id))
    assert seen == ["rollback"]
    with app.app_context():
        assert db.session.get(Unit, org.b.id).name == "办公室"


def test_postgresql_keeps_its_prepared_statements_across_requests(app, org, backend):
    if backend != "postgresql":
        pytest.skip("SQLite has no server-side plans to keep")
    for _ in range(8):  # psycopg prepares a statement on its sixth use on a connection
        with app.app_context():
            db.session.scalar(sa.select(Unit.name).where(Unit.id == org.a.id))
    with app.app_context():
        prepared = db.session.scalar(sa.text("SELECT count(*) FROM pg_prepared_statements"))
    assert prepared >= 1

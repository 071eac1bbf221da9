"""Notice numbers under concurrent issuing (DESIGN §3 "Supervision": no gaps, no duplicates).

Two issuers of the same unit, year and kind issue at the same moment, in real threads with their
own sessions and connections, on both backends; the counter row's lock decides the order.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from conftest import TODAY, Factory, when
from test_extension_races import race

from tracker.extensions import db
from tracker.org.models import User
from tracker.supervision import services
from tracker.supervision.models import Notice, NoticeCounter, NoticeKind

ROUNDS = 6


@pytest.fixture
def overdue(org):
    early = Factory(when("2026-05-01T09:00:00"))
    problem = early.problem(org.mgr_a, org.a, found_on=date(2026, 4, 20))
    task = early.task(org.mgr_a, problem, owner=org.staff_a, deadline=TODAY - timedelta(days=3))
    db.session.commit()
    return task


def _issue(user_id, task_id, clock):
    def load():
        actor = db.session.get(User, user_id)
        assert actor.unit.path  # read before the barrier
        return lambda: services.issue(actor, clock, kind=NoticeKind.SUPERVISION, task_ids=[task_id],
                                      reply_due_on=TODAY + timedelta(days=5), body="请整改").number
    return load


def test_two_issuers_at_once_get_consecutive_numbers(app, org, clock, overdue):
    for n in range(ROUNDS):
        results = race(app, clock, _issue(org.mgr_a.id, overdue.id, clock),
                       _issue(org.mgr_a_2.id, overdue.id, clock))
        assert sorted(results) == [2 * n + 1, 2 * n + 2], results
    db.session.expire_all()
    numbers = db.session.scalars(sa.select(Notice.number).where(Notice.issuing_unit_id == org.a.id)
                                 .order_by(Notice.number)).all()
    assert numbers == list(range(1, 2 * ROUNDS + 1))  # no gap, no duplicate
    counter = db.session.get(NoticeCounter, (org.a.id, 2026, NoticeKind.SUPERVISION))
    assert counter.last_number == 2 * ROUNDS


def test_the_database_refuses_a_duplicate_number(org, clock, overdue):
    notice = services.issue(org.mgr_a, clock, kind=NoticeKind.SUPERVISION, task_ids=[overdue.id],
                            reply_due_on=TODAY, body="x")
    db.session.commit()
    db.session.add(Notice(kind=notice.kind, colour=notice.colour, issuing_unit_id=notice.issuing_unit_id,
                          year=notice.year, number=notice.number, addressee_unit_id=notice.addressee_unit_id,
                          issued_by_id=org.mgr_a.id, issued_at=clock.now(), issued_on=TODAY,
                          reply_due_on=TODAY, body="x"))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()

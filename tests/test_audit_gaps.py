"""What the transitions record besides the measure: a problem's derived state (audited, without
bumping its version) and pending requests settled by a close; a historical ledger import tells nobody."""

from __future__ import annotations

import io
from datetime import timedelta

import sqlalchemy as sa
from conftest import TODAY
from flask_babel import force_locale
from test_ledger import _empty_lists, ledger  # noqa: F401  (the ledger fixture)

from tracker.audit.models import AuditEvent
from tracker.enums import ExtensionState, ProblemState
from tracker.extensions import db
from tracker.ledger.export import build_ledger_xlsx
from tracker.ledger.importer import run_import
from tracker.org.models import Unit, User
from tracker.problems import services as problems
from tracker.problems.models import Problem
from tracker.reminders.models import Notification, NotificationKind
from tracker.tasks import services as tasks


def events(action, **where):
    stmt = sa.select(AuditEvent).where(AuditEvent.action == action)
    for key, value in where.items():
        stmt = stmt.where(getattr(AuditEvent, key) == value)
    return db.session.scalars(stmt.order_by(AuditEvent.id)).all()


def test_closing_the_last_measure_records_the_problem_state_and_keeps_its_version(org, make, clock):
    problem = make.problem(org.mgr_a)
    first = make.task(org.mgr_a, problem=problem, owner=org.staff_a)
    second = make.task(org.mgr_a, problem=problem, owner=org.staff_a)
    db.session.commit()
    version = problem.version  # what a manager's open edit form of the problem holds
    for task in (first, second):
        tasks.submit(task, org.staff_a, clock, result="已整改")
        tasks.verify(task, org.mgr_a_2, clock)
    db.session.commit()
    db.session.expire_all()
    assert problem.state == ProblemState.CLOSED and problem.closed_on == TODAY
    assert problem.version == version
    [event] = events("problem.state", problem_id=problem.id)
    assert event.before == {"state": "open", "closed_on": None}
    assert event.after == {"state": "closed", "closed_on": TODAY.isoformat()}
    assert event.actor_id == org.mgr_a_2.id

    # The edit opened before the close-out still saves.
    problems.update_problem(problem, org.mgr_a, clock, expected_version=version, description="新描述",
                            category=problem.category, source=problem.source, unit=problem.unit,
                            lead_unit=problem.lead_unit, found_on=problem.found_on)
    db.session.commit()
    assert problem.description == "新描述" and problem.state == ProblemState.CLOSED

    # A new measure reopens it, recorded too.
    make.task(org.mgr_a, problem=problem, owner=org.staff_a)
    db.session.commit()
    assert problem.state == ProblemState.OPEN
    assert [e.after["state"] for e in events("problem.state", problem_id=problem.id)] == ["closed", "open"]


def test_no_problem_state_event_when_the_state_stays(org, make, clock):
    problem = make.problem(org.mgr_a)
    task = make.task(org.mgr_a, problem=problem, owner=org.staff_a)
    make.task(org.mgr_a, problem=problem, owner=org.staff_a)
    tasks.submit(task, org.staff_a, clock, result="已整改")
    tasks.verify(task, org.mgr_a_2, clock)
    db.session.commit()
    assert events("problem.state", problem_id=problem.id) == []


def test_a_request_settled_by_a_close_is_recorded(org, make, clock):
    task = make.task(org.mgr_a, owner=org.staff_a)
    ext = tasks.request_extension(task, org.staff_a, clock, new_deadline=TODAY + timedelta(days=90),
                                  reason="需要更多时间")
    tasks.cancel(task, org.mgr_a, clock, comment="问题已不存在")
    db.session.commit()
    assert ext.state == ExtensionState.REJECTED
    [event] = events("extension.reject", object_id=ext.id)
    assert event.after == {"state": "rejected", "settled": "cancelled"}
    assert event.comment == "问题已不存在" and event.actor_id == org.mgr_a.id and event.task_id == task.id


def test_a_ledger_import_queues_no_assignment_notices(ledger, org, clock):  # noqa: F811
    stream = io.BytesIO()
    build_ledger_xlsx(None, clock, stream, lang="zh_CN")
    _empty_lists(sources=True)
    db.session.execute(sa.delete(Notification))
    db.session.commit()
    with force_locale("zh_CN"):
        report = run_import(stream.getvalue(), db.session.get(User, org.admin.id), clock)
    assert report.ok
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.kind == NotificationKind.ASSIGNED)) == 0
    # …while a measure added by hand still tells its owner.
    problem = db.session.scalars(sa.select(Problem).order_by(Problem.id)).first()
    tasks.create_task(problem, db.session.get(User, org.mgr_root.id), clock, measure="新措施",
                      owner=db.session.get(User, org.staff_a.id), unit=db.session.get(Unit, org.a.id),
                      deadline=TODAY + timedelta(days=30))
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.kind == NotificationKind.ASSIGNED)) == 1

"""The benchmark generator makes a small, consistent dataset on a fresh, migrated database (both backends):
every state, the overdue set it reports, problem states derived from their tasks, unit paths, owners,
dates in order, one shared password hash, ids the app can continue from."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import PG_URL

from benchmarks.generate import generate
from benchmarks.workload import BENCH_PASSWORD, Shape, build
from tracker import create_app
from tracker.clock import Clock
from tracker.enums import ExtensionState, ProblemState, Role, TaskState, TaskType
from tracker.extensions import db
from tracker.org import services as org
from tracker.org.models import Unit, User, child_path
from tracker.problems.models import Problem
from tracker.scope import task_clause
from tracker.tasks.models import Extension, Task
from tracker.tasks.services import derive_problem_state

SHAPE = Shape(tasks=400, problems=120, users=40, units=12, closed_share=0.4, deadline_spread=60, seed=5,
              audit=True, staff_tasks=30)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG_URL, reason="TRACKER_TEST_POSTGRES_URL is not set"))]


@pytest.fixture(params=BACKENDS)
def database(request, tmp_path):
    """A URL for a database that does not exist yet (PostgreSQL: created by the generator, dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bench.sqlite3'}"
        return
    url = sa.make_url(PG_URL).set(database=f"test_bench_{uuid.uuid4().hex[:8]}")
    yield url.render_as_string(hide_password=False)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


def open_app(url: str):
    return create_app({"DATABASE_URL": url, "SECRET_KEY": "t", "WTF_CSRF_ENABLED": False,
                       "SCHEDULER_ENABLED": False})


@pytest.fixture
def generated(database):
    facts = generate(database, SHAPE, echo=lambda *a: None)
    app = open_app(database)
    with app.app_context():
        yield app, facts
        db.session.remove()
        db.engine.dispose()


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_counts_states_and_the_overdue_set(generated):
    _, facts = generated
    today = facts["today"]
    assert (count(Task), count(Problem), count(User), count(Unit)) == (400, 120, 40, 12)
    states = dict(db.session.execute(sa.select(Task.state, sa.func.count()).group_by(Task.state)).all())
    assert set(states) == set(TaskState)
    assert states[TaskState.CLOSED] == 160  # 40 % closed, exactly
    assert {s.value: n for s, n in states.items()} == facts["tasks_by_state"]
    overdue = count(Task, Task.overdue_clause(today))
    assert overdue == facts["overdue"] > 0
    deadlines = db.session.execute(sa.select(sa.func.min(Task.deadline), sa.func.max(Task.deadline))).one()
    assert today - timedelta(days=60) <= deadlines[0] and deadlines[1] <= today + timedelta(days=60)
    assert count(Task, Task.type == TaskType.ONGOING, Task.deadline.is_(None)) > 0


def test_problem_states_are_derived_from_their_tasks(generated):
    for problem in db.session.scalars(sa.select(Problem)):
        tasks = db.session.scalars(sa.select(Task).where(Task.problem_id == problem.id)).all()
        assert tasks, problem.number
        assert problem.state == derive_problem_state([t.state for t in tasks])
        closed = [t.closed_on for t in tasks if t.closed_on]
        assert problem.closed_on == (max(closed) if problem.state == ProblemState.CLOSED else None)
    assert count(Problem, Problem.state == ProblemState.CLOSED) > 0
    assert count(Problem, Problem.state == ProblemState.OPEN) > 0


def test_each_task_carries_what_its_state_implies(generated):
    _, facts = generated
    for t in db.session.scalars(sa.select(Task)):
        assert t.owner.role in (Role.MANAGER, Role.STAFF) and t.owner.unit_id == t.unit_id
        assert (t.deadline is None) == (t.original_deadline is None)
        if t.deadline is not None:
            assert t.original_deadline <= t.deadline
        if t.state in (TaskState.SUBMITTED, TaskState.CLOSED):
            assert t.result and t.submitted_by_id == t.owner_id and t.started_at <= t.submitted_at
        if t.state == TaskState.CLOSED:
            assert t.closed_on and t.closed_at and t.submitted_at <= t.closed_at
            assert t.closed_by_id != t.owner_id and t.closed_on <= facts["today"]
            assert t.closed_by.role in (Role.MANAGER, Role.ADMIN)
        else:
            assert t.closed_at is None and t.closed_on is None
        assert (t.cancelled_at is not None) == (t.state == TaskState.CANCELLED)
    for ext in db.session.scalars(sa.select(Extension)):
        assert ext.new_deadline > ext.old_deadline
        if ext.state == ExtensionState.APPROVED:
            assert (ext.old_deadline, ext.new_deadline) == (ext.task.original_deadline, ext.task.deadline)


def test_unit_paths_form_a_tree_of_four_levels(generated):
    units = {u.id: u for u in db.session.scalars(sa.select(Unit))}
    for unit in units.values():
        parent = units.get(unit.parent_id)
        assert unit.path == child_path(parent.path if parent else None, unit.id)
    assert max(u.depth for u in units.values()) == 3
    assert sum(1 for u in units.values() if u.parent_id is None) == 1


def test_people_log_in_and_the_app_continues_the_ids(generated):
    app, _ = generated
    users = db.session.scalars(sa.select(User)).all()
    assert len({u.password_hash for u in users}) == 1 and users[0].check_password(BENCH_PASSWORD)
    manager = db.session.scalar(sa.select(User).where(User.username == "bench_manager"))
    assert count(Task, task_clause(manager)) == 400  # at the root, the manager sees everything
    staff = db.session.scalar(sa.select(User).where(User.username == "bench_staff"))
    assert count(Task, Task.owner_id == staff.id) >= 30  # and whatever else their unit gives them
    root = db.session.scalar(sa.select(Unit).where(Unit.parent_id.is_(None)))
    unit = org.save_unit(None, Clock(), code="NEW", name="新单位", parent=root)
    db.session.commit()
    assert unit.id == 13 and unit.path == child_path(root.path, 13)
    client = app.test_client()
    login = client.post("/login", data={"username": "bench_manager", "password": BENCH_PASSWORD})
    assert login.status_code == 302
    assert client.get("/tasks?overdue=1").status_code == 200


def test_audit_events_record_every_creation_and_transition(generated):
    from tracker.audit.models import AuditEvent

    transitions = count(Task, Task.started_at.isnot(None)) + count(Task, Task.submitted_at.isnot(None)) \
        + count(Task, Task.closed_at.isnot(None)) + count(Task, Task.cancelled_at.isnot(None))
    assert count(AuditEvent) == 120 + 400 + transitions


def test_one_unit_puts_everybody_in_the_root():
    data = build(Shape(tasks=60, users=12, one_unit=True, seed=1), today=Clock().today(), tz="Asia/Shanghai",
                 password_hash="x", category_ids=[1, 2])
    assert len(data.tables["units"]) == 1
    assert {u["unit_id"] for u in data.tables["users"]} == {None, 1}  # the admin has no unit
    assert {t["unit_id"] for t in data.tables["tasks"]} == {1}


def test_same_seed_same_rows_and_counts_scale_with_tasks():
    def rows(seed):
        data = build(Shape(tasks=200, seed=seed), today=Clock().today(), tz="Asia/Shanghai",
                     password_hash="x", category_ids=[1, 2, 3])
        return [(t["owner_id"], t["deadline"], t["state"]) for t in data.tables["tasks"]]

    assert rows(3) == rows(3) != rows(4)
    full = Shape().resolved()
    assert (full.tasks, full.problems, full.users, full.units) == (100_000, 30_000, 5_000, 200)
    with pytest.raises(ValueError):
        Shape(tasks=10, problems=11).resolved()


def test_the_reminders_job_queues_on_the_generated_data_and_leaves_it_as_it_was(generated):
    """benchmarks.jobs reminders: a first pass writes every rule's messages, the next morning's only the
    new ones; then what it queued is gone again (the bench's database is reused)."""
    from benchmarks import jobs
    from tracker.reminders.models import Notification, ReminderSweep

    app, facts = generated
    before = db.session.scalar(sa.select(sa.func.count(Notification.id)))
    found = jobs.reminders(app, None)
    assert found["overdue"] == facts["overdue"] > 0
    assert found["first"]["messages"] >= facts["overdue"]  # at least the owner of each overdue measure
    assert found["same_day"]["messages"] == 0  # five minutes later, nothing changed
    assert 0 <= found["next_day"]["messages"] < found["first"]["messages"]
    assert db.session.scalar(sa.select(sa.func.count(Notification.id))) == before
    assert db.session.scalar(sa.select(sa.func.count(ReminderSweep.rule))) == 0

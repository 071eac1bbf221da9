"""The demo data: loaded through the services, every role and state present, dated relative to today."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import NOW

from tracker import demo, scope
from tracker.audit.models import AuditEvent
from tracker.clock import Clock
from tracker.enums import ExtensionState, Light, ProblemState, Role, SourceKind, TaskState, TaskType
from tracker.extensions import db
from tracker.followup import rechecks
from tracker.followup.models import PeriodState, Recheck, RecheckSample, RecheckState, TaskPeriod, TaskRound
from tracker.org.models import Unit, User
from tracker.problems.models import Problem, Source
from tracker.review.models import Rating
from tracker.tasks import evidence
from tracker.tasks.models import Evidence, Extension, Progress, Task
from tracker.tasks.services import derive_problem_state

# A mid-year Monday (the suite's NOW) and an early-January morning, so the story crosses a year.
CLOCKS = [NOW, "2027-01-04T08:05:00"]


def load(when: str = NOW) -> Clock:
    clock = Clock.parse(when)
    logins = demo.load_demo(clock)
    db.session.commit()
    assert logins == demo.DEMO_LOGINS
    return clock


def all_tasks() -> list[Task]:
    return list(db.session.scalars(sa.select(Task).order_by(Task.id)))


@pytest.mark.parametrize("when", CLOCKS)
def test_every_role_and_source_kind_is_present(app, when):
    load(when)
    roles = set(db.session.scalars(sa.select(User.role)))
    assert roles == set(Role)
    kinds = set(db.session.scalars(sa.select(Source.kind)))
    assert kinds == set(SourceKind)
    root = db.session.scalar(sa.select(Unit).where(Unit.parent_id.is_(None)))
    leaders = db.session.scalars(
        sa.select(User).where(User.role == Role.VIEWER, User.unit_id == root.id)
    ).all()
    assert leaders, "a read-only leader at the root sees everything"
    assert 15 <= db.session.scalar(sa.select(sa.func.count(Problem.id))) <= 25


@pytest.mark.parametrize("when", CLOCKS)
def test_every_task_state_and_light_is_present(app, when):
    clock = load(when)
    today = clock.today()
    tasks = all_tasks()
    assert {t.state for t in tasks} == set(TaskState)
    assert {t.type for t in tasks} == set(TaskType)
    lights = [t.light(today, 3) for t in tasks]
    assert {Light.RED, Light.YELLOW, Light.GREEN} <= set(lights)
    overdue = [t.days_overdue(today) for t in tasks if t.is_overdue(today)]
    assert max(overdue) >= 7, "some measures are overdue long enough to be escalated"
    assert any(1 <= d < 7 for d in overdue)
    closed = [t for t in tasks if t.state == TaskState.CLOSED and t.deadline is not None]
    assert any(t.closed_late for t in closed) and any(not t.closed_late for t in closed)
    ongoing = [t for t in tasks if t.type == TaskType.ONGOING]
    assert not any(t.is_overdue(today) for t in ongoing)
    # 阶段性销号: an ongoing measure closes a period and stays open (it used to be closed for good).
    periodic = [t for t in ongoing if t.period is not None]
    verified = db.session.scalars(sa.select(TaskPeriod).where(TaskPeriod.state == PeriodState.VERIFIED)).all()
    assert periodic and all(t.state != TaskState.CLOSED for t in periodic)
    assert {v.task_id for v in verified} & {t.id for t in periodic}, "an ongoing measure closed a period"


@pytest.mark.parametrize("when", CLOCKS)
def test_extensions_keep_the_original_deadline(app, when):
    clock = load(when)
    extensions = db.session.scalars(sa.select(Extension)).all()
    assert {e.state for e in extensions} == set(ExtensionState)
    for ext in extensions:
        task = ext.task
        if ext.state == ExtensionState.APPROVED:
            assert task.deadline == ext.new_deadline != task.original_deadline == ext.old_deadline
        else:
            assert task.deadline == task.original_deadline == ext.old_deadline
    pending = [e for e in extensions if e.state == ExtensionState.PENDING]
    assert pending and all(e.task.state.is_open for e in pending)
    # An approved extension moved a deadline that had passed to one that has not.
    assert any(e.old_deadline < clock.today() < e.new_deadline for e in extensions
               if e.state == ExtensionState.APPROVED)


def test_a_rejected_submission_is_resubmitted(app):
    load()
    rejected_ids = set(db.session.scalars(
        sa.select(AuditEvent.task_id).where(AuditEvent.action == "task.reject")
    ))
    assert rejected_ids
    for task_id in rejected_ids:
        task = db.session.get(Task, task_id)
        actions = db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.task_id == task_id).order_by(AuditEvent.created_at)
        ).all()
        assert actions.index("task.reject") < len(actions) - 1 - actions[::-1].index("task.submit")
        assert task.state == TaskState.SUBMITTED and task.submitted_at is not None


@pytest.mark.parametrize("when", CLOCKS)
def test_problem_states_follow_their_tasks(app, when):
    load(when)
    found = set()
    for problem in db.session.scalars(sa.select(Problem)):
        assert 1 <= len(problem.tasks) <= 3
        assert problem.state == derive_problem_state([t.state for t in problem.tasks])
        if problem.state == ProblemState.CLOSED:
            assert problem.closed_on == max(t.closed_on for t in problem.tasks if t.closed_on)
        found.add(problem.state)
    assert found == set(ProblemState)


def test_owners_and_units_follow_the_scope_rules(app):
    load()
    for task in all_tasks():
        owner, problem = task.owner, task.problem
        assert owner.active and owner.role in (Role.MANAGER, Role.STAFF)
        assert owner.unit.path.startswith(task.unit.path), "the owner works inside the measure's unit"
        responsible = [problem.unit, problem.lead_unit, *problem.cooperating_units]
        assert any(task.unit.path.startswith(u.path) for u in responsible)
        creator = db.session.get(User, task.created_by_id)
        assert scope.manages(creator, task.unit) and scope.can_edit_problem(creator, problem)
        assert scope.can_read_task(owner, task) and scope.can_read_problem(owner, problem)
        if task.closed_by_id:
            assert task.closed_by_id != task.submitted_by_id
    for problem in db.session.scalars(sa.select(Problem)):
        assert problem.responsible_leader.role != Role.STAFF
        assert problem.lead_unit not in problem.cooperating_units


@pytest.mark.parametrize("when", CLOCKS)
def test_nothing_happens_in_the_future(app, when):
    clock = load(when)
    now, today = clock.now(), clock.today()
    stamps = [
        *db.session.scalars(sa.select(AuditEvent.created_at)),
        *db.session.scalars(sa.select(Progress.created_at)),
        *db.session.scalars(sa.select(Task.created_at)),
    ]
    assert stamps and all(stamp.replace(tzinfo=stamp.tzinfo or now.tzinfo) < now for stamp in stamps)
    assert all(d <= today for d in db.session.scalars(sa.select(Problem.found_on)))
    assert all(d <= today for d in db.session.scalars(sa.select(Source.held_on)))
    oldest = min(db.session.scalars(sa.select(Source.held_on)))
    assert today - oldest <= timedelta(days=180), "the story is recent, relative to the clock"


def test_every_change_is_audited_with_its_actor(app):
    load()
    tasks = all_tasks()
    created = set(db.session.scalars(sa.select(AuditEvent.task_id).where(AuditEvent.action == "task.create")))
    assert created == {t.id for t in tasks}
    notes = db.session.scalar(sa.select(sa.func.count(Progress.id)))
    logged = db.session.scalar(
        sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == "progress.create")
    )
    assert notes == logged > 10
    unattributed = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.actor_id.is_(None))
    ).all()
    # Only the command line (no actor) builds the organisation; every later step has its actor.
    assert set(unattributed) == {"unit.create", "user.create"}


def test_evidence_files_are_stored(app):
    load()
    files = db.session.scalars(sa.select(Evidence)).all()
    assert len(files) >= 5
    assert {f.filename.rsplit(".", 1)[1] for f in files} >= {"txt", "pdf", "xlsx"}
    for f in files:
        stored = evidence.path_of(f.stored_name)
        assert stored.stat().st_size == f.size > 0
    pdf = next(f for f in files if f.filename.endswith(".pdf"))
    assert evidence.path_of(pdf.stored_name).read_bytes().startswith(b"%PDF-1.4")


def test_printed_logins_can_log_in(app, client):
    load()
    for username, password, role, unit_name in demo.DEMO_LOGINS:
        user = db.session.scalar(sa.select(User).where(User.username == username))
        assert user.role.value == role and user.email.endswith("@example.gov.cn")
        assert user.unit.name == unit_name
        response = client.post("/login", data={"username": username, "password": password})
        assert response.status_code == 302, username
        client.post("/logout")


def ledger(today) -> list[tuple]:
    """The demo's content with every date made relative to `today`."""

    def rel(d):
        return None if d is None else (d - today).days

    return [(t.problem.description, t.measure, t.state, t.type, rel(t.deadline), rel(t.original_deadline),
             rel(t.closed_on), t.light(today, 3), t.owner.username, t.unit.code) for t in all_tasks()]


def test_the_ledger_is_the_same_relative_to_any_clock(app):
    first = ledger(load(CLOCKS[0]).today())
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()
    second = ledger(load(CLOCKS[1]).today())
    assert first == second
    assert len({row[1] for row in first}) == len(first), "every measure is distinct"


def test_cli_demo_loads_an_empty_database_once(app, runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "zhangjianguo" in result.output and demo.PASSWORD in result.output
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) > 30
    again = runner.invoke(args=["demo"])
    assert again.exit_code != 0
    assert "not empty" in again.output
    assert db.session.scalar(sa.select(sa.func.count(Problem.id))) == len(demo.ISSUES)


def test_cli_demo_with_now_dates_relative_to_it(app, runner):
    result = runner.invoke(args=["demo", "--now", "2025-03-10"])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    held = db.session.scalars(sa.select(Source.held_on)).all()
    assert max(held) < Clock.parse("2025-03-10").today()
    assert min(held).year in (2024, 2025)


def test_cli_demo_if_empty_prints_the_logins_of_a_loaded_demo(app, runner):
    load()
    db.session.commit()
    result = runner.invoke(args=["demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "already loaded" in result.output
    for username, *_ in demo.DEMO_LOGINS:
        assert username in result.output
    assert db.session.scalar(sa.select(sa.func.count(Problem.id))) == len(demo.ISSUES)


def test_cli_demo_if_empty_leaves_other_data_alone(app, runner, make):
    make.unit("HQ", "某单位")
    db.session.commit()
    result = runner.invoke(args=["demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "not loaded" in result.output and "zhangjianguo" not in result.output
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_notices_in_every_state(app):
    from tracker.supervision.models import Notice, NoticeKind, NoticeState

    clock = load()
    notices = db.session.scalars(sa.select(Notice).order_by(Notice.id)).all()
    assert {n.state for n in notices} == set(NoticeState)
    assert {n.kind for n in notices} == set(NoticeKind)
    assert any(n.reply_overdue(clock.today()) for n in notices), "a reply is overdue"
    assert all(n.issued_on < clock.today() for n in notices)


@pytest.mark.parametrize("when", CLOCKS)
def test_follow_up_in_the_demo(app, when):
    """A chain mid-way, a verified period, re-checks held, rebounded (round 2 on record) and waiting from a
    recorded sample, and rated close-outs."""
    load(when)
    states = {r.state for r in db.session.scalars(sa.select(Recheck))}
    assert {RecheckState.CONSOLIDATED, RecheckState.REBOUNDED, RecheckState.SCHEDULED} <= states
    (first_round,) = db.session.scalars(sa.select(TaskRound)).all()
    assert db.session.get(Task, first_round.task_id).round == 2
    (sample,) = db.session.scalars(sa.select(RecheckSample)).all()
    assert sample.seed == 20260101
    assert rechecks.draw(sample.population, sample.size, sample.seed) == sample.picked
    tasks = all_tasks()
    assert any(t.review_step == 2 and len(t.review_steps) == 3 for t in tasks)
    assert {Rating.SATISFIED, Rating.BASIC} <= {t.rating for t in tasks}


def test_a_channel_is_shown_turned_off_and_gets_nothing(app):
    from tracker.channels.models import UnitChannel
    from tracker.reminders import services as reminders
    from tracker.reminders.models import Notification

    clock = load()
    channel = db.session.scalars(sa.select(UnitChannel)).one()
    assert channel.unit.code == "ZFJ" and channel.kind.value == "wecom" and not channel.active
    assert "demo" not in channel.url_encrypted and channel.url_hint.endswith("…demo")
    reminders.run_once(Clock.parse("2026-06-16T09:30:00"))
    reminders.run_once(clock)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.channel_id.is_not(None))) == 0

"""Every rule of DESIGN §3 "Rules", checked against the services with an explicit clock.

The services are called directly (no views): they hold the rules, and the web UI, the API,
the CLI and the scheduler all go through them.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, TODAY
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from tracker.audit.models import AuditEvent
from tracker.clock import Clock, current_clock
from tracker.enums import ExtensionState, Light, ProblemState, TaskState, TaskType
from tracker.errors import InvalidTransition, PermissionDenied, StaleVersion, ValidationFailed
from tracker.extensions import db
from tracker.org import services as org_services
from tracker.problems import services as problems
from tracker.tasks import rules
from tracker.tasks import services as tasks
from tracker.tasks.evidence import Upload
from tracker.tasks.models import Evidence, Extension, Progress, Task

DEADLINE = TODAY + timedelta(days=30)
S = TaskState


def walk(task, state: TaskState, org, clock) -> Task:
    """Bring a fresh task to `state` the way people do: owner works and submits, mgr_a decides."""
    owner = task.owner
    if state in (S.IN_PROGRESS, S.SUBMITTED, S.CLOSED):
        tasks.start(task, owner, clock)
    if state in (S.SUBMITTED, S.CLOSED):
        tasks.submit(task, owner, clock, result="已建立长效机制")
    if state == S.CLOSED:
        tasks.verify(task, org.mgr_a, clock)
    if state == S.CANCELLED:
        tasks.cancel(task, org.mgr_a, clock, comment="问题已合并")
    db.session.commit()
    return task


@pytest.fixture
def task_at(org, make, clock):
    """A committed task of staff_a in unit A (problem by mgr_a) in the given state."""

    def build(state: TaskState = S.ASSIGNED, **kw) -> Task:
        kw.setdefault("owner", org.staff_a)
        task = make.task(org.mgr_a, **kw)
        return walk(task, state, org, clock)

    return build


def task_row(task_id: int) -> tuple:
    return tuple(db.session.execute(
        sa.select(Task.state, Task.version, Task.deadline, Task.owner_id, Task.unit_id, Task.result)
        .where(Task.id == task_id)
    ).one())


def event_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(AuditEvent.id)))


def assert_refused(error, call, task: Task):
    """`call` raises `error` and changes nothing: no pending change, no event, same row after rollback."""
    task_id = task.id
    before, events = task_row(task_id), event_count()
    with pytest.raises(error) as info:
        call()
    assert not db.session.is_modified(task), "the service changed the task before refusing"
    assert event_count() == events
    assert task_row(task_id) == before
    db.session.rollback()
    assert task_row(task_id) == before
    return info.value


def new_events(since: int) -> list[AuditEvent]:
    stmt = sa.select(AuditEvent).where(AuditEvent.id > since).order_by(AuditEvent.id)
    return list(db.session.scalars(stmt))


def utc(moment: datetime) -> datetime:
    """SQLite hands back timestamps without their zone; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def last_event_id() -> int:
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.id), 0)))


# --- 1. task states: allowed transitions -----------------------------------------------------------


def test_start_moves_assigned_to_in_progress(task_at, org, clock):
    task = task_at()
    version = task.version
    tasks.start(task, org.staff_a, clock)
    db.session.commit()
    assert task.state == S.IN_PROGRESS
    assert utc(task.started_at) == clock.now()
    assert task.version == version + 1


def test_first_progress_note_starts_an_assigned_task(task_at, org, clock):
    task = task_at()
    tasks.post_progress(task, org.staff_a, clock, body="已召开专题会议")
    assert task.state == S.IN_PROGRESS
    version = task.version
    tasks.post_progress(task, org.staff_a, clock, body="已完成制度初稿")
    db.session.commit()
    assert task.state == S.IN_PROGRESS and task.version == version
    bodies = db.session.scalars(
        sa.select(Progress.body).where(Progress.task_id == task.id).order_by(Progress.id))
    assert list(bodies) == ["已召开专题会议", "已完成制度初稿"]


@pytest.mark.parametrize("state", [S.ASSIGNED, S.IN_PROGRESS], ids=lambda s: s.value)
def test_submit_with_result(task_at, org, clock, state):
    task = task_at(state)
    tasks.submit(task, org.staff_a, clock, result="  制度已印发  ")
    db.session.commit()
    assert task.state == S.SUBMITTED
    assert task.result == "制度已印发"
    assert utc(task.submitted_at) == clock.now() and task.submitted_by_id == org.staff_a.id
    assert task.started_at is not None


def test_verify_closes_out(task_at, org, clock):
    task = task_at(S.SUBMITTED)
    tasks.verify(task, org.mgr_a, clock, comment="经核查属实")
    db.session.commit()
    assert task.state == S.CLOSED
    assert (utc(task.closed_at), task.closed_on, task.closed_by_id) == (clock.now(), TODAY, org.mgr_a.id)


def test_reject_returns_to_in_progress_and_owner_resubmits(task_at, org, clock):
    task = task_at(S.SUBMITTED)
    tasks.reject(task, org.mgr_a, clock, comment="佐证材料不全")
    db.session.commit()
    assert task.state == S.IN_PROGRESS and task.submitted_at is None
    assert new_events(0)[-1].comment == "佐证材料不全"
    tasks.submit(task, org.staff_a, clock, result="已补充材料")
    tasks.verify(task, org.mgr_a, clock)
    assert task.state == S.CLOSED


@pytest.mark.parametrize("state", [S.ASSIGNED, S.IN_PROGRESS, S.SUBMITTED], ids=lambda s: s.value)
def test_cancel_any_open_state_with_reason(task_at, org, clock, state):
    task = task_at(state)
    tasks.cancel(task, org.mgr_a, clock, comment="与第3项重复")
    db.session.commit()
    assert task.state == S.CANCELLED and utc(task.cancelled_at) == clock.now()


def test_transition_dispatches_by_name(task_at, org, clock):
    task = task_at()
    tasks.transition(task, org.staff_a, clock, "start")
    tasks.transition(task, org.staff_a, clock, "submit", result="完成")
    tasks.transition(task, org.mgr_a, clock, "reject", comment="不充分")
    tasks.transition(task, org.staff_a, clock, "submit", result="完成")
    tasks.transition(task, org.mgr_a, clock, "verify")
    assert task.state == S.CLOSED


# --- 1. task states: forbidden transitions ------------------------------------------------------

FORBIDDEN = [
    ("verify-assigned", S.ASSIGNED, lambda t, o, c: tasks.verify(t, o.mgr_a, c), InvalidTransition),
    ("verify-in_progress", S.IN_PROGRESS, lambda t, o, c: tasks.verify(t, o.mgr_a, c), InvalidTransition),
    ("verify-closed", S.CLOSED, lambda t, o, c: tasks.verify(t, o.mgr_a_2, c), InvalidTransition),
    ("verify-cancelled", S.CANCELLED, lambda t, o, c: tasks.verify(t, o.mgr_a, c), InvalidTransition),
    ("start-in_progress", S.IN_PROGRESS, lambda t, o, c: tasks.start(t, o.staff_a, c), InvalidTransition),
    ("start-submitted", S.SUBMITTED, lambda t, o, c: tasks.start(t, o.staff_a, c), InvalidTransition),
    ("start-closed", S.CLOSED, lambda t, o, c: tasks.start(t, o.staff_a, c), InvalidTransition),
    ("submit-submitted", S.SUBMITTED, lambda t, o, c: tasks.submit(t, o.staff_a, c, result="x"),
     InvalidTransition),
    ("submit-closed", S.CLOSED, lambda t, o, c: tasks.submit(t, o.staff_a, c, result="x"), InvalidTransition),
    ("submit-cancelled", S.CANCELLED, lambda t, o, c: tasks.submit(t, o.staff_a, c, result="x"),
     InvalidTransition),
    ("submit-no-result", S.IN_PROGRESS, lambda t, o, c: tasks.submit(t, o.staff_a, c, result=None),
     ValidationFailed),
    ("submit-blank-result", S.IN_PROGRESS, lambda t, o, c: tasks.submit(t, o.staff_a, c, result="  \n "),
     ValidationFailed),
    ("submit-too-long", S.IN_PROGRESS, lambda t, o, c: tasks.submit(t, o.staff_a, c, result="长" * 5001),
     ValidationFailed),
    ("reject-no-reason", S.SUBMITTED, lambda t, o, c: tasks.reject(t, o.mgr_a, c, comment=None),
     ValidationFailed),
    ("reject-blank-reason", S.SUBMITTED, lambda t, o, c: tasks.reject(t, o.mgr_a, c, comment="   "),
     ValidationFailed),
    ("reject-in_progress", S.IN_PROGRESS, lambda t, o, c: tasks.reject(t, o.mgr_a, c, comment="x"),
     InvalidTransition),
    ("reject-closed", S.CLOSED, lambda t, o, c: tasks.reject(t, o.mgr_a_2, c, comment="x"),
     InvalidTransition),
    ("cancel-closed", S.CLOSED, lambda t, o, c: tasks.cancel(t, o.mgr_a, c, comment="x"), InvalidTransition),
    ("cancel-cancelled", S.CANCELLED, lambda t, o, c: tasks.cancel(t, o.mgr_a, c, comment="x"),
     InvalidTransition),
    ("cancel-no-reason", S.IN_PROGRESS, lambda t, o, c: tasks.cancel(t, o.mgr_a, c, comment=""),
     ValidationFailed),
    ("progress-closed", S.CLOSED, lambda t, o, c: tasks.post_progress(t, o.staff_a, c, body="x"),
     InvalidTransition),
    ("progress-cancelled", S.CANCELLED, lambda t, o, c: tasks.post_progress(t, o.staff_a, c, body="x"),
     InvalidTransition),
    ("progress-empty", S.ASSIGNED, lambda t, o, c: tasks.post_progress(t, o.staff_a, c, body=" "),
     ValidationFailed),
    ("reassign-closed", S.CLOSED,
     lambda t, o, c: tasks.reassign_task(t, o.mgr_a, c, owner=o.mgr_a_2, expected_version=None),
     InvalidTransition),
    ("reassign-same-owner", S.ASSIGNED,
     lambda t, o, c: tasks.reassign_task(t, o.mgr_a, c, owner=o.staff_a, expected_version=None),
     ValidationFailed),
    ("reassign-to-viewer", S.ASSIGNED,
     lambda t, o, c: tasks.reassign_task(t, o.mgr_root, c, owner=o.viewer_root, expected_version=None),
     ValidationFailed),
    ("deadline-closed", S.CLOSED,
     lambda t, o, c: tasks.change_deadline(t, o.mgr_a, c, deadline=DEADLINE + timedelta(days=9),
                                           expected_version=None, comment="x"), InvalidTransition),
    ("deadline-in-past", S.ASSIGNED,
     lambda t, o, c: tasks.change_deadline(t, o.mgr_a, c, deadline=TODAY - timedelta(days=1),
                                           expected_version=None, comment="x"), ValidationFailed),
    ("deadline-no-reason", S.ASSIGNED,
     lambda t, o, c: tasks.change_deadline(t, o.mgr_a, c, deadline=DEADLINE + timedelta(days=9),
                                           expected_version=None, comment=""), ValidationFailed),
    ("unknown-action", S.ASSIGNED, lambda t, o, c: tasks.transition(t, o.mgr_a, c, "close"),
     ValidationFailed),
]


@pytest.mark.parametrize("state, call, error", [pytest.param(*case[1:], id=case[0]) for case in FORBIDDEN])
def test_forbidden_transition_changes_nothing(task_at, org, clock, state, call, error):
    task = task_at(state)
    assert_refused(error, lambda: call(task, org, clock), task)


def test_service_errors_outside_a_request(task_at, org, clock):
    """The CLI and the scheduler call services with no request: a refusal must still be a typed error."""
    task = task_at()
    with pytest.raises(InvalidTransition) as info:
        tasks.verify(task, org.mgr_a, clock)
    assert str(info.value)


# --- 2. who may do what -------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["staff_a1", "staff_b", "mgr_b", "viewer_root", "mgr_a_child"])
def test_only_owner_or_subtree_manager_works_on_a_task(task_at, org, make, clock, who):
    task = task_at(S.IN_PROGRESS)
    actor = make.user("mgr_a1", "manager", org.a1) if who == "mgr_a_child" else org.users[who]
    assert_refused(PermissionDenied, lambda: tasks.post_progress(task, actor, clock, body="x"), task)
    assert_refused(PermissionDenied, lambda: tasks.submit(task, actor, clock, result="x"), task)


@pytest.mark.parametrize("who", ["staff_a", "mgr_a", "mgr_root", "admin"])
def test_owner_and_managers_above_post_progress_and_submit(task_at, org, clock, who):
    task = task_at(S.IN_PROGRESS)
    tasks.post_progress(task, org.users[who], clock, body="进展")
    tasks.submit(task, org.users[who], clock, result="完成")
    assert task.state == S.SUBMITTED and task.submitted_by_id == org.users[who].id


@pytest.mark.parametrize("who", ["staff_a", "staff_a1", "viewer_root", "mgr_b", "mgr_a_child"])
def test_only_a_manager_covering_the_unit_decides(task_at, org, make, clock, who):
    actor = make.user("mgr_a1", "manager", org.a1) if who == "mgr_a_child" else org.users[who]
    task = task_at(S.SUBMITTED)
    assert_refused(PermissionDenied, lambda: tasks.verify(task, actor, clock), task)
    assert_refused(PermissionDenied, lambda: tasks.reject(task, actor, clock, comment="x"), task)
    assert_refused(PermissionDenied, lambda: tasks.cancel(task, actor, clock, comment="x"), task)
    assert_refused(PermissionDenied, lambda: tasks.reassign_task(
        task, actor, clock, owner=org.mgr_a_2, expected_version=None), task)
    assert_refused(PermissionDenied, lambda: tasks.change_deadline(
        task, actor, clock, deadline=DEADLINE + timedelta(days=5), expected_version=None, comment="x"), task)


def test_manager_of_a_parent_unit_verifies(org, make, clock):
    task = make.task(org.mgr_a, owner=org.staff_a1)  # unit A1, below A, below ROOT
    walk(task, S.SUBMITTED, org, clock)
    tasks.verify(task, org.mgr_root, clock)
    assert task.state == S.CLOSED and task.closed_by_id == org.mgr_root.id


def test_nobody_verifies_their_own_submission(task_at, org, clock):
    task = task_at(S.IN_PROGRESS)
    tasks.submit(task, org.mgr_a, clock, result="由支部书记代为提交")
    db.session.commit()
    assert "verify" not in rules.available(task, org.mgr_a)
    assert "verify" in rules.available(task, org.mgr_a_2)
    assert_refused(PermissionDenied, lambda: tasks.verify(task, org.mgr_a, clock), task)
    tasks.verify(task, org.mgr_a_2, clock)
    assert task.state == S.CLOSED


def test_manager_owning_a_task_cannot_close_it_alone(org, make, clock):
    task = make.task(org.mgr_a, owner=org.mgr_a)
    tasks.submit(task, org.mgr_a, clock, result="完成")
    db.session.commit()
    assert_refused(PermissionDenied, lambda: tasks.verify(task, org.mgr_a, clock), task)


def test_self_verify_when_configured(app, task_at, org, clock):
    app.config["ALLOW_SELF_VERIFY"] = True
    task = task_at(S.IN_PROGRESS)
    tasks.submit(task, org.mgr_a, clock, result="完成")
    assert "verify" in rules.available(task, org.mgr_a)
    tasks.verify(task, org.mgr_a, clock)
    assert task.state == S.CLOSED


def test_evidence_is_optional_by_default(task_at, org, clock):
    task = task_at(S.IN_PROGRESS)
    tasks.submit(task, org.staff_a, clock, result="完成")
    assert task.state == S.SUBMITTED


def test_evidence_required_when_configured(app, task_at, org, clock):
    app.config["EVIDENCE_REQUIRED_ON_SUBMIT"] = True
    task = task_at(S.IN_PROGRESS)
    exc = assert_refused(ValidationFailed, lambda: tasks.submit(task, org.staff_a, clock, result="完成"),
                         task)
    assert "files" in exc.fields
    upload = Upload("整改报告.pdf", io.BytesIO(b"%PDF-1.4 test"), "application/pdf")
    tasks.submit(task, org.staff_a, clock, result="完成", uploads=[upload])
    db.session.commit()
    assert task.state == S.SUBMITTED
    stored = db.session.scalar(sa.select(Evidence.filename).where(Evidence.task_id == task.id))
    assert stored == "整改报告.pdf"


def test_evidence_from_an_earlier_progress_note_counts(app, task_at, org, clock):
    app.config["EVIDENCE_REQUIRED_ON_SUBMIT"] = True
    task = task_at()
    tasks.post_progress(task, org.staff_a, clock, body="会议记录",
                        uploads=[Upload("会议记录.docx", io.BytesIO(b"doc"))])
    tasks.submit(task, org.staff_a, clock, result="完成")
    assert task.state == S.SUBMITTED


# --- 3. overdue is derived, in the configured time zone ----------------------------------------

BOUNDARY = [
    pytest.param(Clock.parse("2026-06-15T23:59:00+08:00"), False, id="23:59-local"),
    pytest.param(Clock.parse("2026-06-16T00:01:00+08:00"), True, id="00:01-next-day-local"),
    pytest.param(Clock("Asia/Shanghai", datetime(2026, 6, 15, 15, 59, tzinfo=UTC)), False, id="15:59Z"),
    pytest.param(Clock("Asia/Shanghai", datetime(2026, 6, 15, 16, 30, tzinfo=UTC)), True,
                 id="16:30Z-is-tomorrow"),
]


def overdue_ids(today: date) -> set[int]:
    return set(db.session.scalars(sa.select(Task.id).where(Task.overdue_clause(today))))


@pytest.mark.parametrize("state", [S.ASSIGNED, S.IN_PROGRESS], ids=lambda s: s.value)
@pytest.mark.parametrize("moment, overdue", BOUNDARY)
def test_overdue_starts_the_day_after_the_deadline_in_local_time(task_at, state, moment, overdue):
    task = task_at(state, deadline=TODAY)
    today = moment.today()
    assert task.is_overdue(today) is overdue
    assert (task.id in overdue_ids(today)) is overdue
    assert task.days_overdue(today) == (1 if overdue else 0)
    assert (task.light(today, 3) == Light.RED) is overdue


def test_today_follows_the_configured_timezone(app):
    app.config["NOW"] = "2026-06-15T16:30:00+00:00"
    assert current_clock().today() == date(2026, 6, 16)
    app.config["TIMEZONE"] = "UTC"
    assert current_clock().today() == date(2026, 6, 15)


@pytest.mark.parametrize("state", [S.SUBMITTED, S.CLOSED, S.CANCELLED], ids=lambda s: s.value)
def test_submitted_closed_and_cancelled_are_never_overdue(task_at, state):
    task = task_at(state, deadline=TODAY)
    later = TODAY + timedelta(days=40)
    assert not task.is_overdue(later)
    assert task.id not in overdue_ids(later)


@pytest.mark.parametrize("moment, late", [(m.values[0], m.values[1]) for m in BOUNDARY],
                         ids=[m.id for m in BOUNDARY])
def test_closed_after_the_deadline_is_closed_late(task_at, org, clock, moment, late):
    task = task_at(S.SUBMITTED, deadline=TODAY)
    tasks.verify(task, org.mgr_a, moment)
    assert task.closed_on == moment.today()
    assert task.closed_late is late


def test_closed_before_the_deadline_is_on_time(task_at):
    task = task_at(S.CLOSED)
    assert task.closed_on == TODAY < task.deadline and not task.closed_late


@pytest.fixture
def spread(org):
    """Tasks in every state and type with deadlines around 2026-06-15, created on 2026-06-01."""
    early = Clock.parse("2026-06-01T09:00:00")
    problem = _problem(org, early)
    deadlines = [date(2026, 6, d) for d in (10, 12, 14, 15, 16, 17, 18, 19, 20, 25)]
    made = []
    for state in S:
        for deadline in deadlines:
            made.append(_task(problem, org, early, deadline, TaskType.DEADLINE, state))
        made.append(_task(problem, org, early, date(2026, 6, 14), TaskType.IMMEDIATE, state))
        made.append(_task(problem, org, early, date(2026, 6, 14), TaskType.ONGOING, state))
        made.append(_task(problem, org, early, None, TaskType.ONGOING, state))
    db.session.commit()
    return made


def _problem(org, clock):
    src = problems.save_source(org.mgr_a, clock, name="2026年专项巡察", kind="inspection_feedback",
                               unit=org.a, held_on=clock.today())
    return problems.create_problem(org.mgr_a, clock, description="制度执行不严", category=_category(),
                                   source=src, unit=org.a, lead_unit=org.a, found_on=clock.today())


def _category():
    from tracker.problems.models import Category

    return db.session.scalars(sa.select(Category).order_by(Category.id)).first()


def _task(problem, org, clock, deadline, type_, state):
    task = tasks.create_task(problem, org.mgr_a, clock, measure="措施", owner=org.staff_a, unit=org.a,
                             deadline=deadline, type=type_)
    return walk(task, state, org, clock)


DAYS = [date(2026, 6, d) for d in (9, 13, 14, 15, 16, 17, 20, 26)]


def test_overdue_clause_agrees_with_is_overdue(spread):
    wrong = {}
    for today in DAYS:
        expected = {t.id for t in spread if t.is_overdue(today)}
        if overdue_ids(today) != expected:
            wrong[today] = (overdue_ids(today), expected)
    assert not wrong
    assert overdue_ids(date(2026, 6, 9)) == set() and len(overdue_ids(date(2026, 6, 26))) == 2 * 11


def test_due_soon_clause_and_overdue_clause_agree_with_light(spread):
    wrong = {}
    for today in DAYS:
        for days in (0, 3, 7):
            lights = {t.id: t.light(today, days) for t in spread}
            yellow = set(db.session.scalars(sa.select(Task.id).where(Task.due_soon_clause(today, days))))
            if yellow != {i for i, light in lights.items() if light == Light.YELLOW}:
                wrong[(today, days, "yellow")] = yellow
            if overdue_ids(today) != {i for i, light in lights.items() if light == Light.RED}:
                wrong[(today, days, "red")] = overdue_ids(today)
    assert not wrong
    some = {t.light(date(2026, 6, 15), 3) for t in spread}
    assert some == {Light.RED, Light.YELLOW, Light.GREEN, None}


# --- 4. extensions ---------------------------------------------------------------------------------


def test_approved_extension_moves_deadline_and_keeps_the_original(task_at, org, clock):
    task = task_at(S.IN_PROGRESS)
    ext = tasks.request_extension(task, org.staff_a, clock, new_deadline=DEADLINE + timedelta(days=10),
                                  reason="需等待上级批复")
    assert ext.state == ExtensionState.PENDING and task.deadline == DEADLINE
    tasks.decide_extension(ext, org.mgr_a, clock, approve=True, comment="同意")
    db.session.commit()
    assert task.deadline == DEADLINE + timedelta(days=10)
    assert task.original_deadline == DEADLINE
    assert (ext.state, ext.old_deadline, ext.new_deadline) == (
        ExtensionState.APPROVED, DEADLINE, DEADLINE + timedelta(days=10))
    assert (ext.decided_by_id, utc(ext.decided_at)) == (org.mgr_a.id, clock.now())


def test_second_extension_keeps_the_first_original_deadline(task_at, org, clock):
    task = task_at(S.IN_PROGRESS)
    first = tasks.request_extension(task, org.staff_a, clock, new_deadline=DEADLINE + timedelta(days=10),
                                    reason="一")
    tasks.decide_extension(first, org.mgr_a, clock, approve=True)
    second = tasks.request_extension(task, org.staff_a, clock, new_deadline=DEADLINE + timedelta(days=25),
                                     reason="二")
    tasks.decide_extension(second, org.mgr_a, clock, approve=True)
    db.session.commit()
    assert (task.original_deadline, task.deadline) == (DEADLINE, DEADLINE + timedelta(days=25))
    rows = db.session.execute(sa.select(Extension.old_deadline, Extension.new_deadline)
                              .where(Extension.task_id == task.id).order_by(Extension.id)).all()
    assert [tuple(r) for r in rows] == [(DEADLINE, DEADLINE + timedelta(days=10)),
                                        (DEADLINE + timedelta(days=10), DEADLINE + timedelta(days=25))]


def test_direct_deadline_change_keeps_the_original(task_at, org, clock):
    task = task_at()
    tasks.change_deadline(task, org.mgr_a, clock, deadline=DEADLINE + timedelta(days=3),
                          expected_version=task.version, comment="统一调整")
    assert (task.original_deadline, task.deadline) == (DEADLINE, DEADLINE + timedelta(days=3))


def test_rejecting_an_extension_needs_a_reason(task_at, org, clock):
    task = task_at(S.IN_PROGRESS)
    ext = tasks.request_extension(task, org.staff_a, clock, new_deadline=DEADLINE + timedelta(days=10),
                                  reason="原因")
    db.session.commit()
    exc = assert_refused(ValidationFailed,
                         lambda: tasks.decide_extension(ext, org.mgr_a, clock, approve=False), task)
    assert "comment" in exc.fields
    assert db.session.get(Extension, ext.id).state == ExtensionState.PENDING
    tasks.decide_extension(ext, org.mgr_a, clock, approve=False, comment="理由不充分")
    db.session.commit()
    assert (ext.state, ext.decision_comment, task.deadline) == (ExtensionState.REJECTED, "理由不充分",
                                                                DEADLINE)
    assert_refused(InvalidTransition, lambda: tasks.decide_extension(ext, org.mgr_a, clock, approve=True),
                   task)


def test_one_pending_extension_at_a_time(task_at, org, clock):
    task = task_at()
    tasks.request_extension(task, org.staff_a, clock, new_deadline=DEADLINE + timedelta(days=10), reason="一")
    db.session.commit()
    assert_refused(InvalidTransition, lambda: tasks.request_extension(
        task, org.staff_a, clock, new_deadline=DEADLINE + timedelta(days=20), reason="二"), task)


def test_ongoing_tasks_cannot_be_extended(task_at, org, clock):
    task = task_at(type=TaskType.ONGOING, deadline=None)
    assert "extend" not in rules.available(task, org.staff_a)
    assert_refused(InvalidTransition, lambda: tasks.request_extension(
        task, org.staff_a, clock, new_deadline=DEADLINE, reason="x"), task)


@pytest.mark.parametrize("new_deadline", [None, DEADLINE, DEADLINE - timedelta(days=1)],
                         ids=["none", "same", "earlier"])
def test_extension_must_move_the_deadline_later(task_at, org, clock, new_deadline):
    task = task_at()
    exc = assert_refused(ValidationFailed, lambda: tasks.request_extension(
        task, org.staff_a, clock, new_deadline=new_deadline, reason="x"), task)
    assert "new_deadline" in exc.fields


def test_extension_of_an_overdue_task_must_not_be_in_the_past(task_at, org):
    task = task_at(deadline=TODAY)
    later = Clock.parse("2026-06-25T09:00:00")
    exc = assert_refused(ValidationFailed, lambda: tasks.request_extension(
        task, org.staff_a, later, new_deadline=date(2026, 6, 20), reason="x"), task)
    assert "new_deadline" in exc.fields
    tasks.request_extension(task, org.staff_a, later, new_deadline=date(2026, 6, 30), reason="x")


@pytest.mark.parametrize("state", [S.SUBMITTED, S.CLOSED, S.CANCELLED], ids=lambda s: s.value)
def test_only_tasks_being_worked_on_are_extended(task_at, org, clock, state):
    task = task_at(state)
    assert_refused(InvalidTransition, lambda: tasks.request_extension(
        task, org.staff_a, clock, new_deadline=DEADLINE + timedelta(days=5), reason="x"), task)


def test_who_requests_and_who_decides_extensions(task_at, org, clock):
    task = task_at()
    assert_refused(PermissionDenied, lambda: tasks.request_extension(
        task, org.staff_a1, clock, new_deadline=DEADLINE + timedelta(days=5), reason="x"), task)
    ext = tasks.request_extension(task, org.staff_a, clock, new_deadline=DEADLINE + timedelta(days=5),
                                  reason="x")
    db.session.commit()
    for who in ("staff_a", "mgr_b", "viewer_root"):
        assert_refused(PermissionDenied, lambda who=who: tasks.decide_extension(
            ext, org.users[who], clock, approve=True), task)
    tasks.decide_extension(ext, org.mgr_root, clock, approve=True)
    assert task.deadline == DEADLINE + timedelta(days=5)


def test_cancelling_a_task_settles_its_pending_extension(task_at, org, clock):
    task = task_at()
    ext = tasks.request_extension(task, org.staff_a, clock, new_deadline=DEADLINE + timedelta(days=5),
                                  reason="x")
    tasks.cancel(task, org.mgr_a, clock, comment="撤销")
    db.session.commit()
    assert ext.state == ExtensionState.REJECTED and task.deadline == DEADLINE


def test_closing_a_task_settles_its_pending_extension(task_at, org, clock):
    task = task_at(S.IN_PROGRESS)
    ext = tasks.request_extension(task, org.staff_a, clock, new_deadline=DEADLINE + timedelta(days=5),
                                  reason="x")
    tasks.submit(task, org.staff_a, clock, result="提前完成")
    tasks.verify(task, org.mgr_a, clock)
    db.session.commit()
    assert ext.state == ExtensionState.REJECTED
    pending = db.session.scalar(sa.select(sa.func.count(Extension.id))
                                .where(Extension.state == ExtensionState.PENDING))
    assert pending == 0


def test_approving_never_moves_the_deadline_earlier(task_at, org, clock):
    task = task_at()
    ext = tasks.request_extension(task, org.staff_a, clock, new_deadline=DEADLINE + timedelta(days=5),
                                  reason="x")
    tasks.change_deadline(task, org.mgr_a, clock, deadline=DEADLINE + timedelta(days=20),
                          expected_version=task.version, comment="统一延后")
    db.session.commit()
    assert_refused(InvalidTransition, lambda: tasks.decide_extension(ext, org.mgr_a, clock, approve=True),
                   task)
    tasks.decide_extension(ext, org.mgr_a, clock, approve=False, comment="已另行调整")
    assert task.deadline == DEADLINE + timedelta(days=20)


# --- 5. ongoing (长期坚持) ------------------------------------------------------------------------------


def test_ongoing_task_may_have_no_deadline_and_is_never_overdue(task_at):
    task = task_at(type=TaskType.ONGOING, deadline=None)
    far = TODAY + timedelta(days=400)
    assert task.deadline is None and task.original_deadline is None
    assert not task.is_overdue(far) and task.id not in overdue_ids(far)
    assert task.light(far, 3) == Light.GREEN


def test_ongoing_task_with_a_review_date_stays_green(task_at):
    task = task_at(S.IN_PROGRESS, type=TaskType.ONGOING, deadline=TODAY)
    for today in (TODAY - timedelta(days=1), TODAY, TODAY + timedelta(days=30)):
        assert task.light(today, 3) == Light.GREEN
        assert not task.is_overdue(today)
        due = set(db.session.scalars(sa.select(Task.id).where(Task.due_soon_clause(today, 3))))
        assert task.id not in due and task.id not in overdue_ids(today)


@pytest.mark.parametrize("type_", [TaskType.DEADLINE, TaskType.IMMEDIATE], ids=lambda t: t.value)
def test_other_types_need_a_deadline(org, make, type_):
    exc = pytest.raises(ValidationFailed, make.task, org.mgr_a, owner=org.staff_a, type=type_, deadline=None)
    assert "deadline" in exc.value.fields


def test_turning_an_ongoing_task_without_deadline_into_a_deadline_task_is_refused(task_at, org, clock):
    task = task_at(type=TaskType.ONGOING, deadline=None)
    assert_refused(ValidationFailed, lambda: tasks.update_task(
        task, org.mgr_a, clock, expected_version=task.version, measure="m", target=None,
        type=TaskType.DEADLINE), task)


# --- 6. problem state is derived from its tasks ----------------------------------------------------


@pytest.mark.parametrize("states, expected", [
    ([], ProblemState.OPEN),
    ([S.ASSIGNED], ProblemState.OPEN),
    ([S.CLOSED, S.SUBMITTED], ProblemState.OPEN),
    ([S.CLOSED, S.IN_PROGRESS], ProblemState.OPEN),
    ([S.CLOSED], ProblemState.CLOSED),
    ([S.CLOSED, S.CANCELLED], ProblemState.CLOSED),
    ([S.CANCELLED], ProblemState.CANCELLED),
    ([S.CANCELLED, S.CANCELLED], ProblemState.CANCELLED),
], ids=lambda v: "+".join(s.value for s in v) or "none" if isinstance(v, list) else v.value)
def test_derive_problem_state(states, expected):
    assert tasks.derive_problem_state(states) == expected


def test_problem_closes_when_its_last_task_closes(org, make, clock):
    problem = make.problem(org.mgr_a)
    first = make.task(org.mgr_a, problem, owner=org.staff_a)
    second = make.task(org.mgr_a, problem, owner=org.staff_a1)
    walk(first, S.CLOSED, org, clock)
    assert (problem.state, problem.closed_on) == (ProblemState.OPEN, None)
    walk(second, S.SUBMITTED, org, clock)
    later = Clock.parse("2026-06-20T15:00:00")
    tasks.verify(second, org.mgr_a, later)
    db.session.commit()
    assert (problem.state, problem.closed_on) == (ProblemState.CLOSED, date(2026, 6, 20))


def test_closed_plus_cancelled_is_closed_on_the_close_date(org, make, clock):
    problem = make.problem(org.mgr_a)
    walk(make.task(org.mgr_a, problem, owner=org.staff_a), S.CLOSED, org, clock)
    later = Clock.parse("2026-06-22T15:00:00")
    tasks.cancel(make.task(org.mgr_a, problem, owner=org.staff_a), org.mgr_a, later, comment="重复")
    assert (problem.state, problem.closed_on) == (ProblemState.CLOSED, TODAY)


def test_all_cancelled_is_cancelled(org, make, clock):
    problem = make.problem(org.mgr_a)
    walk(make.task(org.mgr_a, problem, owner=org.staff_a), S.CANCELLED, org, clock)
    walk(make.task(org.mgr_a, problem, owner=org.staff_a), S.CANCELLED, org, clock)
    assert (problem.state, problem.closed_on) == (ProblemState.CANCELLED, None)


def test_adding_a_task_reopens_a_closed_problem(org, make, clock):
    problem = make.problem(org.mgr_a)
    walk(make.task(org.mgr_a, problem, owner=org.staff_a), S.CLOSED, org, clock)
    assert problem.state == ProblemState.CLOSED
    make.task(org.mgr_a, problem, owner=org.staff_a)
    db.session.commit()
    assert (problem.state, problem.closed_on) == (ProblemState.OPEN, None)


# --- 7. traffic light --------------------------------------------------------------------------------


@pytest.mark.parametrize("days_left, expected", [
    (-1, Light.RED), (0, Light.YELLOW), (1, Light.YELLOW), (3, Light.YELLOW), (4, Light.GREEN),
    (30, Light.GREEN),
], ids=lambda v: str(v) if isinstance(v, int) else v.value)
def test_light_with_default_due_soon_days(app, task_at, days_left, expected):
    task = task_at(deadline=TODAY + timedelta(days=30))
    today = task.deadline - timedelta(days=days_left)
    assert task.light(today, app.config["DUE_SOON_DAYS"]) == expected


@pytest.mark.parametrize("days_left, expected", [(3, Light.YELLOW), (7, Light.YELLOW), (8, Light.GREEN)])
def test_light_with_configured_due_soon_days(app, task_at, days_left, expected):
    app.config["DUE_SOON_DAYS"] = 7
    task = task_at()
    today = task.deadline - timedelta(days=days_left)
    assert task.light(today, app.config["DUE_SOON_DAYS"]) == expected
    due = set(db.session.scalars(sa.select(Task.id).where(Task.due_soon_clause(today, 7))))
    assert (task.id in due) is (expected == Light.YELLOW)


def test_light_is_none_once_closed_or_cancelled(task_at):
    for state in (S.CLOSED, S.CANCELLED):
        assert task_at(state, deadline=TODAY).light(TODAY + timedelta(days=5), 3) is None


def test_submitted_task_past_deadline_is_yellow_not_red(task_at):
    task = task_at(S.SUBMITTED, deadline=TODAY)
    assert task.light(TODAY + timedelta(days=5), 3) == Light.YELLOW


# --- 8. audit ---------------------------------------------------------------------------------------


def _audit_cases():
    d10 = (DEADLINE + timedelta(days=10)).isoformat()

    def start(t, o, c):
        tasks.start(t, o.staff_a, c)
        return o.staff_a, [("task.start", {"state": "assigned"}, {"state": "in_progress"})]

    def progress(t, o, c):
        tasks.post_progress(t, o.staff_a, c, body="进展")
        return o.staff_a, [("progress.create", None, {"body": "进展"}),
                           ("task.start", {"state": "assigned"}, {"state": "in_progress"})]

    def submit(t, o, c):
        tasks.submit(t, o.staff_a, c, result="成效")
        return o.staff_a, [("task.submit", {"state": "assigned", "result": None},
                            {"state": "submitted", "result": "成效"})]

    def verify(t, o, c):
        tasks.submit(t, o.staff_a, c, result="成效")
        tasks.verify(t, o.mgr_a, c, comment="属实")
        return o.mgr_a, [("task.submit", None, None),
                         ("task.verify", {"state": "submitted"}, {"state": "closed"}),
                         # its only measure closed: the problem's derived state changed with it
                         ("problem.state", {"state": "open", "closed_on": None},
                          {"state": "closed", "closed_on": TODAY.isoformat()})]

    def reject(t, o, c):
        tasks.submit(t, o.staff_a, c, result="成效")
        tasks.reject(t, o.mgr_a, c, comment="不足")
        return o.mgr_a, [("task.submit", None, None),
                         ("task.reject", {"state": "submitted"}, {"state": "in_progress"})]

    def cancel(t, o, c):
        tasks.cancel(t, o.mgr_a, c, comment="重复")
        return o.mgr_a, [("task.cancel", {"state": "assigned"}, {"state": "cancelled"}),
                         ("problem.state", {"state": "open"}, {"state": "cancelled"})]

    def reassign(t, o, c):
        tasks.reassign_task(t, o.mgr_a, c, owner=o.staff_a1, unit=o.a1, expected_version=t.version)
        return o.mgr_a, [("task.reassign", {"owner_id": o.staff_a.id, "unit_id": o.a.id},
                          {"owner_id": o.staff_a1.id, "unit_id": o.a1.id})]

    def deadline(t, o, c):
        tasks.change_deadline(t, o.mgr_a, c, deadline=DEADLINE + timedelta(days=10),
                              expected_version=t.version, comment="调整")
        return o.mgr_a, [("task.deadline", {"deadline": DEADLINE.isoformat()}, {"deadline": d10})]

    def update(t, o, c):
        old = t.measure
        tasks.update_task(t, o.mgr_a, c, expected_version=t.version, measure="新措施", target="目标",
                          type=TaskType.DEADLINE)
        return o.mgr_a, [("task.update", {"measure": old, "target": None},
                          {"measure": "新措施", "target": "目标"})]

    def extension(t, o, c):
        ext = tasks.request_extension(t, o.staff_a, c, new_deadline=DEADLINE + timedelta(days=10),
                                      reason="原因")
        tasks.decide_extension(ext, o.mgr_a, c, approve=True)
        return o.mgr_a, [("extension.request", None,
                          {"old_deadline": DEADLINE.isoformat(), "new_deadline": d10}),
                         ("task.deadline", {"deadline": DEADLINE.isoformat()}, {"deadline": d10}),
                         ("extension.approve", None, {"state": "approved"})]

    def create_task(t, o, c):
        tasks.create_task(t.problem, o.mgr_a, c, measure="另一措施", owner=o.staff_a, unit=o.a,
                          deadline=DEADLINE)
        return o.mgr_a, [("task.create", None, {"measure": "另一措施", "state": "assigned",
                                                "deadline": DEADLINE.isoformat(), "owner_id": o.staff_a.id})]

    def update_problem(t, o, c):
        p = t.problem
        old = p.description
        problems.update_problem(p, o.mgr_a, c, expected_version=p.version, description="新描述",
                                category=p.category, source=p.source, unit=p.unit, lead_unit=p.lead_unit,
                                found_on=p.found_on, cooperating_units=[o.a1])
        return o.mgr_a, [("problem.update", {"description": old, "cooperating_unit_ids": []},
                          {"description": "新描述", "cooperating_unit_ids": [o.a1.id]})]

    return [start, progress, submit, verify, reject, cancel, reassign, deadline, update, extension,
            create_task, update_problem]


@pytest.mark.parametrize("case", _audit_cases(), ids=lambda f: f.__name__)
def test_every_change_is_audited(task_at, org, clock, case):
    task = task_at()
    if task.awaiting_ack:  # signed for (签收) first, so the case's own events are all that follow
        tasks.acknowledge(task, task.owner, clock)
        db.session.commit()
    since = last_event_id()
    actor, expected = case(task, org, clock)
    db.session.commit()
    events = new_events(since)
    assert [e.action for e in events] == [action for action, _, _ in expected]
    last = events[-1]
    assert last.actor_id == actor.id and utc(last.created_at) == clock.now()
    for event, (_, before, after) in zip(events, expected, strict=True):
        if before is not None:
            assert event.before == before
        if after is not None:
            assert after.items() <= (event.after or {}).items()
        if event.action.startswith("task.") and event.action != "task.create":
            assert event.task_id == task.id and event.problem_id == task.problem_id
            assert set(event.before) == set(event.after), "only changed fields are recorded"


def test_problem_creation_is_audited(org, clock):
    since = last_event_id()
    problem = _problem(org, clock)
    events = new_events(since)
    assert [e.action for e in events] == ["source.create", "problem.create"]
    assert events[-1].actor_id == org.mgr_a.id and events[-1].object_id == problem.id
    assert events[-1].after["description"] == "制度执行不严"


def test_admin_changes_are_audited(org, clock):
    since = last_event_id()
    org_services.save_unit(org.admin, clock, code="C", name="纪检组", parent=org.root)
    user = org_services.save_user(org.admin, clock, username="new", name="新人", role="staff", unit=org.b,
                                  password=PASSWORD)
    org_services.save_user(org.admin, clock, username="new", name="新人", role="manager", unit=org.b,
                           user=user)
    problems.save_category(org.admin, clock, name="安全生产")
    org_services.set_preferences(user, clock, language="en")
    events = new_events(since)
    assert [e.action for e in events] == ["unit.create", "user.create", "user.update", "category.create",
                                          "user.preferences"]
    assert events[2].before == {"role": "staff"} and events[2].after == {"role": "manager"}
    assert "password" not in events[1].after and "password_hash" not in events[1].after
    assert [e.actor_id for e in events] == [org.admin.id] * 4 + [user.id]


def test_refused_calls_leave_no_audit_trace(task_at, org, clock):
    task = task_at()
    since = last_event_id()
    with pytest.raises(InvalidTransition):
        tasks.verify(task, org.mgr_a, clock)
    assert new_events(since) == []


# --- 9. optimistic locking --------------------------------------------------------------------------


def _stale_calls():
    later = DEADLINE + timedelta(days=3)
    return [
        ("start", S.ASSIGNED, lambda t, o, c, v: tasks.start(t, o.staff_a, c, expected_version=v)),
        ("submit", S.IN_PROGRESS,
         lambda t, o, c, v: tasks.submit(t, o.staff_a, c, result="x", expected_version=v)),
        ("verify", S.SUBMITTED, lambda t, o, c, v: tasks.verify(t, o.mgr_a, c, expected_version=v)),
        ("reject", S.SUBMITTED,
         lambda t, o, c, v: tasks.reject(t, o.mgr_a, c, comment="x", expected_version=v)),
        ("cancel", S.IN_PROGRESS,
         lambda t, o, c, v: tasks.cancel(t, o.mgr_a, c, comment="x", expected_version=v)),
        ("reassign", S.ASSIGNED,
         lambda t, o, c, v: tasks.reassign_task(t, o.mgr_a, c, owner=o.mgr_a_2, expected_version=v)),
        ("change_deadline", S.ASSIGNED,
         lambda t, o, c, v: tasks.change_deadline(t, o.mgr_a, c, deadline=later, expected_version=v,
                                                  comment="x")),
        ("update", S.ASSIGNED,
         lambda t, o, c, v: tasks.update_task(t, o.mgr_a, c, expected_version=v, measure="新",
                                              target=None, type=TaskType.DEADLINE)),
        ("transition", S.SUBMITTED,
         lambda t, o, c, v: tasks.transition(t, o.mgr_a, c, "verify", expected_version=v)),
    ]


@pytest.mark.parametrize("state, call", [pytest.param(s, f, id=n) for n, s, f in _stale_calls()])
def test_stale_version_changes_nothing(task_at, org, clock, state, call):
    task = task_at(state)
    version = task.version
    assert_refused(StaleVersion, lambda: call(task, org, clock, version - 1), task)
    call(task, org, clock, str(version))  # the form sends the version as text
    db.session.commit()
    assert task.version == version + 1


def test_stale_problem_version_changes_nothing(org, make, clock):
    problem = make.problem(org.mgr_a)
    db.session.commit()
    version = problem.version
    data = dict(description="改", category=problem.category, source=problem.source, unit=problem.unit,
                lead_unit=problem.lead_unit, found_on=problem.found_on)
    with pytest.raises(StaleVersion):
        problems.update_problem(problem, org.mgr_a, clock, expected_version=version + 1, **data)
    db.session.rollback()
    assert problem.version == version and problem.description != "改"


def test_concurrent_sessions_the_second_flush_fails(task_at):
    task_id = task_at().id
    db.session.remove()
    with Session(db.engine) as first, Session(db.engine) as second:
        mine, theirs = first.get(Task, task_id), second.get(Task, task_id)
        assert mine.version == theirs.version == 1
        mine.measure = "第一人修改"
        first.commit()
        theirs.measure = "第二人修改"
        with pytest.raises(StaleDataError):
            second.flush()
        second.rollback()
    fresh = db.session.get(Task, task_id)
    assert (fresh.measure, fresh.version) == ("第一人修改", 2)


def test_concurrent_service_calls_the_second_fails(task_at, org, clock):
    """Two people act on the same submitted task at once: one verifies, the other rejects."""
    task_id = task_at(S.SUBMITTED).id
    db.session.remove()
    with Session(db.engine) as other:
        their_copy = other.get(Task, task_id)
        their_copy.state = S.IN_PROGRESS  # what reject() would write, from another session
        mine = db.session.get(Task, task_id)
        tasks.verify(mine, db.session.merge(org.mgr_a), clock)
        db.session.commit()
        with pytest.raises(StaleDataError):
            other.flush()
        other.rollback()
    assert db.session.get(Task, task_id).state == S.CLOSED

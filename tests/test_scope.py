"""List scope (DESIGN §3 "Scope and permissions"): every list is filtered by the actor's subtree,
and an out-of-scope object answers 404, never 403."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_login import login_user
from werkzeug.exceptions import NotFound

from tracker import scope
from tracker.extensions import db
from tracker.org.models import Unit
from tracker.problems.models import Problem
from tracker.tasks.models import Task
from tracker.viewutils import get_problem_or_404, get_task_or_404


@pytest.fixture
def ledger(org, make):
    """One problem and task per unit, plus two cross-unit cases (lead unit elsewhere, owner elsewhere)."""
    admin = org.admin
    found = {}
    for key, owner in (("root", "mgr_root"), ("a", "staff_a"), ("a1", "staff_a1"), ("b", "staff_b")):
        problem = make.problem(admin, org.units[key])
        found[key] = make.task(admin, problem, owner=org.users[owner], unit=org.units[key])
    # Found in A, led by B: B's people see the problem (not A's task).
    found["a_led_by_b"] = make.problem(admin, org.a, lead_unit=org.b)
    # staff_a owns a measure of a problem of B: they see that task and its problem.
    found["b_owned_by_staff_a"] = make.task(admin, make.problem(admin, org.b), owner=org.staff_a, unit=org.b)
    db.session.commit()
    return found


def visible_tasks(actor) -> set[int]:
    return set(db.session.scalars(sa.select(Task.id).where(scope.task_clause(actor))))


def visible_problems(actor) -> set[int]:
    return set(db.session.scalars(sa.select(Problem.id).where(scope.problem_clause(actor))))


def test_staff_sees_their_subtree_and_their_own_tasks(org, ledger):
    expected = {ledger["a"].id, ledger["a1"].id, ledger["b_owned_by_staff_a"].id}
    assert visible_tasks(org.staff_a) == expected
    assert visible_tasks(org.staff_a1) == {ledger["a1"].id}


def test_manager_sees_the_subtree_only(org, ledger):
    assert visible_tasks(org.mgr_a) == {ledger["a"].id, ledger["a1"].id}
    assert visible_tasks(org.mgr_b) == {ledger["b"].id, ledger["b_owned_by_staff_a"].id}


@pytest.mark.parametrize("who", ["viewer_root", "mgr_root", "admin"])
def test_root_and_admin_see_everything(org, ledger, who):
    assert visible_tasks(org.users[who]) == set(db.session.scalars(sa.select(Task.id)))
    assert visible_problems(org.users[who]) == set(db.session.scalars(sa.select(Problem.id)))


def test_viewer_below_the_root_sees_their_branch(org, ledger):
    assert visible_tasks(org.viewer_b) == {ledger["b"].id, ledger["b_owned_by_staff_a"].id}


def test_problem_visible_from_found_unit_lead_unit_and_task_owner(org, ledger):
    led = ledger["a_led_by_b"].id
    assert led in visible_problems(org.staff_a) and led in visible_problems(org.staff_b)
    assert led not in visible_problems(org.staff_a1)
    b_problem = ledger["b_owned_by_staff_a"].problem_id
    assert b_problem in visible_problems(org.staff_a)
    assert b_problem not in visible_problems(org.mgr_a)


def test_clauses_agree_with_the_object_checks(org, ledger):
    """For every person and object, the SQL list filter and the per-object check say the same."""
    all_tasks = db.session.scalars(sa.select(Task)).all()
    all_problems = db.session.scalars(sa.select(Problem)).all()
    wrong = []
    for name, user in org.users.items():
        seen_tasks, seen_problems = visible_tasks(user), visible_problems(user)
        wrong += [(name, "task", t.id) for t in all_tasks
                  if scope.can_read_task(user, t) != (t.id in seen_tasks)]
        wrong += [(name, "problem", p.id) for p in all_problems
                  if scope.can_read_problem(user, p) != (p.id in seen_problems)]
    assert wrong == []


def test_unit_clause_is_the_subtree(org):
    def codes(actor):
        return set(db.session.scalars(sa.select(Unit.code).where(scope.unit_clause(actor))))

    assert codes(org.staff_a) == {"A", "A1"}
    assert codes(org.viewer_b) == {"B"}
    assert codes(org.admin) == codes(org.mgr_root) == {"ROOT", "A", "A1", "B"}


# --- object lookups: 404 out of scope ------------------------------------------------------------


@pytest.fixture
def as_user(app):
    """Run a block as if `user` made the request (the helpers read current_user)."""

    def enter(user):
        ctx = app.test_request_context()
        ctx.push()
        login_user(user)
        contexts.append(ctx)

    contexts: list = []
    yield enter
    for ctx in reversed(contexts):
        ctx.pop()


@pytest.mark.parametrize("who, key, visible", [
    ("staff_b", "a", False),
    ("staff_b", "b", True),
    ("viewer_b", "a1", False),
    ("mgr_a", "b", False),
    ("mgr_a", "a1", True),
    ("staff_a", "b_owned_by_staff_a", True),
    ("viewer_root", "a1", True),
])
def test_get_task_or_404(org, ledger, as_user, who, key, visible):
    as_user(org.users[who])
    task_id = ledger[key].id
    if visible:
        assert get_task_or_404(task_id).id == task_id
    else:
        with pytest.raises(NotFound):
            get_task_or_404(task_id)


def test_unknown_ids_are_404_too(org, ledger, as_user):
    as_user(org.admin)
    with pytest.raises(NotFound):
        get_task_or_404(10**9)
    with pytest.raises(NotFound):
        get_problem_or_404(10**9)


@pytest.mark.parametrize("who, key, visible", [
    ("staff_b", "a", False),
    ("staff_b", "a_led_by_b", True),
    ("staff_a1", "a_led_by_b", False),
    ("mgr_a", "b", False),
])
def test_get_problem_or_404(org, ledger, as_user, who, key, visible):
    as_user(org.users[who])
    obj = ledger[key]
    problem_id = obj.id if isinstance(obj, Problem) else obj.problem_id
    if visible:
        assert get_problem_or_404(problem_id).id == problem_id
    else:
        with pytest.raises(NotFound):
            get_problem_or_404(problem_id)

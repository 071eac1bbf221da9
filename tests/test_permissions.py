"""The permission matrix of DESIGN §3 "Scope and permissions": role × action × relation, over the services.

- admin: everything;
- manager: read and write their unit's subtree;
- staff: read their unit's subtree, write only the tasks they own;
- viewer: read-only over their unit's subtree.

Relations: `own` (the actor owns the task), `subtree` (someone else's task in the actor's subtree),
`other_branch` (a unit outside the actor's subtree). The organisation is built once per module and
every case runs in a transaction that is rolled back, so the 120-odd cases stay fast on PostgreSQL.
"""

from __future__ import annotations

import os
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from conftest import NOW, PG_URL, TODAY, Factory

from tracker import create_app, scope
from tracker.clock import Clock
from tracker.enums import Role
from tracker.errors import PermissionDenied, ValidationFailed
from tracker.extensions import db
from tracker.problems import services as problems
from tracker.problems.services import seed_categories
from tracker.tasks import rules
from tracker.tasks import services as tasks
from tracker.tasks.models import Task

CLOCK = Clock.parse(NOW)
DEADLINE = TODAY + timedelta(days=30)

# Who plays each role, and which (owner, unit) a task of each relation has for them.
ACTORS = {
    "admin": ("admin", {"subtree": ("staff_a1", "a1"), "other_branch": ("staff_b", "b")}),
    "manager": ("mgr_a", {"own": ("mgr_a", "a"), "subtree": ("staff_a1", "a1"),
                          "other_branch": ("staff_b", "b")}),
    "staff": ("staff_a", {"own": ("staff_a", "a"), "subtree": ("staff_a1", "a1"),
                          "other_branch": ("staff_b", "b")}),
    "viewer": ("viewer_b", {"subtree": ("staff_b", "b"), "other_branch": ("staff_a1", "a1")}),
}
TASK_ACTIONS = ("read", "progress", "submit", "verify", "reject", "cancel", "reassign", "change_deadline",
                "request_extension", "decide_extension")
PROBLEM_ACTIONS = ("create_problem", "edit_problem", "create_task")
STAFF_WRITES_OWN = ("progress", "submit", "request_extension")
# The name each action has in the state table (tasks.rules; what the task page offers).
OFFERED_AS = {"progress": "progress", "submit": "submit", "verify": "verify", "reject": "reject",
              "cancel": "cancel", "reassign": "reassign", "change_deadline": "deadline",
              "request_extension": "extend", "decide_extension": "decide_extension"}


def expected(role: str, action: str, relation: str) -> bool:
    """DESIGN §3, written out once."""
    if role == "admin":
        return True
    if relation == "other_branch":
        return False
    if action == "read":
        return True
    if role == "manager":
        # Nobody decides their own request, as nobody verifies their own submission (ALLOW_SELF_VERIFY).
        return not (action == "decide_extension" and relation == "own")
    return role == "staff" and relation == "own" and action in STAFF_WRITES_OWN


def _cases():
    for role, (_, relations) in ACTORS.items():
        for action in TASK_ACTIONS + PROBLEM_ACTIONS:
            for relation in relations:
                if relation == "own" and action in PROBLEM_ACTIONS:
                    continue  # nobody "owns" a problem
                allowed = expected(role, action, relation)
                yield pytest.param(role, action, relation, allowed,
                                   id=f"{role}-{action}-{relation}-{'allowed' if allowed else 'denied'}")


# --- the organisation, once per module ------------------------------------------------------------


@pytest.fixture(scope="module")
def world(backend, tmp_path_factory):
    """conftest's org, built once; the cases below never commit."""
    base = tmp_path_factory.mktemp("permissions")
    url = PG_URL if backend == "postgresql" else f"sqlite:///{base / 'test.sqlite3'}"
    os.environ["TRACKER_INSTANCE_PATH"] = str(base / "instance")
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": url, "WTF_CSRF_ENABLED": False,
                      "NOW": NOW, "SERVER_NAME": "localhost", "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    del os.environ["TRACKER_INSTANCE_PATH"]
    with app.app_context():
        if backend == "postgresql":
            for table in reversed(db.metadata.sorted_tables):
                db.session.execute(table.delete())
        else:
            db.create_all()
        seed_categories()
        people = _organisation(Factory(CLOCK))
        db.session.commit()
        yield people
        db.session.rollback()
        if backend == "postgresql":  # leave the shared schema empty for the next module
            for table in reversed(db.metadata.sorted_tables):
                db.session.execute(table.delete())
            db.session.commit()
        db.session.remove()
        db.engine.dispose()


def _organisation(make: Factory) -> SimpleNamespace:
    """The same tree and people as conftest's `org` fixture."""
    root = make.unit("ROOT", "某局党委")
    a = make.unit("A", "第一党支部", parent=root)
    a1 = make.unit("A1", "第一党支部一组", parent=a)
    b = make.unit("B", "办公室", parent=root)
    users = {name: make.user(name, role, unit) for name, role, unit in [
        ("admin", Role.ADMIN, None), ("mgr_root", Role.MANAGER, root), ("mgr_a", Role.MANAGER, a),
        ("mgr_a_2", Role.MANAGER, a), ("staff_a", Role.STAFF, a), ("staff_a1", Role.STAFF, a1),
        ("mgr_b", Role.MANAGER, b), ("staff_b", Role.STAFF, b), ("viewer_root", Role.VIEWER, root),
        ("viewer_b", Role.VIEWER, b),
    ]}
    return SimpleNamespace(make=make, units={"root": root, "a": a, "a1": a1, "b": b}, users=users)


@pytest.fixture
def w(world):
    """The world, rolled back after each case."""
    yield world
    db.session.rollback()


# --- preparing the object each action needs ------------------------------------------------------


def _task(w, owner: str, unit: str, state: str = "assigned", actor=None) -> Task:
    """A task made by the admin, started by its owner, submitted by a third person (not `actor`)."""
    admin, unit_ = w.users["admin"], w.units[unit]
    submitter = w.users["mgr_root"] if actor is admin else admin
    problem = w.make.problem(admin, unit_)
    task = w.make.task(admin, problem, owner=w.users[owner], unit=unit_)
    if state in ("in_progress", "submitted"):
        tasks.start(task, task.owner, CLOCK)
    if state == "submitted":
        tasks.submit(task, submitter, CLOCK, result="已完成")
    return task


STATE_FOR = {"submit": "in_progress", "verify": "submitted", "reject": "submitted", "cancel": "in_progress",
             "request_extension": "in_progress", "decide_extension": "in_progress"}


def _act_on_task(w, action: str, actor, task: Task):
    """Run `action`; returns normally when allowed."""
    later = DEADLINE + timedelta(days=7)
    if action == "read":
        visible = db.session.scalar(sa.select(Task.id).where(Task.id == task.id, scope.task_clause(actor)))
        if scope.can_read_task(actor, task) != (visible is not None):
            raise AssertionError("can_read_task and task_clause disagree")
        if visible is None:
            raise PermissionDenied("not visible")
    elif action == "progress":
        tasks.post_progress(task, actor, CLOCK, body="进展")
    elif action == "submit":
        tasks.submit(task, actor, CLOCK, result="成效")
    elif action == "verify":
        tasks.verify(task, actor, CLOCK)
    elif action == "reject":
        tasks.reject(task, actor, CLOCK, comment="不充分")
    elif action == "cancel":
        tasks.cancel(task, actor, CLOCK, comment="撤销")
    elif action == "reassign":
        new_owner = w.users["mgr_b" if task.unit.code == "B" else "mgr_a_2"]
        tasks.reassign_task(task, actor, CLOCK, owner=new_owner, expected_version=task.version)
    elif action == "change_deadline":
        tasks.change_deadline(task, actor, CLOCK, deadline=later, expected_version=task.version,
                              comment="调整")
    elif action == "request_extension":
        tasks.request_extension(task, actor, CLOCK, new_deadline=later, reason="原因")
    elif action == "decide_extension":
        tasks.decide_extension(task.pending, actor, CLOCK, approve=True)


def _act_on_problem(w, action: str, actor, unit):
    people = {"A1": "staff_a1", "B": "staff_b"}
    admin = w.users["admin"]
    if action == "create_problem":
        w.make.problem(actor, unit)
    elif action == "edit_problem":
        p = w.make.problem(admin, unit)
        problems.update_problem(p, actor, CLOCK, expected_version=p.version, description="修改后的描述",
                                category=p.category, source=p.source, unit=p.unit, lead_unit=p.lead_unit,
                                found_on=p.found_on)
    elif action == "create_task":
        p = w.make.problem(admin, unit)
        tasks.create_task(p, actor, CLOCK, measure="措施", owner=w.users[people[unit.code]], unit=unit,
                          deadline=DEADLINE)


def _outcome(call) -> bool:
    """True when allowed; False when refused for scope or role (any other refusal is a test bug)."""
    try:
        call()
    except PermissionDenied:
        return False
    except ValidationFailed as exc:
        # Out of scope: the unit and whatever else of that unit the case names (its source, lead unit).
        assert "unit" in exc.fields and set(exc.fields) <= {"unit", "lead_unit", "source"}, (
            f"refused for another reason: {exc.fields}")
        return False
    return True


@pytest.mark.parametrize("role, action, relation, allowed", list(_cases()))
def test_permission_matrix(w, role, action, relation, allowed):
    actor_name, relations = ACTORS[role]
    actor = w.users[actor_name]
    owner, unit = relations[relation]
    if action in PROBLEM_ACTIONS:
        assert _outcome(lambda: _act_on_problem(w, action, actor, w.units[unit])) is allowed
        return
    task = _task(w, owner, unit, STATE_FOR.get(action, "assigned"), actor)
    if action == "decide_extension":
        task.pending = tasks.request_extension(task, task.owner, CLOCK,
                                               new_deadline=DEADLINE + timedelta(days=9), reason="需延期")
    if action in OFFERED_AS:
        offered = OFFERED_AS[action] in rules.available(task, actor)
        assert offered is allowed, "the task page offers what the service refuses, or hides what it allows"
    assert _outcome(lambda: _act_on_task(w, action, actor, task)) is allowed


def test_matrix_covers_every_role_and_action():
    cases = {tuple(p.values[:3]) for p in _cases()}
    assert {c[0] for c in cases} == set(ACTORS)
    assert {c[1] for c in cases} == set(TASK_ACTIONS + PROBLEM_ACTIONS)
    assert len(cases) == 2 * 10 + 3 * 10 + 3 * 10 + 2 * 10 + 4 * 3 * 2  # task cases + problem cases


@pytest.mark.parametrize("role", ["staff", "viewer"])
def test_staff_and_viewers_may_not_record_problems_even_in_their_own_unit(w, role):
    actor = w.users[ACTORS[role][0]]
    with pytest.raises(PermissionDenied):
        w.make.problem(actor, actor.unit)


def test_manager_of_a_child_unit_cannot_manage_the_parent(w):
    """Scope runs down the tree, never up: mgr of A1 cannot touch a task of A."""
    child_manager = w.make.user("mgr_a1", Role.MANAGER, w.units["a1"])
    task = _task(w, "staff_a", "a", "submitted")
    assert not scope.can_manage_task(child_manager, task)
    with pytest.raises(PermissionDenied):
        tasks.verify(task, child_manager, CLOCK)


def test_similar_unit_paths_do_not_leak(w):
    """A unit at /77/ must not cover one at /777/: the path prefix ends with a slash."""
    near, far = w.make.unit("X1", "甲单位"), w.make.unit("X2", "乙单位")
    near.path, far.path = "/77/", "/777/"  # the ids that would make this trap, whatever the sequence says
    manager = w.make.user("mgr_x", Role.MANAGER, near)
    staff = w.make.user("staff_x", Role.STAFF, far)
    task = w.make.task(w.users["admin"], w.make.problem(w.users["admin"], far), owner=staff, unit=far)
    assert not scope.can_read_task(manager, task) and not scope.can_manage_task(manager, task)
    assert db.session.scalar(sa.select(Task.id).where(Task.id == task.id, scope.task_clause(manager))) is None

"""Extension requests and decisions made at the same moment (issue 11, items 2, 3, 7 and 10).

The database decides: a version on the request lets one decision in, a unique index on pending
requests lets one request in. The losers change nothing. Each race runs in real threads with
their own sessions on both backends; `test_gunicorn_races.py` fires the same through a server.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import TODAY

from tracker.audit.models import AuditEvent
from tracker.enums import ExtensionState, TaskState
from tracker.errors import InvalidTransition, PermissionDenied, ServiceError
from tracker.extensions import db
from tracker.org.models import User
from tracker.tasks import services as tasks
from tracker.tasks.models import Extension, Task

DEADLINE = TODAY + timedelta(days=30)


def _in_thread(app, clock, work, barrier, results, index):
    """Run `work(session objects…)` in its own app context (own session and connection), commit."""
    with app.app_context():
        try:
            call = work()
            barrier.wait(timeout=10)
            value = call()
            db.session.commit()
            results[index] = value
        except ServiceError as exc:
            db.session.rollback()
            results[index] = exc
        finally:
            db.session.remove()


def race(app, clock, *works):
    """Each work loads what it needs, then all act at once past a barrier; returns their outcomes."""
    barrier = threading.Barrier(len(works))
    results: list = [None] * len(works)
    threads = [threading.Thread(target=_in_thread, args=(app, clock, w, barrier, results, i))
               for i, w in enumerate(works)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    return results


def _decide(ext_id, user_id, clock, approve):
    def load():
        ext = db.session.get(Extension, ext_id)
        actor = db.session.get(User, user_id)
        assert ext.state == ExtensionState.PENDING and ext.task.state  # read before the barrier
        return lambda: tasks.decide_extension(ext, actor, clock, approve=approve, comment="意见")
    return load


def _request(task_id, user_id, clock, days):
    def load():
        task = db.session.get(Task, task_id)
        actor = db.session.get(User, user_id)
        assert task.deadline
        later = DEADLINE + timedelta(days=days)
        return lambda: tasks.request_extension(task, actor, clock, new_deadline=later, reason="等待批复")
    return load


def _events(task_id, *actions):
    return db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
        AuditEvent.task_id == task_id, AuditEvent.action.in_(actions)))


@pytest.fixture
def open_task(org, make, clock):
    def build():
        task = make.task(org.mgr_a, owner=org.staff_a, deadline=DEADLINE)
        db.session.commit()
        return task
    return build


ROUNDS = 8


def test_two_managers_deciding_one_extension_at_once_one_wins(app, org, clock, open_task):
    for n in range(ROUNDS):
        task = open_task()
        ext = tasks.request_extension(task, org.staff_a, clock, new_deadline=DEADLINE + timedelta(days=10),
                                      reason="原因")
        db.session.commit()
        task_id, ext_id = task.id, ext.id
        approve_first = n % 2 == 0
        results = race(app, clock, _decide(ext_id, org.mgr_a.id, clock, approve_first),
                       _decide(ext_id, org.mgr_a_2.id, clock, not approve_first))
        wins = [r for r in results if isinstance(r, Extension)]
        losses = [r for r in results if isinstance(r, InvalidTransition)]
        assert (len(wins), len(losses)) == (1, 1), results
        db.session.expire_all()
        ext, task = db.session.get(Extension, ext_id), db.session.get(Task, task_id)
        # The record and the deadline agree, and the trail holds exactly one decision.
        expected = DEADLINE + timedelta(days=10) if ext.state == ExtensionState.APPROVED else DEADLINE
        assert ext.state != ExtensionState.PENDING and task.deadline == expected
        assert _events(task_id, "extension.approve", "extension.reject") == 1
        assert _events(task_id, "task.deadline") == (1 if ext.state == ExtensionState.APPROVED else 0)
        assert ext.version == 2


def test_a_decision_on_a_stale_copy_changes_nothing(app, org, clock, open_task):
    """Deterministic order: I read the request; the other manager decides (holding the row); I decide."""
    task = open_task()
    ext = tasks.request_extension(task, org.staff_a, clock, new_deadline=DEADLINE + timedelta(days=5),
                                  reason="x")
    db.session.commit()
    ext_id, task_id = ext.id, task.id
    flushed = threading.Event()

    def other_manager():
        with app.app_context():
            theirs = db.session.get(Extension, ext_id)
            tasks.decide_extension(theirs, db.session.get(User, org.mgr_a_2.id), clock, approve=False,
                                   comment="不同意")
            flushed.set()
            time.sleep(0.3)  # still holding the row (PostgreSQL) or the write lock (SQLite)
            db.session.commit()
            db.session.remove()

    with app.app_context():
        mine = db.session.get(Extension, ext_id)
        me = db.session.get(User, org.mgr_a.id)
        assert mine.state == ExtensionState.PENDING and mine.task.deadline == DEADLINE
        thread = threading.Thread(target=other_manager)
        thread.start()
        assert flushed.wait(10)
        with pytest.raises(InvalidTransition):
            tasks.decide_extension(mine, me, clock, approve=True)  # waits for the row, then finds it moved
        db.session.rollback()
        db.session.remove()
    thread.join(30)
    db.session.expire_all()
    ext, task = db.session.get(Extension, ext_id), db.session.get(Task, task_id)
    assert (ext.state, ext.decided_by_id) == (ExtensionState.REJECTED, org.mgr_a_2.id)
    assert task.deadline == DEADLINE
    assert _events(task_id, "extension.approve", "extension.reject", "task.deadline") == 1


def test_two_requests_at_once_leave_one_pending(app, org, clock, open_task):
    for _ in range(ROUNDS):
        task = open_task()
        results = race(app, clock, _request(task.id, org.staff_a.id, clock, 5),
                       _request(task.id, org.mgr_a.id, clock, 9))
        wins = [r for r in results if isinstance(r, Extension)]
        assert len(wins) == 1 and isinstance(next(r for r in results if r not in wins), InvalidTransition)
        pending = db.session.scalar(sa.select(sa.func.count(Extension.id)).where(
            Extension.task_id == task.id, Extension.state == ExtensionState.PENDING))
        assert pending == 1
        assert _events(task.id, "extension.request") == 1


def test_the_database_refuses_a_second_pending_request_the_check_did_not_see(app, org, clock, open_task):
    """The service's own check runs before the first request commits; the unique index still decides."""
    task = open_task()
    task_id = task.id
    first = tasks.request_extension(task, org.staff_a, clock, new_deadline=DEADLINE + timedelta(days=5),
                                    reason="一")  # flushed, not committed: invisible to others
    outcome = {}

    def second():
        with app.app_context():
            other_task = db.session.get(Task, task_id)
            try:
                tasks.request_extension(other_task, db.session.get(User, org.mgr_a.id), clock,
                                        new_deadline=DEADLINE + timedelta(days=9), reason="二")
                db.session.commit()
                outcome["r"] = "won"
            except InvalidTransition as exc:
                db.session.rollback()
                outcome["r"] = exc
            finally:
                db.session.remove()

    # SQLite: the first transaction holds the write lock, so the second waits at its INSERT; on
    # PostgreSQL its INSERT waits on the unique index entry. Either way the commit releases it.
    thread = threading.Thread(target=second)
    thread.start()
    thread.join(0.5)
    db.session.commit()
    thread.join(30)
    assert isinstance(outcome.get("r"), InvalidTransition), outcome
    rows = db.session.execute(
        sa.select(Extension.id, Extension.state).where(Extension.task_id == task_id)).all()
    assert [tuple(r) for r in rows] == [(first.id, ExtensionState.PENDING)]


def test_the_unique_index_holds_even_without_the_service(org, clock, open_task):
    task = open_task()
    for days in (3, 4):
        db.session.add(Extension(task_id=task.id, requested_by_id=org.staff_a.id, reason="x",
                                 old_deadline=DEADLINE, new_deadline=DEADLINE + timedelta(days=days),
                                 state=ExtensionState.PENDING, created_at=clock.now()))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()
    # Decided requests are not limited.
    for days in (3, 4):
        db.session.add(Extension(task_id=task.id, requested_by_id=org.staff_a.id, reason="x",
                                 old_deadline=DEADLINE, new_deadline=DEADLINE + timedelta(days=days),
                                 state=ExtensionState.REJECTED, created_at=clock.now()))
    db.session.commit()


# --- a manager's own request (item 7) ---------------------------------------------------------------


@pytest.fixture
def own_request(org, make, clock):
    """mgr_a owns a measure of their unit and asks to extend it."""
    task = make.task(org.mgr_a, owner=org.mgr_a, deadline=DEADLINE)
    ext = tasks.request_extension(task, org.mgr_a, clock, new_deadline=DEADLINE + timedelta(days=7),
                                  reason="x")
    db.session.commit()
    return task, ext


def test_a_manager_may_not_approve_their_own_extension(org, clock, own_request):
    task, ext = own_request
    with pytest.raises(PermissionDenied):
        tasks.decide_extension(ext, org.mgr_a, clock, approve=True)
    db.session.rollback()
    assert (ext.state, task.deadline) == (ExtensionState.PENDING, DEADLINE)
    tasks.decide_extension(ext, org.mgr_a_2, clock, approve=True)
    db.session.commit()
    assert task.deadline == DEADLINE + timedelta(days=7)


def test_self_approval_follows_allow_self_verify(app, org, clock, own_request):
    task, ext = own_request
    app.config["ALLOW_SELF_VERIFY"] = True
    tasks.decide_extension(ext, org.mgr_a, clock, approve=True)
    db.session.commit()
    assert ext.state == ExtensionState.APPROVED


def test_the_page_and_the_queue_do_not_offer_ones_own_request(org, login_as, own_request):
    task, ext = own_request
    client = login_as(org.mgr_a)
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="form-decide"' not in page and f"/extensions/{ext.id}/decide" not in page
    assert f"/tasks/{task.id}" not in client.get("/").get_data(as_text=True).split('id="extensions"')[-1]
    response = client.post(f"/extensions/{ext.id}/decide", data={"decide_extension-approve": "1"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Extension, ext.id).state == ExtensionState.PENDING
    other = login_as(org.mgr_a_2)
    assert 'id="form-decide"' in other.get(f"/tasks/{task.id}").get_data(as_text=True)


# --- a web form without its version (item 10) ---------------------------------------------------------


@pytest.mark.parametrize("version", [None, "", "x"], ids=["missing", "empty", "junk"])
def test_a_form_without_its_version_is_refused_like_a_stale_one(org, login_as, open_task, version):
    task = open_task()
    client = login_as(org.staff_a)
    data = {} if version is None else {"start-version": version}
    response = client.post(f"/tasks/{task.id}/transition/start", data=data)
    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.get(Task, task.id).state == TaskState.ASSIGNED
    ok = client.post(f"/tasks/{task.id}/transition/start", data={"start-version": str(task.version)})
    assert ok.status_code == 302

"""The extension races of issue 11 (items 2 and 3) fired through a real `gunicorn -w 2` on both
databases: two managers deciding one request at the same moment, two requests for one measure at
the same moment. Exactly one wins; the loser is told and changes nothing."""

from __future__ import annotations

import threading
from datetime import timedelta

import sqlalchemy as sa
from conftest import PASSWORD, TODAY
from live_gunicorn import hidden_inputs, live_gunicorn  # noqa: F401  (the server fixture)

from tracker.audit.models import AuditEvent
from tracker.enums import ExtensionState
from tracker.extensions import db
from tracker.tasks import services as tasks
from tracker.tasks.models import Extension, Task

ROUNDS = 6
ALREADY_DECIDED = "该申请已经审批。"  # zh of tasks.services.ALREADY_DECIDED


def fire_together(calls):
    """Run the calls in threads released at the same moment; their answers in order."""
    barrier, answers = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i, call):
        prepared = call()
        barrier.wait(timeout=30)
        answers[i] = prepared()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return answers


def test_two_managers_deciding_one_request_through_gunicorn(org, make, clock, live_gunicorn):  # noqa: F811
    pairs = []
    for _ in range(ROUNDS):
        task = make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=10))
        ext = tasks.request_extension(task, org.staff_a, clock, new_deadline=TODAY + timedelta(days=40),
                                      reason="需要更多时间")
        pairs.append((task.id, ext.id))
    db.session.commit()
    first = live_gunicorn.client().login("mgr_a", PASSWORD)
    second = live_gunicorn.client().login("mgr_a_2", PASSWORD)
    told = 0
    for task_id, ext_id in pairs:
        def decide(client, approve, task_id=task_id, ext_id=ext_id):
            def prepare():
                fields = hidden_inputs(client.get(f"/tasks/{task_id}").text, "form-decide")
                fields["decide_extension-comment"] = "同意" if approve else "理由不充分"
                fields["decide_extension-approve" if approve else "decide_extension-reject"] = "1"
                return lambda: client.post(f"/extensions/{ext_id}/decide", fields)
            return prepare

        answers = fire_together([decide(first, True), decide(second, False)])
        assert [a.status for a in answers] == [302, 302]
        pages = [first.get(f"/tasks/{task_id}").text, second.get(f"/tasks/{task_id}").text]
        told += sum(ALREADY_DECIDED in page for page in pages)
        db.session.expire_all()
        ext, task = db.session.get(Extension, ext_id), db.session.get(Task, task_id)
        decisions = db.session.scalars(sa.select(AuditEvent.action).where(
            AuditEvent.object_type == "extensions", AuditEvent.object_id == ext_id,
            AuditEvent.action.in_(["extension.approve", "extension.reject"]))).all()
        assert len(decisions) == 1, decisions
        if ext.state == ExtensionState.APPROVED:
            assert decisions == ["extension.approve"] and task.deadline == TODAY + timedelta(days=40)
        else:
            assert decisions == ["extension.reject"] and task.deadline == TODAY + timedelta(days=10)
    assert told >= 1  # the loser saw why nothing happened (when the two really overlapped)


def test_two_requests_for_one_measure_through_gunicorn(org, make, live_gunicorn):  # noqa: F811
    ids = [make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=10)).id
           for _ in range(ROUNDS)]
    db.session.commit()
    owner = live_gunicorn.client().login("staff_a", PASSWORD)
    manager = live_gunicorn.client().login("mgr_a", PASSWORD)
    for task_id in ids:
        def ask(client, days, task_id=task_id):
            def prepare():
                fields = hidden_inputs(client.get(f"/tasks/{task_id}").text, "form-extend")
                fields["extend-new_deadline"] = (TODAY + timedelta(days=days)).isoformat()
                fields["extend-reason"] = "需要更多时间"
                return lambda: client.post(f"/tasks/{task_id}/extension", fields)
            return prepare

        answers = fire_together([ask(owner, 30), ask(manager, 45)])
        assert all(a.status in (302, 409, 422) for a in answers), [a.status for a in answers]
        db.session.expire_all()
        pending = db.session.scalar(sa.select(sa.func.count(Extension.id)).where(
            Extension.task_id == task_id, Extension.state == ExtensionState.PENDING))
        assert pending == 1

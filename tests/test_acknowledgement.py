"""签收 (DESIGN §3 "Supervision"): a measure waits for its owner to sign for it; one click on the task
page or in the API, or the owner's first work, signs for it; a reassignment asks again; an imported
historical ledger is not asked; reminders to the owner, then to the unit's managers, each once."""

from __future__ import annotations

import io
from datetime import UTC, timedelta

import pytest
import sqlalchemy as sa
from conftest import when
from flask_babel import force_locale
from test_api import api  # noqa: F401  (the API client fixture)
from test_ledger import _empty_lists, ledger  # noqa: F401  (the ledger fixture)

from tracker.audit.models import AuditEvent
from tracker.errors import InvalidTransition, PermissionDenied, StaleVersion
from tracker.extensions import db
from tracker.ledger.export import build_ledger_xlsx
from tracker.ledger.importer import run_import
from tracker.org.models import User
from tracker.reminders import outbox
from tracker.reminders import services as reminders
from tracker.reminders.models import Notification, NotificationKind, NotificationStatus
from tracker.tasks import rules
from tracker.tasks import services as tasks
from tracker.tasks.models import Task

K = NotificationKind


def utc(value):
    """SQLite hands back naive UTC datetimes."""
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
DAY0 = "2026-06-15T10:00:00"


def ack_events(task):
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.task_id == task.id,
                                                          AuditEvent.action == "task.acknowledge")).all()


def test_a_new_measure_waits_for_its_owner_who_alone_signs_for_it(org, make, clock):
    task = make.task(org.mgr_a, owner=org.staff_a)
    db.session.commit()
    assert task.awaiting_ack and task.assigned_at is not None
    assert "acknowledge" in rules.available(task, org.staff_a)
    for who in ("mgr_a", "mgr_root", "admin", "staff_a1", "staff_b", "viewer_root"):
        assert "acknowledge" not in rules.available(task, org.users[who]), who
        with pytest.raises(PermissionDenied):
            tasks.acknowledge(task, org.users[who], clock)
    with pytest.raises(StaleVersion):
        tasks.acknowledge(task, org.staff_a, clock, expected_version=task.version + 1)
    assert task.acknowledged_at is None

    tasks.acknowledge(task, org.staff_a, clock, expected_version=task.version)
    db.session.commit()
    assert not task.awaiting_ack and utc(task.acknowledged_at) == clock.now()
    [event] = ack_events(task)
    assert event.actor_id == org.staff_a.id and event.after["implicit"] is False
    with pytest.raises(InvalidTransition):
        tasks.acknowledge(task, org.staff_a, clock)


@pytest.mark.parametrize("work", ["progress", "start", "submit", "extend"])
def test_the_owners_first_work_signs_for_it(org, make, clock, work):
    task = make.task(org.mgr_a, owner=org.staff_a)
    if work == "progress":
        tasks.post_progress(task, org.staff_a, clock, body="已召开专题会议")
    elif work == "start":
        tasks.start(task, org.staff_a, clock)
    elif work == "submit":
        tasks.submit(task, org.staff_a, clock, result="已整改")
    else:
        tasks.request_extension(task, org.staff_a, clock, new_deadline=task.deadline + timedelta(days=9),
                                reason="需要时间")
    db.session.commit()
    assert utc(task.acknowledged_at) == clock.now() and not task.awaiting_ack
    assert [e.after["implicit"] for e in ack_events(task)] == [True]


def test_a_managers_work_does_not_sign_for_the_owner(org, make, clock):
    task = make.task(org.mgr_a, owner=org.staff_a)
    tasks.post_progress(task, org.mgr_a, clock, body="督促落实")
    db.session.commit()
    assert task.awaiting_ack and ack_events(task) == []


def test_a_reassignment_asks_the_new_owner(org, make, clock):
    task = make.task(org.mgr_a, owner=org.staff_a)
    tasks.acknowledge(task, org.staff_a, clock)
    later = when("2026-06-17T09:00:00")
    tasks.reassign_task(task, org.mgr_a, later, owner=org.staff_a1, unit=org.a1,
                        expected_version=task.version)
    db.session.commit()
    assert task.awaiting_ack and utc(task.assigned_at) == later.now()
    assert "acknowledge" in rules.available(task, org.staff_a1)
    assert "acknowledge" not in rules.available(task, org.staff_a)


def test_closed_or_submitted_measures_wait_for_nothing(org, make, clock):
    task = make.task(org.mgr_a, owner=org.mgr_a)
    tasks.cancel(task, org.mgr_a, clock, comment="重复")
    db.session.commit()
    assert not task.awaiting_ack
    assert db.session.scalar(sa.select(sa.func.count(Task.id)).where(Task.awaiting_ack_clause())) == 0


def test_an_imported_ledger_is_not_asked(ledger, org, clock):  # noqa: F811
    stream = io.BytesIO()
    build_ledger_xlsx(None, clock, stream, lang="zh_CN")
    _empty_lists(sources=True)
    with force_locale("zh_CN"):
        report = run_import(stream.getvalue(), db.session.get(User, org.admin.id), clock)
    assert report.ok
    db.session.commit()
    imported = db.session.scalars(sa.select(Task)).all()
    assert imported and not any(t.awaiting_ack for t in imported)
    assert all(t.ack_required is False for t in imported)


# --- reminders ----------------------------------------------------------------------------------


def ack_rows():
    return [(n.kind, n.user.username) for n in db.session.scalars(
        sa.select(Notification).where(Notification.kind.in_([K.ACK_DUE, K.ACK_ESCALATION]))
        .order_by(Notification.id))]


def test_the_owner_then_the_managers_are_reminded_once(org, make, app):
    make.clock = when(DAY0)
    task = make.task(org.mgr_a, owner=org.staff_a)
    waiting = make.task(org.mgr_a, owner=org.staff_a1, unit=org.a1)
    signed = make.task(org.mgr_b, owner=org.staff_b, unit=org.b)
    tasks.acknowledge(signed, org.staff_b, when(DAY0))
    db.session.commit()
    run = lambda iso: reminders.run_once(when(iso), with_digest=False)  # noqa: E731

    run("2026-06-16T10:00:00")  # one day: nothing yet
    assert ack_rows() == []
    run("2026-06-17T10:00:00")  # ACK_WITHIN_DAYS (2): each owner, once
    assert ack_rows() == [(K.ACK_DUE, "staff_a"), (K.ACK_DUE, "staff_a1")]
    run("2026-06-17T16:00:00")
    run("2026-06-18T10:00:00")
    assert len(ack_rows()) == 2
    tasks.acknowledge(task, org.staff_a, when("2026-06-18T11:00:00"))
    db.session.commit()
    run("2026-06-19T10:00:00")  # ACK_ESCALATE_AFTER_DAYS (4): the managers of the one still waiting
    assert ack_rows()[2:] == [(K.ACK_ESCALATION, "mgr_a"), (K.ACK_ESCALATION, "mgr_a_2")]
    run("2026-06-25T10:00:00")
    assert len(ack_rows()) == 4
    sent = db.session.scalars(sa.select(Notification).where(Notification.kind == K.ACK_ESCALATION)).all()
    assert {n.task_id for n in sent} == {waiting.id}
    assert "李四" in sent[0].subject


def test_a_reminder_queued_before_the_owner_signed_is_not_sent(org, make, app):
    make.clock = when(DAY0)
    task = make.task(org.mgr_a, owner=org.staff_a)
    db.session.commit()
    outbox.enqueue(reminders.queue_due(when("2026-06-17T10:00:00")))
    db.session.commit()
    tasks.acknowledge(task, org.staff_a, when("2026-06-17T10:01:00"))
    db.session.commit()
    outbox.flush(when("2026-06-17T10:02:00"))
    [n] = db.session.scalars(sa.select(Notification).where(Notification.kind == K.ACK_DUE)).all()
    assert n.status == NotificationStatus.CANCELLED and n.delivery_note == "not sent: signed for"


def test_the_reminder_says_what_to_do_in_each_language(org, make, app):
    make.clock = when(DAY0)
    org.staff_a1.language = "en"
    make.task(org.mgr_a, owner=org.staff_a, measure="健全谈心谈话制度")
    make.task(org.mgr_a, owner=org.staff_a1, unit=org.a1, measure="完善公文管理台账")
    db.session.commit()
    reminders.run_once(when("2026-06-17T10:00:00"), with_digest=False)
    zh, en = db.session.scalars(sa.select(Notification).where(Notification.kind == K.ACK_DUE)
                                .order_by(Notification.id)).all()
    assert "签收" in zh.subject and "健全谈心谈话制度" in zh.subject and "签收" in zh.body_text
    assert "sign for" in en.subject.lower() and "完善公文管理台账" in en.body_text


# --- the pages and the API ---------------------------------------------------------------------------


def test_the_owner_signs_on_the_task_page_and_the_list_shows_who_has_not(org, make, login_as):
    task = make.task(org.mgr_a, owner=org.staff_a, measure="健全谈心谈话制度")
    db.session.commit()
    manager = login_as(org.mgr_a)
    page = manager.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'data-ack="waiting"' in page and "未签收" in page and 'id="form-acknowledge"' not in page
    listed = manager.get("/tasks?awaiting_ack=1").get_data(as_text=True)
    assert "健全谈心谈话制度" in listed and 'data-ack="waiting"' in listed
    response = manager.post(f"/tasks/{task.id}/acknowledge", data={"acknowledge-version": task.version})
    assert response.status_code == 302
    db.session.expire_all()
    assert task.awaiting_ack  # a manager cannot sign for the owner

    owner = login_as(org.staff_a)
    page = owner.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="form-acknowledge"' in page
    assert "健全谈心谈话制度" in owner.get("/").get_data(as_text=True)
    response = owner.post(f"/tasks/{task.id}/acknowledge", data={"acknowledge-version": task.version},
                          follow_redirects=True)
    assert response.status_code == 200 and "您已签收" in response.get_data(as_text=True)
    db.session.expire_all()
    assert not task.awaiting_ack
    page = owner.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="form-acknowledge"' not in page and "签收于" in page
    listed = owner.get("/tasks?awaiting_ack=1").get_data(as_text=True)
    assert "健全谈心谈话制度" not in listed


def test_a_page_opened_before_a_reassignment_signs_nothing(org, make, login_as, clock):
    task = make.task(org.mgr_a, owner=org.staff_a)
    db.session.commit()
    owner = login_as(org.staff_a)
    old = task.version
    tasks.reassign_task(task, org.mgr_a, clock, owner=org.staff_a1, unit=org.a1, expected_version=old)
    tasks.reassign_task(task, org.mgr_a, clock, owner=org.staff_a, unit=org.a, expected_version=task.version)
    db.session.commit()
    response = owner.post(f"/tasks/{task.id}/acknowledge", data={"acknowledge-version": old})
    assert response.status_code == 409
    db.session.expire_all()
    assert task.awaiting_ack


def test_the_api_signs_for_the_owner_only(org, make, api):  # noqa: F811
    task = make.task(org.mgr_a, owner=org.staff_a)
    other = make.task(org.mgr_b, owner=org.staff_b, unit=org.b)
    db.session.commit()
    owner = api(org.staff_a)
    body = owner.get(f"/tasks/{task.id}").get_json()
    assert body["awaiting_ack"] is True and body["acknowledged_at"] is None
    assert api(org.mgr_a).post(f"/tasks/{task.id}/acknowledge", {}).status_code == 403
    assert owner.post(f"/tasks/{other.id}/acknowledge", {}).status_code == 404
    assert owner.post("/tasks/999999/acknowledge", {}).status_code == 404
    stale = {"version": body["version"] + 5}
    assert owner.post(f"/tasks/{task.id}/acknowledge", stale).status_code == 409
    response = owner.post(f"/tasks/{task.id}/acknowledge", {"version": body["version"]})
    assert response.status_code == 200
    assert response.get_json()["awaiting_ack"] is False and response.get_json()["acknowledged_at"]
    assert owner.post(f"/tasks/{task.id}/acknowledge", {}).status_code == 409
    listed = owner.get("/tasks", awaiting_ack="true").get_json()
    assert listed["total"] == 0

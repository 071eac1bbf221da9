"""Notices of transitions (DESIGN §3): a submission tells its verifiers, a return and a close-out tell
the owner (and the close-out the responsible leader), each exactly once, through the outbox and a
real SMTP server; the email can be turned off on the profile page, the in-app notice stays."""

from __future__ import annotations

import sqlalchemy as sa
from conftest import when
from test_reminders_delivery import all_rows, smtp  # noqa: F401  (the SMTP fixture)

from tracker.enums import TaskState
from tracker.extensions import db
from tracker.reminders import outbox
from tracker.reminders import services as reminders
from tracker.reminders.models import Notification, NotificationKind, NotificationStatus
from tracker.tasks import services as tasks

K = NotificationKind


def notices(kind=None):
    """(kind, recipient username) of the transition notices queued so far, in order."""
    kinds = [kind] if kind else [K.SUBMITTED, K.REJECTED, K.VERIFIED]
    return [(n.kind, n.user.username) for n in all_rows() if n.kind in kinds]


def test_a_whole_loop_tells_each_person_once_by_email(org, make, clock, smtp):  # noqa: F811
    smtp.start()
    problem = make.problem(org.mgr_a, responsible_leader=org.mgr_root)
    task = make.task(org.mgr_a, problem=problem, owner=org.staff_a, measure="健全谈心谈话制度")
    db.session.commit()

    tasks.submit(task, org.staff_a, clock, result="已建立制度并执行")
    db.session.commit()
    assert notices() == [(K.SUBMITTED, "mgr_a"), (K.SUBMITTED, "mgr_a_2")]  # the unit's managers

    tasks.reject(task, org.mgr_a, clock, comment="缺少会议记录")
    db.session.commit()
    tasks.submit(task, org.staff_a, clock, result="已补充会议记录")
    db.session.commit()
    tasks.verify(task, org.mgr_a_2, clock, comment="同意销号")
    db.session.commit()
    assert notices() == [
        (K.SUBMITTED, "mgr_a"), (K.SUBMITTED, "mgr_a_2"),
        (K.REJECTED, "staff_a"),
        (K.SUBMITTED, "mgr_a"), (K.SUBMITTED, "mgr_a_2"),
        (K.VERIFIED, "staff_a"), (K.VERIFIED, "mgr_root"),
    ]
    result = outbox.flush(when("2026-06-15T10:05:00"))
    # The first submission's notices went stale (the measure moved on before they were sent), the
    # second's too (closed out by then); the return also (resubmitted): only what still holds is sent.
    sent = {(n.kind, n.user.username) for n in all_rows() if n.status == NotificationStatus.SENT}
    assert {(K.VERIFIED, "staff_a"), (K.VERIFIED, "mgr_root")} <= sent
    assert (K.SUBMITTED, "mgr_a") not in sent and (K.REJECTED, "staff_a") not in sent
    subjects = {m["Subject"] for _, m in smtp.inbox.messages}
    assert any("已销号" in s for s in subjects), subjects
    assert len(smtp.inbox.messages) == len(result.sent)
    # Nothing is sent or queued twice: a second flush and the reminders' pass add nothing.
    assert outbox.flush(when("2026-06-15T10:06:00")).sent == []
    before = len(all_rows())
    reminders.run_once(when("2026-06-15T10:07:00"), with_digest=False)
    assert [n for n in all_rows()[before:] if n.kind in (K.SUBMITTED, K.REJECTED, K.VERIFIED)] == []


def test_each_notice_is_sent_when_it_still_holds(org, make, clock, smtp):  # noqa: F811
    smtp.start()
    task = make.task(org.mgr_a, owner=org.staff_a, measure="完善公文管理台账")
    db.session.commit()
    outbox.flush(when("2026-06-15T10:01:00"))  # the assignment notice
    smtp.inbox.messages.clear()

    tasks.submit(task, org.staff_a, clock, result="台账已完善")
    db.session.commit()
    outbox.flush(when("2026-06-15T10:02:00"))
    assert sorted(to[0] for to, _ in smtp.inbox.messages) == sorted([org.mgr_a.email, org.mgr_a_2.email])
    _, msg = smtp.inbox.messages[0]
    text = msg.get_body(("plain",)).get_content()
    assert "张三" in text and "台账已完善" in text and "完善公文管理台账" in text
    assert f"/tasks/{task.id}" in text

    smtp.inbox.messages.clear()
    tasks.reject(task, org.mgr_a, clock, comment="缺少佐证材料")
    db.session.commit()
    outbox.flush(when("2026-06-15T10:03:00"))
    [(to, msg)] = smtp.inbox.messages
    assert to == [org.staff_a.email] and "缺少佐证材料" in msg.get_body(("plain",)).get_content()


def test_verifiers_are_the_nearest_managers_never_the_submitter(org, make, clock):
    # A1 has no manager: A's managers verify. A manager's own submission goes to the other one.
    t1 = make.task(org.mgr_a, owner=org.staff_a1, unit=org.a1)
    t2 = make.task(org.mgr_a, owner=org.mgr_a)
    t3 = make.task(org.mgr_b, owner=org.mgr_b)  # B's only manager: up to the root's
    tasks.submit(t1, org.staff_a1, clock, result="已整改")
    tasks.submit(t2, org.mgr_a, clock, result="已整改")
    tasks.submit(t3, org.mgr_b, clock, result="已整改")
    db.session.commit()
    by_task = {}
    for n in all_rows():
        if n.kind == K.SUBMITTED:
            by_task.setdefault(n.task_id, []).append(n.user.username)
    assert by_task == {t1.id: ["mgr_a", "mgr_a_2"], t2.id: ["mgr_a_2"], t3.id: ["mgr_root"]}


def test_verify_does_not_tell_the_verifier_and_a_leader_once(org, make, clock):
    problem = make.problem(org.mgr_a, responsible_leader=org.mgr_a)
    task = make.task(org.mgr_a, problem=problem, owner=org.staff_a)
    tasks.submit(task, org.staff_a, clock, result="已整改")
    tasks.verify(task, org.mgr_a, clock)
    db.session.commit()
    assert notices(K.VERIFIED) == [(K.VERIFIED, "staff_a")]


def test_a_rolled_back_transition_tells_nobody(org, make, clock):
    task = make.task(org.mgr_a, owner=org.staff_a)
    db.session.commit()
    tasks.submit(task, org.staff_a, clock, result="已整改")
    db.session.rollback()
    assert notices() == []
    assert db.session.get(type(task), task.id).state == TaskState.ASSIGNED


def test_email_turned_off_keeps_the_in_app_notice(org, make, clock, smtp, login_as):  # noqa: F811
    smtp.start()
    client = login_as(org.staff_a)
    page = client.get("/profile").get_data(as_text=True)
    assert 'name="prefs-notify_transitions"' in page
    token = page.split('name="prefs-csrf_token" type="hidden" value="')[1].split('"')[0] \
        if 'name="prefs-csrf_token"' in page else None
    data = {"which": "prefs", "prefs-language": "zh_CN", "prefs-weekly_digest": "y"}
    if token:
        data["prefs-csrf_token"] = token
    assert client.post("/profile", data=data).status_code == 302
    db.session.expire_all()
    assert org.staff_a.notify_transitions is False

    task = make.task(org.mgr_a, owner=org.staff_a)
    tasks.submit(task, org.staff_a, clock, result="已整改")
    tasks.reject(task, org.mgr_a, clock, comment="缺少佐证材料")
    db.session.commit()
    outbox.flush(when("2026-06-15T10:05:00"))
    [notice] = db.session.scalars(sa.select(Notification).where(Notification.kind == K.REJECTED)).all()
    assert notice.status == NotificationStatus.SENT
    assert notice.delivery_note == "in-app only (email turned off)"
    assert [m["Subject"] for to, m in smtp.inbox.messages if to == [org.staff_a.email]
            and "退回" in m["Subject"]] == []
    assert any(to == [org.staff_a.email] for to, _ in smtp.inbox.messages)  # the assignment still is
    assert "缺少佐证材料" in client.get("/notifications").get_data(as_text=True)

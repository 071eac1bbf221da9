"""Notices (提醒函 / 督办单, DESIGN §3 "Supervision"): colours, proposals, issuing within scope, the
recipients and their 签收, replies, the issuer's decision, the state table, the timeline, the outbox
and the reply reminders — every rule with the clock set explicitly."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from conftest import TODAY, when
from notice_support import issue

from tracker.audit.models import AuditEvent
from tracker.errors import InvalidTransition, PermissionDenied, ValidationFailed
from tracker.extensions import db
from tracker.reminders import outbox
from tracker.reminders import services as reminders
from tracker.reminders.models import Notification, NotificationStatus
from tracker.reminders.models import NotificationKind as K
from tracker.supervision import rules, services
from tracker.supervision.models import (
    Notice,
    NoticeColour,
    NoticeKind,
    NoticeRecipient,
    NoticeState,
    RecipientRole,
)
from tracker.tasks import services as tasks
from tracker.tasks.evidence import Upload


def events(action, task=None):
    stmt = sa.select(AuditEvent).where(AuditEvent.action == action)
    if task is not None:
        stmt = stmt.where(AuditEvent.task_id == task.id)
    return db.session.scalars(stmt.order_by(AuditEvent.id)).all()  # PostgreSQL keeps no order otherwise


# --- colours -------------------------------------------------------------------------------------------


def test_colours_red_overdue_yellow_stalled_or_rejected_twice_blue_otherwise(org, make, measures, clock):
    m = measures
    found = services.colours([m.overdue, m.due_soon, m.stalled, m.fresh], clock)
    assert found == {m.overdue.id: NoticeColour.RED, m.due_soon.id: NoticeColour.BLUE,
                     m.stalled.id: NoticeColour.YELLOW, m.fresh.id: NoticeColour.BLUE}
    # Fifteen days later the fresh one has had no progress for STALL_DAYS: yellow.
    assert services.colours([m.fresh], when("2026-06-30T10:00:00"))[m.fresh.id] == NoticeColour.YELLOW
    # Rejected twice: yellow; once: still blue.
    for n in range(2):
        tasks.submit(m.fresh, org.staff_a, clock, result=f"已整改{n}")
        tasks.reject(m.fresh, org.mgr_a, clock, comment="材料不全")
        expected = NoticeColour.YELLOW if n == 1 else NoticeColour.BLUE
        assert services.colours([m.fresh], clock)[m.fresh.id] == expected
    # The notice takes its most urgent measure's colour.
    assert services.notice_colour({1: NoticeColour.BLUE, 2: NoticeColour.RED}) == NoticeColour.RED
    assert services.notice_colour({1: NoticeColour.BLUE, 2: NoticeColour.YELLOW}) == NoticeColour.YELLOW


def test_the_stall_days_are_configurable(app, measures, clock):
    app.config["STALL_DAYS"] = 60
    assert services.colours([measures.stalled], clock)[measures.stalled.id] == NoticeColour.BLUE


# --- proposals -------------------------------------------------------------------------------------------


def test_proposals_group_by_unit_within_scope(org, measures, clock):
    m = measures
    found = {(p.kind, p.unit.code): [t.id for t in p.tasks] for p in services.propose(org.mgr_a, clock)}
    assert found == {
        (NoticeKind.SUPERVISION, "A"): [m.overdue.id],
        (NoticeKind.REMINDER, "A"): [m.stalled.id],
        (NoticeKind.REMINDER, "A1"): [m.due_soon.id],
    }
    # The root manager sees B's overdue measure too; staff and viewers get no proposals.
    root = {(p.kind, p.unit.code) for p in services.propose(org.mgr_root, clock)}
    assert (NoticeKind.SUPERVISION, "B") in root
    assert services.propose(org.staff_a, clock) == [] and services.propose(org.viewer_root, clock) == []
    # A measure already in an open 督办单 is not proposed again.
    issue(org.mgr_a, clock, NoticeKind.SUPERVISION, m.overdue)
    kinds = {(p.kind, p.unit.code) for p in services.propose(org.mgr_a, clock)}
    assert (NoticeKind.SUPERVISION, "A") not in kinds and (NoticeKind.REMINDER, "A") in kinds


# --- issuing ---------------------------------------------------------------------------------------------


def test_issue_numbers_colours_recipients_timeline_and_outbox(org, measures, clock):
    m = measures
    first = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, m.overdue)
    second = issue(org.mgr_a, clock, NoticeKind.REMINDER, m.stalled, m.due_soon)
    third = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, m.overdue)
    assert [(n.kind, n.number) for n in (first, second, third)] == [
        (NoticeKind.SUPERVISION, 1), (NoticeKind.REMINDER, 1), (NoticeKind.SUPERVISION, 2)]
    assert third.number_text == "〔2026〕第2期" and str(third) == "督办单〔2026〕第2期"
    assert (first.colour, second.colour) == (NoticeColour.RED, NoticeColour.YELLOW)
    assert first.issuing_unit_id == org.a.id and first.addressee_unit_id == org.a.id
    assert second.addressee_unit_id == org.a.id  # A and A1: the unit above both
    roles = {(r.user.username, r.role) for r in second.recipients}
    # Owners; the managers of each measure's unit (A1 has none: A's, without the issuer); the leader.
    assert roles == {("staff_a", RecipientRole.OWNER), ("staff_a1", RecipientRole.OWNER),
                     ("mgr_a_2", RecipientRole.MANAGER), ("mgr_root", RecipientRole.COPY)}
    assert all(r.acknowledged_at is None for r in second.recipients)
    # Each listed measure's timeline shows the notice.
    [event] = events("notice.issue", m.overdue)[:1]
    assert event.after["notice"] == "督办单〔2026〕第1期" and event.object_id == first.id
    assert len(events("notice.issue", m.due_soon)) == 1
    # Every recipient is sent the notice once, linked to its page and its DOCX.
    rows = db.session.scalars(sa.select(Notification).where(Notification.notice_id == second.id)).all()
    assert sorted(r.user.username for r in rows) == ["mgr_a_2", "mgr_root", "staff_a", "staff_a1"]
    assert all(r.kind == K.NOTICE_ISSUED for r in rows)
    assert f"/notices/{second.id}.docx" in rows[0].body_text and "〔2026〕第1期" in rows[0].subject
    outbox.enqueue(services.mail.issued_rows(second, clock))  # queued again: nothing new
    db.session.commit()
    again = db.session.scalar(sa.select(sa.func.count()).where(Notification.notice_id == second.id))
    assert again == 4


def test_numbers_restart_each_year_and_are_per_issuing_unit(org, measures, clock):
    m = measures
    a = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, m.overdue)
    b = issue(org.mgr_b, clock, NoticeKind.SUPERVISION, m.other)
    next_year = when("2027-01-04T09:00:00")
    c = services.issue(org.mgr_a, next_year, kind=NoticeKind.SUPERVISION, task_ids=[m.overdue.id],
                       reply_due_on=date(2027, 1, 10), body="x")
    db.session.commit()
    assert [(n.issuing_unit_id, n.year, n.number) for n in (a, b, c)] == [
        (org.a.id, 2026, 1), (org.b.id, 2026, 1), (org.a.id, 2027, 1)]


def test_a_failed_issue_leaves_no_gap(org, measures, clock):
    m = measures
    issue(org.mgr_a, clock, NoticeKind.SUPERVISION, m.overdue)
    services.issue(org.mgr_a, clock, kind=NoticeKind.SUPERVISION, task_ids=[m.overdue.id],
                   reply_due_on=TODAY, body="x")
    db.session.rollback()  # e.g. the request failed after the number was taken
    assert issue(org.mgr_a, clock, NoticeKind.SUPERVISION, m.overdue).number == 2


@pytest.mark.parametrize("who", ["mgr_b", "mgr_a"])
def test_a_measure_outside_the_subtree_answers_like_a_nonexistent_one(org, measures, clock, who):
    target = measures.other if who == "mgr_a" else measures.overdue
    with pytest.raises(ValidationFailed) as out_of_scope:
        services.issue(org.users[who], clock, kind=NoticeKind.SUPERVISION, task_ids=[target.id],
                       reply_due_on=TODAY, body="x")
    with pytest.raises(ValidationFailed) as missing:
        services.issue(org.users[who], clock, kind=NoticeKind.SUPERVISION, task_ids=[999999],
                       reply_due_on=TODAY, body="x")
    assert out_of_scope.value.fields == missing.value.fields == {"tasks": [services.NO_SUCH_MEASURE]}
    assert db.session.scalar(sa.select(sa.func.count(Notice.id))) == 0


def test_issue_refusals(org, measures, clock):
    m = measures
    for who in ("staff_a", "viewer_root"):
        with pytest.raises(PermissionDenied):
            services.issue(org.users[who], clock, kind=NoticeKind.REMINDER, task_ids=[m.stalled.id],
                           reply_due_on=TODAY, body="x")
    cases = [
        (NoticeKind.SUPERVISION, [m.stalled.id], TODAY, "x", "tasks"),  # not overdue
        (NoticeKind.REMINDER, [m.stalled.id], TODAY - timedelta(days=1), "x", "reply_due_on"),
        (NoticeKind.REMINDER, [m.stalled.id], TODAY, "  ", "body"),
        (NoticeKind.REMINDER, [], TODAY, "x", "tasks"),
        (NoticeKind.REMINDER, ["junk"], TODAY, "x", "tasks"),
    ]
    for kind, ids, due, body, field in cases:
        with pytest.raises(ValidationFailed) as exc:
            services.issue(org.mgr_a, clock, kind=kind, task_ids=ids, reply_due_on=due, body=body)
        assert field in exc.value.fields, (kind, ids, due, body)
    tasks.submit(m.stalled, org.staff_a, clock, result="已完成")
    with pytest.raises(ValidationFailed):
        services.issue(org.mgr_a, clock, kind=NoticeKind.REMINDER, task_ids=[m.stalled.id],
                       reply_due_on=TODAY, body="x")


def test_the_default_body_comes_from_an_overridable_template(app, org, measures, clock, tmp_path):
    m = measures
    body = services.default_body(NoticeKind.SUPERVISION, [m.overdue], org.a, date(2026, 6, 20), clock)
    assert "1项整改措施已超过整改时限" in body and "最长超期5天" in body and "2026年6月20日" in body
    folder = tmp_path / "instance" / services.BODY_OVERRIDE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "body_supervision.txt").write_text("请{{ addressee }}于{{ reply_due_on }}前反馈。", "utf-8")
    app.instance_path = str(tmp_path / "instance")
    body = services.default_body(NoticeKind.SUPERVISION, [m.overdue], org.a, date(2026, 6, 20), clock)
    assert body == "请第一党支部于2026年6月20日前反馈。"


# --- 签收, reply, decision, state table ---------------------------------------------------------------


def test_recipients_sign_reply_and_the_issuer_accepts(app, org, measures, clock):
    m = measures
    notice = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, m.overdue)
    assert rules.available(notice, org.staff_a) == {"acknowledge", "reply"}
    assert rules.available(notice, org.mgr_root) == {"acknowledge"}  # in copy: signs, does not reply
    assert rules.available(notice, org.mgr_a) == set()  # the issuer waits for the reply
    assert rules.available(notice, org.staff_b) == set()
    with pytest.raises(PermissionDenied):
        services.acknowledge(notice, org.staff_b, clock)
    with pytest.raises(PermissionDenied):
        services.reply(notice, org.mgr_root, clock, body="x")
    with pytest.raises(InvalidTransition):
        services.decide(notice, org.mgr_a, clock, accept=True)

    # The leader in copy signs: the notice still waits for an addressee's 签收.
    services.acknowledge(notice, org.mgr_root, clock)
    db.session.commit()
    assert notice.state == NoticeState.ISSUED
    later = when("2026-06-16T09:30:00")
    services.acknowledge(notice, org.staff_a, later)
    db.session.commit()
    assert notice.state == NoticeState.ACKNOWLEDGED
    mine = db.session.scalar(sa.select(NoticeRecipient).where(NoticeRecipient.user_id == org.staff_a.id))
    assert mine.acknowledged_at is not None
    with pytest.raises(PermissionDenied):  # signed once
        services.acknowledge(notice, org.staff_a, later)
    assert len(events("notice.acknowledge", m.overdue)) == 2

    answer = services.reply(notice, org.staff_a, later, body="已完成整改",
                            uploads=[Upload("整改报告.pdf", io.BytesIO(b"%PDF-1.4 report"))])
    db.session.commit()
    assert notice.state == NoticeState.REPLIED and [f.filename for f in answer.files] == ["整改报告.pdf"]
    with pytest.raises(ValidationFailed):
        services.decide(notice, org.mgr_a, later, accept=False, reason=" ")
    db.session.rollback()
    services.decide(notice, org.mgr_a, later, accept=False, reason="佐证材料不足")
    db.session.commit()
    assert notice.state == NoticeState.RETURNED and answer.accepted is False
    # The manager of the addressed unit (the issuer's colleague) may reply too.
    assert "reply" in rules.available(notice, org.mgr_a_2)
    services.reply(notice, org.staff_a, later, body="已补充材料")
    db.session.commit()
    with pytest.raises(PermissionDenied):
        services.decide(notice, org.staff_a, later, accept=True)
    services.decide(notice, org.mgr_a_2, later, accept=True)  # a manager of the issuing unit
    db.session.commit()
    assert notice.state == NoticeState.CLOSED and notice.closed_at is not None
    assert [e.action for e in db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.task_id == m.overdue.id, AuditEvent.action.like("notice.%"))
        .order_by(AuditEvent.id))] == ["notice.issue", "notice.acknowledge", "notice.acknowledge",
                                      "notice.reply", "notice.send_back", "notice.reply", "notice.accept"]
    assert all(not rules.available(notice, u) - {"acknowledge"} for u in org.users.values())


def test_replying_signs_for_it(org, measures, clock):
    notice = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue)
    services.reply(notice, org.staff_a, clock, body="已整改")
    db.session.commit()
    assert [e.after["implicit"] for e in events("notice.acknowledge")] == [True]


def test_the_state_table_names_every_action_and_refuses_by_state(org, measures, clock):
    notice = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue)
    assert set(rules.RULES) == {"acknowledge", "reply", "accept", "send_back"}
    notice.state = NoticeState.CLOSED
    with pytest.raises(InvalidTransition):
        services.reply(notice, org.staff_a, clock, body="x")


# --- who reads a notice ------------------------------------------------------------------------------------


def test_recipients_see_only_their_notices(org, measures, clock):
    a = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue)
    b = issue(org.mgr_b, clock, NoticeKind.SUPERVISION, measures.other)
    visible = {}
    for name, user in org.users.items():
        ids = set(db.session.scalars(sa.select(Notice.id).where(rules.clause(user))))
        assert ids == {n.id for n in (a, b) if rules.can_read(user, n)}, name
        visible[name] = ids
    assert visible["staff_a"] == {a.id} and visible["staff_b"] == {b.id}
    assert visible["staff_a1"] == set()  # same subtree, not a recipient
    assert visible["mgr_root"] == {a.id, b.id} and visible["viewer_root"] == {a.id, b.id}
    assert visible["viewer_b"] == {b.id} and visible["mgr_b"] == {b.id} and visible["mgr_a"] == {a.id}
    assert services.get_for(org.staff_a1, a.id) is None and services.get_for(org.staff_a, a.id) is a
    assert services.get_for(org.staff_a, 2**40) is None


# --- the reply's deadline ---------------------------------------------------------------------------------


def test_a_late_reply_is_reminded_then_escalated_each_once(app, org, measures, clock):
    notice = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue, due=TODAY + timedelta(days=2))

    def run(day):
        reminders.run_once(when(day), with_digest=False)
        return sorted((n.kind.value, n.user.username) for n in db.session.scalars(
            sa.select(Notification).where(Notification.notice_id == notice.id,
                                          Notification.kind != K.NOTICE_ISSUED)))

    assert run("2026-06-17T10:00:00") == []  # the deadline day
    due = [("notice_reply_due", "mgr_a_2"), ("notice_reply_due", "staff_a")]
    assert run("2026-06-18T10:00:00") == due
    assert run("2026-06-19T10:00:00") == due  # once
    escalated = due + [("notice_reply_escalation", "mgr_a"), ("notice_reply_escalation", "mgr_a_2")]
    assert run("2026-06-20T10:00:00") == sorted(escalated)
    assert run("2026-06-27T10:00:00") == sorted(escalated)  # once


def test_a_reply_in_time_stops_the_reminders_and_cancels_queued_ones(app, org, measures, clock):
    notice = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue, due=TODAY)
    late = when("2026-06-16T10:00:00")
    rows = reminders.queue_due(late, with_digest=False)
    outbox.enqueue(rows)
    services.reply(notice, org.staff_a, late, body="已整改")
    db.session.commit()
    outbox.flush(late)
    statuses = {n.kind: n.status for n in db.session.scalars(
        sa.select(Notification).where(Notification.notice_id == notice.id))}
    assert statuses[K.NOTICE_REPLY_DUE] == NotificationStatus.CANCELLED
    assert statuses[K.NOTICE_ISSUED] == NotificationStatus.SENT
    assert not [r for r in reminders.queue_due(when("2026-06-20T10:00:00"), with_digest=False)
                if r.get("notice_id") == notice.id]

"""Reminder sweeps (issue 17, part 3): within a day the date-driven rules read only the measures changed
since their last pass; a new day, a change of people or units, or no record, and they read every
candidate again. An idle pass costs what changed, not what is overdue."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from conftest import TODAY
from test_reminders_rules import at, queue, rows

from tracker.clock import utcnow
from tracker.enums import Role
from tracker.extensions import db
from tracker.problems.models import Problem
from tracker.reminders import services, sweeps
from tracker.reminders.models import Notification, ReminderSweep
from tracker.reminders.models import NotificationKind as Kind
from tracker.tasks import services as tasks
from tracker.tasks.models import Task

SWEPT = ("due_soon", "overdue", "escalation", "ongoing")
DAY = TODAY + timedelta(days=20)  # the measures below are 10 days overdue: overdue and escalated


def age_everything(minutes: int = 60) -> None:
    """Every measure and problem last changed `minutes` ago (the explicit value wins over onupdate)."""
    then = utcnow() - timedelta(minutes=minutes)
    db.session.execute(sa.update(Task).values(changed_at=then).execution_options(synchronize_session=False))
    db.session.execute(sa.update(Problem).values(changed_at=then).execution_options(synchronize_session=False))
    db.session.commit()


def overdue_measures(org, make, n: int):
    problem = make.problem(org.mgr_a, responsible_leader=org.viewer_root)
    made = [make.task(org.mgr_a, problem, owner=org.staff_a, deadline=TODAY + timedelta(days=10))
            for _ in range(n)]
    db.session.commit()
    return made


def forget(kind: Kind, task: Task, user) -> None:
    """Delete one queued message: a full sweep queues it again, a pass that does not look does not."""
    db.session.execute(sa.delete(Notification).where(
        Notification.kind == kind, Notification.task_id == task.id, Notification.user_id == user.id))
    db.session.commit()


def test_the_days_first_pass_records_a_sweep_per_rule_and_a_dry_run_records_none(org, make, runner):
    overdue_measures(org, make, 1)
    result = runner.invoke(args=["reminders", "run", "--now", f"{DAY}T10:00:00", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert db.session.scalars(sa.select(ReminderSweep)).all() == []
    services.queue_pass(at(DAY))
    swept = {s.rule: s for s in db.session.scalars(sa.select(ReminderSweep))}
    assert set(swept) == set(SWEPT)
    assert {s.swept_on for s in swept.values()} == {DAY}
    assert all(s.stamp for s in swept.values())


def test_later_passes_of_the_day_do_not_read_unchanged_measures_and_the_next_day_does(org, make):
    late = overdue_measures(org, make, 3)
    queue(at(DAY, 9))
    # each measure to its problem's responsible leader and to A's two managers
    assert {(n.task_id, n.user_id) for n in rows(kind=Kind.ESCALATION)} == {
        (t.id, u.id) for t in late for u in (org.viewer_root, org.mgr_a, org.mgr_a_2)}
    age_everything()
    forget(Kind.ESCALATION, late[0], org.viewer_root)
    assert queue(at(DAY, 10)) == [], "an unchanged measure is not read again within the day"
    found = queue(at(DAY + timedelta(days=1), 9))
    assert [(r["kind"], r["task_id"], r["user_id"]) for r in found
            if r["kind"] == Kind.ESCALATION] == [(Kind.ESCALATION, late[0].id, org.viewer_root.id)]


def test_a_measure_changed_within_the_day_is_read_at_the_next_pass(org, make, clock):
    late = overdue_measures(org, make, 2)
    queue(at(DAY, 9))
    age_everything()
    tasks.reassign_task(late[1], org.mgr_a, at(DAY, 9), owner=org.mgr_a_2, expected_version=late[1].version)
    db.session.commit()
    found = queue(at(DAY, 10))
    assert {(r["kind"], r["task_id"], r["user_id"]) for r in found} >= {
        (Kind.OVERDUE, late[1].id, org.mgr_a_2.id)}
    assert {r["task_id"] for r in found} == {late[1].id}

    soon = late[0]
    tasks.change_deadline(soon, org.mgr_a, at(DAY, 10), deadline=DAY + timedelta(days=2),
                          expected_version=soon.version, comment="延期")
    db.session.commit()
    found = queue(at(DAY, 11))
    assert [(r["kind"], r["task_id"]) for r in found] == [(Kind.DUE_SOON, soon.id)]


def test_a_new_responsible_leader_gets_the_escalations_the_same_day(org, make):
    late = overdue_measures(org, make, 2)
    queue(at(DAY, 9))
    age_everything()
    problem = late[0].problem
    problem.responsible_leader = org.mgr_root
    db.session.commit()
    found = queue(at(DAY, 10))
    assert sorted((r["task_id"], r["user_id"]) for r in found if r["kind"] == Kind.ESCALATION) == sorted(
        (t.id, org.mgr_root.id) for t in late)


def test_a_new_manager_renews_the_stamp_and_the_rules_read_everything(org, make):
    late = overdue_measures(org, make, 2)
    queue(at(DAY, 9))
    age_everything()
    newcomer = make.user("mgr_a_3", Role.MANAGER, org.a, name="新任副书记")
    db.session.commit()
    found = queue(at(DAY, 10))
    assert sorted((r["task_id"], r["user_id"]) for r in found if r["kind"] == Kind.ESCALATION) == sorted(
        (t.id, newcomer.id) for t in late)


def test_a_change_stamped_just_before_the_last_pass_began_is_still_read(org, make):
    """MARGIN: the change's statement ran before the last pass began, its commit came after that pass read."""
    late = overdue_measures(org, make, 2)
    queue(at(DAY, 9))
    last = db.session.get(ReminderSweep, "escalation").started_at
    last = last if last.tzinfo else last.replace(tzinfo=utcnow().tzinfo)
    age_everything()
    for task, before in ((late[0], timedelta(minutes=5)), (late[1], sweeps.MARGIN + timedelta(minutes=5))):
        db.session.execute(sa.update(Task).where(Task.id == task.id).values(changed_at=last - before))
        forget(Kind.ESCALATION, task, org.viewer_root)
    found = queue(at(DAY, 10))
    assert [(r["task_id"], r["user_id"]) for r in found] == [(late[0].id, org.viewer_root.id)]


def test_an_idle_pass_costs_the_same_for_ten_and_for_two_hundred_overdue_measures(org, make, queries):
    overdue_measures(org, make, 10)
    queue(at(DAY, 9))
    age_everything()
    with queries() as small:
        assert queue(at(DAY, 10)) == []
    overdue_measures(org, make, 190)
    queue(at(DAY, 11))
    age_everything()
    with queries() as large:
        assert queue(at(DAY, 12)) == []
    # Without sweeps the key look-ups grow (one per 500 keys: 800 escalation keys here against 40).
    assert len(large) == len(small)


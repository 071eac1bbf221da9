"""Reminder rules over time (DESIGN §3 "Reminders"): each fires when it should, exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from conftest import TODAY, when

from tracker.clock import Clock
from tracker.enums import Role, TaskState, TaskType
from tracker.extensions import db
from tracker.org.models import Unit, User
from tracker.reminders import digest, outbox, rules, services
from tracker.reminders.models import Notification, ReminderSweep
from tracker.reminders.models import NotificationKind as Kind
from tracker.reminders.models import NotificationStatus as St
from tracker.tasks import services as tasks
from tracker.tasks.models import Task


class Recorder:
    """A delivery backend that remembers what it was given."""

    def __init__(self):
        self.sent: list[int] = []

    def send(self, notification, user, attachments=()):
        self.sent.append(notification.id)
        return "recorded"

    def close(self):
        return None


def at(day: date, hour: int = 10) -> Clock:
    return when(f"{day.isoformat()}T{hour:02d}:00:00")


def rows(**filters) -> list[Notification]:
    stmt = sa.select(Notification).order_by(Notification.id)
    for name, value in filters.items():
        stmt = stmt.where(getattr(Notification, name) == value)
    return list(db.session.scalars(stmt))


def flat(batches) -> list[dict]:
    """A rule's batches as one list."""
    return [row for batch in batches for row in batch]


def queue(clock: Clock) -> list[dict]:
    """Run the rules and queue their rows without sending (to look at pending rows)."""
    found = services.queue_due(clock, with_digest=False)
    outbox.enqueue(found)
    db.session.commit()
    return found


def test_six_weeks_of_daily_runs_fire_each_rule_on_its_day_and_once(org, make):
    problem = make.problem(org.mgr_a, responsible_leader=org.viewer_root)
    late = make.task(org.mgr_a, problem, owner=org.staff_a, deadline=TODAY + timedelta(days=10))
    steady = make.task(org.mgr_a, problem, owner=org.staff_a1, deadline=None, type=TaskType.ONGOING)
    db.session.commit()
    backend = Recorder()
    for offset in range(42):
        services.run_once(at(TODAY + timedelta(days=offset)), backend=backend)

    def days(kind, task, user=None):
        found = [n for n in rows(kind=kind, task_id=task.id) if user is None or n.user_id == user.id]
        return [Clock("Asia/Shanghai", n.created_at).today() if n.created_at.tzinfo else
                n.created_at.date() for n in found]

    deadline = late.deadline
    assert days(Kind.ASSIGNED, late) == [TODAY]
    assert days(Kind.DUE_SOON, late) == [deadline - timedelta(days=3)]
    assert days(Kind.OVERDUE, late) == [deadline + timedelta(days=d) for d in (1, 8, 15, 22, 29)]
    escalated = Counter(n.user_id for n in rows(kind=Kind.ESCALATION, task_id=late.id))
    assert escalated == {org.viewer_root.id: 1, org.mgr_a.id: 1, org.mgr_a_2.id: 1}
    assert days(Kind.ESCALATION, late, org.mgr_a) == [deadline + timedelta(days=7)]
    assert days(Kind.ONGOING, steady) == [date(2026, 7, 1)]
    assert rows(kind=Kind.OVERDUE, task_id=steady.id) == []
    mondays = [TODAY + timedelta(weeks=w) for w in range(6)]
    assert [n.created_at.date() for n in rows(kind=Kind.DIGEST, user_id=org.staff_a.id)] == mondays
    # Every row was delivered, each exactly once.
    assert sorted(backend.sent) == [n.id for n in rows()]
    assert {n.status for n in rows()} == {St.SENT}


def test_a_missed_run_still_sends_the_current_weeks_overdue_reminder_once(org, make):
    task = make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=1))
    db.session.commit()
    backend = Recorder()
    services.run_once(at(TODAY + timedelta(days=5)), backend=backend)  # the first overdue day was missed
    services.run_once(at(TODAY + timedelta(days=6)), backend=backend)
    services.run_once(at(TODAY + timedelta(days=6), hour=15), backend=backend)
    assert [n.dedupe_key for n in rows(kind=Kind.OVERDUE)] == [
        f"overdue:{task.id}:{task.deadline}:0:u{org.staff_a.id}"]


def test_reassignment_cancels_the_old_owners_pending_reminder_and_the_new_owner_is_told(org, make):
    task = make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=2))
    db.session.commit()
    queue(at(TODAY))
    tasks.reassign_task(task, org.mgr_a, at(TODAY), owner=org.staff_a1, expected_version=task.version)
    db.session.commit()
    backend = Recorder()
    services.run_once(at(TODAY, 11), backend=backend, with_digest=False)
    old = rows(user_id=org.staff_a.id)
    assert {n.kind: n.status for n in old} == {Kind.ASSIGNED: St.CANCELLED, Kind.DUE_SOON: St.CANCELLED}
    new = {n.kind: n.status for n in rows(user_id=org.staff_a1.id)}
    assert new == {Kind.ASSIGNED: St.SENT, Kind.DUE_SOON: St.SENT}
    # Given back to the first owner: a new assignment notice, not blocked by the old key.
    tasks.reassign_task(task, org.mgr_a, at(TODAY), owner=org.staff_a, expected_version=task.version)
    db.session.commit()
    services.run_once(at(TODAY, 12), backend=backend, with_digest=False)
    assigned = rows(kind=Kind.ASSIGNED, user_id=org.staff_a.id)
    assert [n.status for n in assigned] == [St.CANCELLED, St.SENT]
    assert set(backend.sent) == {n.id for n in rows(status=St.SENT)}


def test_an_approved_extension_cancels_the_reminder_for_the_old_deadline(org, make):
    task = make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=1))
    db.session.commit()
    later = at(TODAY + timedelta(days=3))
    queue(later)
    pending = rows(kind=Kind.OVERDUE)
    assert [n.status for n in pending] == [St.PENDING]
    ext = tasks.request_extension(task, org.staff_a, later, new_deadline=TODAY + timedelta(days=20),
                                  reason="需要协调")
    tasks.decide_extension(ext, org.mgr_a, later, approve=True)
    db.session.commit()
    backend = Recorder()
    services.run_once(later, backend=backend)
    assert rows(kind=Kind.OVERDUE)[0].status == St.CANCELLED
    assert rows(kind=Kind.OVERDUE)[0].id not in backend.sent
    assert len(rows(kind=Kind.OVERDUE)) == 1  # not overdue any more: nothing new


def test_a_changed_deadline_reshapes_the_due_soon_reminder(org, make):
    task = make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=2))
    db.session.commit()
    queue(at(TODAY))
    tasks.change_deadline(task, org.mgr_a, at(TODAY), deadline=TODAY + timedelta(days=3),
                          expected_version=task.version, comment="调整")
    db.session.commit()
    services.run_once(at(TODAY, 11), backend=Recorder(), with_digest=False)
    due = rows(kind=Kind.DUE_SOON)
    assert [(n.deadline, n.status) for n in due] == [(TODAY + timedelta(days=2), St.CANCELLED),
                                                     (TODAY + timedelta(days=3), St.SENT)]


def test_closed_submitted_or_cancelled_measures_get_nothing_stale(org, make):
    done = make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=1))
    waiting = make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=1))
    dropped = make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=1))
    db.session.commit()
    later = at(TODAY + timedelta(days=9))
    queue(later)
    assert len(rows(kind=Kind.OVERDUE)) == 3 and len(rows(kind=Kind.ESCALATION)) == 6
    tasks.submit(done, org.staff_a, later, result="已完成")
    tasks.verify(done, org.mgr_a, later)
    tasks.submit(waiting, org.staff_a, later, result="已完成")
    tasks.cancel(dropped, org.mgr_a, later, comment="重复")
    db.session.commit()
    backend = Recorder()
    services.run_once(later, backend=backend)
    late = rows(kind=Kind.OVERDUE) + rows(kind=Kind.ESCALATION)
    assert {n.status for n in late} == {St.CANCELLED}
    assert not set(backend.sent) & {n.id for n in late}


def test_escalation_goes_to_the_nearest_unit_with_managers_and_the_leader(org, make):
    problem = make.problem(org.mgr_a, unit=org.a1, responsible_leader=org.viewer_root)
    task = make.task(org.mgr_a, problem, owner=org.staff_a1, deadline=TODAY + timedelta(days=1))
    db.session.commit()
    found = flat(rules.escalation(at(TODAY + timedelta(days=8))))
    assert {r["user_id"] for r in found} == {org.viewer_root.id, org.mgr_a.id, org.mgr_a_2.id}
    assert flat(rules.escalation(at(TODAY + timedelta(days=7)))) == []  # only 6 days overdue
    assert all(r["task_id"] == task.id for r in found)


def test_weekly_digest_order_links_and_manager_figures(org, make, app):
    make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=20), measure="以后再办")
    make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=5), measure="本周要办")
    old = make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=1), measure="已经逾期")
    make.task(org.mgr_b, owner=org.staff_b, deadline=TODAY + timedelta(days=1))
    db.session.commit()
    found = {r["user_id"]: r for r in flat(digest.digest(at(TODAY + timedelta(days=3))))}
    text = found[org.staff_a.id]["body_text"]
    assert text.index("已经逾期") < text.index("本周要办") < text.index("以后再办")
    assert f"{app.config['BASE_URL']}/tasks/{old.id}" in text
    assert f'href="{app.config["BASE_URL"]}/tasks/{old.id}"' in found[org.staff_a.id]["body_html"]
    root = found[org.mgr_root.id]["body_text"]
    assert "某局党委" in root and "第一党支部: 1" in root and "办公室: 1" in root
    branch = found[org.mgr_a.id]["body_text"]
    assert "第一党支部: 1" in branch and "办公室" not in branch
    # Nobody gets an empty message: viewers, the admin, staff without open measures.
    assert not {org.viewer_root.id, org.admin.id, org.staff_a1.id} & set(found)


def test_digest_off_means_no_digest_but_escalations_still_arrive(org, make):
    org.mgr_a.weekly_digest = False
    make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=1))
    db.session.commit()
    monday = at(TODAY + timedelta(days=14), hour=9)
    services.run_once(monday, backend=Recorder())
    kinds = {n.kind for n in rows(user_id=org.mgr_a.id)}
    assert Kind.ESCALATION in kinds and Kind.DIGEST not in kinds
    assert rows(kind=Kind.DIGEST, user_id=org.mgr_a_2.id)  # the other manager still gets it


def test_digest_only_around_its_cron_time(app, org, make):
    assert digest.digest_due(when("2026-06-15T09:00:00"))
    assert digest.digest_due(when("2026-06-16T08:59:00"))  # a late run the next morning still sends it
    assert not digest.digest_due(when("2026-06-15T08:59:00"))
    assert not digest.digest_due(when("2026-06-17T10:00:00"))
    app.config["WEEKLY_DIGEST_CRON"] = "30 8 * * fri"
    assert digest.digest_due(when("2026-06-19T08:31:00"))


def _bulk_people(unit: Unit, count: int, start: int, problem_id: int, owner_role=Role.STAFF):
    users = [dict(username=f"bulk{start + i}", name=f"用户{start + i}", email=f"b{start + i}@example.org",
                  password_hash="x", role=owner_role, unit_id=unit.id, language="zh_CN" if i % 2 else "en",
                  active=True, weekly_digest=True) for i in range(count)]
    db.session.execute(sa.insert(User), users)
    ids = db.session.scalars(sa.select(User.id).where(User.username.like("bulk%"))
                             .order_by(User.id)).all()[-count:]
    db.session.execute(sa.insert(Task), [
        dict(problem_id=problem_id, measure=f"措施{uid}-{k}", type=TaskType.DEADLINE, owner_id=uid,
             unit_id=unit.id, deadline=TODAY + timedelta(days=k * 4 - 2), original_deadline=TODAY,
             state=TaskState.ASSIGNED, version=1) for uid in ids for k in range(3)])
    db.session.commit()


def test_digest_for_a_thousand_people_costs_a_query_per_batch_of_people(org, make, queries):
    problem = make.problem(org.mgr_a)
    db.session.commit()
    _bulk_people(org.a1, 10, 0, problem.id)
    with queries() as small:
        few = flat(digest.digest(at(TODAY)))
    _bulk_people(org.a1, 990, 10, problem.id)
    with queries() as large:
        many = flat(digest.digest(at(TODAY)))
    # One query for each batch's measures (the memory held is one batch), never one per person.
    assert len(small) <= 5
    assert len(large) == len(small) + len(many) // digest.PEOPLE_PER_BATCH
    assert len(many) == len(few) + 990
    with queries() as insert:
        outbox.enqueue(many)
    assert len(insert) <= 2
    db.session.commit()
    assert flat(digest.digest(at(TODAY))) == []  # this week's are queued: none again


def test_rules_cost_a_fixed_number_of_queries(org, make, queries):
    problem = make.problem(org.mgr_a, responsible_leader=org.viewer_root)
    db.session.commit()
    _bulk_people(org.a1, 5, 0, problem.id)
    with queries() as small:
        services.queue_due(at(TODAY + timedelta(days=20)), with_digest=False)
    _bulk_people(org.a1, 100, 5, problem.id)
    db.session.execute(sa.delete(ReminderSweep))  # both passes the day's first: every candidate read
    with queries() as large:
        found = services.queue_due(at(TODAY + timedelta(days=20)), with_digest=False)
    assert len(found) > 300
    # Only the dedupe-key look-ups grow: one per 500 candidate keys, never one per task.
    assert len(small) <= len(large) <= len(small) + len(found) // 500 + 1


def test_dry_run_prints_who_gets_what_and_writes_nothing(org, make, runner):
    make.task(org.mgr_a, owner=org.staff_a, deadline=TODAY + timedelta(days=1))
    db.session.commit()
    before = len(rows())
    result = runner.invoke(args=["reminders", "run", "--now", "2026-06-25T10:00:00", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "staff_a\toverdue\t" in result.output and "mgr_a\tescalation\t" in result.output
    assert "nothing was written" in result.output
    db.session.expire_all()
    assert len(rows()) == before
    assert {n.status for n in rows()} == {St.PENDING}  # not even the queued notices were sent
    result = runner.invoke(args=["reminders", "run", "--now", "2026-06-25T10:00:00"])
    assert result.exit_code == 0, result.output
    assert "Queued" in result.output
    assert len(rows(kind=Kind.OVERDUE)) == 1


class _Stop(Exception):
    pass


def test_a_pass_commits_batch_by_batch_and_a_rerun_after_a_crash_queues_only_the_rest(org, make, monkeypatch):
    problem = make.problem(org.mgr_a, responsible_leader=org.viewer_root)
    db.session.commit()
    _bulk_people(org.a1, 10, 0, problem.id)
    later = at(TODAY + timedelta(days=20))
    monkeypatch.setattr(rules, "CHUNK", 4)  # measures per batch
    expected = services.queue_pass(later, with_digest=False, dry_run=True).count
    assert rows() == []  # a dry run writes nothing
    sizes = []

    def crash_on_the_third(batch):
        sizes.append(len(batch))
        if len(sizes) == 3:
            raise _Stop

    with pytest.raises(_Stop):
        services.queue_pass(later, with_digest=False, on_batch=crash_on_the_third)
    db.session.rollback()
    assert len(rows()) == sizes[0] + sizes[1]  # the batches before the crash stay queued
    assert max(sizes) <= 4 * 3  # four measures, each to at most the owner or leader and two managers
    result = services.queue_pass(later, with_digest=False)
    assert result.count == expected - sizes[0] - sizes[1]
    assert len(rows()) == expected
    assert len({n.dedupe_key for n in rows()}) == expected


def test_a_digest_pass_that_dies_half_way_is_finished_by_the_next_pass(org, make, monkeypatch):
    problem = make.problem(org.mgr_a)
    db.session.commit()
    _bulk_people(org.a1, 12, 0, problem.id)
    monday = when("2026-06-15T09:05:00")
    monkeypatch.setattr(digest, "PEOPLE_PER_BATCH", 5)
    everybody = len(flat(digest.digest(monday)))
    seen = []

    def die_in_the_digest(batch):
        if batch[0]["kind"] == Kind.DIGEST:
            seen.append(len(batch))
            if len(seen) == 2:
                raise _Stop

    with pytest.raises(_Stop):
        services.queue_pass(monday, on_batch=die_in_the_digest)
    db.session.rollback()
    assert len(rows(kind=Kind.DIGEST)) == seen[0] < everybody
    services.queue_pass(when("2026-06-15T09:10:00"))  # the next pass, still within the digest's window
    assert len(rows(kind=Kind.DIGEST)) == everybody
    assert len({n.user_id for n in rows(kind=Kind.DIGEST)}) == everybody
    services.queue_pass(when("2026-06-15T09:15:00"))
    assert len(rows(kind=Kind.DIGEST)) == everybody  # nobody twice

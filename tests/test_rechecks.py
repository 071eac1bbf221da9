"""回头看 / 复查 (issue 13, item 2): scheduling a re-check of a closed measure, a recorded random sample
reproducible from its seed, 巩固 and 反弹 — a rebound reopens the measure as round N+1 with the earlier
closure, result and evidence on record and the problem marked 反弹 — and who may do what."""

from __future__ import annotations

import io
import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from conftest import TODAY, when

from tracker.enums import ProblemState, TaskState, TaskType
from tracker.errors import InvalidTransition, PermissionDenied, ServiceError, ValidationFailed
from tracker.extensions import db
from tracker.followup import rechecks
from tracker.followup.models import Recheck, RecheckSample, RecheckState, TaskRound
from tracker.org.models import User
from tracker.tasks import services as tasks
from tracker.tasks.evidence import Upload
from tracker.tasks.models import Evidence, Task


@pytest.fixture
def closed(org, make, clock):
    """A measure of staff_a closed today by mgr_a, with one evidence file."""

    def build(owner=None, **kw):
        task = make.task(org.mgr_a, owner=owner or org.staff_a, **kw)
        tasks.submit(task, task.owner, clock, result="已整改到位",
                     uploads=[Upload("整改报告.pdf", io.BytesIO(b"%PDF-1.4 r"), "application/pdf")])
        verifier = org.mgr_a_2 if task.owner_id == org.mgr_a.id else org.mgr_a
        tasks.verify(task, verifier, clock, rating="satisfied")
        db.session.commit()
        return task

    return build


DUE = TODAY + timedelta(days=30)


def test_a_rebound_reopens_the_measure_as_round_2_and_keeps_round_1(org, clock, closed):
    task = closed()
    recheck = rechecks.schedule(org.mgr_a, task, clock, due_on=DUE, reviewer=org.viewer_root)
    assert (recheck.round, recheck.state) == (1, RecheckState.SCHEDULED)
    with pytest.raises(PermissionDenied):  # only the named reviewer records it
        rechecks.record(recheck, org.mgr_a, clock, rebounded=False, note=None)
    with pytest.raises(ValidationFailed) as info:  # a rebound needs findings and a new deadline
        rechecks.record(recheck, org.viewer_root, clock, rebounded=True, note="", new_deadline=None)
    assert {"note", "new_deadline"} <= set(info.value.fields)
    later = when("2026-07-10T10:00:00")
    rechecks.record(recheck, org.viewer_root, later, rebounded=True, note="台账又未按期更新，问题反弹",
                    new_deadline=date(2026, 8, 31),
                    uploads=[Upload("复查记录.pdf", io.BytesIO(b"%PDF-1.4 c"), "application/pdf")])
    db.session.commit()
    assert recheck.state == RecheckState.REBOUNDED and recheck.decided_on == date(2026, 7, 10)
    assert (task.round, task.state, task.deadline) == (2, TaskState.IN_PROGRESS, date(2026, 8, 31))
    assert task.closed_on is None and task.rating is None and task.result == "已整改到位"
    (first,) = db.session.scalars(sa.select(TaskRound)).all()
    assert (first.round, first.closed_on, first.result, first.rating, first.recheck_id) == (
        1, TODAY, "已整改到位", "satisfied", recheck.id)
    files = db.session.scalars(sa.select(Evidence.filename).where(Evidence.task_id == task.id)
                               .order_by(Evidence.id)).all()
    assert files == ["整改报告.pdf", "复查记录.pdf"]  # the earlier evidence stays
    assert task.problem.rebounded_at is not None and task.problem.state == ProblemState.OPEN
    with pytest.raises(InvalidTransition):  # recorded once
        rechecks.record(recheck, org.viewer_root, later, rebounded=False, note=None)
    # Round 2 closes again; a re-check of it is a new one.
    tasks.submit(task, org.staff_a, later, result="建立台账更新提醒机制")
    tasks.verify(task, org.mgr_a, later)
    second = rechecks.schedule(org.mgr_a, task, later, due_on=date(2026, 9, 30), reviewer=org.viewer_root)
    assert second.round == 2
    rechecks.record(second, org.viewer_root, later, rebounded=False, note="已巩固")
    assert second.state == RecheckState.CONSOLIDATED and task.state == TaskState.CLOSED


def test_consolidated_leaves_the_closure_alone(org, clock, closed):
    task = closed()
    recheck = rechecks.schedule(org.mgr_a, task, clock, due_on=DUE, reviewer=org.mgr_root)
    rechecks.record(recheck, org.mgr_root, clock, rebounded=False, note=None)
    assert task.state == TaskState.CLOSED and task.round == 1 and task.problem.rebounded_at is None


@pytest.mark.parametrize("who, error", [("staff_a", PermissionDenied), ("mgr_b", PermissionDenied),
                                        ("viewer_root", PermissionDenied)])
def test_who_may_schedule(org, clock, closed, who, error):
    with pytest.raises(error):
        rechecks.schedule(org.users[who], closed(), clock, due_on=DUE, reviewer=org.mgr_root)


@pytest.mark.parametrize("reviewer, field", [
    ("staff_a", "reviewer"),  # the owner, and staff at that
    ("mgr_b", "reviewer"),  # cannot read the measure: same answer as no such person
    (None, "reviewer"),
])
def test_bad_reviewers_and_dates_are_refused(org, clock, closed, reviewer, field):
    task = closed()
    with pytest.raises(ValidationFailed) as info:
        rechecks.schedule(org.mgr_a, task, clock, due_on=DUE, reviewer=org.users.get(reviewer))
    assert field in info.value.fields
    with pytest.raises(ValidationFailed) as info:
        rechecks.schedule(org.mgr_a, task, clock, due_on=TODAY - timedelta(days=1), reviewer=org.mgr_root)
    assert "due_on" in info.value.fields


def test_an_open_measure_is_not_re_checked_and_one_waits_at_a_time(org, make, clock, closed):
    with pytest.raises(InvalidTransition):
        rechecks.schedule(org.mgr_a, make.task(org.mgr_a, owner=org.staff_a), clock, due_on=DUE,
                          reviewer=org.mgr_root)
    task = closed()
    rechecks.schedule(org.mgr_a, task, clock, due_on=DUE, reviewer=org.mgr_root)
    with pytest.raises(InvalidTransition):
        rechecks.schedule(org.mgr_a_2, task, clock, due_on=DUE, reviewer=org.viewer_root)


def test_a_waiting_re_check_is_cancelled_with_a_reason(org, clock, closed):
    recheck = rechecks.schedule(org.mgr_a, closed(), clock, due_on=DUE, reviewer=org.mgr_root)
    with pytest.raises(ValidationFailed):
        rechecks.cancel(recheck, org.mgr_a, clock, reason="")
    with pytest.raises(PermissionDenied):
        rechecks.cancel(recheck, org.mgr_b, clock, reason="x")
    rechecks.cancel(recheck, org.mgr_a_2, clock, reason="重复安排")
    assert recheck.state == RecheckState.CANCELLED


# --- sampling -----------------------------------------------------------------------------------------


def test_a_sample_is_recorded_and_reproducible_from_its_seed(org, clock, closed):
    made = [closed() for _ in range(10)]
    period = dict(date_from=TODAY, date_to=TODAY, due_on=DUE)
    sample = rechecks.draw_sample(org.mgr_a, org.a, clock, share=30, seed=20260615, reviewer=org.viewer_root,
                                  **period)
    db.session.commit()
    assert sample.population == sorted(t.id for t in made) and sample.size == 3  # 30 % of 10
    assert rechecks.draw(sample.population, sample.size, sample.seed) == sample.picked
    again = rechecks.draw_sample(org.mgr_a, org.a, clock, count=3, seed=20260615, reviewer=org.mgr_root,
                                 **period)
    assert again.picked == sample.picked  # same population, size and seed: the same draw
    scheduled = db.session.scalars(sa.select(Recheck).where(Recheck.sample_id == sample.id)).all()
    assert sorted(r.task_id for r in scheduled) == sorted(sample.picked)
    # The second draw found them already waiting: nothing scheduled twice.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Recheck)) == 3
    other = rechecks.draw_sample(org.mgr_a, org.a, clock, count=3, seed=7, reviewer=org.mgr_root, **period)
    assert other.seed == 7 and rechecks.draw(other.population, 3, 7) == other.picked


@pytest.mark.parametrize("kw, field", [
    ({"share": 0}, "share"), ({"share": 101}, "share"), ({"count": 0}, "count"), ({}, "share"),
    ({"share": 10, "count": 2}, "share"), ({"share": 10, "seed": -1}, "seed"),
    ({"share": 10, "date_from": TODAY + timedelta(days=1)}, "date_to"),
])
def test_bad_samples_are_refused(org, clock, closed, kw, field):
    closed()
    args = dict(date_from=TODAY, date_to=TODAY, due_on=DUE, reviewer=org.viewer_root)
    args.update(kw)
    with pytest.raises(ValidationFailed) as info:
        rechecks.draw_sample(org.mgr_a, org.a, clock, **args)
    assert field in info.value.fields
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RecheckSample)) == 0


def test_a_sample_stays_in_the_managers_scope(org, clock, closed, make):
    closed()
    with pytest.raises(ValidationFailed) as info:
        rechecks.draw_sample(org.mgr_b, org.a, clock, date_from=TODAY, date_to=TODAY, count=1,
                             due_on=DUE, reviewer=org.mgr_root)
    assert "unit" in info.value.fields
    with pytest.raises(ValidationFailed):  # nothing closed in B
        rechecks.draw_sample(org.mgr_b, org.b, clock, date_from=TODAY, date_to=TODAY, count=1,
                             due_on=DUE, reviewer=org.mgr_root)


def test_an_ongoing_measure_reopens_without_a_deadline(org, make, clock):
    task = make.task(org.mgr_a, owner=org.staff_a, type=TaskType.ONGOING, deadline=None)
    tasks.submit(task, org.staff_a, clock, result="长效机制已建立")
    tasks.verify(task, org.mgr_a, clock)
    recheck = rechecks.schedule(org.mgr_a, task, clock, due_on=DUE, reviewer=org.mgr_root)
    rechecks.record(recheck, org.mgr_root, clock, rebounded=True, note="机制未执行")
    assert task.state == TaskState.IN_PROGRESS and task.deadline is None and task.round == 2


def test_two_reviewers_recording_at_once_one_wins(app, org, clock, closed):
    task = closed()
    recheck = rechecks.schedule(org.mgr_a, task, clock, due_on=DUE, reviewer=org.mgr_root)
    db.session.commit()
    ids = recheck.id, org.mgr_root.id, org.admin.id
    barrier, results = threading.Barrier(2), [None, None]

    def work(index, user_id, rebounded):
        with app.app_context():
            try:
                r, actor = db.session.get(Recheck, ids[0]), db.session.get(User, user_id)
                assert r.task.state == TaskState.CLOSED
                barrier.wait(timeout=10)
                rechecks.record(r, actor, clock, rebounded=rebounded, note="结论",
                                new_deadline=date(2026, 9, 30))
                db.session.commit()
                results[index] = "ok"
            except (ServiceError, sa.exc.OperationalError) as exc:
                db.session.rollback()
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(0, ids[1], False)),
               threading.Thread(target=work, args=(1, ids[2], True))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r == "ok" for r in results) == [False, True], results
    db.session.expire_all()
    state = db.session.get(Recheck, ids[0]).state
    rounds = db.session.scalar(sa.select(sa.func.count()).select_from(TaskRound))
    assert (state, rounds) in ((RecheckState.CONSOLIDATED, 0), (RecheckState.REBOUNDED, 1))
    assert db.session.get(Task, task.id).round == 1 + rounds


def test_a_rebound_keeps_the_first_closure_in_every_report_of_its_period(org, clock, closed, login_as):
    """Closed in June (round 1), rebounded in July, closed again in August: June's report still counts
    the June closure with its result; July's counts no closure; the year's counts the measure once."""
    from tracker.reports.services import rectification_figures

    task = closed()  # closed 2026-06-15, on time
    recheck = rechecks.schedule(org.mgr_a, task, clock, due_on=DUE, reviewer=org.viewer_root)
    july = when("2026-07-10T10:00:00")
    rechecks.record(recheck, org.viewer_root, july, rebounded=True, note="问题反弹",
                    new_deadline=date(2026, 8, 31))
    db.session.commit()
    now = when("2026-12-31T10:00:00")

    def report(start, end):
        return rectification_figures(org.mgr_root, org.root, start, end, now)

    june = report(date(2026, 1, 1), date(2026, 6, 30))
    assert (june.measures, june.closed, june.closed_on_time) == (1, 1, 1)
    assert [(i.task_id, i.result, i.closed_on) for i in june.closed_items] == [(task.id, "已整改到位", TODAY)]
    year = report(date(2026, 1, 1), date(2026, 12, 31))
    assert year.closed == 1 and year.in_progress == 0
    august = when("2026-08-20T10:00:00")
    tasks.submit(task, org.staff_a, august, result="建立长效机制")
    tasks.verify(task, org.mgr_a, august)
    db.session.commit()
    year = report(date(2026, 1, 1), date(2026, 12, 31))
    assert year.closed == 1 and [i.closed_on for i in year.closed_items] == [date(2026, 8, 20)]
    assert report(date(2026, 1, 1), date(2026, 6, 30)).closed == 1  # June still says so
    # The dashboard's months add up the same way: June and August each show a closure.
    html = login_as(org.mgr_root).get("/dashboard", query_string={
        "unit": org.root.id, "date_from": "2026-01-01", "date_to": "2026-12-31"}).get_data(as_text=True)
    assert html.count("data-figure=\"closed\">1<") == 1


def test_the_report_tells_re_checks_and_rebounds(org, clock, closed, login_as):
    from tracker.reports import section as wording
    from tracker.reports.services import rectification_figures

    held, rebounded = closed(), closed()
    for task, rebound in ((held, False), (rebounded, True)):
        recheck = rechecks.schedule(org.mgr_a, task, clock, due_on=DUE, reviewer=org.viewer_root)
        rechecks.record(recheck, org.viewer_root, clock, rebounded=rebound, note="复查情况",
                        new_deadline=DUE)
    db.session.commit()
    f = rectification_figures(org.mgr_root, org.root, date(2026, 1, 1), date(2026, 12, 31), clock)
    assert (f.rechecks_consolidated, f.rechecks_rebounded) == (1, 1)
    assert f.to_dict()["rechecks"] == {"consolidated": 1, "rebounded": 1}
    zh = wording.build_text(wording.render_section(f, "zh_CN"))
    assert "对已销号事项开展“回头看”2次，整改成果巩固1项，发现反弹1项，已重新交办整改。" in zh
    en = wording.build_text(wording.render_section(f, "en"))
    assert "Closed items were re-checked 2 times: 1 held and 1 had rebounded and were reopened." in en
    html = login_as(org.mgr_root).get("/dashboard", query_string={
        "unit": org.root.id, "date_from": "2026-01-01", "date_to": "2026-12-31"}).get_data(as_text=True)
    assert 'data-figure="rechecks">2<' in html


def test_the_reviewer_is_reminded_once_when_the_re_check_is_due(org, clock, closed):
    from tracker.reminders import services as reminders
    from tracker.reminders.models import Notification, NotificationKind, NotificationStatus

    task = closed()
    recheck = rechecks.schedule(org.mgr_a, task, clock, due_on=date(2026, 7, 1), reviewer=org.viewer_root)
    other = rechecks.schedule(org.mgr_a, closed(), clock, due_on=date(2026, 7, 1), reviewer=org.mgr_root)
    db.session.commit()

    def sent(kind=NotificationKind.RECHECK_DUE):
        return db.session.scalars(sa.select(Notification).where(Notification.kind == kind)
                                  .order_by(Notification.id)).all()

    reminders.run_once(when("2026-06-30T09:00:00"), with_digest=False)
    assert sent() == []  # not yet due
    for day in ("2026-07-01", "2026-07-02"):
        reminders.run_once(when(f"{day}T09:00:00"), with_digest=False)
    assert sorted(n.user_id for n in sent()) == sorted([org.viewer_root.id, org.mgr_root.id])
    assert all(n.status == NotificationStatus.SENT for n in sent()) and "2026-07-01" in sent()[0].subject
    # Recorded before its reminder left: the reminder is not sent.
    rechecks.record(other, org.mgr_root, clock, rebounded=False, note=None)
    third = rechecks.schedule(org.mgr_a, closed(), clock, due_on=date(2026, 8, 1), reviewer=org.mgr_root)
    db.session.commit()
    from tracker.reminders import outbox
    from tracker.reminders import rules as reminder_rules

    outbox.enqueue(reminder_rules.recheck_due(when("2026-08-01T09:00:00")))  # a list: re-checks are few
    rechecks.record(third, org.mgr_root, clock, rebounded=False, note=None)
    db.session.commit()
    outbox.flush(when("2026-08-01T09:05:00"))
    mine = [n for n in sent() if n.deadline == date(2026, 8, 1)]
    assert [n.status for n in mine] == [NotificationStatus.CANCELLED]
    assert recheck.state == RecheckState.SCHEDULED

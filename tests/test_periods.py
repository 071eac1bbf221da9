"""阶段性销号 (issue 13, item 1): calendar periods across year ends, period results submitted and verified
or returned under the close-out's rules while the measure stays open, missed periods (in Python and
in SQL), their reminders over several days with an explicit clock, and races decided by the database."""

from __future__ import annotations

import io
import threading
from datetime import date

import pytest
import sqlalchemy as sa
from conftest import when
from sqlalchemy.orm.exc import StaleDataError

from tracker.enums import TaskState, TaskType
from tracker.errors import InvalidTransition, PermissionDenied, ServiceError, ValidationFailed
from tracker.extensions import db
from tracker.followup import periods
from tracker.followup.models import (
    PeriodKind,
    PeriodState,
    TaskPeriod,
    period_label,
    period_of,
    periods_between,
    previous_period,
)
from tracker.org.models import User
from tracker.reminders import services as reminders
from tracker.reminders.models import Notification, NotificationKind, NotificationStatus
from tracker.tasks import rules
from tracker.tasks import services as tasks
from tracker.tasks.evidence import Upload
from tracker.tasks.models import Evidence, Task

M, Q, H, Y = PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.HALF, PeriodKind.YEAR


# --- the calendar -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, day, start, end", [
    (M, date(2026, 12, 31), date(2026, 12, 1), date(2026, 12, 31)),
    (M, date(2027, 2, 10), date(2027, 2, 1), date(2027, 2, 28)),
    (M, date(2028, 2, 10), date(2028, 2, 1), date(2028, 2, 29)),  # a leap year
    (Q, date(2026, 11, 15), date(2026, 10, 1), date(2026, 12, 31)),
    (Q, date(2027, 1, 1), date(2027, 1, 1), date(2027, 3, 31)),
    (H, date(2026, 6, 30), date(2026, 1, 1), date(2026, 6, 30)),
    (H, date(2026, 7, 1), date(2026, 7, 1), date(2026, 12, 31)),
    (Y, date(2026, 5, 5), date(2026, 1, 1), date(2026, 12, 31)),
])
def test_period_of(kind, day, start, end):
    assert period_of(kind, day) == (start, end)


def test_periods_run_across_year_ends():
    assert periods_between(M, date(2026, 11, 20), date(2027, 1, 3)) == [
        (date(2026, 11, 1), date(2026, 11, 30)), (date(2026, 12, 1), date(2026, 12, 31)),
        (date(2027, 1, 1), date(2027, 1, 31))]
    assert [s for s, _ in periods_between(Q, date(2026, 8, 1), date(2027, 4, 1))] == [
        date(2026, 7, 1), date(2026, 10, 1), date(2027, 1, 1), date(2027, 4, 1)]
    assert previous_period(M, date(2027, 1, 3)) == (date(2026, 12, 1), date(2026, 12, 31))
    assert previous_period(Q, date(2027, 2, 3)) == (date(2026, 10, 1), date(2026, 12, 31))
    assert previous_period(H, date(2027, 2, 3)) == (date(2026, 7, 1), date(2026, 12, 31))
    assert previous_period(Y, date(2027, 2, 3)) == (date(2026, 1, 1), date(2026, 12, 31))
    assert period_label(Q, date(2026, 10, 1)) == "2026年第四季度"
    assert period_label(Q, date(2026, 10, 1), "en") == "2026 Q4"
    assert period_label(H, date(2026, 7, 1)) == "2026年下半年"
    assert period_label(M, date(2027, 1, 1)) == "2027年1月"


# --- results of a period ------------------------------------------------------------------------------


@pytest.fixture
def ongoing(org, make):
    """An ongoing measure of staff_a with a period, assigned on `on`."""

    def build(kind: PeriodKind = Q, on: str = "2026-11-10T09:00:00", owner=None):
        make.clock = when(on)
        task = make.task(org.mgr_a, owner=owner or org.staff_a, type=TaskType.ONGOING, deadline=None,
                         period=kind)
        db.session.commit()
        return task

    return build


def test_a_quarter_submitted_verified_and_the_measure_stays_open(org, ongoing):
    task = ongoing(Q)
    jan = when("2027-01-05T10:00:00")
    rows = periods.periods(task, jan)
    assert [(r.label, r.current, r.missed) for r in rows] == [
        ("2026年第四季度", False, True), ("2027年第一季度", True, False)]
    assert periods.missed_count(task, jan) == 1
    # Late, for the ended quarter, with a file: no longer missed.
    record = Upload("党课记录.pdf", io.BytesIO(b"%PDF-1.4 q4"), "application/pdf")
    sub = periods.submit_period(task, org.staff_a, jan, result="第四季度党课已讲授",
                                period_start="2026-10-01", uploads=[record])
    db.session.commit()
    assert (sub.period_start, sub.period_end, sub.state) == (date(2026, 10, 1), date(2026, 12, 31),
                                                             PeriodState.SUBMITTED)
    assert db.session.scalars(sa.select(Evidence.filename).where(Evidence.period_id == sub.id)).all() == [
        "党课记录.pdf"]
    assert periods.missed_count(task, jan) == 0
    assert task.state == TaskState.IN_PROGRESS  # submitting works on it (and signs for it)
    with pytest.raises(InvalidTransition):
        periods.submit_period(task, org.staff_a, jan, result="again", period_start="2026-11-15")
    # The owner cannot decide; a manager does; the measure stays open.
    with pytest.raises(PermissionDenied):
        periods.decide_period(sub, org.staff_a, jan, approve=True)
    with pytest.raises(ValidationFailed):
        periods.decide_period(sub, org.mgr_a, jan, approve=False, comment=" ")
    periods.decide_period(sub, org.mgr_a, jan, approve=True, comment="同意阶段性销号")
    db.session.commit()
    assert sub.state == PeriodState.VERIFIED and sub.decided_on == date(2027, 1, 5)
    assert task.state == TaskState.IN_PROGRESS and task.closed_at is None
    with pytest.raises(InvalidTransition):
        periods.decide_period(sub, org.mgr_a_2, jan, approve=False, comment="x")  # already decided
    # The current quarter by default; a final close-out stays possible.
    current = periods.submit_period(task, org.staff_a, jan, result="一季度已开展")
    assert current.period_start == date(2027, 1, 1)
    tasks.submit(task, org.staff_a, jan, result="长效机制已建立")
    tasks.verify(task, org.mgr_a, jan)
    assert task.state == TaskState.CLOSED


def test_a_returned_period_is_missed_again_until_sent_again(org, ongoing):
    task = ongoing(M, on="2026-12-02T09:00:00")
    jan = when("2027-01-03T10:00:00")
    sub = periods.submit_period(task, org.staff_a, jan, result="12月已落实", period_start="2026-12-01")
    periods.decide_period(sub, org.mgr_a, jan, approve=False, comment="材料不全")
    assert periods.missed_count(task, jan) == 1
    again = periods.submit_period(task, org.staff_a, jan, result="已补充材料", period_start="2026-12-01")
    assert again.id != sub.id and periods.missed_count(task, jan) == 0
    rows = periods.periods(task, jan)
    assert rows[0].submission.id == again.id


@pytest.mark.parametrize("start", ["2027-04-01", "2026-07-01", "not a date"])
def test_only_periods_from_the_first_to_the_current_one(org, ongoing, start):
    task = ongoing(Q)
    with pytest.raises(ValidationFailed) as info:
        periods.submit_period(task, org.staff_a, when("2027-01-05T10:00:00"), result="x", period_start=start)
    assert "period_start" in info.value.fields


def test_who_may_submit_and_decide(org, make, ongoing, clock):
    task = ongoing(Q, owner=org.mgr_a)
    jan = when("2027-01-05T10:00:00")
    for who in ("staff_a1", "staff_b", "mgr_b", "viewer_root"):
        with pytest.raises(PermissionDenied):
            periods.submit_period(task, org.users[who], jan, result="x")
    sub = periods.submit_period(task, org.mgr_a, jan, result="本季度已落实")
    with pytest.raises(PermissionDenied):  # no self-verification
        periods.decide_period(sub, org.mgr_a, jan, approve=True)
    for who in ("mgr_b", "viewer_root", "staff_a"):
        with pytest.raises(PermissionDenied):
            periods.decide_period(sub, org.users[who], jan, approve=True)
    periods.decide_period(sub, org.mgr_root, jan, approve=True)  # a manager above
    # A measure with a deadline has no periods; an ongoing one without a period neither.
    plain = make.task(org.mgr_a, owner=org.staff_a, deadline=date(2027, 6, 30))
    with pytest.raises(InvalidTransition):
        periods.submit_period(plain, org.staff_a, clock, result="x")
    with pytest.raises(ValidationFailed) as info:
        make.task(org.mgr_a, owner=org.staff_a, period="quarter", deadline=date(2027, 6, 30))  # not ongoing
    assert "period" in info.value.fields


def test_the_period_is_set_and_cleared_by_editing(org, ongoing, clock):
    task = ongoing(Q)
    tasks.update_task(task, org.mgr_a, clock, expected_version=None, measure=task.measure, target=None,
                      type=TaskType.ONGOING)
    assert task.period == Q  # kept
    tasks.update_task(task, org.mgr_a, clock, expected_version=None, measure=task.measure, target=None,
                      type=TaskType.ONGOING, period="month")
    assert task.period == M
    tasks.update_task(task, org.mgr_a, clock, expected_version=None, measure=task.measure, target=None,
                      type=TaskType.ONGOING, period=None)
    assert task.period is None


def test_the_missed_filter_in_sql_matches_python(org, ongoing):
    jan = when("2027-01-05T10:00:00")
    missed = ongoing(M, on="2026-11-20T09:00:00")
    done = ongoing(M, on="2026-11-20T09:00:00")
    periods.submit_period(done, org.staff_a, jan, result="ok", period_start="2026-12-01")
    too_new = ongoing(Q, on="2027-01-02T09:00:00")  # its first quarter has not ended
    quarterly = ongoing(Q, on="2026-12-20T09:00:00")
    db.session.commit()
    found = set(db.session.scalars(sa.select(Task.id).where(periods.missed_clause(jan.today()))))
    assert found == {missed.id, quarterly.id}
    assert too_new.id not in found and done.id not in found


# --- reminders ------------------------------------------------------------------------------------------


def _sent(task, kind):
    return db.session.scalars(sa.select(Notification).where(
        Notification.task_id == task.id, Notification.kind == kind).order_by(Notification.id)).all()


def test_period_due_and_missed_reminders_over_days(org, ongoing):
    task = ongoing(M, on="2026-11-20T09:00:00")
    # November ended unreported on the 30th: on 12-01 the owner and A's managers are told, once.
    for day in ("2026-12-01", "2026-12-02"):
        reminders.run_once(when(f"{day}T09:00:00"), with_digest=False)
    missed = _sent(task, NotificationKind.PERIOD_MISSED)
    assert sorted(n.user_id for n in missed) == sorted([org.staff_a.id, org.mgr_a.id, org.mgr_a_2.id])
    assert "2026年11月" in missed[0].subject
    # Within DUE_SOON_DAYS (3) of December's end with nothing for December: the owner, once.
    for day in ("2026-12-27", "2026-12-28", "2026-12-29", "2026-12-30"):
        reminders.run_once(when(f"{day}T09:00:00"), with_digest=False)
    due = _sent(task, NotificationKind.PERIOD_DUE)
    assert [n.user_id for n in due] == [org.staff_a.id] and "2026-12-31" in due[0].subject
    # Never the monthly progress reminder of an ongoing measure without a period.
    assert _sent(task, NotificationKind.ONGOING) == []
    # December reported in time: no "missed" on 2027-01-01 for it.
    periods.submit_period(task, org.staff_a, when("2026-12-30T15:00:00"), result="12月已落实")
    db.session.commit()
    reminders.run_once(when("2027-01-01T09:00:00"), with_digest=False)
    assert {n.deadline for n in _sent(task, NotificationKind.PERIOD_MISSED)} == {date(2026, 11, 1)}


def test_a_missed_reminder_queued_before_the_result_is_not_sent(org, ongoing):
    task = ongoing(M, on="2026-11-20T09:00:00")
    day = when("2026-12-01T09:00:00")
    reminders.run_once(day, dry_run=False, with_digest=False, backend=_Hold())
    periods.submit_period(task, org.staff_a, day, result="11月已落实", period_start="2026-11-01")
    db.session.commit()
    reminders.run_once(when("2026-12-01T10:00:00"), with_digest=False)
    statuses = {n.status for n in _sent(task, NotificationKind.PERIOD_MISSED)}
    assert statuses == {NotificationStatus.CANCELLED}


class _Hold:
    """A backend whose server is down: everything stays queued for the next flush."""

    conn = None

    def open(self):
        from tracker.reminders.delivery import TemporaryFailure
        raise TemporaryFailure("down")

    def send(self, notification, user, attachments=()):
        self.open()

    def close(self):
        return None


def test_ongoing_without_a_period_keeps_the_monthly_reminder(org, make):
    make.clock = when("2026-11-20T09:00:00")
    task = make.task(org.mgr_a, owner=org.staff_a, type=TaskType.ONGOING, deadline=None)
    db.session.commit()
    reminders.run_once(when("2026-12-02T09:00:00"), with_digest=False)
    assert len(_sent(task, NotificationKind.ONGOING)) == 1
    assert _sent(task, NotificationKind.PERIOD_MISSED) == []


# --- races -------------------------------------------------------------------------------------------


def _race(app, *works):
    barrier = threading.Barrier(len(works))
    results: list = [None] * len(works)

    def run(index, work):
        with app.app_context():
            try:
                call = work()
                barrier.wait(timeout=10)
                call()
                db.session.commit()
                results[index] = "ok"
            # The loser fails on the unique index, or first on the measure's version (both start it).
            except (ServiceError, sa.exc.IntegrityError, sa.exc.OperationalError, StaleDataError) as exc:
                db.session.rollback()
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(works)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_two_managers_deciding_one_period_at_once_one_wins(app, org, ongoing):
    task = ongoing(Q)
    jan = when("2027-01-05T10:00:00")
    sub = periods.submit_period(task, org.staff_a, jan, result="四季度已落实", period_start="2026-10-01")
    db.session.commit()
    sub_id = sub.id

    def decide(user_id, approve):
        def load():
            s, actor = db.session.get(TaskPeriod, sub_id), db.session.get(User, user_id)
            assert s.state == PeriodState.SUBMITTED
            return lambda: periods.decide_period(s, actor, jan, approve=approve, comment="意见")
        return load

    results = _race(app, decide(org.mgr_a.id, True), decide(org.mgr_a_2.id, False))
    assert sorted(r == "ok" for r in results) == [False, True], results
    db.session.expire_all()
    assert db.session.get(TaskPeriod, sub_id).state in (PeriodState.VERIFIED, PeriodState.REJECTED)


def test_two_results_for_one_period_at_once_leave_one(app, org, ongoing):
    task = ongoing(Q)
    jan = when("2027-01-05T10:00:00")
    task_id = task.id

    def submit(user_id):
        def load():
            t, actor = db.session.get(Task, task_id), db.session.get(User, user_id)
            assert rules.allowed(t, actor, "submit_period")
            return lambda: periods.submit_period(t, actor, jan, result="一季度", period_start="2027-01-01")
        return load

    results = _race(app, submit(org.staff_a.id), submit(org.mgr_a.id))
    assert sorted(r == "ok" for r in results) == [False, True], results
    live = db.session.scalar(sa.select(sa.func.count()).select_from(TaskPeriod).where(
        TaskPeriod.task_id == task_id, TaskPeriod.period_start == date(2027, 1, 1)))
    assert live == 1

"""多级审核 and 整改成效评价 (issue 13, items 3 and 4): a unit's chain of verification steps, a
submission passing every step, returns to the owner and to an earlier step, one person per step,
snapshots of what each reviewer saw, the rating at the last step; the default chain is today's
single step (tests/test_rules.py and tests/test_state_table.py run unchanged on it)."""

from __future__ import annotations

import io
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError

from tracker.enums import TaskState as S
from tracker.errors import InvalidTransition, PermissionDenied, ServiceError, ValidationFailed
from tracker.extensions import db
from tracker.org.models import User
from tracker.reminders.models import Notification, NotificationKind
from tracker.review import chains
from tracker.review.models import Decision, Rating, ReviewDecision, StepKind
from tracker.tasks import queries as task_queries
from tracker.tasks import rules
from tracker.tasks import services as tasks
from tracker.tasks.evidence import Upload
from tracker.tasks.models import Task


def three_steps(org):
    """科室负责人 (managers of A) → 分管领导 (viewer_root by name) → 督办部门 (managers of ROOT)."""
    return [
        {"kind": "unit", "reviewer_unit_id": org.a.id, "label": "科室负责人审核"},
        {"kind": "person", "reviewer_id": org.viewer_root.id, "label": "分管领导审核"},
        {"kind": "unit", "reviewer_unit_id": org.root.id, "label": "督办部门审核"},
    ]


@pytest.fixture
def chained(org, clock):
    chains.set_chain(org.mgr_a, org.a, three_steps(org), clock)
    db.session.commit()


@pytest.fixture
def submitted(org, make, clock):
    """A measure of staff_a in A, submitted with one evidence file."""

    def build():
        task = make.task(org.mgr_a, owner=org.staff_a)
        tasks.submit(task, org.staff_a, clock, result="已完成制度修订",
                     uploads=[Upload("报告.pdf", io.BytesIO(b"%PDF-1.4 one"), "application/pdf")])
        db.session.commit()
        return task

    return build


def decisions(task):
    return db.session.scalars(sa.select(ReviewDecision).where(ReviewDecision.task_id == task.id)
                              .order_by(ReviewDecision.id)).all()


# --- configuring a chain ------------------------------------------------------------------------------


def test_a_chain_is_stored_in_order_with_labels(org, clock, chained):
    steps = chains.own_steps(org.a)
    assert [(s.position, s.kind, s.label) for s in steps] == [
        (1, StepKind.UNIT, "科室负责人审核"), (2, StepKind.PERSON, "分管领导审核"),
        (3, StepKind.UNIT, "督办部门审核")]
    # A unit below A uses A's chain; B (not on A's line) the default.
    applies, found = chains.chain_for(org.a1)
    assert applies.id == org.a.id and len(found) == 3
    applies, found = chains.chain_for(org.b)
    assert applies is None and [s.kind for s in found] == [StepKind.MANAGERS]
    # A label left out is written for the step.
    chains.set_chain(org.mgr_a, org.a, [{"kind": "person", "reviewer_id": org.mgr_root.id}], clock)
    assert "局长" in chains.own_steps(org.a)[0].label
    # An empty list removes the unit's chain.
    chains.set_chain(org.mgr_a, org.a, [], clock)
    assert chains.own_steps(org.a) == [] and chains.chain_for(org.a)[0] is None


@pytest.mark.parametrize("step, field", [
    ({"kind": "unit", "reviewer_unit_id": "B"}, "steps.1.reviewer_unit_id"),  # off A's line
    ({"kind": "unit", "reviewer_unit_id": "A1"}, "steps.1.reviewer_unit_id"),  # below A: cannot read A
    ({"kind": "unit"}, "steps.1.reviewer_unit_id"),
    ({"kind": "unit", "reviewer_unit_id": 999999}, "steps.1.reviewer_unit_id"),
    ({"kind": "person", "reviewer_id": "mgr_b"}, "steps.1.reviewer_id"),  # off A's line
    ({"kind": "person", "reviewer_id": "staff_a"}, "steps.1.reviewer_id"),  # staff cannot decide
    ({"kind": "person", "reviewer_id": 0}, "steps.1.reviewer_id"),
    ({"kind": "person", "reviewer_id": True}, "steps.1.reviewer_id"),
    ({"kind": "boss"}, "steps.1.kind"),
    ({"kind": ["unit"]}, "steps.1.kind"),
    ({"kind": "managers", "label": "x" * 61}, "steps.1.label"),
    ({"kind": "managers", "label": 5}, "steps.1.label"),
    ({"kind": "managers", "label": "审核\x00"}, "steps.1.label"),  # PostgreSQL cannot store it
    ({"kind": "managers", "label": "审核\ud800"}, "steps.1.label"),
    ("not an object", "steps.1"),
])
def test_bad_steps_are_refused_naming_the_field(org, clock, step, field):
    if isinstance(step, dict):
        step = dict(step)
        for key in ("reviewer_unit_id", "reviewer_id"):
            if isinstance(step.get(key), str):
                step[key] = (org.units.get(step[key].lower()) or org.users[step[key]]).id
    with pytest.raises(ValidationFailed) as info:
        chains.set_chain(org.mgr_a, org.a, [step], clock)
    assert field in info.value.fields
    assert chains.own_steps(org.a) == []


def test_a_deactivated_person_and_too_many_steps_are_refused(org, clock):
    org.viewer_root.active = False
    with pytest.raises(ValidationFailed) as info:
        chains.set_chain(org.mgr_a, org.a, [{"kind": "person", "reviewer_id": org.viewer_root.id}], clock)
    assert "steps.1.reviewer_id" in info.value.fields
    with pytest.raises(ValidationFailed) as info:
        chains.set_chain(org.mgr_a, org.a, [{"kind": "managers"}] * 6, clock)
    assert "steps" in info.value.fields


def test_who_may_configure(org):
    assert chains.may_configure(org.mgr_a, org.a) and chains.may_configure(org.mgr_root, org.a)
    assert chains.may_configure(org.admin, org.a)
    assert not chains.may_configure(org.mgr_a, org.root)  # not above their own unit
    assert not chains.may_configure(org.mgr_b, org.a)
    assert not chains.may_configure(org.staff_a, org.a) and not chains.may_configure(org.viewer_root, org.a)


# --- a submission through three steps -------------------------------------------------------------


def test_three_steps_with_returns_to_step_1_and_to_the_owner(org, clock, chained, submitted):
    task = submitted()
    assert task.review_step == 1 and [s.label for s in task.review_steps] == [
        "科室负责人审核", "分管领导审核", "督办部门审核"]
    # Step 1 is the managers of A: not the leader, not the root's managers.
    assert rules.available(task, org.viewer_root) & {"pass", "verify", "reject", "return"} == set()
    assert rules.available(task, org.mgr_root) & {"pass", "verify", "reject", "return"} == set()
    assert rules.available(task, org.mgr_a) >= {"pass", "reject"}
    assert not {"verify", "return"} & rules.available(task, org.mgr_a)
    with pytest.raises(InvalidTransition):
        tasks.verify(task, org.mgr_a, clock)  # further steps follow

    tasks.pass_step(task, org.mgr_a, clock, comment="同意")
    assert task.state == S.SUBMITTED and task.review_step == 2
    assert rules.available(task, org.mgr_a) & {"pass", "verify", "reject", "return"} == set()
    with pytest.raises(PermissionDenied):
        tasks.pass_step(task, org.mgr_a, clock)
    # Step 2 (the leader) sends it back to step 1; the reason is required, the step must be earlier.
    with pytest.raises(ValidationFailed):
        tasks.return_to_step(task, org.viewer_root, clock, to_step=1, comment="")
    with pytest.raises(ValidationFailed):
        tasks.return_to_step(task, org.viewer_root, clock, to_step=2, comment="补充材料")
    tasks.return_to_step(task, org.viewer_root, clock, to_step=1, comment="请补充会议纪要")
    assert task.review_step == 1
    # The same step may be decided again by the one who decided it; another manager of A may too.
    tasks.pass_step(task, org.mgr_a_2, clock)
    tasks.pass_step(task, org.viewer_root, clock, comment="同意")
    assert task.review_step == 3
    assert "verify" in rules.available(task, org.mgr_root)
    assert "pass" not in rules.available(task, org.mgr_root)
    # Step 3 returns it to the owner: a new submission starts from step 1 again.
    tasks.reject(task, org.mgr_root, clock, comment="整改不彻底")
    assert task.state == S.IN_PROGRESS and task.review_step is None
    tasks.submit(task, org.staff_a, clock, result="已彻底整改")
    assert task.submissions == 2 and task.review_step == 1
    for actor in (org.mgr_a, org.viewer_root):
        tasks.pass_step(task, actor, clock)
    tasks.verify(task, org.mgr_root, clock, rating="satisfied", comment="整改到位")
    db.session.commit()
    assert task.state == S.CLOSED and task.rating == Rating.SATISFIED and task.closed_by_id == org.mgr_root.id
    made = [(d.submission, d.position, d.decision, d.decided_by_id) for d in decisions(task)]
    assert made == [
        (1, 1, Decision.PASS, org.mgr_a.id), (1, 2, Decision.RETURN, org.viewer_root.id),
        (1, 1, Decision.PASS, org.mgr_a_2.id), (1, 2, Decision.PASS, org.viewer_root.id),
        (1, 3, Decision.REJECT, org.mgr_root.id),
        (2, 1, Decision.PASS, org.mgr_a.id), (2, 2, Decision.PASS, org.viewer_root.id),
        (2, 3, Decision.VERIFY, org.mgr_root.id)]
    assert decisions(task)[1].to_position == 1 and decisions(task)[-1].rating == Rating.SATISFIED


def test_each_step_is_told_in_turn(org, clock, chained, submitted):
    task = submitted()

    def told():
        return {n.user_id for n in db.session.scalars(sa.select(Notification).where(
            Notification.task_id == task.id, Notification.kind == NotificationKind.SUBMITTED))}

    assert told() == {org.mgr_a.id, org.mgr_a_2.id}
    tasks.pass_step(task, org.mgr_a, clock)
    assert told() == {org.mgr_a.id, org.mgr_a_2.id, org.viewer_root.id}
    tasks.pass_step(task, org.viewer_root, clock)
    assert told() == {org.mgr_a.id, org.mgr_a_2.id, org.viewer_root.id, org.mgr_root.id}


def test_one_person_decides_at_most_one_step(org, clock, submitted):
    same_unit = {"kind": "unit", "reviewer_unit_id": org.a.id}
    steps = [{**same_unit, "label": "经办审核"}, {**same_unit, "label": "科室负责人"}]
    chains.set_chain(org.mgr_a, org.a, steps, clock)
    task = submitted()
    tasks.pass_step(task, org.mgr_a, clock)
    assert "verify" not in rules.available(task, org.mgr_a)
    with pytest.raises(PermissionDenied) as info:
        tasks.verify(task, org.mgr_a, clock)
    assert str(info.value) == str(rules.NOT_ANOTHER_STEP.refusal())
    with pytest.raises(PermissionDenied):  # a return counts as a decision of that step too
        tasks.reject(task, org.mgr_a, clock, comment="x")
    tasks.verify(task, org.mgr_a_2, clock, rating="basic")
    assert task.state == S.CLOSED and task.rating == Rating.BASIC


def test_the_submitter_cannot_pass_or_verify_their_own_submission(org, make, clock, chained):
    task = make.task(org.mgr_a, owner=org.mgr_a)
    tasks.submit(task, org.mgr_a, clock, result="完成")
    with pytest.raises(PermissionDenied):
        tasks.pass_step(task, org.mgr_a, clock)
    tasks.pass_step(task, org.mgr_a_2, clock)


def test_snapshots_keep_what_the_reviewer_saw(org, clock, chained, submitted):
    task = submitted()
    tasks.pass_step(task, org.mgr_a, clock)
    first = decisions(task)[0]
    assert first.snapshot["result"] == "已完成制度修订"
    assert [e["filename"] for e in first.snapshot["evidence"]] == ["报告.pdf"]
    # Evidence added later (a progress note while it is under review) does not change the snapshot.
    tasks.post_progress(task, org.staff_a, clock, body="补充纪要",
                        uploads=[Upload("纪要.pdf", io.BytesIO(b"%PDF-1.4 two"), "application/pdf")])
    tasks.pass_step(task, org.viewer_root, clock)
    db.session.commit()
    db.session.expire_all()
    first, second = decisions(task)
    assert [e["filename"] for e in first.snapshot["evidence"]] == ["报告.pdf"]
    assert [e["filename"] for e in second.snapshot["evidence"]] == ["报告.pdf", "纪要.pdf"]
    assert len(first.snapshot["evidence"][0]["sha256"]) == 64


def test_an_edited_chain_does_not_strand_a_submission_under_review(org, clock, chained, submitted):
    task = submitted()
    tasks.pass_step(task, org.mgr_a, clock)
    chains.set_chain(org.mgr_a, org.a, [{"kind": "managers"}], clock)  # now one step
    db.session.commit()
    assert task.review_step == 2 and len(task.review_steps) == 3
    tasks.pass_step(task, org.viewer_root, clock)
    tasks.verify(task, org.mgr_root, clock)
    assert task.state == S.CLOSED
    # The next measure's submission takes the new chain.
    other = submitted()
    assert [s.kind for s in other.review_steps] == [StepKind.MANAGERS]


# --- 整改成效评价 ---------------------------------------------------------------------------------------


def test_unsatisfied_returns_to_the_owner_with_a_reason(org, clock, submitted):
    task = submitted()  # the default single step
    with pytest.raises(ValidationFailed):
        tasks.verify(task, org.mgr_a, clock, rating="unsatisfied")  # the reason is required
    tasks.verify(task, org.mgr_a, clock, rating="unsatisfied", comment="效果不明显")
    assert task.state == S.IN_PROGRESS and task.rating is None
    (made,) = decisions(task)
    assert made.decision == Decision.REJECT and made.rating == Rating.UNSATISFIED
    tasks.submit(task, org.staff_a, clock, result="再次提交")
    with pytest.raises(ValidationFailed):
        tasks.verify(task, org.mgr_a, clock, rating="great")
    assert task.state == S.SUBMITTED


def test_unsatisfied_is_only_for_the_last_step(org, clock, chained, submitted):
    task = submitted()
    with pytest.raises(InvalidTransition):
        tasks.verify(task, org.mgr_a, clock, rating="unsatisfied", comment="x")
    assert task.state == S.SUBMITTED and decisions(task) == []


def test_the_default_chain_is_one_step_by_a_manager(org, clock, submitted):
    task = submitted()
    assert [(s.position, s.kind) for s in task.review_steps] == [(1, StepKind.MANAGERS)]
    assert {"verify", "reject"} <= rules.available(task, org.mgr_a)
    assert {"verify", "reject"} <= rules.available(task, org.mgr_root)
    assert "pass" not in rules.available(task, org.mgr_a) and "return" not in rules.available(task, org.mgr_a)
    tasks.verify(task, org.mgr_a, clock)
    assert task.state == S.CLOSED and task.rating is None


def test_a_submitted_row_without_a_copy_of_a_chain_has_the_default_step(org, make, clock):
    """Rows written straight into the database (bulk loads) still have someone to verify them."""
    task = make.task(org.mgr_a, owner=org.staff_a)
    db.session.execute(sa.update(Task).where(Task.id == task.id).values(state="submitted", result="完成"))
    db.session.commit()
    db.session.expire_all()
    assert task.review_step is None and "verify" in rules.available(task, org.mgr_a)
    assert task.id in {t.id for t in task_queries.awaiting_verification(org.mgr_a, 50)[0]}
    tasks.verify(task, org.mgr_a, clock, rating="satisfied")
    assert task.state == S.CLOSED


# --- the SQL twin: each person's queue -------------------------------------------------------------


def test_each_reviewer_sees_their_step_in_the_queue(org, make, clock, chained, submitted):
    at_1, at_2, at_3 = submitted(), submitted(), submitted()
    tasks.pass_step(at_2, org.mgr_a, clock)
    for actor in (org.mgr_a, org.viewer_root):
        tasks.pass_step(at_3, actor, clock)
    in_b = make.task(org.mgr_b, owner=org.staff_b)
    tasks.submit(in_b, org.staff_b, clock, result="完成")
    db.session.commit()

    def queue(user):
        return {t.id for t in task_queries.awaiting_verification(user, 50)[0]}

    assert queue(org.mgr_a) == {at_1.id}  # mgr_a passed at_2 and at_3 at step 1
    assert queue(org.mgr_a_2) == {at_1.id}
    assert queue(org.viewer_root) == {at_2.id}
    assert queue(org.mgr_root) == {at_3.id, in_b.id}  # in_b: B has the default chain
    assert queue(org.mgr_b) == {in_b.id}
    assert queue(org.admin) == {at_1.id, at_2.id, at_3.id, in_b.id}
    # The Python rule and its SQL twin agree for every action, person and measure.
    people = [org.mgr_a, org.mgr_a_2, org.viewer_root, org.mgr_root, org.mgr_b, org.staff_a, org.admin]
    for action in ("verify", "reject", "pass", "return"):
        for user in people:
            ids = set(db.session.scalars(sa.select(Task.id).where(rules.clause(user, action))))
            expected = {t.id for t in (at_1, at_2, at_3, in_b) if rules.allowed(t, user, action)}
            assert ids == expected, (action, user.username)


def test_the_queue_costs_the_same_queries_for_2_or_6_chained_submissions(org, clock, chained, submitted,
                                                                            queries):
    def count():
        with queries() as statements:
            task_queries.awaiting_verification(org.mgr_a, 50)
        return len(statements)

    for _ in range(2):
        submitted()
    few = count()
    for _ in range(4):
        submitted()
    assert count() == few


# --- races ----------------------------------------------------------------------------------------


def test_two_reviewers_deciding_one_step_at_once_one_wins(app, org, clock, chained, submitted):
    task = submitted()
    task_id, first, second = task.id, org.mgr_a.id, org.mgr_a_2.id
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def work(index, user_id):
        with app.app_context():
            try:
                t = db.session.get(Task, task_id)
                actor = db.session.get(User, user_id)
                assert t.review_steps and t.review_step == 1
                barrier.wait(timeout=10)
                tasks.pass_step(t, actor, clock, comment=f"同意{index}")
                db.session.commit()
                results[index] = "ok"
            except (ServiceError, StaleDataError, sa.exc.OperationalError) as exc:
                db.session.rollback()
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(i, u)) for i, u in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r == "ok" for r in results) == [False, True], results
    db.session.expire_all()
    task = db.session.get(Task, task_id)
    assert task.review_step == 2
    assert [d.position for d in decisions(task)] == [1]  # the loser's decision did not stay



def test_two_editors_setting_a_chain_at_once_store_one_or_the_other(app, org, clock):
    """The unit's row is locked first: the chain stored is one editor's whole, never a mix, no error."""
    one = [{"kind": "unit", "reviewer_unit_id": org.a.id, "label": "甲1"},
           {"kind": "person", "reviewer_id": org.mgr_root.id, "label": "甲2"}]
    other = [{"kind": "managers", "label": "乙1"}, {"kind": "person", "reviewer_id": org.viewer_root.id,
                                                    "label": "乙2"}, {"kind": "managers", "label": "乙3"}]
    unit_id, barrier, results = org.a.id, threading.Barrier(2), [None, None]

    def work(index, user_id, steps):
        from tracker.org.models import Unit

        with app.app_context():
            try:
                actor, unit = db.session.get(User, user_id), db.session.get(Unit, unit_id)
                barrier.wait(timeout=10)
                chains.set_chain(actor, unit, steps, clock)
                db.session.commit()
                results[index] = "ok"
            except Exception as exc:  # noqa: BLE001  (any failure is the test's finding)
                db.session.rollback()
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(0, org.mgr_a.id, one)),
               threading.Thread(target=work, args=(1, org.mgr_a_2.id, other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == ["ok", "ok"], results
    db.session.expire_all()
    labels = [s.label for s in chains.own_steps(org.a)]
    assert labels in (["甲1", "甲2"], ["乙1", "乙2", "乙3"])

"""A submission on its way through the chain (多级审核): who decides its current step, in Python and in
SQL (the two twins the state table needs), the copy of the chain a submission gets, and the snapshot
each decision keeps of what the reviewer saw.

One person decides at most one step of a submission's chain: whoever decided (passed or returned)
one step cannot decide another of the same submission; deciding the same step again after a return
is allowed.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import aliased, selectinload

from tracker import scope
from tracker.enums import Role, TaskState
from tracker.extensions import db
from tracker.org.models import User
from tracker.review import chains
from tracker.review.models import ReviewDecision, StepKind, TaskReviewStep
from tracker.tasks.models import Evidence, Task


def copy_chain(task: Task) -> None:
    """Give a new submission the chain that applies to its unit now, and put it at step 1.

    Without autoflush: the transition's changes go out in its own single flush (one version step)."""
    with db.session.no_autoflush:
        _, steps = chains.chain_for(task.unit)
        task.review_steps = [
            TaskReviewStep(position=i, kind=s.kind, label=s.label,
                           reviewer_unit_id=s.reviewer_unit.id if s.reviewer_unit else None,
                           reviewer_id=s.reviewer.id if s.reviewer else None)
            for i, s in enumerate(steps, start=1)]
        task.review_step = 1


def current_step(task: Task) -> TaskReviewStep | None:
    """The step deciding the submission now. A measure submitted without a copy of a chain (rows
    written straight into the database: bulk loads, benchmarks) has the default single step."""
    if task.state != TaskState.SUBMITTED:
        return None
    if task.review_step is None:
        return TaskReviewStep(position=1, kind=StepKind.MANAGERS, label="")
    return next((s for s in task.review_steps if s.position == task.review_step), None)


def position(task: Task) -> int:
    return task.review_step or 1


def at_last_step(task: Task) -> bool:
    return task.review_step is None or task.review_step >= len(task.review_steps)


def step_allows(step: TaskReviewStep, task: Task, actor: User) -> bool:
    """Whether `actor` is a reviewer of `step` (administrators are, of every step)."""
    if actor.role == Role.ADMIN:
        return True
    if step.kind == StepKind.MANAGERS:
        return scope.can_manage_task(actor, task)
    if step.kind == StepKind.UNIT:
        return actor.role == Role.MANAGER and actor.unit_id == step.reviewer_unit_id
    return actor.id == step.reviewer_id


def may_decide(task: Task, actor: User) -> bool:
    """A reviewer of the current step (the state table's Who.REVIEWER). Before a measure is submitted
    there is no step: its managers are the ones who would review it, so a refusal names the state."""
    step = current_step(task)
    if step is None:
        return scope.can_manage_task(actor, task)
    return step_allows(step, task, actor)


def reviewer_clause(actor: User):
    """SQL twin of `may_decide` over Task rows."""
    if actor.role == Role.ADMIN:
        return sa.true()
    step = aliased(TaskReviewStep)
    managed = (Task.unit_id.in_(scope.subtree_ids(actor.unit))
               if actor.role == Role.MANAGER and actor.unit is not None else sa.false())
    who = sa.or_(
        sa.and_(step.kind == StepKind.MANAGERS, managed),
        sa.and_(step.kind == StepKind.UNIT, step.reviewer_unit_id == actor.unit_id)
        if actor.role == Role.MANAGER and actor.unit_id else sa.false(),
        sa.and_(step.kind == StepKind.PERSON, step.reviewer_id == actor.id),
    )
    no_step = sa.or_(Task.state != TaskState.SUBMITTED, Task.review_step.is_(None))
    return sa.or_(sa.and_(no_step, managed),
                  sa.and_(Task.state == TaskState.SUBMITTED,
                          sa.exists().where(step.task_id == Task.id, step.position == Task.review_step, who)))


def decided_another_step(task: Task, actor: User) -> bool:
    return db.session.scalar(sa.select(sa.exists().where(
        ReviewDecision.task_id == task.id, ReviewDecision.submission == task.submissions,
        ReviewDecision.decided_by_id == actor.id, ReviewDecision.position != position(task))))


def decided_another_step_clause(actor: User):
    return sa.exists().where(
        ReviewDecision.task_id == Task.id, ReviewDecision.submission == Task.submissions,
        ReviewDecision.decided_by_id == actor.id,
        ReviewDecision.position != sa.func.coalesce(Task.review_step, 1))


def last_step_clause():
    later = aliased(TaskReviewStep)
    return sa.or_(Task.review_step.is_(None),
                  ~sa.exists().where(later.task_id == Task.id, later.position > Task.review_step))


def snapshot(task: Task) -> dict:
    """What the reviewer saw: the result and the evidence files as they are now."""
    files = db.session.scalars(sa.select(Evidence).where(Evidence.task_id == task.id).order_by(Evidence.id))
    return {
        "result": task.result,
        "submitted_at": task.submitted_at.isoformat() if task.submitted_at else None,
        "evidence": [{"id": f.id, "filename": f.filename, "size": f.size, "sha256": f.sha256} for f in files],
    }


def reviewers(task: Task, step: TaskReviewStep, actor: User) -> list[User] | None:
    """Whom to tell that `step` waits for them; None: the default verifiers (managers up the line)."""
    if step.kind == StepKind.MANAGERS:
        return None
    if step.kind == StepKind.PERSON:
        return [step.reviewer] if step.reviewer is not None else []
    return list(db.session.scalars(sa.select(User).where(
        User.unit_id == step.reviewer_unit_id, User.role == Role.MANAGER, User.active.is_(True),
        User.id != actor.id).order_by(User.id)))


def decisions(task: Task) -> list[ReviewDecision]:
    """Every decision on the measure, oldest first (the timeline and the task page)."""
    return list(db.session.scalars(sa.select(ReviewDecision).where(ReviewDecision.task_id == task.id)
                                   .options(selectinload(ReviewDecision.decided_by))
                                   .order_by(ReviewDecision.decided_at, ReviewDecision.id)))

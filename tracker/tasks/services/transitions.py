"""The state transitions of a measure (DESIGN §3 "Task states"), guarded by the state table.

Who may take which transition from which state is `tracker.tasks.rules.RULES`; these functions add
what each transition records, and queue the notices that tell people about it.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from tracker.audit import services as audit
from tracker.clock import Clock
from tracker.enums import ExtensionState
from tracker.errors import ValidationFailed
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import User
from tracker.reminders import notices
from tracker.review.models import Decision, Rating, ReviewDecision
from tracker.tasks import review, rules
from tracker.tasks.evidence import Upload
from tracker.tasks.models import Evidence, Task
from tracker.tasks.services.acknowledgement import acknowledge_by_working
from tracker.tasks.services.common import TASK_FIELDS, audit_change, check_version, raise_if, text
from tracker.tasks.services.files import attach
from tracker.tasks.services.problem_state import refresh_problem_state

ACTIONS = (*rules.TRANSITIONS, *rules.STEP_DECISIONS)  # what the task page and the API's transitions take


def guard(task: Task, actor: User, action: str, expected_version: int | None) -> rules.Rule:
    """The state table's refusals in order (who, state), then the version, then the rule's condition."""
    rule = rules.require(task, actor, action, check_condition=False)
    check_version(task, expected_version)
    rules.require_condition(task, actor, rule)
    return rule


def start(task: Task, actor: User, clock: Clock, *, expected_version: int | None = None,
          comment: str | None = None) -> Task:
    """assigned → in_progress."""
    rule = guard(task, actor, "start", expected_version)
    acknowledge_by_working(task, actor, clock)
    before = audit.snapshot(task, TASK_FIELDS)
    task.state = rule.to
    task.started_at = clock.now()
    audit_change(task, actor, clock, "task.start", before, comment)
    return task


def submit(task: Task, actor: User, clock: Clock, *, result: str | None,
           expected_version: int | None = None, uploads: list[Upload] | None = None) -> Task:
    """assigned/in_progress → submitted, with the result text (整改成效) and optional evidence."""
    rule = guard(task, actor, "submit", expected_version)
    errors: dict = {}
    result = text(result, "result", errors, required=True, label=_l("Result"))
    raise_if(errors)
    has_evidence = bool(uploads) or db.session.scalar(
        sa.select(sa.func.count(Evidence.id)).where(Evidence.task_id == task.id)
    )
    if current_app.config.get("EVIDENCE_REQUIRED_ON_SUBMIT") and not has_evidence:
        raise ValidationFailed(_l("Attach at least one evidence file before submitting."),
                               {"files": [_l("Evidence is required.")]})
    acknowledge_by_working(task, actor, clock)
    before = audit.snapshot(task, TASK_FIELDS)
    if uploads:
        attach(task, actor, clock, uploads, progress=None)
    if task.started_at is None:
        task.started_at = clock.now()
    task.state = rule.to
    task.result = result
    task.submitted_at = clock.now()
    task.submitted_by_id = actor.id
    task.submissions += 1
    review.copy_chain(task)
    audit_change(task, actor, clock, "task.submit", before)
    _tell_step(task, actor, clock)
    return task


def _tell_step(task: Task, actor: User, clock: Clock) -> None:
    """The reviewers of the step the submission now waits at are told."""
    notices.submitted(task, actor, clock, review.reviewers(task, review.current_step(task), actor))


def _decide(task: Task, actor: User, clock: Clock, decision: Decision, *, comment: str | None,
            rating: Rating | None = None, to_position: int | None = None) -> None:
    """Record a decision at the current step with a snapshot of what the reviewer saw."""
    step = review.current_step(task)
    db.session.add(ReviewDecision(
        task_id=task.id, submission=task.submissions or 1, position=review.position(task),
        steps=len(task.review_steps) or 1, step_label=step.label if step else "", decision=decision,
        to_position=to_position, rating=rating, comment=comment, decided_by_id=actor.id,
        decided_at=clock.now(), snapshot=review.snapshot(task)))


def _rating(value) -> Rating | None:
    if value in (None, ""):
        return None
    try:
        return Rating(value)
    except ValueError:
        raise ValidationFailed(_l("Choose a rating."), {"rating": [_l("Choose a rating.")]}) from None


def verify(task: Task, actor: User, clock: Clock, *, expected_version: int | None = None,
           comment: str | None = None, rating: Rating | str | None = None) -> Task:
    """submitted → closed (销号), at the last step of the chain, by a reviewer who did not submit it,
    with the rating (整改成效评价); 不满意 cannot close: it returns the measure to its owner."""
    rating = _rating(rating)
    if rating == Rating.UNSATISFIED:
        rules.require(task, actor, "verify", check_condition=False)
        if not review.at_last_step(task):
            raise rules.AT_LAST_STEP.refusal()
        return reject(task, actor, clock, comment=comment, expected_version=expected_version, rating=rating)
    rule = guard(task, actor, "verify", expected_version)
    before = audit.snapshot(task, TASK_FIELDS)
    _decide(task, actor, clock, Decision.VERIFY, comment=comment, rating=rating)
    task.state = rule.to
    task.closed_at = clock.now()
    task.closed_on = clock.today()
    task.closed_by_id = actor.id
    task.rating = rating
    task.review_step = None
    audit_change(task, actor, clock, "task.verify", before, comment)
    settle_pending_extensions(task, actor, clock, comment)
    refresh_problem_state(task.problem, actor, clock)
    notices.verified(task, actor, clock, comment)
    return task


def pass_step(task: Task, actor: User, clock: Clock, *, expected_version: int | None = None,
              comment: str | None = None) -> Task:
    """A step before the last agrees: the next step of the chain decides (the state stays submitted)."""
    guard(task, actor, "pass", expected_version)
    errors: dict = {}
    comment = text(comment, "comment", errors, required=False, label=_l("Comment"))
    raise_if(errors)
    _decide(task, actor, clock, Decision.PASS, comment=comment)
    was = review.position(task)
    task.review_step = was + 1
    _audit_step(task, actor, clock, "task.pass", was, comment)
    _tell_step(task, actor, clock)
    return task


def return_to_step(task: Task, actor: User, clock: Clock, *, to_step: int | str | None,
                   comment: str | None, expected_version: int | None = None) -> Task:
    """Send the submission back to an earlier step of the chain, with the reason."""
    guard(task, actor, "return", expected_version)
    errors: dict = {}
    comment = text(comment, "comment", errors, required=True, label=_l("Reason"))
    try:
        target = int(to_step)
    except (TypeError, ValueError):
        target = 0
    if not 1 <= target < review.position(task):
        errors.setdefault("to_step", []).append(_l("Choose an earlier step."))
    raise_if(errors)
    _decide(task, actor, clock, Decision.RETURN, comment=comment, to_position=target)
    was = review.position(task)
    task.review_step = target
    _audit_step(task, actor, clock, "task.return", was, comment)
    _tell_step(task, actor, clock)
    return task


def _audit_step(task: Task, actor: User, clock: Clock, action: str, was: int, comment: str | None) -> None:
    db.session.flush()  # bumps the version: a concurrent decision on the same step fails here
    audit.record(actor, clock, action, task, before={"review_step": was},
                 after={"review_step": task.review_step}, comment=comment, task_id=task.id,
                 problem_id=task.problem_id)


def reject(task: Task, actor: User, clock: Clock, *, comment: str | None,
           expected_version: int | None = None, rating: Rating | None = None) -> Task:
    """submitted → in_progress, with the reason the owner must address (from any step of the chain)."""
    rule = guard(task, actor, "reject", expected_version)
    errors: dict = {}
    comment = text(comment, "comment", errors, required=True, label=_l("Reason"))
    raise_if(errors)
    before = audit.snapshot(task, TASK_FIELDS)
    _decide(task, actor, clock, Decision.REJECT, comment=comment, rating=rating)
    task.state = rule.to
    task.submitted_at = None
    task.review_step = None
    audit_change(task, actor, clock, "task.reject", before, comment)
    notices.rejected(task, actor, clock, comment)
    return task


def cancel(task: Task, actor: User, clock: Clock, *, comment: str | None,
           expected_version: int | None = None) -> Task:
    """any open state → cancelled (撤销), by a manager, with a reason."""
    rule = guard(task, actor, "cancel", expected_version)
    errors: dict = {}
    comment = text(comment, "comment", errors, required=True, label=_l("Reason"))
    raise_if(errors)
    before = audit.snapshot(task, TASK_FIELDS)
    task.state = rule.to
    task.cancelled_at = clock.now()
    task.review_step = None
    audit_change(task, actor, clock, "task.cancel", before, comment)
    settle_pending_extensions(task, actor, clock, comment)
    refresh_problem_state(task.problem, actor, clock)
    return task


def settle_pending_extensions(task: Task, actor: User, clock: Clock, comment: str | None) -> None:
    """A closed or cancelled measure has no deadline left to move: its pending request ends rejected,
    recorded like a decision (marked as settled by the close)."""
    for ext in rules.pending_extensions(task):
        ext.state = ExtensionState.REJECTED
        ext.decided_by_id, ext.decided_at = actor.id, clock.now()
        ext.decision_comment = comment
        db.session.flush()
        audit.record(actor, clock, "extension.reject", ext,
                     after={"state": ext.state.value, "settled": task.state.value}, comment=comment,
                     task_id=task.id, problem_id=task.problem_id)


TRANSITION_CALLS = {"start": start, "submit": submit, "verify": verify, "reject": reject, "cancel": cancel,
                    "pass": pass_step, "return": return_to_step}


def transition(task: Task, actor: User, clock: Clock, action: str, *, comment: str | None = None,
               result: str | None = None, expected_version: int | None = None,
               uploads: list[Upload] | None = None, rating: str | None = None,
               to_step: int | str | None = None) -> Task:
    """Dispatch one of ACTIONS by name (the API and the task page use this)."""
    if action not in TRANSITION_CALLS:
        raise ValidationFailed(_l("Unknown action."), {"action": [_l("Unknown action.")]})
    if action == "submit":
        return submit(task, actor, clock, result=result, expected_version=expected_version, uploads=uploads)
    if action == "verify":
        return verify(task, actor, clock, comment=comment, expected_version=expected_version, rating=rating)
    if action == "return":
        return return_to_step(task, actor, clock, to_step=to_step, comment=comment,
                              expected_version=expected_version)
    return TRANSITION_CALLS[action](task, actor, clock, comment=comment, expected_version=expected_version)



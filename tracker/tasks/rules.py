"""The state table of a measure (DESIGN §3 "Task states"): every action, who may take it, from which
states, to which state, and on what further condition — as data.

The one table feeds the services' guards (`require`), what the task page offers (`available`), the
SQL of the lists and queues (`clause`) and the views' gate, so a new action or state (the review
chain, period close-outs) is one new row here, not four edits in four places.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from tracker import scope
from tracker.enums import OPEN_STATES, OVERDUE_STATES, ExtensionState, Role, TaskState, TaskType
from tracker.errors import InvalidTransition, PermissionDenied, ServiceError
from tracker.extensions import db
from tracker.followup.models import PeriodState, TaskPeriod
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import User
from tracker.tasks import review
from tracker.tasks.models import Extension, Task


class Who(enum.Enum):
    """Who may take an action on a measure."""

    OWNER = "owner"  # the measure's responsible person only
    WORKER = "worker"  # the owner, or a manager of the measure's unit subtree
    MANAGER = "manager"  # a manager of the measure's unit subtree (admins everywhere)
    REVIEWER = "reviewer"  # a reviewer of the current step of the submission's chain (多级审核)


def allow_self_verify() -> bool:
    """ALLOW_SELF_VERIFY: a manager may decide what they submitted or requested themselves."""
    return bool(current_app.config.get("ALLOW_SELF_VERIFY"))


def managed_clause(actor: User):
    """SQL twin of scope.can_manage_task: the measures whose unit the actor manages."""
    if actor.role == Role.ADMIN:
        return sa.true()
    if actor.role != Role.MANAGER or actor.unit is None:
        return sa.false()
    return Task.unit_id.in_(scope.subtree_ids(actor.unit))


def _who_allows(who: Who, task: Task, actor: User) -> bool:
    if who is Who.OWNER:
        return task.owner_id == actor.id
    if who is Who.MANAGER:
        return scope.can_manage_task(actor, task)
    if who is Who.REVIEWER:
        return review.may_decide(task, actor)
    return scope.can_work_on_task(actor, task)


def _who_clause(who: Who, actor: User):
    if who is Who.OWNER:
        return Task.owner_id == actor.id
    if who is Who.MANAGER:
        return managed_clause(actor)
    if who is Who.REVIEWER:
        return review.reviewer_clause(actor)
    return sa.or_(Task.owner_id == actor.id, managed_clause(actor))


WHO_REFUSAL = {
    Who.OWNER: _l("Only the responsible person may do this."),
    Who.MANAGER: _l("Only a manager of this measure's unit may do this."),
    Who.WORKER: _l("Only the responsible person or a manager of this unit may do this."),
    Who.REVIEWER: _l("This step of the review is not yours to decide."),
}


@dataclass(frozen=True)
class Condition:
    """A further condition of a rule, with its Python test, its SQL twin and the refusal it raises."""

    test: Callable[[Task, User], bool]
    clause: Callable[[User], sa.ColumnElement]
    refusal: Callable[[], ServiceError]


def _pending_decidable_by(actor: User):
    clause = sa.and_(Extension.task_id == Task.id, Extension.state == ExtensionState.PENDING)
    if not allow_self_verify():
        clause = sa.and_(clause, Extension.requested_by_id != actor.id)
    return sa.exists().where(clause)


def pending_extensions(task: Task) -> list[Extension]:
    """The measure's request waiting for a decision (a unique index allows at most one)."""
    return list(db.session.scalars(
        sa.select(Extension).where(Extension.task_id == task.id, Extension.state == ExtensionState.PENDING)))


def may_decide_extension(ext: Extension, actor: User) -> bool:
    """A manager of the measure's unit, never on their own request (unless ALLOW_SELF_VERIFY)."""
    return scope.can_manage_task(actor, ext.task) and (allow_self_verify() or ext.requested_by_id != actor.id)


NOT_OWN_SUBMISSION = Condition(
    test=lambda task, actor: allow_self_verify() or task.submitted_by_id != actor.id,
    clause=lambda actor: sa.true() if allow_self_verify() else sa.or_(
        Task.submitted_by_id.is_(None), Task.submitted_by_id != actor.id),
    refusal=lambda: PermissionDenied(_l("You submitted this measure; another manager must verify it.")),
)
HAS_A_DEADLINE_TO_EXTEND = Condition(
    test=lambda task, actor: task.type != TaskType.ONGOING,
    clause=lambda actor: Task.type != TaskType.ONGOING,
    refusal=lambda: InvalidTransition(_l("Ongoing measures have no deadline to extend.")),
)
KEEPS_A_DEADLINE = Condition(  # an ongoing measure without a deadline has none to change
    test=lambda task, actor: task.type != TaskType.ONGOING or task.deadline is not None,
    clause=lambda actor: sa.or_(Task.type != TaskType.ONGOING, Task.deadline.is_not(None)),
    refusal=lambda: InvalidTransition(_l("Ongoing measures have no deadline to extend.")),
)
AWAITING_ACK = Condition(
    test=lambda task, actor: task.awaiting_ack,
    clause=lambda actor: Task.awaiting_ack_clause(),
    refusal=lambda: InvalidTransition(_l("This measure is already signed for.")),
)
NOT_ANOTHER_STEP = Condition(  # one person decides at most one step of a submission's chain
    test=lambda task, actor: not review.decided_another_step(task, actor),
    clause=lambda actor: ~review.decided_another_step_clause(actor),
    refusal=lambda: PermissionDenied(_l("You decided another step of this review; someone else must "
                                        "decide this one.")),
)
AT_LAST_STEP = Condition(
    test=lambda task, actor: review.at_last_step(task),
    clause=lambda actor: review.last_step_clause(),
    refusal=lambda: InvalidTransition(_l("Further steps of the review follow: pass it on to the next step.")),
)
BEFORE_LAST_STEP = Condition(
    test=lambda task, actor: not review.at_last_step(task),
    clause=lambda actor: ~review.last_step_clause(),
    refusal=lambda: InvalidTransition(_l("This is the last step of the review: verify or return it.")),
)
AFTER_FIRST_STEP = Condition(
    test=lambda task, actor: review.position(task) > 1,
    clause=lambda actor: sa.func.coalesce(Task.review_step, 1) > 1,
    refusal=lambda: InvalidTransition(_l("This is the first step of the review; there is none before it.")),
)
HAS_PERIODS = Condition(  # 阶段性销号: an ongoing measure with a period
    test=lambda task, actor: task.type == TaskType.ONGOING and task.period is not None,
    clause=lambda actor: sa.and_(Task.type == TaskType.ONGOING, Task.period.is_not(None)),
    refusal=lambda: InvalidTransition(_l("Only an ongoing measure with a period has periodic close-outs.")),
)


def _period_decidable_by(actor: User):
    clause = sa.and_(TaskPeriod.task_id == Task.id, TaskPeriod.state == PeriodState.SUBMITTED)
    if not allow_self_verify():
        clause = sa.and_(clause, TaskPeriod.submitted_by_id != actor.id)
    return sa.exists().where(clause)


def _has_period_to_decide(task: Task, actor: User) -> bool:
    return db.session.scalar(sa.select(_period_decidable_by(actor).where(Task.id == task.id)))


A_PERIOD_TO_DECIDE = Condition(
    test=_has_period_to_decide,
    clause=_period_decidable_by,
    refusal=lambda: InvalidTransition(_l("There is no period result for you to decide.")),
)
A_REQUEST_TO_DECIDE = Condition(
    test=lambda task, actor: any(may_decide_extension(e, actor) for e in pending_extensions(task)),
    clause=_pending_decidable_by,
    refusal=lambda: InvalidTransition(_l("There is no extension request for you to decide.")),
)


@dataclass(frozen=True)
class Rule:
    """One action: who may take it, from which states, to which state (None: the state stays), and
    the further conditions that must all hold (checked in order)."""

    who: Who
    states: tuple[TaskState, ...]
    to: TaskState | None = None
    when: tuple[Condition, ...] = ()


OPEN = OPEN_STATES
WORKING = OVERDUE_STATES  # assigned or in progress: the owner still works on it

RULES: dict[str, Rule] = {
    # transitions (DESIGN §3)
    "start": Rule(Who.WORKER, (TaskState.ASSIGNED,), to=TaskState.IN_PROGRESS),
    "submit": Rule(Who.WORKER, WORKING, to=TaskState.SUBMITTED),
    "verify": Rule(Who.REVIEWER, (TaskState.SUBMITTED,), to=TaskState.CLOSED,
                   when=(NOT_OWN_SUBMISSION, NOT_ANOTHER_STEP, AT_LAST_STEP)),
    "reject": Rule(Who.REVIEWER, (TaskState.SUBMITTED,), to=TaskState.IN_PROGRESS, when=(NOT_ANOTHER_STEP,)),
    "cancel": Rule(Who.MANAGER, OPEN, to=TaskState.CANCELLED),
    # actions that keep the state
    "pass": Rule(Who.REVIEWER, (TaskState.SUBMITTED,),  # a step of the chain agrees: the next decides
                 when=(NOT_OWN_SUBMISSION, NOT_ANOTHER_STEP, BEFORE_LAST_STEP)),
    "return": Rule(Who.REVIEWER, (TaskState.SUBMITTED,), when=(NOT_ANOTHER_STEP, AFTER_FIRST_STEP)),
    "acknowledge": Rule(Who.OWNER, WORKING, when=(AWAITING_ACK,)),  # 签收
    "progress": Rule(Who.WORKER, OPEN),
    "extend": Rule(Who.WORKER, WORKING, when=(HAS_A_DEADLINE_TO_EXTEND,)),
    "decide_extension": Rule(Who.MANAGER, OPEN, when=(A_REQUEST_TO_DECIDE,)),
    "submit_period": Rule(Who.WORKER, WORKING, when=(HAS_PERIODS,)),  # 阶段性销号
    "decide_period": Rule(Who.MANAGER, OPEN, when=(A_PERIOD_TO_DECIDE,)),
    "reassign": Rule(Who.MANAGER, OPEN),
    "edit": Rule(Who.MANAGER, OPEN),
    "deadline": Rule(Who.MANAGER, OPEN, when=(KEEPS_A_DEADLINE,)),
}
TRANSITIONS = tuple(name for name, rule in RULES.items() if rule.to is not None)
# The review chain's in-between decisions: the state stays submitted, the step moves.
STEP_DECISIONS = ("pass", "return")


def _state_refusal(task: Task, rule: Rule) -> InvalidTransition:
    if rule.states == OPEN:
        return InvalidTransition(_l("This measure is %(state)s and can no longer be changed.",
                                    state=task.state.label))
    return InvalidTransition(_l("Not possible while the measure is %(state)s.", state=task.state.label))


def require(task: Task, actor: User, action: str, *, check_condition: bool = True) -> Rule:
    """Raise the refusal the table gives for `actor` taking `action` on `task` now; else its rule.

    Who first (PermissionDenied), then the state (InvalidTransition), then the rule's condition.
    """
    rule = RULES[action]
    if not _who_allows(rule.who, task, actor):
        raise PermissionDenied(WHO_REFUSAL[rule.who])
    if task.state not in rule.states:
        raise _state_refusal(task, rule)
    if check_condition:
        require_condition(task, actor, rule)
    return rule


def require_condition(task: Task, actor: User, rule: Rule) -> None:
    """Raise the refusal of the first of the rule's further conditions that does not hold."""
    for condition in rule.when:
        if not condition.test(task, actor):
            raise condition.refusal()


def allowed(task: Task, actor: User, action: str) -> bool:
    rule = RULES[action]
    return (_who_allows(rule.who, task, actor) and task.state in rule.states
            and all(condition.test(task, actor) for condition in rule.when))


def available(task: Task, actor: User) -> set[str]:
    """Every action the actor may take on the measure now; the task page offers exactly these."""
    return {action for action in RULES if allowed(task, actor, action)}


def clause(actor: User, action: str):
    """SQL twin of `allowed`: the measures on which `actor` may take `action` now."""
    rule = RULES[action]
    parts = [_who_clause(rule.who, actor), Task.state.in_(rule.states)]
    parts.extend(condition.clause(actor) for condition in rule.when)
    return sa.and_(*parts)


def who_and_state_clause(actor: User, action: str):
    """The table's who and states of `action`, without its further conditions: for queries over rows
    joined to their measure (a period's results) that state the condition on those rows themselves."""
    rule = RULES[action]
    return sa.and_(_who_clause(rule.who, actor), Task.state.in_(rule.states))


def decidable_clause(actor: User):
    """The requests `actor` may decide, over extension rows joined to their measure: pending, on a
    measure in a state the table allows, managed, not the actor's own (unless ALLOW_SELF_VERIFY)."""
    rule = RULES["decide_extension"]
    parts = [Extension.state == ExtensionState.PENDING, _who_clause(rule.who, actor),
             Task.state.in_(rule.states)]
    if not allow_self_verify():
        parts.append(Extension.requested_by_id != actor.id)
    return sa.and_(*parts)

"""Notices of a measure's transitions (DESIGN §3): who is told when a measure is submitted, returned
or closed out. Queued in the transition's own transaction, so a rolled-back transition tells nobody;
the dedupe key names the measure's version after the transition, so each one is told exactly once.

Everyone gets them in the app; the email is sent unless the recipient turned it off on the profile
page (User.notify_transitions; the outbox marks such a row "in-app only").
"""

from __future__ import annotations

import sqlalchemy as sa

from tracker.clock import Clock
from tracker.enums import Role
from tracker.extensions import db
from tracker.org import queries as org_queries
from tracker.org.models import User
from tracker.reminders import messages, outbox
from tracker.reminders.models import NotificationKind as Kind
from tracker.tasks.models import Task


def verifiers(task: Task, actor: User) -> list[User]:
    """Who should verify a submission: the active managers of the nearest unit, from the measure's own
    upwards, that has any besides the submitter; administrators when no unit on the way has one."""
    managers = org_queries.managers_by_unit(org_queries.path_ids(task.unit.path))
    found = org_queries.nearest_managers(task.unit.path, managers, {actor.id})
    return found or list(db.session.scalars(
        sa.select(User).where(User.role == Role.ADMIN, User.active, User.id != actor.id).order_by(User.id)))


def _queue(kind: Kind, task: Task, recipients, actor: User, clock: Clock, **ctx) -> None:
    item = messages.make_item(task, number=task.problem.number, unit=task.unit.name, owner=task.owner.name,
                              today=clock.today())
    rows, seen = [], set()
    for user in recipients:
        if user is None or user.id == actor.id or user.id in seen or not user.active:
            continue
        seen.add(user.id)
        key = f"{kind.value}:{task.id}:v{task.version}:u{user.id}"
        message = messages.render(kind, user, item=item, actor=actor.name, **ctx)
        rows.append(outbox.row(kind, user, key, clock, message, task=task))
    outbox.enqueue(rows)


def submitted(task: Task, actor: User, clock: Clock, reviewers: list[User] | None = None) -> None:
    """A measure awaits verification: the reviewers of its chain's current step are told (None: the
    default step's verifiers)."""
    recipients = verifiers(task, actor) if reviewers is None else reviewers
    _queue(Kind.SUBMITTED, task, recipients, actor, clock, result=task.result or "")


def rejected(task: Task, actor: User, clock: Clock, reason: str | None) -> None:
    """A submission was returned: its owner is told why."""
    _queue(Kind.REJECTED, task, [task.owner], actor, clock, reason=reason or "")


def verified(task: Task, actor: User, clock: Clock, comment: str | None) -> None:
    """A measure was closed out (销号): its owner and the problem's responsible leader are told."""
    _queue(Kind.VERIFIED, task, [task.owner, task.problem.responsible_leader], actor, clock,
           comment=comment or "")

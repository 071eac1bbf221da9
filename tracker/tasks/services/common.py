"""What every task service shares: text and owner checks, optimistic locking, the audit of a change."""

from __future__ import annotations

from datetime import date

from tracker import scope
from tracker.audit import services as audit
from tracker.clock import Clock
from tracker.enums import Role, TaskType
from tracker.errors import StaleVersion, ValidationFailed
from tracker.extensions import db
from tracker.followup.models import PeriodKind
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import User
from tracker.tasks.models import Task

TASK_FIELDS = ("measure", "target", "type", "period", "owner_id", "unit_id", "deadline", "state", "result",
               "rating")
MAX_TEXT = 5000


def check_version(obj, expected_version: int | None) -> None:
    """Refuse an edit made on an old copy (optimistic locking); nothing is changed."""
    if expected_version is not None and int(expected_version) != obj.version:
        raise StaleVersion(
            _l("Someone else changed this item after you opened it. Reload the page and try again.")
        )


def text(value: str | None, field: str, errors: dict, *, required: bool, label) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            errors.setdefault(field, []).append(_l("%(label)s is required.", label=label))
        return None
    if len(value) > MAX_TEXT:
        errors.setdefault(field, []).append(_l("At most %(n)s characters.", n=MAX_TEXT))
    return value


def raise_if(errors: dict) -> None:
    if errors:
        first = next(iter(errors.values()))[0]
        raise ValidationFailed(first, errors)


def check_owner(owner: User | None, errors: dict, field: str = "owner", actor: User | None = None) -> None:
    """An owner is an active manager or staff member within the assigning actor's scope."""
    if owner is None:
        errors.setdefault(field, []).append(_l("Choose the responsible person."))
    elif actor is not None and not scope.may_pick_person(actor, owner):  # first: no name leaks out
        errors.setdefault(field, []).append(scope.NO_SUCH["person"])
    elif not owner.active:
        errors.setdefault(field, []).append(_l("%(name)s is deactivated.", name=owner.name))
    elif owner.role not in (Role.MANAGER, Role.STAFF):
        errors.setdefault(field, []).append(
            _l("%(name)s is a read-only user and cannot own a measure.", name=owner.name)
        )


def check_period(type_: TaskType, period, errors: dict):
    """A period (阶段性销号) only for an ongoing measure; returns the PeriodKind or None."""
    if period in (None, ""):
        return None
    try:
        kind = PeriodKind(getattr(period, "value", period))
    except ValueError:
        errors.setdefault("period", []).append(_l("Choose monthly, quarterly, half-yearly or yearly."))
        return None
    if TaskType(type_) != TaskType.ONGOING:
        errors.setdefault("period", []).append(_l("Only an ongoing measure has periodic close-outs."))
        return None
    return kind


def check_deadline(type_: TaskType, deadline: date | None, clock: Clock, errors: dict, *, new: bool) -> None:
    if type_ != TaskType.ONGOING and deadline is None:
        errors.setdefault("deadline", []).append(_l("A deadline is required unless the measure is ongoing."))
    elif deadline is not None and new and deadline < clock.today():
        errors.setdefault("deadline", []).append(_l("The deadline cannot be in the past."))


def audit_change(task: Task, actor: User, clock: Clock, action: str, before: dict, comment=None) -> None:
    db.session.flush()  # bumps the version; a concurrent edit fails here with StaleDataError
    old, new = audit.changed(before, audit.snapshot(task, TASK_FIELDS))
    audit.record(actor, clock, action, task, before=old, after=new, comment=comment,
                 task_id=task.id, problem_id=task.problem_id)

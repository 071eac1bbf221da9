"""Rules for units and users (admin work)."""

from __future__ import annotations

import re

import sqlalchemy as sa

from tracker.audit import services as audit
from tracker.auth import services as logins
from tracker.clock import Clock
from tracker.enums import Role
from tracker.errors import PermissionDenied, ValidationFailed
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org import passwords
from tracker.org.models import Unit, User, child_path
from tracker.problems.models import Problem, Source, problem_cooperating_units
from tracker.tasks.models import Task

CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
MIN_PASSWORD = passwords.MIN_LENGTH


def _require_admin(actor: User | None) -> None:
    # actor None = the command line, run by whoever administers the server
    if actor is not None and actor.role != Role.ADMIN:
        raise PermissionDenied(_l("Only administrators may do this."))


def _fail(errors: dict) -> None:
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors)


def save_unit(actor: User | None, clock: Clock, *, code: str, name: str, parent: Unit | None,
              sort_order: int = 0, unit: Unit | None = None) -> Unit:
    """Create or edit a unit; moving it moves its whole subtree."""
    _require_admin(actor)
    errors: dict = {}
    code, name = (code or "").strip(), (name or "").strip()
    if not CODE_RE.match(code):
        errors["code"] = [_l("Use 1–40 letters, digits, '.', '_' or '-'.")]
    else:
        clash = db.session.scalar(sa.select(Unit.id).where(Unit.code == code))
        if clash and (unit is None or clash != unit.id):
            errors["code"] = [_l("Code %(code)s is already used.", code=code)]
    if not name:
        errors["name"] = [_l("Name is required.")]
    elif len(name) > 120:
        errors["name"] = [_l("At most %(n)s characters.", n=120)]
    if unit is not None and parent is not None and parent.path.startswith(unit.path):
        errors["parent"] = [_l("A unit cannot be placed under itself or its own sub-units.")]
    _fail(errors)
    fields = ("code", "name", "parent_id", "sort_order")
    before = audit.snapshot(unit, fields) if unit else {}
    if unit is None:
        unit = Unit(created_at=clock.now())
        db.session.add(unit)
    old_path = unit.path if unit.id else None
    unit.code, unit.name, unit.parent, unit.sort_order = code, name, parent, int(sort_order or 0)
    db.session.flush()
    new_path = child_path(parent.path if parent else None, unit.id)
    if old_path != new_path:
        unit.path = new_path
        if old_path:
            _move_subtree(old_path, new_path, unit.id)
    old, new = audit.changed(before, audit.snapshot(unit, fields))
    audit.record(actor, clock, "unit.update" if before else "unit.create", unit, before=old, after=new)
    return unit


def _move_subtree(old_path: str, new_path: str, unit_id: int) -> None:
    """Rewrite the path prefix of every descendant in one statement."""
    db.session.execute(
        sa.update(Unit)
        .where(Unit.path.startswith(old_path, autoescape=True), Unit.id != unit_id)
        .values(path=sa.literal(new_path, sa.String) + sa.func.substr(Unit.path, len(old_path) + 1))
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()


def unit_in_use(unit: Unit) -> bool:
    """True when anything refers to the unit: sub-units, users, sources, problems or measures."""
    unit_refs = (
        sa.select(Unit.id).where(Unit.parent_id == unit.id),
        sa.select(User.id).where(User.unit_id == unit.id),
        sa.select(Source.id).where(Source.unit_id == unit.id),
        sa.select(Problem.id).where(sa.or_(Problem.unit_id == unit.id, Problem.lead_unit_id == unit.id)),
        sa.select(problem_cooperating_units.c.problem_id)
        .where(problem_cooperating_units.c.unit_id == unit.id),
        sa.select(Task.id).where(Task.unit_id == unit.id),
    )
    return bool(db.session.scalar(sa.select(sa.or_(*(sa.exists(q) for q in unit_refs)))))


def delete_unit(actor: User | None, clock: Clock, unit: Unit) -> None:
    """Remove a unit created by mistake; a unit anything refers to is refused, never orphaned."""
    _require_admin(actor)
    if unit_in_use(unit):
        raise ValidationFailed(_l("%(name)s still has sub-units, users, sources, problems or measures; "
                                  "it cannot be deleted.", name=unit.name))
    audit.record(actor, clock, "unit.delete", unit,
                 before=audit.snapshot(unit, ("code", "name", "parent_id", "sort_order")))
    db.session.delete(unit)
    db.session.flush()


def _password_refused(password: str, username: str, name: str, email: str | None, unit: Unit | None):
    """The policy's message for `password` of this person, or None (tracker.org.passwords)."""
    return passwords.problem(password, passwords.context_words(
        username, name, email, unit.code if unit else None, unit.name if unit else None))


def save_user(actor: User | None, clock: Clock, *, username: str, name: str, role: Role | str,
              unit: Unit | None, email: str | None = None, language: str = "zh_CN",
              active: bool = True, password: str | None = None, user: User | None = None,
              password_policy: bool = True, keep_login: int | None = None) -> User:
    """Create or edit a user; a new user needs a password, an admin needs no unit.

    A new password or a deactivation ends every login of the user (but `keep_login`, the acting
    admin's own). `password_policy=False` is for the demo and bench seeders' documented passwords."""
    _require_admin(actor)
    errors: dict = {}
    username, name = (username or "").strip(), (name or "").strip()
    if not USERNAME_RE.match(username):
        errors["username"] = [_l("Use 2–64 letters, digits, '.', '_', '@' or '-'.")]
    else:
        clash = db.session.scalar(sa.select(User.id).where(User.username == username))
        if clash and (user is None or clash != user.id):
            errors["username"] = [_l("Username %(name)s is taken.", name=username)]
    if not name:
        errors["name"] = [_l("Name is required.")]
    elif len(name) > 80:
        errors["name"] = [_l("At most %(n)s characters.", n=80)]
    try:
        role = Role(role)
    except ValueError:
        errors["role"] = [_l("Choose a role.")]
        role = None
    if role is not None and role != Role.ADMIN and unit is None:
        errors["unit"] = [_l("Everyone but an administrator belongs to a unit.")]
    if language not in ("zh_CN", "en"):
        errors["language"] = [_l("Choose a language.")]
    email = (email or "").strip() or None
    if email and (len(email) > 254 or not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email)):
        errors["email"] = [_l("Not a valid email address.")]
    if user is None and not password:
        errors["password"] = [_l("A new user needs a password.")]
    refused = password and password_policy and _password_refused(password, username, name, email, unit)
    if refused:
        errors["password"] = [refused]
    if user is not None and actor is not None and user.id == actor.id and (not active or role != Role.ADMIN):
        errors["role"] = [_l("You cannot demote or deactivate yourself.")]
    _fail(errors)
    fields = ("username", "name", "email", "role", "unit_id", "language", "active")
    before = audit.snapshot(user, fields) if user else {}
    if before and (password or (before["active"] and not active)):
        logins.end_logins(user.id, keep=keep_login)
    if user is None:
        user = User(created_at=clock.now())
        db.session.add(user)
    user.username, user.name, user.email, user.role = username, name, email, role
    user.unit = unit if role != Role.ADMIN or unit is not None else None
    user.language, user.active = language, bool(active)
    if password:
        user.set_password(password)
    db.session.flush()
    old, new = audit.changed(before, audit.snapshot(user, fields))
    if password and before:
        new["password"] = "changed"
    audit.record(actor, clock, "user.update" if before else "user.create", user, before=old, after=new)
    return user


def change_password(user: User, clock: Clock, *, current: str, new: str, confirm: str,
                    keep_login: int | None = None) -> None:
    """A user changes their own password; every other login of theirs ends (`keep_login`, the
    browser they changed it in, stays)."""
    errors: dict = {}
    if not user.check_password(current or ""):
        errors["current"] = [_l("The current password is wrong.")]
    refused = _password_refused(new or "", user.username, user.name, user.email, user.unit)
    if refused:
        errors["new"] = [refused]
    elif new != confirm:
        errors["confirm"] = [_l("The two passwords differ.")]
    _fail(errors)
    user.set_password(new)
    logins.end_logins(user.id, keep=keep_login)
    db.session.flush()
    audit.record(user, clock, "user.password", user, after={"password": "changed"})


def set_preferences(user: User, clock: Clock, *, language: str | None = None,
                    weekly_digest: bool | None = None, notify_transitions: bool | None = None) -> None:
    """A user's own choices: interface language, whether the weekly digest and the transition
    notices are emailed."""
    if language is not None and language not in ("zh_CN", "en"):
        raise ValidationFailed(_l("Choose a language."), {"language": [_l("Choose a language.")]})
    fields = ("language", "weekly_digest", "notify_transitions")
    before = audit.snapshot(user, fields)
    if language is not None:
        user.language = language
    if weekly_digest is not None:
        user.weekly_digest = bool(weekly_digest)
    if notify_transitions is not None:
        user.notify_transitions = bool(notify_transitions)
    db.session.flush()
    old, new = audit.changed(before, audit.snapshot(user, fields))
    if new:
        audit.record(user, clock, "user.preferences", user, before=old, after=new)

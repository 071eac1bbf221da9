"""The units and people an actor may pick in a form or a filter (their subtree; admins: all)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from tracker import scope
from tracker.enums import Role
from tracker.extensions import db
from tracker.org.models import Unit, User


def scoped_units(actor):
    """Units the actor may choose in a form or filter, ordered as a tree."""
    return db.session.scalars(sa.select(Unit).where(scope.unit_clause(actor)).order_by(Unit.path)).all()


def _scoped_people(columns, actor, roles, active_only, within=None):
    """The one query behind both pickers: people in the actor's subtree (admins: all), by unit and name."""
    stmt = sa.select(*columns).outerjoin(Unit, User.unit_id == Unit.id).order_by(Unit.path, User.name)
    if actor.role != Role.ADMIN:
        stmt = stmt.where(scope.unit_clause(actor))
    if within is not None:
        stmt = stmt.where(Unit.path.startswith(within.path, autoescape=True))
    if roles:
        stmt = stmt.where(User.role.in_(roles))
    if active_only:
        stmt = stmt.where(User.active.is_(True))
    return stmt


def scoped_users(actor, roles: tuple[Role, ...] | None = None, active_only: bool = True):
    """People the actor may pick (their subtree; admins everyone), by name."""
    return db.session.scalars(_scoped_people([User], actor, roles, active_only)).all()


def scoped_user_rows(actor, roles: tuple[Role, ...] | None = None, active_only: bool = True,
                     within=None, limit: int | None = None):
    """(id, name) rows of the people `scoped_users` would return, for filter bars.

    Plain rows, not ORM objects: a filter over a thousand people must not build a thousand
    User instances on every list page. `within` narrows to a unit's subtree; `limit` caps it.
    """
    stmt = _scoped_people([User.id, User.name], actor, roles, active_only, within)
    if limit is not None:
        stmt = stmt.limit(limit)
    return db.session.execute(stmt).all()


def managers_by_unit(unit_ids=None) -> dict[int, list[User]]:
    """The active managers of each unit (of `unit_ids`, or of every unit), by id."""
    stmt = sa.select(User).where(User.role == Role.MANAGER, User.active.is_(True)).order_by(User.id)
    if unit_ids is not None:
        stmt = stmt.where(User.unit_id.in_(list(unit_ids)))
    managers: dict[int, list[User]] = {}
    for user in db.session.scalars(stmt):
        managers.setdefault(user.unit_id, []).append(user)
    return managers


def path_ids(path: str) -> list[int]:
    """The unit ids of a path, from the root down."""
    return [int(part) for part in path.strip("/").split("/") if part]


def nearest_managers(path: str, managers: dict[int, list[User]], exclude: set[int]) -> list[User]:
    """The managers of the unit at `path`, or of the nearest unit above it that has any besides those
    in `exclude` (the owner, the submitter)."""
    for unit_id in reversed(path_ids(path)):
        found = [m for m in managers.get(unit_id, []) if m.id not in exclude]
        if found:
            return found
    return []


def people_on_line(unit: Unit, roles: tuple[Role, ...]) -> list[User]:
    """The active people of `roles` in `unit` and the units above it (with their units loaded), by path."""
    ids = path_ids(unit.path)
    return list(db.session.scalars(
        sa.select(User).join(Unit, User.unit_id == Unit.id)
        .where(User.unit_id.in_(ids), User.role.in_(roles), User.active.is_(True))
        .options(contains_eager(User.unit)).order_by(Unit.path, User.name)))

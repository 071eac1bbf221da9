"""Units and users (DESIGN §4): GET|POST /units, GET|POST /users (administrators)."""

from __future__ import annotations

import sqlalchemy as sa

from tracker import scope
from tracker.api import schemas
from tracker.api.base import actor, aliases, bp, created, paged, raise_errors, reference, require_role
from tracker.clock import request_clock
from tracker.enums import Role
from tracker.i18n import lazy_gettext as _l
from tracker.org import services as org
from tracker.org.models import Unit, User

NO_UNIT = _l("No such unit.")


@bp.get("/units")
def list_units():
    """The units the caller may read (administrators: all), in tree order."""
    stmt = sa.select(Unit).where(scope.unit_clause(actor())).order_by(Unit.path, Unit.id)
    return paged(stmt, stmt, schemas.unit_json)


@bp.post("/units")
def create_unit():
    """Add a unit (administrators)."""
    require_role(Role.ADMIN)
    data = schemas.json_body(schemas.UNIT_CREATE)
    errs: dict = {}
    parent = reference(Unit, data.get("parent_id"), "parent_id", errs, NO_UNIT)
    raise_errors(errs)
    aliases({"parent": "parent_id"})
    unit = org.save_unit(actor(), request_clock(), code=data["code"], name=data["name"], parent=parent,
                         sort_order=data.get("sort_order") or 0)
    return created(schemas.unit_json(unit))


@bp.get("/users")
def list_users():
    """Every user, by username (administrators)."""
    require_role(Role.ADMIN)
    stmt = sa.select(User).order_by(User.username, User.id)
    return paged(stmt, stmt, schemas.user_json)


@bp.post("/users")
def create_user():
    """Add a user with an initial password (administrators)."""
    require_role(Role.ADMIN)
    data = schemas.json_body(schemas.USER_CREATE)
    errs: dict = {}
    unit = reference(Unit, data.get("unit_id"), "unit_id", errs, NO_UNIT)
    raise_errors(errs)
    aliases({"unit": "unit_id"})
    user = org.save_user(actor(), request_clock(), username=data["username"], name=data["name"],
                         role=data["role"],
                         unit=unit, email=data.get("email"), language=data.get("language") or "zh_CN",
                         active=data.get("active", True), password=data["password"])
    return created(schemas.user_json(user))

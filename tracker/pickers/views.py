"""The JSON search behind the pickers: GET /pick/people|units|sources?q=… (a signed-in user's own scope)."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, abort, jsonify, request
from flask_login import current_user

from tracker import scope
from tracker.extensions import MAX_ID, db
from tracker.org.models import Unit
from tracker.pickers.lists import LIMIT, People, Pickable, Sources, Units

bp = Blueprint("pick", __name__)


def _unit_in_scope(raw: str) -> Unit | None:
    """The unit a search is narrowed to; None for junk, an unknown id and one out of scope alike."""
    try:
        unit_id = int(raw)
    except ValueError:
        return None
    unit = db.session.get(Unit, unit_id) if 0 < unit_id <= MAX_ID else None
    return unit if scope.may_pick_unit(current_user, unit) else None


def _pick_list(kind: str) -> Pickable | None:
    """The list a search URL names (see lists.People.args and the others), None when it names none."""
    if kind == "units":
        return Units.from_args(request.args)
    if kind == "sources":
        return Sources.from_args(request.args)
    if kind != "people":
        abort(404)
    people = People.from_args(request.args)
    for arg, field in (("unit", "within"), ("line", "line")):
        narrowed = (request.args.get(arg) or "").strip()
        if people is None or not narrowed:
            continue
        unit = _unit_in_scope(narrowed)
        people = replace(people, **{field: unit.path}) if unit is not None else None
    return people


@bp.get("/pick/<kind>")
def search(kind: str):
    """Up to LIMIT people, units or sources the user may pick whose name (username, code) contains q.

    people: role (repeatable: manager, staff, viewer, admin), active=1 (only active people), above=1 (also
    the managers and leaders above the user's unit), unit=ID (that unit's subtree), line=ID (that unit
    and those above it), skip=ID (not that person); units: code=1 (labels end with the code); sources:
    above=1 (also those of the units above). Anything the user may not pick is never listed; junk finds
    nothing."""
    if not current_user.is_authenticated:
        return jsonify(error="unauthorized", items=[]), 401
    pick = _pick_list(kind)
    found = pick.search(current_user, request.args.get("q"), LIMIT) if pick is not None else []
    return jsonify(items=[{"value": str(item.value), "text": item.text} for item in found])

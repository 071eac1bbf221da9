"""Review chains (多级审核) on the web: every unit's chain in one list, and a unit's chain to edit."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from tracker import scope
from tracker.clock import request_clock
from tracker.enums import Role
from tracker.errors import ValidationFailed
from tracker.extensions import MAX_ID, db
from tracker.i18n import gettext as _
from tracker.org.models import Unit, User, person_label
from tracker.org.queries import scoped_units
from tracker.review import chains
from tracker.review.forms import ChainForm

bp = Blueprint("review", __name__)


@dataclass(frozen=True)
class Person:
    id: int
    label: str


def _unit_or_404(unit_id: int) -> Unit:
    unit = db.session.get(Unit, unit_id) if 0 < unit_id <= MAX_ID else None
    if unit is None or not scope.covers(current_user, unit):
        abort(404)
    return unit


@bp.route("/review-chains")
@login_required
def chain_list():
    """The units of the user's scope, each with the chain its measures go through."""
    if current_user.role not in (Role.ADMIN, Role.MANAGER):
        abort(403)
    units = scoped_units(current_user)
    found = chains.chains_for(units)
    sources = {source for source, _ in found.values() if source is not None}
    names = dict(db.session.execute(sa.select(Unit.id, Unit.name).where(Unit.id.in_(sources))).all())
    rows = []
    for unit in units:
        source, steps = found[unit.id]
        rows.append({"unit": unit, "own": source == unit.id, "source": names.get(source), "steps": steps,
                     "editable": chains.may_configure(current_user, unit)})
    return render_template("review/chains.html", rows=rows)


def _line(unit: Unit) -> tuple[list[Unit], list[Person]]:
    """The units on `unit`'s line (it and those above) and the people there who may decide a step."""
    ids = [*scope.ancestor_ids(unit), unit.id]
    units = db.session.scalars(sa.select(Unit).where(Unit.id.in_(ids)).order_by(Unit.path)).all()
    deciders = sa.or_(sa.and_(User.unit_id.in_(ids), User.role.in_([Role.MANAGER, Role.VIEWER])),
                      User.role == Role.ADMIN)
    people = db.session.scalars(
        sa.select(User).where(User.active.is_(True), deciders).order_by(User.role, User.name)).all()
    return units, [Person(p.id, person_label(p)) for p in people]


@bp.route("/units/<int:unit_id>/review-chain", methods=["GET", "POST"])
@login_required
def edit_chain(unit_id: int):
    """Set the unit's own chain: up to five steps, each a unit's managers or a named person."""
    unit = _unit_or_404(unit_id)
    if not chains.may_configure(current_user, unit):
        abort(403)
    applies, current = chains.chain_for(unit)
    own = applies is not None and applies.id == unit.id
    data = None
    if own:
        data = {"steps": [{"kind": s.kind.value, "title": s.label,
                           "reviewer_unit": str(s.reviewer_unit.id) if s.reviewer_unit else "",
                           "reviewer": str(s.reviewer.id) if s.reviewer else ""} for s in current]}
    form = ChainForm(data=data)
    units, people = _line(unit)
    form.fill(units, people)
    context = {"unit": unit, "form": form, "applies": applies, "current": current, "own": own}
    if not form.validate_on_submit():
        return render_template("review/edit.html", **context), 422 if form.is_submitted() else 200
    used, steps = form.rows()
    try:
        chains.set_chain(current_user, unit, steps, request_clock())
    except ValidationFailed as exc:
        db.session.rollback()
        _show_errors(form, used, exc)
        return render_template("review/edit.html", **context), 422
    db.session.commit()
    flash(_("The review chain of %(unit)s is saved.", unit=unit.name) if steps else
          _("%(unit)s now uses the chain above it.", unit=unit.name), "success")
    return redirect(url_for("review.chain_list"))


FIELDS = {"kind": "kind", "label": "title", "reviewer_unit_id": "reviewer_unit", "reviewer_id": "reviewer"}


def _show_errors(form: ChainForm, used: list[int], exc: ValidationFailed) -> None:
    """Put each `steps.N.field` message beside its field in the row it came from."""
    for key, messages in exc.fields.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[1].isdigit() and int(parts[1]) - 1 < len(used):
            entry = form.steps[used[int(parts[1]) - 1]]
            getattr(entry, FIELDS.get(parts[2], "kind")).errors = [str(m) for m in messages]
        else:
            flash(" ".join(str(m) for m in messages), "danger")

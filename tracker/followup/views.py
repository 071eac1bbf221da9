"""回头看 pages: the re-checks of the user's scope, drawing a recorded random sample, and a sample shown
with its seed, population and picks (and whether drawing again from them gives the same picks)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from tracker import scope
from tracker.clock import request_clock
from tracker.enums import Role
from tracker.errors import ValidationFailed
from tracker.extensions import MAX_ID, db
from tracker.followup import rechecks
from tracker.followup.forms import SampleForm
from tracker.followup.models import Recheck, RecheckSample, RecheckState
from tracker.i18n import gettext as _
from tracker.org.models import Unit, User
from tracker.pickers.lists import People, Units
from tracker.pickers.widgets import attach, searching
from tracker.tasks.models import Task
from tracker.viewutils import form_errors, paginate

bp = Blueprint("rechecks", __name__)


def _fill(form: SampleForm) -> None:
    """Pickers of the units the user manages (the form is for admins and managers: their whole scope)
    and of the reviewers, the active managers and leaders of their scope."""
    attach(form.unit, Units(absolute=True), blank=[("", "—")])
    attach(form.reviewer, People((Role.MANAGER, Role.VIEWER), active=True), blank=[("", "—")])


def _list(form: SampleForm | None, status: int = 200):
    state = request.args.get("state") or ""
    stmt = (sa.select(Recheck).join(Task, Task.id == Recheck.task_id).where(scope.task_clause(current_user))
            .options(joinedload(Recheck.task), joinedload(Recheck.reviewer))
            .order_by(Recheck.due_on.desc(), Recheck.id.desc()))
    if state in {s.value for s in RecheckState}:
        stmt = stmt.where(Recheck.state == RecheckState(state))
    samples = db.session.scalars(
        sa.select(RecheckSample).where(RecheckSample.unit_id.in_(sa.select(Unit.id).where(
            scope.unit_clause(current_user)))).options(joinedload(RecheckSample.drawn_by))
        .order_by(RecheckSample.drawn_at.desc()).limit(10)).all()
    return render_template("rechecks/list.html", pagination=paginate(stmt), state=state, form=form,
                           samples=samples, states=RecheckState), status


@bp.route("/rechecks")
@login_required
def recheck_list():
    """Re-checks of the measures the user reads, newest due first; managers draw samples here."""
    form = None
    if current_user.role in (Role.ADMIN, Role.MANAGER):
        form = SampleForm(formdata=None)
        _fill(form)
    return _list(form)


def _get(model, object_id):
    return db.session.get(model, object_id) if object_id and 0 < object_id <= MAX_ID else None


@bp.route("/rechecks/sample", methods=["POST"])
@login_required
def draw_sample():
    if current_user.role not in (Role.ADMIN, Role.MANAGER):
        abort(403)
    form = SampleForm()
    _fill(form)
    if searching(form):  # a picker's search without JavaScript: show its matches, draw nothing
        return _list(form)
    if not form.validate_on_submit():
        return _list(form, 422)
    unit = _get(Unit, form.unit.data)
    reviewer = _get(User, form.reviewer.data)
    try:
        sample = rechecks.draw_sample(current_user, unit, request_clock(), date_from=form.date_from.data,
                                      date_to=form.date_to.data, share=form.share.data, count=form.count.data,
                                      seed=form.seed.data, due_on=form.due_on.data, reviewer=reviewer)
    except ValidationFailed as exc:
        db.session.rollback()
        form_errors(form, exc)
        flash(exc.message, "danger")
        return _list(form, 422)
    db.session.commit()
    flash(_("%(n)s of %(total)s closed measures drawn for a re-check.", n=sample.size,
            total=len(sample.population)), "success")
    return redirect(url_for("rechecks.sample_detail", sample_id=sample.id))


@bp.route("/rechecks/samples/<int:sample_id>")
@login_required
def sample_detail(sample_id: int):
    """The draw as recorded, and the same draw repeated from its seed."""
    sample = db.session.get(RecheckSample, sample_id) if 0 < sample_id <= MAX_ID else None
    if sample is None or not scope.covers(current_user, db.session.get(Unit, sample.unit_id)):
        abort(404)
    tasks = {t.id: t for t in db.session.scalars(sa.select(Task).where(Task.id.in_(sample.picked)))}
    waiting = {r.task_id: r for r in db.session.scalars(
        sa.select(Recheck).where(Recheck.sample_id == sample.id))}
    repeated = rechecks.draw(sample.population, sample.size, sample.seed)
    return render_template("rechecks/sample.html", sample=sample, unit=db.session.get(Unit, sample.unit_id),
                           tasks=tasks, rechecks=waiting, repeated=repeated)

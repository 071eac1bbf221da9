"""The dashboard: the report's figures for a unit and a period, with charts linking into the lists."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from tracker.clock import request_clock
from tracker.dashboard.forms import DashboardForm
from tracker.dashboard.panels import PagePieces
from tracker.dashboard.snapshots import dashboard
from tracker.errors import PermissionDenied, ValidationFailed
from tracker.extensions import db
from tracker.org.models import Unit
from tracker.pickers.lists import Units
from tracker.pickers.widgets import attach
from tracker.viewutils import form_errors

bp = Blueprint("dashboard", __name__)


UNITS = Units(absolute=True)


def _form(top: int | None) -> DashboardForm:
    """The form from the query string over the defaults: own unit (admin: the root, `top`), 1 January →
    today; its unit is a picker (tracker.pickers)."""
    today = request_clock().today()
    # An admin sees everything, so starts at the top of the tree rather than at their own unit.
    default_unit = top if current_user.is_admin or not current_user.unit_id else current_user.unit_id
    form = DashboardForm(formdata=request.args or None, unit=default_unit, date_from=date(today.year, 1, 1),
                         date_to=today)
    attach(form.unit, UNITS)
    return form


def _recount() -> bool:
    """The reader asked to count the figures again ("Count them again now")."""
    return request.args.get("recount") == "1"


def _board(form: DashboardForm):
    """The dashboard for a valid form, or None with the errors set on the form."""
    if request.args and not form.validate():
        return None
    unit = db.session.get(Unit, form.unit.data) if form.unit.data else None
    try:
        return dashboard(current_user, unit, form.date_from.data, form.date_to.data, request_clock(),
                         recount=_recount())
    except PermissionDenied as exc:
        form.unit.errors = [*form.unit.errors, exc.message]
    except ValidationFailed as exc:
        form_errors(form, exc)
    return None


@bp.route("/dashboard")
@login_required
def index():
    """Headline figures and charts of a unit's subtree for a period (every role, within its scope)."""
    top = UNITS.search(current_user, None, limit=1)  # the first unit of the user's tree, if any
    form = _form(top[0].value if top else None)
    if not top:
        return render_template("dashboard/index.html", form=form, board=None, no_units=True)
    board = _board(form)
    if board is None:
        return render_template("dashboard/index.html", form=form, board=None), 422
    if _recount():
        # Counted and kept: show them from the snapshot at an address whose reload does not count again.
        args = {k: v for k, v in request.args.items() if k != "recount"}
        return redirect(url_for("dashboard.index", **args))
    pieces = PagePieces(board)
    return render_template("dashboard/index.html", form=form, board=board, figures=pieces.figures(),
                           panels=pieces.panels(), kept=pieces.kept())

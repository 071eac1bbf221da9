"""Placeholder routes; replaced by the full views."""

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("admin", __name__)

@bp.route("/admin/users")
@login_required
def users():
    return "todo"


@bp.route("/admin/units")
@login_required
def units():
    return "todo"


@bp.route("/admin/categories")
@login_required
def categories():
    return "todo"


@bp.route("/sources")
@login_required
def sources():
    return "todo"


"""Placeholder routes; replaced by the full views."""

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("problems", __name__)

@bp.route("/problems")
@login_required
def problem_list():
    return "todo"


@bp.route("/responsibilities")
@login_required
def responsibility_list():
    return "todo"


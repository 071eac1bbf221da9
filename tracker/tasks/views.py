"""Placeholder routes; replaced by the full views."""

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("tasks", __name__)

@bp.route("/")
@login_required
def home():
    return "todo"


@bp.route("/tasks")
@login_required
def task_list():
    return "todo"


"""Operations endpoints: GET /healthz for load balancers, monitors and people."""

from flask import Blueprint, jsonify

from tracker.ops import health

bp = Blueprint("ops", __name__)


@bp.route("/healthz")
def healthz():
    """No login, JSON: 200 when the database answers (with scheduler and outbox figures), 503 otherwise."""
    body, ok = health.report()
    response = jsonify(body)
    response.status_code = 200 if ok else 503
    response.headers["Cache-Control"] = "no-store"
    return response

"""Operations endpoints: GET /healthz for load balancers, monitors and people."""

import hmac

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user

from tracker.auth import tokens
from tracker.auth.bearer import bearer_token, failed_authentication
from tracker.clock import request_clock
from tracker.extensions import db
from tracker.ops import health

bp = Blueprint("ops", __name__)


@bp.route("/healthz")
def healthz():
    """Up or down for anyone (200 {"status": "ok"} / 503 {"status": "down"}); the figures for a
    logged-in admin, an admin's API token or the configured HEALTH_TOKEN."""
    if _may_see_details():
        body, ok = health.report()
    else:
        ok = health.database_answers()
        body = {"status": "ok" if ok else "down"}
    response = jsonify(body)
    response.status_code = 200 if ok else 503
    return response


def _matches(given: str | None, expected: str) -> bool:
    return bool(given and expected) and hmac.compare_digest(given.encode(), expected.encode())


def _may_see_details() -> bool:
    """HEALTH_TOKEN (bearer or ?token=, compared in constant time), an admin's API token, or an
    admin's login. A token that matches nothing counts as a failed authentication (tracker.auth.bearer)."""
    bearer, query = bearer_token(), request.args.get("token")
    expected = current_app.config.get("HEALTH_TOKEN") or ""
    if _matches(bearer, expected) or _matches(query, expected):
        return True
    try:
        if bearer and bearer.startswith(tokens.PREFIX):
            user = tokens.authenticate(bearer, request_clock())
            if user is not None:
                if db.session.info.pop("api_token_touched", False):
                    db.session.commit()  # last_used_at, written at most once a minute per token
                return user.is_admin
        if current_user.is_authenticated:
            return current_user.is_admin
    except sa.exc.SQLAlchemyError:  # the database is down: say so, without details
        db.session.rollback()
        return False
    if bearer or query:
        failed_authentication()
    return False

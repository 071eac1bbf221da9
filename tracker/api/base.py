"""The API blueprint and what every endpoint shares: bearer authentication, lookups, paging, errors."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from flask import Blueprint, current_app, g, request
from flask_babel import refresh as refresh_locale
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from tracker import keyset, scope
from tracker.api import errors, schemas
from tracker.api.errors import ApiError
from tracker.auth import bearer, tokens
from tracker.clock import request_clock
from tracker.enums import Role
from tracker.errors import ServiceError, ValidationFailed
from tracker.extensions import MAX_ID, db, limiter, login_manager
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import User
from tracker.pagination import count_upto, count_window
from tracker.tasks.models import Task

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Readable without a token: the description of the API itself.
PUBLIC_ENDPOINTS = {"api.openapi_json", "api.docs"}


def rate_limit_key() -> str:
    """Calls are counted per token (a hash of the header, never the token), else per address."""
    header = request.headers.get("Authorization", "")
    if header:
        return "api-token:" + hashlib.sha256(header.encode("utf-8", "replace")).hexdigest()[:32]
    return "api-ip:" + (request.remote_addr or "unknown")


# API_RATE_LIMIT (default 300 per minute per token); 429 answers with the API's JSON error.
limiter.limit(lambda: current_app.config.get("API_RATE_LIMIT", "300/minute"), key_func=rate_limit_key)(bp)


@bp.before_request
def authenticate():
    """Every API call needs `Authorization: Bearer <token>`; a browser session never counts here,
    so the CSRF-exempt API cannot be driven by another site through the user's cookies."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    g._login_user = login_manager.anonymous_user()  # what Flask-Login's current_user returns
    raw = bearer.bearer_token()
    user = tokens.authenticate(raw, request_clock()) if raw else None
    if user is None:
        db.session.rollback()
        bearer.failed_authentication()  # 429 once this address failed too often
        raise ApiError(401, "unauthorized", errors.HTTP_MESSAGES[401])
    if db.session.info.pop("api_token_touched", False):
        db.session.commit()  # last_used_at, written at most once a minute per token
    g._login_user = user
    g.api_user = user
    refresh_locale()  # messages in the token owner's language
    return None


@bp.errorhandler(ServiceError)
@bp.errorhandler(StaleDataError)
def service_error(exc):
    """Rule violations raised by services, with their status, code and fields."""
    response = errors.from_exception(exc, getattr(g, "field_aliases", None))
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@bp.errorhandler(HTTPException)
def http_error(exc):
    return errors.from_exception(exc)


def actor() -> User:
    """The user whose token authenticated this request."""
    return g.api_user


def aliases(mapping: dict) -> None:
    """Service field names → API field names for this request's errors (owner → owner_id…)."""
    g.field_aliases = mapping


def require_role(*roles: Role) -> None:
    """Endpoints some roles may not use at all answer 403 (the endpoint is no secret; objects are)."""
    if actor().role not in roles:
        raise ApiError(403, "forbidden", _l("Your role may not use this endpoint."))


def not_found():
    return ApiError(404, "not_found", errors.HTTP_MESSAGES[404])


def get_or_404(model, object_id: int, *options):
    """Any row by id (ids beyond 32 bits cannot exist and would overflow the database's integer)."""
    if not 1 <= object_id <= MAX_ID:
        raise not_found()
    obj = db.session.get(model, object_id, options=list(options))
    if obj is None:
        raise not_found()
    return obj


def task_or_404(task_id: int, *options):
    """A task the caller may read, else 404 (never 403: ids cannot be probed)."""
    task = get_or_404(Task, task_id, *options)
    if not scope.can_read_task(actor(), task):
        raise not_found()
    return task


def reference(model, object_id: int | None, field: str, errs: dict, message):
    """The row a body field refers to, or None with `message` recorded for the field."""
    if object_id is None:
        return None
    obj = db.session.get(model, object_id)
    if obj is None:
        errs.setdefault(field, []).append(message)
    return obj


def raise_errors(errs: dict) -> None:
    if errs:
        raise ValidationFailed(next(iter(errs.values()))[0], errs)


def page_args() -> tuple[int, int, str | None]:
    """page, per_page and cursor from the query string."""
    args = schemas.query(schemas.PAGING)
    per_page = args["per_page"] or min(current_app.config["PER_PAGE"], schemas.MAX_PER_PAGE)
    return args["page"], per_page, args["cursor"]


# The rows of a page by their ids, one statement per model, built once: building it again on every
# request cost a third as much as running it.
_BY_IDS: dict = {}


def _cursor_list() -> str:
    """What a cursor belongs to: this list in this order (a cursor of another is refused)."""
    return f"{request.endpoint}:{request.args.get('sort') or ''}"


def paged(stmt, count_stmt, serialise, *options, rows=None) -> dict:
    """One count query and one page query, whatever the number of rows; `serialise` maps a row to JSON.
    `rows(ids)` ({id: row}) reads the page's rows in place of the ORM (plain rows cost less to build).

    A page is asked for by number (`page`) or by the `cursor` of the page before (`next_cursor`),
    which seeks past that page's last row instead of reading and dropping every row before it."""
    page, per_page, raw_cursor = page_args()
    keys = keyset.order_keys(stmt)
    if raw_cursor:
        values = keyset.decode(_cursor_list(), raw_cursor, len(keys))
        if values is None:
            raise ValidationFailed(_l("Some query parameters are wrong; see `fields`."),
                                   {"cursor": [_l("Not a cursor of this list in this order; start again "
                                                  "without it.")]})
        stmt, page, offset = stmt.where(keyset.after(keys, values)), None, 0
    else:
        offset = (page - 1) * per_page
    # Counted up to a limit past the page, as the list pages are (tracker.pagination).
    limit = count_window(offset, per_page)
    total = count_upto(db.session.connection(), count_stmt, limit)
    # The page's ids first (an index can often answer that alone), then those rows: PostgreSQL
    # otherwise walked another index fetching 55k whole rows to find 50 overdue ones.
    entity = stmt.column_descriptions[0]["entity"]
    # Past MAX_ID rows there is nothing, and a larger OFFSET overflows the database's integer.
    heads = (db.session.execute(stmt.with_only_columns(entity.id, *(k for k, _ in keys))
                                .limit(per_page).offset(offset)).all()
             if offset < MAX_ID else [])
    ids = [head[0] for head in heads]
    if not ids:
        found = {}
    elif rows is not None:
        found = rows(ids)
    else:
        by_ids = _BY_IDS.get(entity) if not options else None
        if by_ids is None:
            by_ids = (sa.select(entity).where(entity.id.in_(sa.bindparam("ids", expanding=True)))
                      .options(*options))
            if not options:
                _BY_IDS[entity] = by_ids
        found = {r.id: r for r in db.session.scalars(by_ids, {"ids": ids})}
    items = [serialise(found[i]) for i in ids if i in found]
    following = keyset.encode(_cursor_list(), heads[-1][1:]) if len(heads) == per_page else None
    return schemas.page_json(items, min(total, limit), page, per_page, exact=total <= limit,
                             next_cursor=following)


def created(body: dict):
    """Commit the request's one transaction and answer 201 with the new object."""
    db.session.commit()
    return body, 201

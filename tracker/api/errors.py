"""One JSON error shape for the whole API: {"error": code, "message": text, "fields": {…}}."""

from __future__ import annotations

from flask import current_app, jsonify, request
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from tracker.errors import ServiceError
from tracker.extensions import db
from tracker.i18n import gettext as _
from tracker.i18n import lazy_gettext as _l

API_PREFIX = "/api/"

# Our codes for HTTP errors raised by Flask, Werkzeug and Flask-Limiter.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    500: "server_error",
}
HTTP_MESSAGES = {
    400: _l("The request could not be understood."),
    401: _l("A valid API token is required (Authorization: Bearer <token>)."),
    403: _l("You may not do this."),
    404: _l("Not found, or outside your scope."),
    405: _l("This address does not accept this method."),
    413: _l("The request body is too large."),
    415: _l("Send the body as JSON (Content-Type: application/json)."),
    429: _l("Too many requests; slow down and try again later."),
    500: _l("Something went wrong on our side. The error has been logged."),
}
STALE_MESSAGE = _l("Someone else changed this item after you opened it. Reload it and try again.")


def is_api_request() -> bool:
    """True for every request under /api/, whether or not a route matched."""
    return request.path.startswith(API_PREFIX)


def error_response(status: int, code: str, message, fields: dict | None = None, headers=None):
    """The API's error body with `status`; field messages are lists of strings."""
    body = {
        "error": code,
        "message": str(message),
        "fields": {name: [str(m) for m in (msgs if isinstance(msgs, list | tuple) else [msgs])]
                   for name, msgs in (fields or {}).items()},
    }
    response = jsonify(body)
    response.status_code = status
    for name, value in headers or ():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


def from_exception(exc: BaseException, aliases: dict | None = None):
    """Any exception as the API's error response (rolling back what the request changed)."""
    if isinstance(exc, ServiceError):
        db.session.rollback()
        fields = {(aliases or {}).get(k, k): v for k, v in exc.fields.items()}
        return error_response(exc.status, exc.code, exc.message, fields)
    if isinstance(exc, StaleDataError):
        db.session.rollback()
        return error_response(409, "stale_version", STALE_MESSAGE)
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        message = HTTP_MESSAGES.get(status)
        if status == 429:
            message = f"{_('Too many requests; slow down and try again later.')} ({exc.description})"
        return error_response(status, HTTP_CODES.get(status, "error"), message or exc.description,
                              headers=exc.get_headers())
    db.session.rollback()
    current_app.logger.exception("API error", exc_info=exc)
    return error_response(500, "server_error", HTTP_MESSAGES[500])


class ApiError(ServiceError):
    """An error the API itself raises about the request (not a business rule): status and code given."""

    def __init__(self, status: int, code: str, message, fields: dict | None = None):
        super().__init__(message, fields)
        self.status = status
        self.code = code

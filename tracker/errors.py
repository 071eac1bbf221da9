"""Typed errors raised by services; views and the API map them to messages and statuses."""

from __future__ import annotations


class ServiceError(Exception):
    """Base for rule violations; `message` is already translated (lazy string)."""

    status = 400
    code = "bad_request"

    def __init__(self, message, fields: dict | None = None):
        super().__init__(str(message))
        self.message = message
        self.fields = fields or {}


class PermissionDenied(ServiceError):
    status = 403
    code = "forbidden"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class InvalidTransition(ServiceError):
    status = 409
    code = "invalid_transition"


class StaleVersion(ServiceError):
    status = 409
    code = "stale_version"


class ValidationFailed(ServiceError):
    status = 422
    code = "validation_failed"

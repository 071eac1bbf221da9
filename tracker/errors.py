"""Typed errors raised by services; views and the API map them to messages and statuses."""

from __future__ import annotations


class ServiceError(Exception):
    """Base for rule violations; `message` is already translated (lazy string)."""

    status = 400
    code = "bad_request"

    def __init__(self, message, fields: dict | None = None):
        # Kept lazy: translating picks the user's language, which may load the user, and a service
        # raising out of a failed flush (a lost race) has a session that cannot run a query until the
        # caller rolls back. The message is rendered after that, by the view or the API.
        super().__init__(message)
        self.message = message
        self.fields = fields or {}

    def __str__(self) -> str:
        return str(self.message)


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

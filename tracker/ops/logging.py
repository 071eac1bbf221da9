"""Structured logs: one line per record (text or JSON), a request id, and an access log line per request.

`LOG_FORMAT=json` writes one JSON object per line with time, level, logger, message and, inside a
request, request_id, method, path and user_id; access lines add status and duration_ms. The
request id comes from the `X-Request-ID` header (a proxy's) or is generated, and is echoed in
the response, so one id follows a request through the proxy, the app and the client's report.
Standard library only; the handler writes to stderr, where gunicorn and systemd collect it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask, g, has_request_context, request

access_log = logging.getLogger("tracker.access")
# A caller's id is echoed into headers and logs: keep it short and plain.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_TOKEN_ARG = re.compile(r"([?&]token=)[^&]*")
CONTEXT_FIELDS = ("request_id", "method", "path", "user_id")
ACCESS_FIELDS = ("status", "duration_ms")


class RequestContextFilter(logging.Filter):
    """Stamps every record with the current request's id, method, path and user (or None)."""

    def filter(self, record: logging.LogRecord) -> bool:
        inside = has_request_context()
        values = {
            "request_id": g.get("request_id") if inside else None,
            "method": request.method if inside else None,
            "path": request.path if inside else None,
            "user_id": _user_id() if inside else None,
        }
        for name, value in values.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, keys in a fixed order, UTF-8 kept readable."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS + ACCESS_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """A readable line: time, level, logger, [request id] message."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(rid)s%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        record.rid = f"[{rid}] " if rid else ""
        return super().format(record)


class _StderrHandler(logging.StreamHandler):
    """Looks sys.stderr up at every record, so a replaced stderr (tests, daemons) is honoured."""

    def __init__(self, stream=None):
        super().__init__(stream)
        self._fixed = stream

    @property
    def stream(self):
        return self._fixed or sys.stderr

    @stream.setter
    def stream(self, value):
        self._fixed = value


def configure(fmt: str = "text", level: str = "INFO", stream=None) -> logging.Handler | None:
    """Install (or replace) the app's handler on the root logger; `fmt` "none" leaves logging alone."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "tracker_ops", False)]:
        root.removeHandler(old)
    if fmt == "none":
        return None
    handler = _StderrHandler(stream)
    handler.tracker_ops = True
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RequestContextFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # urllib3 logs each request line at DEBUG, query included: a robot's key or token would reach the
    # log under LOG_LEVEL=DEBUG.
    logging.getLogger("urllib3.connectionpool").setLevel(max(root.level, logging.INFO))
    return handler


def _user_id():
    """The id of the user Flask-Login already loaded, read from its identity key: never a query, and
    safe after the request's session has ended (a server logs while it writes a streamed body)."""
    state = sa.inspect(g.get("_login_user"), raiseerr=False)
    identity = state.identity if state is not None else None
    return identity[0] if identity else None


def _begin_request() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _logged_path() -> str:
    """The path and query, with the value of a `token` argument (/healthz?token=…) masked."""
    return _TOKEN_ARG.sub(r"\1***", request.full_path.rstrip("?"))


def _log_request(response):
    started = g.get("request_started")
    duration = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    if g.get("request_id"):
        response.headers["X-Request-ID"] = g.request_id
    access_log.info("%s %s %s", request.method, _logged_path(), response.status_code,
                    extra={"status": response.status_code, "duration_ms": duration})
    return response


def init_app(app: Flask) -> None:
    """Request ids and access lines always; the root handler outside tests (LOG_FORMAT, LOG_LEVEL)."""
    app.before_request(_begin_request)
    app.after_request(_log_request)
    if not app.testing:
        configure(str(app.config.get("LOG_FORMAT", "text")).lower(), str(app.config.get("LOG_LEVEL", "INFO")))

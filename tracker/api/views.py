"""The JSON API v1 (DESIGN §4): the blueprint with every route, the OpenAPI document and its docs page.

The routes live by subject in units, problems, tasks, reports, notices, review and channels; importing
them here registers them on the one blueprint that tracker.web mounts at /api/v1.
"""

from __future__ import annotations

from flask import jsonify, render_template

from tracker.api import channels as _channels  # noqa: F401  (registers routes)
from tracker.api import notices as _notices  # noqa: F401
from tracker.api import openapi
from tracker.api import problems as _problems  # noqa: F401
from tracker.api import reports as _reports  # noqa: F401
from tracker.api import review as _review  # noqa: F401
from tracker.api import tasks as _tasks  # noqa: F401
from tracker.api import units as _units  # noqa: F401
from tracker.api.base import bp

__all__ = ["bp"]


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3 document of this API (no token needed)."""
    return jsonify(openapi.spec())


@bp.get("/docs")
def docs():
    """The same document as a readable page, rendered here (no external scripts)."""
    spec = openapi.spec()
    schemas = openapi.doc_schemas(spec)
    return render_template("api/docs.html", spec=spec, operations=openapi.doc_operations(spec),
                           schemas=schemas, schema_names={s["name"] for s in schemas})

"""Property-based tests of the API against its own OpenAPI document (schemathesis, WSGI, no server).

For every operation, generated requests (valid and invalid) on a seeded database must never get
a 5xx, and every answer must conform to the document: status code, content type and body schema.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import schemathesis
from conftest import TODAY
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tracker.api import openapi
from tracker.auth import tokens
from tracker.extensions import db
from tracker.tasks import services

EXAMPLES = 20  # per operation, role and backend: under a minute per backend
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(params=["mgr_a", "admin"])
def seeded(request, org, make, clock):
    """A few problems and measures in several states, and a token of a manager or of the administrator."""
    problem = make.problem(org.mgr_a, org.a)
    tasks = [make.task(org.mgr_a, problem, owner=org.staff_a) for _ in range(3)]
    services.post_progress(tasks[0], org.staff_a, clock, body="进展")
    services.submit(tasks[1], org.staff_a, clock, result="已完成")
    services.request_extension(tasks[2], org.staff_a, clock, new_deadline=TODAY + timedelta(days=60),
                               reason="协调")
    make.task(org.mgr_b, make.problem(org.mgr_b, org.b), owner=org.staff_b)
    _, raw = tokens.create_token(org.users[request.param], clock, name="fuzz")
    db.session.commit()
    return raw


# The document itself (the same dict /api/v1/openapi.json serves); the app is given per call, so each
# backend's app fixture answers. (schemathesis.pytest.from_fixture does not work with pytest 9.)
schema = schemathesis.openapi.from_dict(openapi.spec())


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_api_conforms_to_its_document(case, app, seeded):
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {seeded}"}, checks=CHECKS)

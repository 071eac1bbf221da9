"""The OpenAPI 3 document of the API, built from the field declarations in tracker.api.schemas.

Every operation is listed once in OPERATIONS; tests check that it matches the routes, that every
serialiser emits exactly its schema's fields, and (schemathesis) that every answer conforms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracker.api import channels as ch
from tracker.api import schemas as s

TITLE = "Rectification Tracker API"
VERSION = "1.0.0"

ERROR_RESPONSES = {
    "400": ("BadRequest", "The body is not valid JSON, or not a JSON object."),
    "401": ("Unauthorized", "No token, or an unknown or revoked one, or its user is deactivated."),
    "403": ("Forbidden", "Your role may not do this (e.g. staff creating a problem, non-admins and /users)."),
    "404": ("NotFound", "No such object, or it is outside your scope (the two are not told apart)."),
    "409": ("Conflict", "`stale_version`: someone changed it since you read it; `invalid_transition`: "
                        "not possible in the object's current state."),
    "413": ("TooLarge", f"The body is larger than {s.MAX_BODY // 1024} KiB."),
    "415": ("UnsupportedMediaType", "The body is not sent as application/json (or, where files are "
                                    "taken, multipart/form-data)."),
    "422": ("ValidationFailed", "Some fields or query parameters are wrong; `fields` names each one."),
    "429": ("TooManyRequests", "Rate limit reached; see the Retry-After header."),
}
READ_ERRORS = ("401", "422", "429")
WRITE_ERRORS = ("400", "401", "403", "413", "415", "422", "429")


@dataclass
class Op:
    """One operation: where, what goes in, what comes out."""

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    query: dict = field(default_factory=dict)
    body: str | None = None
    response: str | None = None  # a component schema name
    status: str = "200"
    errors: tuple = READ_ERRORS
    description: str = ""
    public: bool = False
    files: bool = False  # also takes multipart/form-data: the body's fields as parts, files under `files`


LIST = {**s.PAGING}
OPERATIONS = [
    Op("get", "/units", "listUnits", "List units", "Organisation", LIST, response="UnitPage",
       description="Units you may read: your unit's subtree (administrators: every unit), in tree order."),
    Op("post", "/units", "createUnit", "Create a unit", "Organisation", body="UnitCreate", response="Unit",
       status="201", errors=WRITE_ERRORS, description="Administrators only (others: 403)."),
    Op("get", "/units/{unit_id}/review-chain", "getReviewChain", "A unit's review chain (多级审核)",
       "Organisation", response="ReviewChain", errors=("401", "404", "429"),
       description="The steps a submission of the unit's measures passes: the unit's own chain, else the "
                   "nearest unit above with one, else the default single step."),
    Op("put", "/units/{unit_id}/review-chain", "setReviewChain", "Set a unit's review chain", "Organisation",
       body="ReviewChainSet", response="ReviewChain", errors=(*WRITE_ERRORS, "404"),
       description="Managers of the unit or a unit above it, and administrators. Submissions already under "
                   "review keep their chain; the next submission takes the new one."),
    Op("get", "/users", "listUsers", "List users", "Organisation", LIST, response="UserPage",
       errors=("401", "403", "422", "429"), description="Administrators only (others: 403)."),
    Op("post", "/users", "createUser", "Create a user", "Organisation", body="UserCreate", response="User",
       status="201", errors=WRITE_ERRORS, description="Administrators only (others: 403)."),
    Op("get", "/sources", "listSources", "List problem sources", "Problems", LIST, response="SourcePage",
       description="Sources of your subtree and those your problems came from; newest first."),
    Op("post", "/sources", "createSource", "Create a problem source", "Problems", body="SourceCreate",
       response="Source", status="201", errors=WRITE_ERRORS, description="Managers and administrators."),
    Op("get", "/problems", "listProblems", "List problems", "Problems",
       {**s.PROBLEM_FILTERS, **s.PAGING}, response="ProblemPage"),
    Op("post", "/problems", "createProblem", "Create a problem", "Problems", body="ProblemCreate",
       response="Problem", status="201", errors=WRITE_ERRORS,
       description="Managers of the unit where it was found. Add its measures with POST /tasks."),
    Op("get", "/problems/{problem_id}", "getProblem", "Get a problem", "Problems", response="Problem",
       errors=("401", "404", "429")),
    Op("patch", "/problems/{problem_id}", "updateProblem", "Update a problem", "Problems",
       body="ProblemUpdate", response="Problem", errors=(*WRITE_ERRORS, "404", "409"),
       description="Send only the fields to change, with the `version` you read."),
    Op("get", "/tasks", "listTasks", "List measures", "Measures", {**s.TASK_FILTERS, **s.PAGING},
       response="TaskPage", description="The rectification list in your scope; `total` counts every match."),
    Op("post", "/tasks", "createTask", "Create a measure", "Measures", body="TaskCreate", response="Task",
       status="201", errors=WRITE_ERRORS, description="Managers of the problem's unit; the owner is told."),
    Op("get", "/tasks/{task_id}", "getTask", "Get a measure", "Measures", response="Task",
       errors=("401", "404", "429")),
    Op("patch", "/tasks/{task_id}", "updateTask", "Update a measure", "Measures", body="TaskUpdate",
       response="Task", errors=(*WRITE_ERRORS, "404", "409"),
       description="Managers. measure/target/type edit it; owner_id/unit_id reassign it; deadline moves "
                   "the deadline (give a `comment`). `version` is required; a stale one changes nothing."),
    Op("post", "/tasks/{task_id}/transitions", "transitionTask", "Change a measure's state", "Measures",
       body="Transition", response="Task", errors=(*WRITE_ERRORS, "404", "409"),
       description="start, submit (owner or manager; `result` required), verify (a reviewer of the last step "
                   "who did not submit it; `rating` optional, unsatisfied returns it), reject and cancel "
                   "(`comment` required); in a review chain, pass (to the next step) and return (`to_step`, "
                   "`comment`). One person decides at most one step of a submission."),
    Op("post", "/tasks/{task_id}/acknowledge", "acknowledgeTask", "Sign for a measure (签收)", "Measures",
       body="Acknowledge", response="Task", errors=(*WRITE_ERRORS, "404", "409"),
       description="The owner only, once per assignment; send `{}` or the `version` you saw."),
    Op("post", "/tasks/{task_id}/progress", "postProgress", "Post progress", "Measures",
       body="ProgressCreate", response="Progress", status="201", errors=(*WRITE_ERRORS, "404", "409"),
       files=True,
       description="The owner or a manager; the first note starts an assigned measure. Evidence files: "
                   "send multipart/form-data with `body` and one `files` part per file."),
    Op("post", "/tasks/{task_id}/extensions", "requestExtension", "Request an extension", "Measures",
       body="ExtensionCreate", response="Extension", status="201", errors=(*WRITE_ERRORS, "404", "409")),
    Op("get", "/tasks/{task_id}/periods", "listPeriods", "Periods of an ongoing measure (阶段性销号)",
       "Measures", response="PeriodRowPage", errors=("401", "404", "429"),
       description="Every period from the one of assignment to the current one, oldest first, with its "
                   "result (the live one, else the last returned one) and whether it was missed."),
    Op("post", "/tasks/{task_id}/periods", "submitPeriod", "Submit a period's result", "Measures",
       body="PeriodCreate", response="Period", status="201", errors=(*WRITE_ERRORS, "404", "409"), files=True,
       description="The owner or a manager of an ongoing measure with a period; the measure stays open. "
                   "Evidence files: multipart/form-data with `result` and `files` parts."),
    Op("post", "/periods/{period_id}/decision", "decidePeriod", "Verify or return a period's result",
       "Measures", body="Decision", response="Period", errors=(*WRITE_ERRORS, "404", "409"),
       description="A manager of the measure's unit who did not submit it; returning needs a comment."),
    Op("get", "/tasks/{task_id}/reviews", "listRechecks", "Re-checks of a measure (回头看)", "Measures",
       response="RecheckPage", errors=("401", "404", "429")),
    Op("post", "/tasks/{task_id}/reviews", "scheduleRecheck", "Schedule a re-check", "Measures",
       body="RecheckCreate", response="Recheck", status="201", errors=(*WRITE_ERRORS, "404", "409"),
       description="Managers of a closed measure's unit; one re-check waits per closure."),
    Op("post", "/reviews/{recheck_id}/result", "recordRecheck", "Record a re-check", "Measures",
       body="RecheckResult", response="Recheck", errors=(*WRITE_ERRORS, "404", "409"), files=True,
       description="The named reviewer: consolidated, or rebounded (reopens the measure as a new round "
                   "with `new_deadline`; `note` required)."),
    Op("post", "/extensions/{extension_id}/decision", "decideExtension", "Decide an extension request",
       "Measures", body="Decision", response="Extension", errors=(*WRITE_ERRORS, "404", "409"),
       description="Managers of the measure's unit; approving moves the deadline, rejecting needs "
                   "a comment."),
    Op("get", "/notices", "listNotices", "List notices (提醒函 / 督办单)", "Notices",
       {**s.NOTICE_FILTERS, **s.PAGING}, response="NoticePage",
       description="Notices you may read: sent to you, issued by you, or of your subtree (viewers and "
                   "managers); newest first."),
    Op("post", "/notices", "issueNotice", "Issue a notice", "Notices", body="NoticeCreate", response="Notice",
       status="201", errors=WRITE_ERRORS,
       description="Managers, for measures of their subtree (others answer like a missing measure). "
                   "Numbered per issuing unit, year and kind; sent to every recipient through the outbox."),
    Op("get", "/notices/{notice_id}", "getNotice", "Get a notice", "Notices", dict(s.NOTICE_GET),
       response="Notice", errors=("401", "404", "422", "429"),
       description="`format=docx` downloads the document (official-document layout)."),
    Op("post", "/notices/{notice_id}/acknowledge", "acknowledgeNotice", "Sign for a notice (签收)", "Notices",
       body="NoticeAcknowledge", response="Notice", errors=(*WRITE_ERRORS, "404", "409"),
       description="A recipient who has not signed for it yet; send `{}`."),
    Op("post", "/notices/{notice_id}/replies", "replyToNotice", "Reply to a notice", "Notices",
       body="NoticeReplyCreate", response="NoticeReply", status="201", errors=(*WRITE_ERRORS, "404", "409"),
       files=True,
       description="The responsible persons and the managers of the addressed unit. Files: send "
                   "multipart/form-data with `body` and one `files` part per file."),
    Op("get", "/reports/rectification", "rectificationReport", "Rectification section of a report",
       "Reports", dict(s.REPORT_PARAMS), response="RectificationReport",
       errors=("401", "404", "422", "429"),
       description="Figures and items for a unit's subtree and a period; `format=md|docx` downloads "
                   "the text."),
    Op("get", "/units/{unit_id}/channels", "listChannels", "A unit's channels (推送渠道)", "Channels", LIST,
       response="ChannelPage", errors=("401", "403", "404", "422", "429"),
       description="The unit's own group robots and webhooks, by name. Administrators and the managers of "
                   "the unit or a unit above it (staff and viewers: 403)."),
    Op("post", "/units/{unit_id}/channels", "createChannel", "Add a channel to a unit", "Channels",
       body="ChannelCreate", response="Channel", status="201", errors=(*WRITE_ERRORS, "404"),
       description="Administrators and the managers of the unit or above. The address must be the robot's "
                   "own (or a host in CHANNEL_ALLOWED_HOSTS; a webhook: a public address); 钉钉, 飞书 and "
                   "webhooks need a secret. The address and secret are never answered again."),
    Op("get", "/channels/{channel_id}", "getChannel", "Get a channel", "Channels", response="Channel",
       errors=("401", "403", "404", "429")),
    Op("patch", "/channels/{channel_id}", "updateChannel", "Update a channel", "Channels",
       body="ChannelUpdate", response="Channel", errors=(*WRITE_ERRORS, "404", "409"),
       description="Send only the fields to change, with the `version` you read; a stale one changes "
                   "nothing. A url or secret left out (or empty) keeps the saved one."),
    Op("delete", "/channels/{channel_id}", "deleteChannel", "Delete a channel", "Channels", status="204",
       errors=("401", "403", "404", "409", "429"),
       description="Its messages still waiting in the outbox are deleted with it."),
    Op("post", "/channels/{channel_id}/test", "testChannel", "Send a test message", "Channels",
       response="ChannelTest", errors=("401", "403", "404", "429"),
       description="Posts a test message at once (not through the outbox) and answers with the robot's "
                   "answer; it counts in the channel's rate limit. No body."),
    Op("get", "/openapi.json", "openapi", "This document", "About", public=True, errors=()),
    Op("get", "/docs", "docs", "This document as a web page", "About", public=True, errors=()),
]


# --- fields → JSON Schema ------------------------------------------------------------------------


def field_schema(f: s.F) -> dict:
    """JSON Schema (OpenAPI 3.0 dialect) of one declared field."""
    if f.type == "string":
        out = {"type": "string", "maxLength": f.max_length or s.MAX_TEXT}
    elif f.type == "id":
        out = {"type": "integer", "minimum": 1, "maximum": s.MAX_ID}
    elif f.type == "integer":
        out = {"type": "integer", "minimum": -s.MAX_ID, "maximum": s.MAX_ID}
    elif f.type == "boolean":
        out = {"type": "boolean"}
    elif f.type == "date":
        out = {"type": "string", "format": "date"}
    elif f.type == "datetime":
        out = {"type": "string", "format": "date-time"}
    elif f.type == "enum":
        out = {"type": "string", "enum": list(f.values)}
    elif f.type == "objects":  # an array of a component schema, named in `values`
        out = {"type": "array", "items": {"$ref": f"#/components/schemas/{f.values[0]}"}}
    elif f.type == "strings":
        out = {"type": "array", "items": {"type": "string"}}
    else:  # ids
        out = {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": s.MAX_ID},
               "maxItems": 200}
    if f.nullable:
        out["nullable"] = True
        if "enum" in out and None not in out["enum"]:
            out["enum"].append(None)
    if f.description:
        out["description"] = f.description
    return out


def object_schema(fields: dict, *, response: bool, description: str = "") -> dict:
    """An object of declared fields: responses always carry every field; requests name their required."""
    required = list(fields) if response else [n for n, f in fields.items() if f.required]
    out = {"type": "object", "properties": {n: field_schema(f) for n, f in fields.items()},
           "additionalProperties": False}
    if required:
        out["required"] = required
    if description:
        out["description"] = description
    return out


def query_schema(q: s.Q) -> dict:
    if q.type in ("integer", "id"):
        return {"type": "integer", "minimum": q.minimum, "maximum": q.maximum}
    if q.type == "boolean":
        return {"type": "boolean"}
    if q.type == "date":
        return {"type": "string", "format": "date"}
    if q.type == "enum":
        return {"type": "string", "enum": list(q.values)}
    return {"type": "string", "maxLength": q.max_length}


def page_schema(item: str) -> dict:
    return {
        "type": "object", "additionalProperties": False, "required": ["items", "total", "page", "per_page"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "total": {"type": "integer", "minimum": 0,
                      "description": "Every match, not only this page, while `total_exact` is true; else a "
                                     "lower bound (matches are counted up to LIST_COUNT_LIMIT past the "
                                     "page and ten pages ahead, so a long list stays fast)."},
            "total_exact": {"type": "boolean", "description": "False when `total` is a lower bound."},
            "page": {"type": "integer", "minimum": 1, "nullable": True,
                     "description": "The page's number; null for a page asked for by `cursor`."},
            "per_page": {"type": "integer", "minimum": 1, "maximum": s.MAX_PER_PAGE},
            "next_cursor": {"type": "string", "nullable": True,
                            "description": "Pass as `cursor` for the next page; null on the last page."},
        },
    }


def _obj(props: dict, description: str = "") -> dict:
    out = {"type": "object", "additionalProperties": False, "required": list(props), "properties": props}
    if description:
        out["description"] = description
    return out


INT = {"type": "integer", "minimum": 0}
STR = {"type": "string"}
DATE = {"type": "string", "format": "date"}
NULL_DATE = {"type": "string", "format": "date", "nullable": True}
RATE = {"type": "number", "nullable": True, "description": "Percentage, one decimal; null when undefined."}
BREAKDOWN = _obj({"key": STR, "label": STR, "problems": INT, "measures": INT, "closed": INT})
REPORT = _obj({
    "unit": _obj({"id": INT, "code": STR, "name": STR}),
    "from": DATE, "to": DATE, "as_of": DATE,
    "problems": INT, "problems_closed": INT, "measures": INT, "closed": INT, "closure_rate": RATE,
    "closed_on_time": INT, "on_time_rate": RATE, "in_progress": INT, "overdue": INT, "extensions": INT,
    "notices": _obj({"reminder": INT, "supervision": INT, "measures": INT, "due": INT, "replied_on_time": INT,
                     "reply_on_time_rate": RATE}),
    "acknowledgement": _obj({"asked": INT, "acknowledged": INT, "rate": RATE,
                             "median_hours": {"type": "number", "nullable": True, "minimum": 0}}),
    "periods": _obj({"measures": INT, "closed": INT, "missed": INT},
                    "阶段性销号: ongoing measures with a period, period results verified, periods missed."),
    "rechecks": _obj({"consolidated": INT, "rebounded": INT}, "回头看 recorded in the period."),
    "ratings": _obj({"satisfied": INT, "basic": INT, "unsatisfied": INT, "satisfaction_rate": RATE},
                    "整改成效评价 given in the period; the rate counts satisfied and basically satisfied."),
    "by_source": {"type": "array", "items": BREAKDOWN},
    "by_category": {"type": "array", "items": BREAKDOWN},
    "closed_items": {"type": "array", "items": _obj({
        "problem_id": INT, "problem_number": STR, "problem_description": STR, "task_id": INT, "measure": STR,
        "result": {"type": "string", "nullable": True}, "unit": STR, "closed_on": DATE, "deadline": NULL_DATE,
        "on_time": {"type": "boolean"}})},
    "open_items": {"type": "array", "items": _obj({
        "problem_id": INT, "problem_number": STR, "problem_description": STR, "task_id": INT, "measure": STR,
        "owner": STR, "unit": STR, "state": STR, "deadline": NULL_DATE, "overdue_days": INT})},
}, "The rectification section's figures (definitions in the report page) and its closed and open items.")
ERROR = {
    "type": "object", "additionalProperties": False, "required": ["error", "message", "fields"],
    "properties": {
        "error": {"type": "string", "description": "A stable code, e.g. validation_failed, stale_version."},
        "message": {"type": "string", "description": "In the token owner's language."},
        "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                   "description": "Field or parameter name → messages (empty unless 422)."},
    },
}

RESOURCES = {
    "Unit": (s.UNIT, "单位/部门"), "User": (s.USER, "用户"), "Source": (s.SOURCE, "问题来源"),
    "Problem": (s.PROBLEM, "问题 with its responsibility fields (责任清单)"),
    "Task": (s.TASK, "整改措施: one rectification measure"), "Progress": (s.PROGRESS, "整改进展"),
    "Extension": (s.EXTENSION, "延期申请"),
    "Notice": (s.NOTICE, "提醒函 / 督办单: a numbered supervision document about listed measures"),
    "NoticeRecipient": (s.NOTICE_RECIPIENT, "A recipient of a notice and their 签收"),
    "NoticeReply": (s.NOTICE_REPLY, "A reply (反馈) to a notice and the issuer's decision"),
    "ReviewStep": (s.REVIEW_STEP, "One step of a review chain"),
    "Period": (s.PERIOD, "阶段性销号: one period's result of an ongoing measure and its verification"),
    "PeriodRow": (s.PERIOD_ROW, "One period of an ongoing measure"),
    "Recheck": (s.RECHECK, "回头看: a re-check of a closed measure and its finding"),
    "ReviewChain": (s.REVIEW_CHAIN, "多级审核: the chain of verification steps that applies to a unit"),
    "Channel": (ch.CHANNEL, "推送渠道: a unit's group robot (企业微信, 钉钉, 飞书) or JSON webhook; its "
                            "address and secret are write-only"),
    "ChannelTest": (ch.CHANNEL_TEST, "The answer to a test message"),
}
REQUESTS = {
    "UnitCreate": s.UNIT_CREATE, "UserCreate": s.USER_CREATE, "SourceCreate": s.SOURCE_CREATE,
    "ProblemCreate": s.PROBLEM_CREATE, "ProblemUpdate": s.PROBLEM_UPDATE, "TaskCreate": s.TASK_CREATE,
    "TaskUpdate": s.TASK_UPDATE, "Transition": s.TRANSITION, "Acknowledge": s.ACKNOWLEDGE,
    "ProgressCreate": s.PROGRESS_CREATE, "ExtensionCreate": s.EXTENSION_CREATE, "Decision": s.DECISION,
    "NoticeCreate": s.NOTICE_CREATE, "NoticeAcknowledge": s.NOTICE_ACKNOWLEDGE,
    "NoticeReplyCreate": s.NOTICE_REPLY_CREATE, "ReviewStepInput": s.REVIEW_STEP_INPUT,
    "ReviewChainSet": s.REVIEW_CHAIN_PUT, "PeriodCreate": s.PERIOD_CREATE, "RecheckCreate": s.RECHECK_CREATE,
    "RecheckResult": s.RECHECK_RESULT, "ChannelCreate": ch.CHANNEL_CREATE, "ChannelUpdate": ch.CHANNEL_UPDATE,
}
# Request fields that no answer carries (OpenAPI writeOnly).
WRITE_ONLY = {"ChannelCreate": ch.WRITE_ONLY, "ChannelUpdate": ch.WRITE_ONLY}
PAGES = ("Unit", "User", "Source", "Problem", "Task", "Notice", "PeriodRow", "Recheck", "Channel")


def components() -> dict:
    schemas = {name: object_schema(fields, response=True, description=desc)
               for name, (fields, desc) in RESOURCES.items()}
    schemas.update({f"{name}Page": page_schema(name) for name in PAGES})
    schemas.update({name: object_schema(fields, response=False) for name, fields in REQUESTS.items()})
    for name, fields in WRITE_ONLY.items():
        for field_name in fields:
            schemas[name]["properties"][field_name]["writeOnly"] = True
    schemas["RectificationReport"] = REPORT
    schemas["Error"] = ERROR
    json_error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {
        "schemas": schemas,
        "responses": {name: {"description": text, "content": json_error}
                      for name, text in ERROR_RESPONSES.values()},
        "securitySchemes": {"bearerAuth": {
            "type": "http", "scheme": "bearer",
            "description": "A personal token (rt_…) from your profile page or `flask create-token USER`.",
        }},
    }


# --- operations ---------------------------------------------------------------------------------


def _parameters(op: Op) -> list:
    params = []
    for name in op.path.split("{")[1:]:
        name = name.split("}")[0]
        params.append({"name": name, "in": "path", "required": True,
                       "schema": {"type": "integer", "minimum": 1, "maximum": s.MAX_ID}})
    for name, q in op.query.items():
        param = {"name": name, "in": "query", "required": False, "schema": query_schema(q)}
        if q.description:
            param["description"] = q.description
        params.append(param)
    return params


def _success(op: Op) -> dict:
    if op.operation_id == "openapi":
        return {"description": "The OpenAPI document.", "content": {"application/json": {"schema": {
            "type": "object"}}}}
    if op.operation_id == "docs":
        return {"description": "HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}}
    if op.response is None:
        return {"description": "Done; no body."}
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{op.response}"}}}
    if op.operation_id == "rectificationReport":
        content["text/markdown"] = {"schema": {"type": "string"}}
    if op.operation_id in ("rectificationReport", "getNotice"):
        content["application/vnd.openxmlformats-officedocument.wordprocessingml.document"] = {
            "schema": {"type": "string", "format": "binary"}}
    return {"description": "Created." if op.status == "201" else "OK.", "content": content}


def operation(op: Op) -> dict:
    out = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
           "responses": {op.status: _success(op)}}
    if op.description:
        out["description"] = op.description
    params = _parameters(op)
    if params:
        out["parameters"] = params
    if op.body:
        out["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{op.body}"}}}}
    if op.files:
        form = object_schema(REQUESTS[op.body], response=False)
        form["properties"]["files"] = {
            "type": "array", "items": {"type": "string", "format": "binary"},
            "description": "Evidence files (size and type limits as on the web page)."}
        out["requestBody"]["content"]["multipart/form-data"] = {"schema": form}
    for status in sorted(op.errors):
        out["responses"][status] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}
    if op.public:
        out["security"] = []
    return out


def spec() -> dict:
    """The whole OpenAPI 3.0 document."""
    paths: dict = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = operation(op)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": TITLE, "version": VERSION,
            "description": "JSON API of the Rectification Tracker (整改台账). Authenticate with "
                           "`Authorization: Bearer <token>`. Every result is limited to your scope; an "
                           "object outside it answers 404. Errors are always "
                           "`{\"error\", \"message\", \"fields\"}`. Dates are ISO 8601 (2026-03-31).",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": t} for t in dict.fromkeys(op.tag for op in OPERATIONS)],
        "paths": paths,
        "components": components(),
    }


# --- the docs page ------------------------------------------------------------------------------


def type_text(schema: dict) -> str:
    """A short readable type: "integer", "string (date)", "Task", "array of integer", "… or null"."""
    if "$ref" in schema:
        text = schema["$ref"].rsplit("/", 1)[-1]
    elif schema.get("type") == "array":
        text = f"array of {type_text(schema.get('items', {}))}"
    elif "enum" in schema:
        text = " | ".join(str(v) for v in schema["enum"] if v is not None)
    else:
        text = schema.get("type", "object")
        if "format" in schema:
            text += f" ({schema['format']})"
    if schema.get("nullable"):
        text += " | null"
    return text


def doc_operations(doc: dict) -> list[dict]:
    """Operations in document order, each with its parameters and responses flattened for a template."""
    out = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            responses = []
            for status, resp in op["responses"].items():
                if "$ref" in resp:
                    name = resp["$ref"].rsplit("/", 1)[-1]
                    responses.append((status, "Error", doc["components"]["responses"][name]["description"]))
                else:
                    kinds = ", ".join(type_text(c.get("schema", {})) if t == "application/json" else t
                                      for t, c in resp.get("content", {}).items())
                    responses.append((status, kinds, resp["description"]))
            out.append({
                "method": method.upper(), "path": "/api/v1" + path, "id": op["operationId"],
                "summary": op["summary"], "description": op.get("description", ""), "tag": op["tags"][0],
                "public": op.get("security") == [],
                "parameters": [(p["name"], p["in"], type_text(p["schema"]), p.get("description", ""))
                               for p in op.get("parameters", [])],
                "body": type_text(body) if body else None,
                "responses": responses,
            })
    return out


def doc_schemas(doc: dict) -> list[dict]:
    """Component schemas with their properties: name, type, required, description."""
    out = []
    for name, schema in doc["components"]["schemas"].items():
        required = set(schema.get("required", []))
        props = [(p, type_text(ps), p in required, ps.get("description", ""))
                 for p, ps in schema.get("properties", {}).items()]
        out.append({"name": name, "description": schema.get("description", ""), "properties": props})
    return out

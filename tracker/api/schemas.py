"""The API's data shapes, declared once: request bodies are checked with them, the OpenAPI
document (tracker.api.openapi) is generated from them, and the serialisers emit exactly their fields.

Only the *shape* of input is checked here (types, lengths, formats, ranges); the rules stay in
the services.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask import request

from tracker.api.errors import ApiError
from tracker.enums import ExtensionState, Light, ProblemState, Role, SourceKind, TaskState, TaskType
from tracker.errors import ValidationFailed
from tracker.extensions import MAX_ID, db
from tracker.i18n import lazy_gettext as _l
from tracker.problems import queries as problem_queries
from tracker.tasks import queries as task_queries
from tracker.tasks.models import Evidence

MAX_TEXT = 5000
MAX_PAGE = 2**31 - 1
MAX_PER_PAGE = 200
MIN_YEAR, MAX_YEAR = 1900, 2999  # dates outside this range are typing errors and overflow date arithmetic
MAX_BODY = 1024 * 1024  # a JSON body larger than this is refused with 413


@dataclass(frozen=True)
class F:
    """One field: JSON type and the limits the API checks before a service sees the value."""

    type: str  # string | text | integer | id | boolean | date | datetime | enum | ids
    required: bool = False
    nullable: bool = False
    max_length: int | None = None
    values: tuple = ()
    description: str = ""


def ID(description="", **kw) -> F:
    return F("id", description=description, **kw)


def TEXT(max_length=MAX_TEXT, description="", **kw) -> F:
    return F("string", max_length=max_length, description=description, **kw)


def ENUM(enum_cls, description="", **kw) -> F:
    return F("enum", values=tuple(m.value for m in enum_cls), description=description, **kw)


# --- responses ---------------------------------------------------------------------------------

UNIT = {
    "id": ID(), "code": TEXT(40), "name": TEXT(120),
    "parent_id": ID("The unit above; null at the top of the tree.", nullable=True),
}
USER = {
    "id": ID(), "username": TEXT(64), "name": TEXT(80), "email": TEXT(254, nullable=True),
    "role": ENUM(Role), "unit_id": ID(nullable=True, description="null only for administrators"),
    "language": F("enum", values=("zh_CN", "en")), "active": F("boolean"),
}
SOURCE = {
    "id": ID(), "name": TEXT(200), "kind": ENUM(SourceKind), "unit_id": ID(),
    "date": F("date", description="The day of the inspection, meeting or audit."),
}
PROBLEM = {
    "id": ID(), "number": TEXT(40), "description": TEXT(), "category": TEXT(60, description="Category name."),
    "source_id": ID(), "unit_id": ID("Unit where the problem was found."), "found_on": F("date"),
    "responsible_leader_id": ID("责任领导", nullable=True), "lead_unit_id": ID("牵头单位"),
    "cooperating_unit_ids": F("ids", description="配合单位"),
    "responsible_person_id": ID("责任人", nullable=True), "state": ENUM(ProblemState),
    "version": F("integer", description="Send it back with a PATCH; a stale one answers 409."),
}
RATINGS = ("satisfied", "basic", "unsatisfied")
PERIOD_KINDS = ("month", "quarter", "half", "year")
TASK = {
    "id": ID(), "problem_id": ID(), "measure": TEXT(), "target": TEXT(nullable=True), "type": ENUM(TaskType),
    "owner_id": ID(), "unit_id": ID(), "deadline": F("date", nullable=True),
    "original_deadline": F("date", nullable=True), "state": ENUM(TaskState), "result": TEXT(nullable=True),
    "overdue": F("boolean"), "light": F("enum", values=(*(m.value for m in Light), None), nullable=True),
    "version": F("integer", description="Send it back with a PATCH or transition; a stale one answers 409."),
    "submitted_at": F("datetime", nullable=True), "closed_at": F("datetime", nullable=True),
    "awaiting_ack": F("boolean", description="Waiting for its owner's 签收."),
    "acknowledged_at": F("datetime", nullable=True, description="When the owner signed for it (签收)."),
    "submissions": F("integer", description="How many times it was submitted for close-out."),
    "review_step": F("integer", nullable=True,
                     description="The step of its review chain (多级审核) deciding the submission; "
                                 "null unless submitted."),
    "rating": F("enum", values=(*RATINGS, None), nullable=True,
                description="整改成效评价 given when it was closed out; null if not rated."),
    "period": F("enum", values=(*PERIOD_KINDS, None), nullable=True,
                description="阶段性销号 of an ongoing measure: a result each month, quarter, half-year or "
                            "year."),
}
PERIOD = {
    "id": ID(), "task_id": ID(), "kind": F("enum", values=PERIOD_KINDS), "period_start": F("date"),
    "period_end": F("date"), "label": TEXT(), "result": TEXT(),
    "state": F("enum", values=("submitted", "verified", "rejected"),
               description="submitted: waiting for a manager; verified: 阶段性销号; rejected: returned."),
    "submitted_by_id": ID(), "submitted_at": F("datetime"), "decided_by_id": ID(nullable=True),
    "decided_at": F("datetime", nullable=True), "decision_comment": TEXT(nullable=True),
    "files": F("strings", description="Names of the result's evidence files."),
}
PERIOD_ROW = {
    "period_start": F("date"), "period_end": F("date"), "label": TEXT(),
    "current": F("boolean", description="The period holding today."),
    "missed": F("boolean", description="Ended with no result submitted or verified."),
    "result": F("objects", values=("Period",), nullable=True,
                description="The live result (or the last returned one): at most one item."),
}
RECHECK = {
    "id": ID(), "task_id": ID(), "round": F("integer", description="The round whose closure it checks."),
    "due_on": F("date"), "reviewer_id": ID(), "scheduled_by_id": ID(), "scheduled_at": F("datetime"),
    "sample_id": ID(nullable=True, description="The recorded random sample it was drawn in."),
    "state": F("enum", values=("scheduled", "consolidated", "rebounded", "cancelled")),
    "note": TEXT(nullable=True), "decided_at": F("datetime", nullable=True),
}
PROGRESS = {
    "id": ID(), "task_id": ID(), "author_id": ID(), "body": TEXT(), "created_at": F("datetime"),
    "files": F("strings", description="Names of the evidence files posted with the note."),
}
EXTENSION = {
    "id": ID(), "task_id": ID(), "requested_by_id": ID(), "reason": TEXT(), "old_deadline": F("date"),
    "new_deadline": F("date"), "state": ENUM(ExtensionState), "decided_by_id": ID(nullable=True),
    "decided_at": F("datetime", nullable=True), "decision_comment": TEXT(nullable=True),
    "created_at": F("datetime"),
}

STEP_KINDS = ("managers", "unit", "person")
REVIEW_STEP = {
    "position": F("integer", description="1 is decided first."),
    "kind": F("enum", values=STEP_KINDS,
              description="managers: a manager of the measure's unit or above; unit: a manager of "
                          "reviewer_unit_id; person: reviewer_id."),
    "label": TEXT(60, description="What the step is called, e.g. 科室负责人审核."),
    "reviewer_unit_id": ID(nullable=True), "reviewer_id": ID(nullable=True),
}
REVIEW_CHAIN = {
    "unit_id": ID(),
    "applies_from_unit_id": ID(nullable=True, description="The unit whose chain applies (this one or the "
                                                          "nearest above with one); null: the default."),
    "steps": F("objects", values=("ReviewStep",)),
}
REVIEW_STEP_INPUT = {
    "kind": F("enum", values=STEP_KINDS, required=True), "label": TEXT(60, nullable=True),
    "reviewer_unit_id": ID(nullable=True, description="kind unit: this unit or one above it."),
    "reviewer_id": ID(nullable=True, description="kind person: a manager or viewer of this unit or above."),
}
REVIEW_CHAIN_PUT = {
    "steps": F("objects", values=("ReviewStepInput",), required=True,
               description="At most 5, in order; an empty list removes the unit's own chain."),
}

NOTICE_KINDS = ("reminder", "supervision")
NOTICE_COLOURS = ("blue", "yellow", "red")
NOTICE_STATES = ("issued", "acknowledged", "replied", "returned", "closed")
NOTICE_RECIPIENT = {
    "user_id": ID(), "role": F("enum", values=("owner", "manager", "copy"),
                               description="owner and manager are addressees (they reply); copy: 抄送"),
    "acknowledged_at": F("datetime", nullable=True, description="签收"),
}
NOTICE_REPLY = {
    "id": ID(), "author_id": ID(), "body": TEXT(), "created_at": F("datetime"),
    "files": F("strings", description="Names of the reply's files."),
    "accepted": F("boolean", nullable=True, description="The issuer's decision; null until decided."),
    "decided_by_id": ID(nullable=True), "decided_at": F("datetime", nullable=True),
    "decision_reason": TEXT(nullable=True),
}
NOTICE = {
    "id": ID(), "kind": F("enum", values=NOTICE_KINDS, description="reminder: 提醒函; supervision: 督办单"),
    "colour": F("enum", values=NOTICE_COLOURS, description="red: a measure overdue; yellow: stalled or "
                "rejected more than once; blue: otherwise (when issued)."),
    "year": F("integer"), "number": F("integer", description="Per issuing unit, year and kind."),
    "number_text": TEXT(40, description="〔2026〕第3期"), "issuing_unit_id": ID(), "addressee_unit_id": ID(),
    "issued_by_id": ID(), "issued_at": F("datetime"), "issued_on": F("date"), "reply_due_on": F("date"),
    "body": TEXT(), "state": F("enum", values=NOTICE_STATES), "reply_overdue": F("boolean"),
    "task_ids": F("ids", description="The listed measures, in order."),
    "recipients": F("objects", values=("NoticeRecipient",)),
    "replies": F("objects", values=("NoticeReply",)),
}

# --- request bodies ----------------------------------------------------------------------------

UNIT_CREATE = {
    "code": TEXT(40, required=True, description="Letters, digits, '.', '_' or '-'."),
    "name": TEXT(120, required=True), "parent_id": ID(nullable=True), "sort_order": F("integer"),
}
USER_CREATE = {
    "username": TEXT(64, required=True), "name": TEXT(80, required=True), "email": TEXT(254, nullable=True),
    "role": ENUM(Role, required=True), "unit_id": ID(nullable=True, description="Required unless admin."),
    "language": F("enum", values=("zh_CN", "en")), "active": F("boolean"),
    "password": TEXT(200, required=True, description="At least 8 characters; not a common password, nor one "
                     "built from the username, name, e-mail, unit or this product's name."),
}
SOURCE_CREATE = {
    "name": TEXT(200, required=True), "kind": ENUM(SourceKind, required=True), "unit_id": ID(required=True),
    "date": F("date", required=True),
}
_PROBLEM_INPUT = {
    "number": TEXT(40, nullable=True, description="Generated (e.g. 2026-007) when left out."),
    "description": TEXT(), "category": TEXT(60, description="Category name, e.g. 作风建设."),
    "source_id": ID(), "unit_id": ID(), "found_on": F("date"),
    "responsible_leader_id": ID(nullable=True), "lead_unit_id": ID(description="Defaults to unit_id."),
    "cooperating_unit_ids": F("ids"), "responsible_person_id": ID(nullable=True),
}
PROBLEM_CREATE = {
    **_PROBLEM_INPUT,
    **{k: replace(_PROBLEM_INPUT[k], required=True)
       for k in ("description", "category", "source_id", "unit_id", "found_on")},
}
PROBLEM_UPDATE = {
    "version": F("integer", required=True, description="The version you read; 409 when stale."),
    **_PROBLEM_INPUT,
}
TASK_CREATE = {
    "problem_id": ID(required=True), "measure": TEXT(required=True), "target": TEXT(nullable=True),
    "type": ENUM(TaskType, description="Default: deadline."), "owner_id": ID(required=True),
    "unit_id": ID(description="Defaults to the owner's unit."),
    "deadline": F("date", nullable=True, description="Required unless type is ongoing; not in the past."),
    "period": F("enum", values=(*PERIOD_KINDS, None), nullable=True,
                description="Ongoing measures: periodic close-outs (阶段性销号)."),
}
TASK_UPDATE = {
    "version": F("integer", required=True, description="The version you read; 409 when stale."),
    "measure": TEXT(), "target": TEXT(nullable=True), "type": ENUM(TaskType),
    "owner_id": ID(description="Reassigns the measure."), "unit_id": ID(description="Reassigns the measure."),
    "deadline": F("date", description="Moves the deadline; needs a comment."),
    "period": F("enum", values=(*PERIOD_KINDS, None), nullable=True,
                description="Ongoing measures: periodic close-outs (阶段性销号); null ends them."),
    "comment": TEXT(nullable=True, description="Reason for a reassignment or a deadline change."),
}
TRANSITION = {
    "action": F("enum", values=("start", "submit", "verify", "reject", "cancel", "pass", "return"),
                required=True,
                description="pass and return are the in-between decisions of a review chain (多级审核)."),
    "comment": TEXT(nullable=True, description="Required to reject, cancel or return."),
    "result": TEXT(nullable=True, description="整改成效; required to submit."),
    "rating": F("enum", values=(*RATINGS, None), nullable=True,
                description="verify: 整改成效评价; unsatisfied returns the measure (a comment is required)."),
    "to_step": F("integer", nullable=True, description="return: the earlier step to send it back to."),
    "version": F("integer", nullable=True, description="When given, a stale version answers 409."),
}
ACKNOWLEDGE = {"version": F("integer", nullable=True, description="When given, a stale version answers 409.")}
PROGRESS_CREATE = {"body": TEXT(required=True)}
RECHECK_CREATE = {
    "due_on": F("date", required=True, description="Not in the past."),
    "reviewer_id": ID(required=True, description="A manager or leader who reads the measure; not its owner."),
}
RECHECK_RESULT = {
    "outcome": F("enum", values=("consolidated", "rebounded"), required=True,
                 description="rebounded reopens the measure as a new round (its problem is marked 反弹)."),
    "note": TEXT(nullable=True, description="Findings; required for a rebound."),
    "new_deadline": F("date", nullable=True, description="Rebound of a measure with a deadline: required."),
}
PERIOD_CREATE = {
    "result": TEXT(required=True, description="What was done in the period."),
    "period_start": F("date", nullable=True,
                      description="Any day of the period reported on (from the first to the current one); "
                                  "default: the current period."),
}
EXTENSION_CREATE = {"new_deadline": F("date", required=True), "reason": TEXT(required=True)}
NOTICE_CREATE = {
    "kind": F("enum", values=NOTICE_KINDS, required=True),
    "task_ids": F("ids", required=True, description="Measures of your subtree; a 督办单 lists overdue ones."),
    "reply_due_on": F("date", nullable=True, description="Defaults to NOTICE_REPLY_DAYS after today."),
    "body": TEXT(nullable=True, description="Defaults to the body template of the kind."),
}
NOTICE_REPLY_CREATE = {"body": TEXT(required=True)}
NOTICE_ACKNOWLEDGE: dict = {}
DECISION = {
    "approve": F("boolean", required=True),
    "comment": TEXT(nullable=True, description="Required to reject."),
}


# --- checking input ----------------------------------------------------------------------------


def _storable(text: str) -> bool:
    """PostgreSQL text holds neither NUL nor lone surrogates (which JSON can smuggle in)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_date(value) -> date:
    """An ISO date (2026-03-31) within MIN_YEAR..MAX_YEAR; ValueError otherwise."""
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError(value)
    parsed = date.fromisoformat(value)
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise ValueError(value)
    return parsed


def _value(field: F, value):
    """The Python value of one field, or raise ValueError with the message to show."""
    kind = field.type
    if kind == "string":
        if not isinstance(value, str):
            raise ValueError(_l("Must be a string."))
        if not _storable(value):
            raise ValueError(_l("Contains characters that cannot be stored."))
        if field.max_length and len(value) > field.max_length:
            raise ValueError(_l("At most %(n)s characters.", n=field.max_length))
        return value
    if kind in ("integer", "id"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(_l("Must be a whole number."))
        low, high = (1, MAX_ID) if kind == "id" else (-MAX_ID, MAX_ID)
        if not low <= value <= high:
            raise ValueError(_l("Must be between %(low)s and %(high)s.", low=low, high=high))
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(_l("Must be true or false."))
        return value
    if kind == "date":
        try:
            return parse_date(value)
        except (TypeError, ValueError):
            raise ValueError(_l("Must be a date between %(low)s and %(high)s, like 2026-03-31.",
                                low=MIN_YEAR, high=MAX_YEAR)) from None
    if kind == "enum":
        if value not in field.values or value is None:
            raise ValueError(_l("Must be one of: %(values)s.",
                                values=", ".join(v for v in field.values if v is not None)))
        return value
    if kind == "objects":  # each object is checked by the service, which names steps.N.field
        if not isinstance(value, list) or len(value) > 20 or not all(isinstance(v, dict) for v in value):
            raise ValueError(_l("Must be a list of objects."))
        return value
    if kind == "ids":
        if not isinstance(value, list) or len(value) > 200 or any(
                isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_ID for v in value):
            raise ValueError(_l("Must be a list of ids."))
        return list(dict.fromkeys(value))
    raise AssertionError(kind)


def check(spec: Mapping[str, F], data: Mapping) -> dict:
    """The fields of `data` converted by `spec`; ValidationFailed naming every wrong field."""
    errors: dict[str, list] = {}
    values: dict = {}
    for name in data:
        if name not in spec:
            errors[name] = [_l("Unknown field.")]
    for name, field in spec.items():
        if name not in data:
            if field.required:
                errors[name] = [_l("This field is required.")]
            continue
        value = data[name]
        if value is None:
            if field.nullable:
                values[name] = None
            else:
                errors[name] = [_l("This field cannot be null.")]
            continue
        try:
            values[name] = _value(field, value)
        except ValueError as exc:
            errors[name] = [exc.args[0]]
    if errors:
        raise ValidationFailed(_l("Some fields are wrong; see `fields`."), errors)
    return values


def _no_constants(name: str):
    raise ValueError(f"{name} is not valid JSON")


def json_body(spec: Mapping[str, F]) -> dict:
    """The request's JSON object checked against `spec`: 400 if not JSON, 413 if too big, 422 if wrong."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type",
                       _l("Send the body as JSON (Content-Type: application/json)."))
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, "too_large", _l("The request body is too large."))
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY:
        raise ApiError(413, "too_large", _l("The request body is too large."))
    try:
        data = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise ApiError(400, "bad_request", _l("The body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", _l("The body must be a JSON object."))
    return check(spec, data)


def body_with_files(spec: Mapping[str, F]) -> tuple[dict, list]:
    """A JSON body, or multipart/form-data carrying the same fields as text parts and files under
    `files` (evidence): the files are checked and stored by the service, like the web form's."""
    if request.mimetype != "multipart/form-data":
        return json_body(spec), []
    fields = {name: request.form.get(name) for name in request.form}
    uploads = [f for f in request.files.getlist("files") if f and f.filename]
    unknown = {name: [_l("Unknown field.")] for name in request.files if name != "files"}
    if unknown:
        raise ValidationFailed(_l("Some fields are wrong; see `fields`."), unknown)
    return check(spec, fields), uploads


# --- query parameters --------------------------------------------------------------------------


@dataclass(frozen=True)
class Q:
    """A query parameter: its type, limits and documentation."""

    type: str  # integer | id | boolean | date | enum | string
    description: str = ""
    values: tuple = ()
    minimum: int = 1
    maximum: int = MAX_ID
    max_length: int = 200
    default: object = None


PAGING = {
    "page": Q("integer", "Page number, from 1.", maximum=MAX_PAGE, default=1),
    "per_page": Q("integer", f"Items per page, at most {MAX_PER_PAGE} (default: the PER_PAGE setting, 50).",
                  maximum=MAX_PER_PAGE),
    "cursor": Q("string", "The `next_cursor` of the page before (same list, same `sort`): the page after "
                "it, however deep, at the cost of the first; `page` is then ignored.", max_length=1000),
}
TASK_FILTERS = {
    "state": Q("enum", "A state, or `open` for assigned, in progress or submitted.",
               values=(*(s.value for s in TaskState), "open")),
    "owner": Q("id", "Owner's user id."),
    "unit": Q("id", "A unit id; its sub-units are included."),
    "source": Q("id", "Source id of the measure's problem."),
    "problem": Q("id", "Problem id."),
    "overdue": Q("boolean", "`true`: only overdue measures."),
    "awaiting_ack": Q("boolean", "`true`: only measures not yet signed for (未签收)."),
    "stalled": Q("boolean", "`true`: only measures with no progress for STALL_DAYS."),
    "leader": Q("id", "The problem's responsible leader's user id."),
    "rating": Q("enum", "整改成效评价 of the close-out: satisfied, basic, `rated` (any) or `unrated` (closed "
                        "without one).", values=task_queries.RATING_FILTERS),
    "rebounded": Q("boolean", "`true`: measures reopened after a re-check found them rebounded (回头看)."),
    "period_missed": Q("boolean", "`true`: ongoing measures whose last ended period has no result "
                                  "(阶段性销号)."),
    "review_step": Q("integer", "Submitted and waiting at this step of its review chain (多级审核).",
                     maximum=task_queries.MAX_STEP),
    "due_before": Q("date", "Deadline on or before this date."),
    "due_after": Q("date", "Deadline on or after this date."),
    "q": Q("string", "Words in the measure, target, result, problem number or description."),
    "sort": Q("enum", "Sort key; a leading `-` reverses it (default `deadline`: overdue first).",
              values=tuple(f"{sign}{key}" for key in task_queries.SORT_KEYS for sign in ("", "-"))),
}
PROBLEM_FILTERS = {
    "state": Q("enum", "Problem state.", values=tuple(s.value for s in ProblemState)),
    "unit": Q("id", "A unit id (where found or lead unit); sub-units included."),
    "source": Q("id", "Source id."),
    "overdue": Q("boolean", "`true`: only problems with an overdue measure."),
    "q": Q("string", "Words in the number or description."),
    "sort": Q("enum", "Sort key; a leading `-` reverses it (default `-number`).",
              values=tuple(f"{sign}{key}" for key in problem_queries.SORT_KEYS for sign in ("", "-"))),
}
NOTICE_FILTERS = {
    "kind": Q("enum", "reminder (提醒函) or supervision (督办单).", values=NOTICE_KINDS),
    "colour": Q("enum", "Colour when issued.", values=NOTICE_COLOURS),
    "state": Q("enum", "Notice state.", values=NOTICE_STATES),
    "unit": Q("id", "Addressed unit; its sub-units are included."),
    "issued_from": Q("date", "Issued on or after this date."),
    "issued_to": Q("date", "Issued on or before this date."),
    "overdue": Q("boolean", "`true`: only notices whose reply is overdue."),
    "mine": Q("boolean", "`true`: only notices sent to you."),
}
NOTICE_GET = {"format": Q("enum", "`json` (default) or `docx` (the document as an attachment).",
                          values=("json", "docx"))}
REPORT_PARAMS = {
    "unit": Q("id", "The unit whose subtree is reported; defaults to your own unit."),
    "from": Q("date", "First day of the period; defaults to 1 January of this year."),
    "to": Q("date", "Last day of the period; defaults to today."),
    "format": Q("enum", "`json` (default), or a `md` / `docx` attachment.", values=("json", "md", "docx")),
    "lang": Q("enum", "Language of the md/docx text.", values=("zh_CN", "en")),
}
TRUE_FALSE = {"true": True, "1": True, "false": False, "0": False}


def _query_value(param: Q, raw: str):
    if not _storable(raw):
        raise ValueError(_l("Contains characters that cannot be stored."))
    if param.type in ("integer", "id"):
        try:
            number = int(raw.strip())
        except ValueError:
            raise ValueError(_l("Must be a whole number.")) from None
        if not param.minimum <= number <= param.maximum:
            raise ValueError(_l("Must be between %(low)s and %(high)s.",
                                low=param.minimum, high=param.maximum))
        return number
    if param.type == "boolean":
        if raw.strip().lower() not in TRUE_FALSE:
            raise ValueError(_l("Must be true or false."))
        return TRUE_FALSE[raw.strip().lower()]
    if param.type == "date":
        try:
            return parse_date(raw.strip())
        except ValueError:
            raise ValueError(_l("Must be a date between %(low)s and %(high)s, like 2026-03-31.",
                                low=MIN_YEAR, high=MAX_YEAR)) from None
    if param.type == "enum":
        if raw not in param.values:
            raise ValueError(_l("Must be one of: %(values)s.", values=", ".join(param.values)))
        return raw
    if len(raw) > param.max_length:
        raise ValueError(_l("At most %(n)s characters.", n=param.max_length))
    return raw


def query(spec: Mapping[str, Q]) -> dict:
    """The known query parameters, checked and converted; unknown ones are ignored; 422 names bad ones."""
    values: dict = {}
    errors: dict = {}
    for name, param in spec.items():
        raw = request.args.get(name)
        if raw is None or raw == "":
            values[name] = param.default
            continue
        try:
            values[name] = _query_value(param, raw)
        except ValueError as exc:
            errors[name] = [exc.args[0]]
    if errors:
        raise ValidationFailed(_l("Some query parameters are wrong; see `fields`."), errors)
    return values


# --- serialisers -------------------------------------------------------------------------------


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def unit_json(unit) -> dict:
    return {"id": unit.id, "code": unit.code, "name": unit.name, "parent_id": unit.parent_id}


def user_json(user) -> dict:
    return {"id": user.id, "username": user.username, "name": user.name, "email": user.email,
            "role": user.role.value, "unit_id": user.unit_id, "language": user.language,
            "active": bool(user.active)}


def source_json(source) -> dict:
    return {"id": source.id, "name": source.name, "kind": source.kind.value, "unit_id": source.unit_id,
            "date": _date(source.held_on)}


def problem_json(problem) -> dict:
    """Needs problem.category and problem.cooperating_units loaded (see problems.LIST_OPTIONS)."""
    return {
        "id": problem.id, "number": problem.number, "description": problem.description,
        "category": problem.category.name, "source_id": problem.source_id, "unit_id": problem.unit_id,
        "found_on": _date(problem.found_on), "responsible_leader_id": problem.responsible_leader_id,
        "lead_unit_id": problem.lead_unit_id,
        "cooperating_unit_ids": sorted(u.id for u in problem.cooperating_units),
        "responsible_person_id": problem.responsible_person_id, "state": problem.state.value,
        "version": problem.version,
    }


def task_json(task, today: date, due_soon_days: int) -> dict:
    """Only the task's own columns: no relationship is touched, so a list costs no extra query."""
    light = task.light(today, due_soon_days)
    return {
        "id": task.id, "problem_id": task.problem_id, "measure": task.measure, "target": task.target,
        "type": task.type.value, "owner_id": task.owner_id, "unit_id": task.unit_id,
        "deadline": _date(task.deadline), "original_deadline": _date(task.original_deadline),
        "state": task.state.value, "result": task.result, "overdue": task.is_overdue(today),
        "light": light.value if light else None, "version": task.version,
        "submitted_at": _datetime(task.submitted_at), "closed_at": _datetime(task.closed_at),
        "awaiting_ack": task.awaiting_ack, "acknowledged_at": _datetime(task.acknowledged_at),
        "submissions": task.submissions, "review_step": task.review_step,
        "rating": task.rating.value if task.rating else None,
        "period": task.period.value if task.period else None,
    }


def period_json(sub, files: dict | None = None) -> dict:
    """One period's result; `files` (period id → evidence rows) saves a query per result in a list."""
    return {"id": sub.id, "task_id": sub.task_id, "kind": sub.kind.value,
            "period_start": _date(sub.period_start), "period_end": _date(sub.period_end),
            "label": sub.label,
            "result": sub.result, "state": sub.state.value, "submitted_by_id": sub.submitted_by_id,
            "submitted_at": _datetime(sub.submitted_at), "decided_by_id": sub.decided_by_id,
            "decided_at": _datetime(sub.decided_at), "decision_comment": sub.decision_comment,
            "files": ([f.filename for f in files.get(sub.id, [])] if files is not None
                      else _period_files(sub.id))}


def _period_files(period_id: int) -> list[str]:
    return list(db.session.scalars(sa.select(Evidence.filename).where(Evidence.period_id == period_id)
                                   .order_by(Evidence.id)))


def recheck_json(r) -> dict:
    return {"id": r.id, "task_id": r.task_id, "round": r.round, "due_on": _date(r.due_on),
            "reviewer_id": r.reviewer_id, "scheduled_by_id": r.scheduled_by_id,
            "scheduled_at": _datetime(r.scheduled_at), "sample_id": r.sample_id, "state": r.state.value,
            "note": r.note, "decided_at": _datetime(r.decided_at)}


def period_row_json(row, files: dict) -> dict:
    return {"period_start": _date(row.start), "period_end": _date(row.end), "label": row.label,
            "current": row.current, "missed": row.missed,
            "result": [period_json(row.submission, files)] if row.submission is not None else None}


def progress_json(progress) -> dict:
    return {"id": progress.id, "task_id": progress.task_id, "author_id": progress.author_id,
            "body": progress.body, "created_at": _datetime(progress.created_at),
            "files": [f.filename for f in progress.evidence]}


def extension_json(ext) -> dict:
    return {
        "id": ext.id, "task_id": ext.task_id, "requested_by_id": ext.requested_by_id, "reason": ext.reason,
        "old_deadline": _date(ext.old_deadline), "new_deadline": _date(ext.new_deadline),
        "state": ext.state.value, "decided_by_id": ext.decided_by_id, "decided_at": _datetime(ext.decided_at),
        "decision_comment": ext.decision_comment, "created_at": _datetime(ext.created_at),
    }


def review_chain_json(unit, applies, steps) -> dict:
    return {"unit_id": unit.id, "applies_from_unit_id": applies.id if applies else None, "steps": [
        {"position": i, "kind": s.kind.value, "label": s.label,
         "reviewer_unit_id": s.reviewer_unit.id if s.reviewer_unit else None,
         "reviewer_id": s.reviewer.id if s.reviewer else None} for i, s in enumerate(steps, start=1)]}


def page_json(items: list, total: int, page: int | None, per_page: int, exact: bool = True,
              next_cursor: str | None = None) -> dict:
    return {"items": items, "total": total, "total_exact": exact, "page": page, "per_page": per_page,
            "next_cursor": next_cursor}


def notice_json(notice, today: date) -> dict:
    """Needs the notice's items, recipients and replies with their files loaded."""
    return {
        "id": notice.id, "kind": notice.kind.value, "colour": notice.colour.value, "year": notice.year,
        "number": notice.number, "number_text": notice.number_text, "issuing_unit_id": notice.issuing_unit_id,
        "addressee_unit_id": notice.addressee_unit_id, "issued_by_id": notice.issued_by_id,
        "issued_at": _datetime(notice.issued_at), "issued_on": _date(notice.issued_on),
        "reply_due_on": _date(notice.reply_due_on), "body": notice.body, "state": notice.state.value,
        "reply_overdue": notice.reply_overdue(today), "task_ids": [i.task_id for i in notice.items],
        "recipients": [{"user_id": r.user_id, "role": r.role.value,
                        "acknowledged_at": _datetime(r.acknowledged_at)} for r in notice.recipients],
        "replies": [notice_reply_json(r) for r in notice.replies],
    }


def notice_reply_json(reply) -> dict:
    return {"id": reply.id, "author_id": reply.author_id, "body": reply.body,
            "created_at": _datetime(reply.created_at), "files": [f.filename for f in reply.files],
            "accepted": reply.accepted, "decided_by_id": reply.decided_by_id,
            "decided_at": _datetime(reply.decided_at), "decision_reason": reply.decision_reason}

"""My tasks (我的任务), the rectification list (整改清单), the task page and its actions, evidence files."""

from __future__ import annotations

from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload, selectinload

from tracker import refdata, scope
from tracker.audit.queries import names_in
from tracker.clock import request_clock
from tracker.enums import ExtensionState, Role, TaskType
from tracker.errors import InvalidTransition, PermissionDenied, StaleVersion, ValidationFailed
from tracker.extensions import MAX_ID, db
from tracker.followup import periods, rechecks
from tracker.followup.models import PeriodState, Recheck, RecheckState, TaskPeriod
from tracker.i18n import gettext as _
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit, User
from tracker.pickers import filters as filter_pickers
from tracker.pickers.lists import People, Units
from tracker.pickers.widgets import attach, searching
from tracker.problems.models import Problem
from tracker.supervision import queries as notice_queries
from tracker.tasks import evidence, export, queries, review, rules, services
from tracker.tasks.forms import (
    AcknowledgeForm,
    DeadlineForm,
    DecideForm,
    EditForm,
    ExtensionForm,
    PassForm,
    PeriodDecisionForm,
    PeriodForm,
    ProgressForm,
    ReasonForm,
    ReassignForm,
    RecheckForm,
    RecheckResultForm,
    ReturnForm,
    StartForm,
    SubmitForm,
    TaskFilterForm,
    VerifyForm,
)
from tracker.tasks.models import Evidence, Extension, Task
from tracker.viewutils import form_errors, get_task_or_404, page_args

bp = Blueprint("tasks", __name__)

HOME_LIMIT = 100  # the home page is a to-do list; the full list is one click away
QUEUE_LIMIT = 20

# The task page's forms, keyed by the action names of the state table (tasks.rules.RULES).
PAGE_FORMS = {
    "acknowledge": AcknowledgeForm,
    "progress": ProgressForm,
    "start": StartForm,
    "submit": SubmitForm,
    "verify": VerifyForm,
    "pass": PassForm,
    "return": ReturnForm,
    "reject": ReasonForm,
    "cancel": ReasonForm,
    "extend": ExtensionForm,
    "decide_extension": DecideForm,
    "reassign": ReassignForm,
    "deadline": DeadlineForm,
    "submit_period": PeriodForm,
}
DONE = {
    "acknowledge": _l("You signed for the measure."),
    "progress": _l("Progress posted."),
    "start": _l("Work on the measure has started."),
    "submit": _l("Submitted for close-out."),
    "verify": _l("The measure is closed out."),
    "pass": _l("Passed on to the next step of the review."),
    "return": _l("Returned to an earlier step of the review."),
    "reject": _l("The measure was returned for more work."),
    "cancel": _l("The measure is cancelled."),
    "extend": _l("Extension requested; a manager will decide."),
    "reassign": _l("The measure is reassigned."),
    "deadline": _l("The deadline is changed."),
    "edit": _l("The measure is saved."),
    "submit_period": _l("The period's result is submitted; a manager will verify it."),
}
DETAIL_OPTIONS = (
    joinedload(Task.unit),
    joinedload(Task.owner),
    joinedload(Task.problem).options(
        joinedload(Problem.source), joinedload(Problem.category), joinedload(Problem.lead_unit),
        joinedload(Problem.responsible_leader), joinedload(Problem.responsible_person),
        selectinload(Problem.cooperating_units),
    ),
)


def _id_url(endpoint: str, arg: str, object_id: int) -> str:
    """url_for(endpoint, arg=object_id) from a pattern built once per request: a list links
    every row, and url_for for each cost more than the rest of the row."""
    patterns = g.setdefault("id_url_patterns", {})
    pattern = patterns.get(endpoint)
    if pattern is None:
        pattern = patterns[endpoint] = url_for(endpoint, **{arg: MAX_ID}).split(str(MAX_ID))
    return f"{pattern[0]}{object_id}{pattern[1]}"


@bp.app_template_global()
def task_url(task_id: int) -> str:
    """Link to a task's page (every template's, the problem pages' too)."""
    return _id_url("tasks.task_detail", "task_id", task_id)


@bp.app_template_global()
def problem_url(problem_id: int) -> str:
    """Link to a problem's page."""
    return _id_url("problems.problem_detail", "problem_id", problem_id)


# --- lists ------------------------------------------------------------------------------------


@bp.route("/")
@login_required
def home():
    """My tasks: my open measures by urgency; managers also see what waits for their decision, and
    managers and viewers what to chase in their scope (督办台)."""
    now = request_clock()
    verify, verify_total, extensions, extensions_total = [], 0, [], 0
    desk, notices = None, None
    if current_user.role in (Role.ADMIN, Role.MANAGER, Role.VIEWER):
        desk = queries.supervision_desk(current_user, now)
        notices = notice_queries.awaiting_reply_counts(current_user, now)
    if current_user.role in (Role.ADMIN, Role.MANAGER, Role.VIEWER):  # a leader may decide a named step
        verify, verify_total = queries.awaiting_verification(current_user, QUEUE_LIMIT)
    period_results, period_total = [], 0
    recheck_rows, recheck_total = rechecks.due_for(current_user, QUEUE_LIMIT)
    if current_user.role in (Role.ADMIN, Role.MANAGER):
        extensions, extensions_total = queries.pending_extensions(current_user, QUEUE_LIMIT)
        period_results, period_total = periods.pending_for(current_user, QUEUE_LIMIT)
    return render_template(
        "tasks/home.html",
        tasks=queries.my_open_tasks(current_user, now, HOME_LIMIT),
        counters=queries.my_counters(current_user, now),
        limit=HOME_LIMIT,
        verify=verify,
        verify_total=verify_total,
        period_results=period_results,
        period_total=period_total,
        recheck_rows=recheck_rows,
        recheck_total=recheck_total,
        today=now.today(),
        extensions=extensions,
        extensions_total=extensions_total,
        desk=desk,
        notices=notices,
    )


@bp.route("/tasks")
@login_required
def task_list():
    """The rectification list (整改清单): filter, sort and page the measures in scope."""
    filters = queries.TaskFilters.from_args(request.args)
    sort = queries.parse_sort(request.args.get("sort"))
    pagination = queries.list_page(current_user, request_clock(), filters, sort, **page_args())
    form = TaskFilterForm(request.args)
    form.fill({"unit": filter_pickers.units("unit", form.unit.data),
               "owner": filter_pickers.people("owner", form.owner.data, (Role.MANAGER, Role.STAFF)),
               "source": filter_pickers.sources("source", form.source.data)}, refdata.categories())
    return render_template("tasks/list.html", pagination=pagination, form=form, filters=filters, sort=sort)


@bp.route("/tasks.csv")
@login_required
def export_csv():
    """The rectification list as CSV with the list's filters and sort, streamed (UTF-8 with BOM for Excel)."""
    filters = queries.TaskFilters.from_args(request.args)
    sort = queries.parse_sort(request.args.get("sort"))
    stmt = export.statement(current_user, request_clock(), filters, sort)
    today = request_clock().today()
    name = f"{_('Rectification list')}_{today.isoformat()}.csv"
    disposition = (f"attachment; filename=\"rectification-list-{today.isoformat()}.csv\"; "
                   f"filename*=UTF-8''{quote(name)}")
    # Written after this view returns: nothing of the request (session, user, locale) is used then.
    body = export.stream(db.engine, stmt, export.Labels.current(), today)
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": disposition})


# --- the task page ------------------------------------------------------------------------------


def _load(task_id: int) -> Task:
    return get_task_or_404(task_id, *DETAIL_OPTIONS)


def _blank_forms(task: Task, actions: set[str]) -> dict:
    """A fresh form for every action the user may take now, none bound to this request's data."""
    forms = {}
    for key, cls in PAGE_FORMS.items():
        if key in actions:
            forms[key] = cls(formdata=None, prefix=key, data={"version": str(task.version)})
    if "deadline" in forms:
        forms["deadline"].deadline.data = task.deadline
    if "reassign" in forms:
        _fill_reassign(forms["reassign"])
    if "return" in forms:
        _fill_return(forms["return"], task)
    return forms


def _fill_period(form: PeriodForm, rows) -> None:
    """The periods that may still be reported on, the current (or latest) first."""
    form.period_start.choices = [(row.start.isoformat(), row.label) for row in reversed(rows)
                                 if row.open_for_submission]


def _fill_return(form: ReturnForm, task: Task) -> None:
    """The earlier steps of the submission's chain, nearest first."""
    earlier = [s for s in task.review_steps if s.position < review.position(task)]
    form.to_step.choices = [(str(s.position), f"{s.position}. {s.label}") for s in reversed(earlier)]


OWNERS = People((Role.MANAGER, Role.STAFF), active=True)
UNITS = Units(absolute=True)


def _fill_reassign(form: ReassignForm) -> None:
    attach(form.owner, OWNERS, blank=[("", "—")])
    attach(form.unit, UNITS, blank=[("", _("Keep the current unit"))])


def _render_task(task: Task, active: str | None = None, form=None, status: int = 200):
    """The task page; `active` names a form that failed and is shown again with what the user typed."""
    actions = rules.available(task, current_user)
    forms = _blank_forms(task, actions)
    if active in forms:  # still possible (a stale edit may find the measure moved on)
        forms[active] = form
    entries = queries.timeline(task)
    names = names_in(e.event for e in entries)
    pending = next((e.extension for e in entries if e.extension is not None
                    and e.extension.state == ExtensionState.PENDING), None)
    if pending is None:
        forms.pop("decide_extension", None)  # nothing to decide: no empty form on the page
    period_rows = periods.periods(task, request_clock(), str(get_locale() or "zh"))
    if "submit_period" in forms:
        _fill_period(forms["submit_period"], period_rows)
        if not forms["submit_period"].period_start.choices:
            forms.pop("submit_period")
    period_forms = {row.submission.id: PeriodDecisionForm(formdata=None, prefix=f"period{row.submission.id}")
                    for row in period_rows if row.submission is not None
                    and row.submission.state == PeriodState.SUBMITTED
                    and periods.may_decide(row.submission, task, current_user)}
    recheck_list = rechecks.of_task(task)
    waiting = next((r for r in recheck_list if r.state == RecheckState.SCHEDULED), None)
    recheck_forms = {}
    if waiting is None and rechecks.may_schedule(current_user, task):
        recheck_forms["schedule"] = RecheckForm(formdata=None, prefix="recheck")
        _fill_reviewers(recheck_forms["schedule"], task)
    if waiting is not None and (current_user.id == waiting.reviewer_id or current_user.role == Role.ADMIN):
        recheck_forms["record"] = RecheckResultForm(formdata=None, prefix=f"recheck{waiting.id}")
    if waiting is not None and scope.can_manage_task(current_user, task):
        recheck_forms["cancel"] = ReasonForm(formdata=None, prefix=f"cancel{waiting.id}")
    if active in ("recheck", "recheck_record") and form is not None:
        recheck_forms["schedule" if active == "recheck" else "record"] = form  # (its pickers filled)
    html = render_template(
        "tasks/detail.html", task=task, problem=task.problem, actions=actions, forms=forms,
        rechecks=recheck_list, waiting_recheck=waiting, recheck_forms=recheck_forms,
        rounds=rechecks.rounds_of(task),
        periods=period_rows, period_forms=period_forms, period_files=queries.period_evidence(task),
        entries=entries, names=names, pending=pending,
        evidence_files=queries.task_evidence(task),
        decisions=review.decisions(task), current_step=review.current_step(task),
    )
    return html, status


def _refuse(task: Task):
    flash(_("This action is not available to you now. The page shows the measure as it is."), "warning")
    return redirect(url_for("tasks.task_detail", task_id=task.id))


def _act(task: Task, key: str, form, call, render=None, message=None):
    """Validate `form`, run the service, commit once; a bad or stale form is shown again, nothing lost."""
    render = render or (lambda status: _render_task(task, key, form, status))
    message = message or (lambda f: DONE[key])
    if key not in rules.available(task, current_user):
        return _refuse(task)
    if not form.validate_on_submit():
        return render(422)
    try:
        call(form)
    except ValidationFailed as exc:
        db.session.rollback()
        form_errors(form, exc)
        if "files" in exc.fields:  # the message names the file and the accepted types
            flash(exc.message, "danger")
        return render(422)
    except StaleVersion as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        # Show the current state with what the user typed; sending again applies it to this version.
        if hasattr(form, "version"):
            form.version.data = str(task.version)
        return render(409)
    db.session.commit()
    flash(message(form), "success")
    return redirect(url_for("tasks.task_detail", task_id=task.id))


def _uploads(form) -> list[evidence.Upload]:
    """The chosen files (a browser sends an empty part when none is chosen)."""
    return [evidence.Upload(f.filename, f.stream, f.mimetype)
            for f in (form.files.data or []) if f and getattr(f, "filename", "")]


@bp.route("/tasks/<int:task_id>")
@login_required
def task_detail(task_id: int):
    """A measure with its problem, deadlines, evidence, timeline and the actions the user may take."""
    return _render_task(_load(task_id))


@bp.route("/tasks/<int:task_id>/progress", methods=["POST"])
@login_required
def post_progress(task_id: int):
    """Post a progress note (整改进展) with optional evidence files."""
    task = _load(task_id)
    form = ProgressForm(prefix="progress")
    return _act(task, "progress", form, lambda f: services.post_progress(
        task, current_user, request_clock(), body=f.body.data, uploads=_uploads(f)))


@bp.route("/tasks/<int:task_id>/transition/<action>", methods=["POST"])
@login_required
def transition(task_id: int, action: str):
    """Start, submit (with result and evidence), verify (销号), reject or cancel."""
    if action not in services.ACTIONS:
        abort(404)
    task = _load(task_id)
    form = PAGE_FORMS[action](prefix=action)

    def call(f):
        services.transition(
            task, current_user, request_clock(), action,
            comment=f.comment.data if hasattr(f, "comment") else None,
            result=f.result.data if hasattr(f, "result") else None,
            uploads=_uploads(f) if hasattr(f, "files") else None,
            rating=f.rating.data if hasattr(f, "rating") else None,
            to_step=f.to_step.data if hasattr(f, "to_step") else None,
            expected_version=f.expected_version(),
        )

    return _act(task, action, form, call)


@bp.route("/tasks/<int:task_id>/acknowledge", methods=["POST"])
@login_required
def acknowledge(task_id: int):
    """签收: the owner confirms they received the measure."""
    task = _load(task_id)
    form = AcknowledgeForm(prefix="acknowledge")
    return _act(task, "acknowledge", form, lambda f: services.acknowledge(
        task, current_user, request_clock(), expected_version=f.expected_version()))


@bp.route("/tasks/<int:task_id>/extension", methods=["POST"])
@login_required
def request_extension(task_id: int):
    """Ask for a later deadline (延期申请)."""
    task = _load(task_id)
    form = ExtensionForm(prefix="extend")
    return _act(task, "extend", form, lambda f: services.request_extension(
        task, current_user, request_clock(), new_deadline=f.new_deadline.data, reason=f.reason.data))


@bp.route("/extensions/<int:extension_id>/decide", methods=["POST"])
@login_required
def decide_extension(extension_id: int):
    """Approve (the deadline moves) or reject a pending extension request."""
    ext = db.session.get(Extension, extension_id)
    if ext is None:
        abort(404)
    task = _load(ext.task_id)
    form = DecideForm(prefix="decide_extension")

    def call(f):
        if not (f.approve.data or f.reject.data):
            raise ValidationFailed(_l("Choose Approve or Reject."))
        services.decide_extension(ext, current_user, request_clock(), approve=bool(f.approve.data),
                                  comment=f.comment.data)

    def message(f):
        return _("Extension approved; the deadline is moved.") if f.approve.data else _("Extension rejected.")

    return _act(task, "decide_extension", form, call, message=message)


@bp.route("/tasks/<int:task_id>/periods", methods=["POST"])
@login_required
def submit_period(task_id: int):
    """Report one period's result of an ongoing measure (阶段性销号)."""
    task = _load(task_id)
    form = PeriodForm(prefix="submit_period")
    _fill_period(form, periods.periods(task, request_clock()))
    return _act(task, "submit_period", form, lambda f: periods.submit_period(
        task, current_user, request_clock(), result=f.result.data, period_start=f.period_start.data,
        uploads=_uploads(f)))


@bp.route("/periods/<int:period_id>/decide", methods=["POST"])
@login_required
def decide_period(period_id: int):
    """Verify or return one period's result."""
    sub = db.session.get(TaskPeriod, period_id) if 0 < period_id <= MAX_ID else None
    if sub is None:
        abort(404)
    task = _load(sub.task_id)
    form = PeriodDecisionForm(prefix=f"period{sub.id}")

    def call(f):
        if not (f.approve.data or f.reject.data):
            raise ValidationFailed(_l("Choose Verify or Return."))
        periods.decide_period(sub, current_user, request_clock(), approve=bool(f.approve.data),
                              comment=f.comment.data)

    def message(f):
        return _("The period is closed out.") if f.approve.data else _("The period's result is returned.")

    def render(status):  # the decision forms sit in the periods table: say what was wrong above it
        for message_text in [*form.form_errors, *form.comment.errors] or [_("Try again.")]:
            flash(str(message_text), "danger")
        return redirect(url_for("tasks.task_detail", task_id=task.id) + "#periods")

    return _act(task, "decide_period", form, call, render=render, message=message)


def _fill_reviewers(form: RecheckForm, task: Task) -> None:
    """Active managers and leaders who read the measure, not its owner: those of the measure's unit and
    of the units above it (of the user's subtree, and the leaders above the user, who read it too)."""
    reviewers = People((Role.MANAGER, Role.VIEWER), active=True, above=True, line=task.unit.path,
                       skip=task.owner_id)
    attach(form.reviewer, reviewers, blank=[("", "—")])


def _recheck_act(task: Task, key: str, form, call, message):
    """Like _act, for the re-check forms (not rows of the state table: the services check who may)."""
    if not form.validate_on_submit():
        return _render_task(task, key, form, 422)
    try:
        call(form)
    except ValidationFailed as exc:
        db.session.rollback()
        form_errors(form, exc)
        if exc.fields and not any(getattr(form, name, None) is not None for name in exc.fields):
            flash(exc.message, "danger")
        return _render_task(task, key, form, 422)
    except (PermissionDenied, InvalidTransition) as exc:
        db.session.rollback()
        flash(exc.message, "warning")
        return redirect(url_for("tasks.task_detail", task_id=task.id) + "#rechecks")
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("tasks.task_detail", task_id=task.id) + "#rechecks")


@bp.route("/tasks/<int:task_id>/rechecks", methods=["POST"])
@login_required
def schedule_recheck(task_id: int):
    """Schedule a re-check (回头看) of a closed measure."""
    task = _load(task_id)
    form = RecheckForm(prefix="recheck")
    _fill_reviewers(form, task)
    if searching(form) and rechecks.may_schedule(current_user, task):
        return _render_task(task, "recheck", form)  # a picker's search without JavaScript: its matches

    def call(f):
        errors: dict = {}
        # An unknown id gets the service's answer to one out of scope: no such person.
        reviewer = scope.lookup(User, f.reviewer.data, "reviewer", errors, "person")
        if errors and rechecks.may_schedule(current_user, task):  # else the service says why not
            raise ValidationFailed(next(iter(errors.values()))[0], errors)
        rechecks.schedule(current_user, task, request_clock(), due_on=f.due_on.data, reviewer=reviewer)

    return _recheck_act(task, "recheck", form, call,
                        _("The re-check is scheduled; the reviewer will be reminded on the day."))


def _recheck_or_404(recheck_id: int) -> tuple[Recheck, Task]:
    recheck = db.session.get(Recheck, recheck_id) if 0 < recheck_id <= MAX_ID else None
    if recheck is None:
        abort(404)
    return recheck, _load(recheck.task_id)


@bp.route("/rechecks/<int:recheck_id>/record", methods=["POST"])
@login_required
def record_recheck(recheck_id: int):
    """The reviewer records the re-check: consolidated, or rebounded (the measure reopens)."""
    recheck, task = _recheck_or_404(recheck_id)
    form = RecheckResultForm(prefix=f"recheck{recheck.id}")
    rebounded = form.outcome.data == "rebounded"
    return _recheck_act(task, "recheck_record", form, lambda f: rechecks.record(
        recheck, current_user, request_clock(), rebounded=rebounded, note=f.note.data,
        new_deadline=f.new_deadline.data, uploads=_uploads(f)),
        _("Rebound recorded: the measure is reopened as a new round.") if rebounded
        else _("The re-check is recorded: the rectification has held."))


@bp.route("/rechecks/<int:recheck_id>/cancel", methods=["POST"])
@login_required
def cancel_recheck(recheck_id: int):
    recheck, task = _recheck_or_404(recheck_id)
    form = ReasonForm(prefix=f"cancel{recheck.id}")
    return _recheck_act(task, "recheck_cancel", form, lambda f: rechecks.cancel(
        recheck, current_user, request_clock(), reason=f.comment.data), _("The re-check is cancelled."))


@bp.route("/tasks/<int:task_id>/reassign", methods=["POST"])
@login_required
def reassign(task_id: int):
    """Give the measure to another person (and optionally unit)."""
    task = _load(task_id)
    form = ReassignForm(prefix="reassign")
    _fill_reassign(form)
    if searching(form) and "reassign" in rules.available(task, current_user):
        return _render_task(task, "reassign", form)  # a picker's search without JavaScript: its matches

    def call(f):
        errors: dict = {}
        owner = scope.lookup(User, f.owner.data, "owner", errors, "person")
        unit = scope.lookup(Unit, f.unit.data, "unit", errors, "unit")
        if errors:
            raise ValidationFailed(next(iter(errors.values()))[0], errors)
        services.reassign_task(task, current_user, request_clock(), owner=owner, unit=unit,
                               comment=f.comment.data, expected_version=f.expected_version())

    return _act(task, "reassign", form, call)


@bp.route("/tasks/<int:task_id>/deadline", methods=["POST"])
@login_required
def change_deadline(task_id: int):
    """A manager moves the deadline directly, with a reason."""
    task = _load(task_id)
    form = DeadlineForm(prefix="deadline")
    return _act(task, "deadline", form, lambda f: services.change_deadline(
        task, current_user, request_clock(), deadline=f.deadline.data, comment=f.comment.data,
        expected_version=f.expected_version()))


@bp.route("/tasks/<int:task_id>/edit", methods=["GET", "POST"])
@login_required
def edit(task_id: int):
    """Edit the measure's text, target and type."""
    task = _load(task_id)
    if "edit" not in rules.available(task, current_user):
        return _refuse(task)
    form = EditForm(obj=task) if request.method == "GET" else EditForm()

    def render(status):
        return render_template("tasks/edit.html", task=task, form=form), status

    if request.method == "GET":
        return render(200)
    return _act(task, "edit", form, lambda f: services.update_task(
        task, current_user, request_clock(), measure=f.measure.data, target=f.target.data,
        type=TaskType(f.type.data), period=f.period.data or None, expected_version=f.expected_version()),
        render)


# --- evidence ---------------------------------------------------------------------------------


@bp.route("/evidence/<int:evidence_id>")
@login_required
def evidence_download(evidence_id: int):
    """Download an evidence file (佐证材料) under its original name; out of scope → 404."""
    ev = db.session.get(Evidence, evidence_id)
    if ev is None:
        abort(404)
    get_task_or_404(ev.task_id, joinedload(Task.unit))
    return evidence.send_stored(ev.stored_name, ev.filename, ev.content_type, ev.sha256)



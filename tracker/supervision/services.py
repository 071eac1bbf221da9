"""The rules of notices (提醒函 / 督办单, DESIGN §3 "Supervision"): propose, issue, 签收, reply, accept or
send back. Every function checks the state table (`tracker.supervision.rules`), records AuditEvents
(one per listed measure, so each measure's timeline shows the notice), queues messages through the
outbox and flushes; none commits."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from tracker import scope
from tracker.audit import services as audit
from tracker.audit.models import AuditEvent
from tracker.clock import Clock
from tracker.enums import OVERDUE_STATES, Role
from tracker.errors import InvalidTransition, PermissionDenied, ValidationFailed
from tracker.extensions import MAX_ID, db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import Unit, User
from tracker.problems.models import Problem
from tracker.reminders import outbox
from tracker.supervision import mail, numbering, rules
from tracker.supervision.models import (
    Notice,
    NoticeColour,
    NoticeFile,
    NoticeKind,
    NoticeRecipient,
    NoticeReply,
    NoticeState,
    NoticeTask,
    RecipientRole,
)
from tracker.tasks import evidence as files
from tracker.tasks.evidence import Upload
from tracker.tasks.models import Task
from tracker.tasks.rules import managed_clause

MAX_TEXT = 5000
MAX_MEASURES = 200
NO_SUCH_MEASURE = _l("No such measure.")
BODY_OVERRIDE_FOLDER = "notice_templates"
COLOUR_ORDER = (NoticeColour.BLUE, NoticeColour.YELLOW, NoticeColour.RED)


def _cfg(name: str) -> int:
    return int(current_app.config[name])


# --- colours (DESIGN: red overdue, yellow stalled or rejected more than once, blue otherwise) -------


def stalled_clause(clock: Clock):
    """SQL: still being worked on and no progress note for STALL_DAYS (the rule of Task.stalled_clause,
    which the leader's desk counts by too)."""
    return Task.stalled_clause(clock.now() - timedelta(days=_cfg("STALL_DAYS")))


def colours(tasks: list[Task], clock: Clock) -> dict[int, NoticeColour]:
    """Each measure's colour now; three queries however many measures."""
    if not tasks:
        return {}
    ids = [t.id for t in tasks]
    today = clock.today()
    stalled = set(db.session.scalars(sa.select(Task.id).where(Task.id.in_(ids), stalled_clause(clock))))
    rejections = dict(db.session.execute(
        sa.select(AuditEvent.task_id, sa.func.count()).where(AuditEvent.task_id.in_(ids),
                                                             AuditEvent.action == "task.reject")
        .group_by(AuditEvent.task_id)).all())
    out = {}
    for task in tasks:
        if task.is_overdue(today):
            out[task.id] = NoticeColour.RED
        elif task.id in stalled or rejections.get(task.id, 0) > 1:
            out[task.id] = NoticeColour.YELLOW
        else:
            out[task.id] = NoticeColour.BLUE
    return out


def notice_colour(by_task: dict[int, NoticeColour]) -> NoticeColour:
    """The notice takes its most urgent measure's colour."""
    return max(by_task.values(), key=COLOUR_ORDER.index, default=NoticeColour.BLUE)


# --- proposals -----------------------------------------------------------------------------------------


@dataclass
class Proposal:
    """Measures of one responsible unit the system suggests a notice of `kind` for."""

    kind: NoticeKind
    unit: Unit
    tasks: list[Task] = field(default_factory=list)
    colours: dict[int, NoticeColour] = field(default_factory=dict)

    @property
    def colour(self) -> NoticeColour:
        return notice_colour(self.colours)


def _in_open_notice(kind: NoticeKind):
    """Measures already listed in a notice of this kind that is not closed: not proposed again."""
    return sa.exists().where(NoticeTask.task_id == Task.id, NoticeTask.notice_id == Notice.id,
                             Notice.kind == kind, Notice.state != NoticeState.CLOSED)


def propose(actor: User, clock: Clock, limit: int = 500) -> list[Proposal]:
    """督办单 for overdue measures, 提醒函 for due-soon and stalled ones, grouped by responsible unit,
    within the actor's scope; measures already in an open notice of that kind are left out."""
    if not rules.may_issue(actor):
        return []
    today = clock.today()
    working = sa.and_(managed_clause(actor), Task.state.in_(OVERDUE_STATES))
    overdue = Task.overdue_clause(today)
    wanted = {
        NoticeKind.SUPERVISION: sa.and_(working, overdue, sa.not_(_in_open_notice(NoticeKind.SUPERVISION))),
        NoticeKind.REMINDER: sa.and_(
            working, sa.not_(overdue), sa.not_(_in_open_notice(NoticeKind.REMINDER)),
            sa.or_(Task.due_soon_clause(today, _cfg("DUE_SOON_DAYS")), stalled_clause(clock))),
    }
    proposals: list[Proposal] = []
    for kind, where in wanted.items():
        found = db.session.scalars(
            sa.select(Task).join(Unit, Unit.id == Task.unit_id).where(where)
            .options(joinedload(Task.unit), joinedload(Task.owner), joinedload(Task.problem))
            .order_by(Unit.path, Task.deadline, Task.id).limit(limit)).all()
        by_colour = colours(list(found), clock)
        groups: dict[int, Proposal] = {}
        for task in found:
            group = groups.setdefault(task.unit_id, Proposal(kind, task.unit))
            group.tasks.append(task)
            group.colours[task.id] = by_colour[task.id]
        proposals.extend(groups.values())
    return proposals


# --- issuing -------------------------------------------------------------------------------------------


def load_tasks(actor: User, task_ids, field_name: str = "tasks") -> list[Task]:
    """The measures named by id that the actor manages; a missing id and one outside the actor's subtree
    get the same answer."""
    errors: dict = {}
    ids = []
    for raw in task_ids or []:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = 0
        if not 0 < value <= MAX_ID:
            errors.setdefault(field_name, []).append(NO_SUCH_MEASURE)
            continue
        if value not in ids:
            ids.append(value)
    if not ids and not errors:
        errors[field_name] = [_l("Choose at least one measure.")]
    if len(ids) > MAX_MEASURES:
        errors[field_name] = [_l("At most %(n)s measures in one notice.", n=MAX_MEASURES)]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors)
    found = {t.id: t for t in db.session.scalars(
        sa.select(Task).where(Task.id.in_(ids), managed_clause(actor))
        .options(joinedload(Task.unit), joinedload(Task.owner), joinedload(Task.problem)))}
    if len(found) != len(ids):
        raise ValidationFailed(NO_SUCH_MEASURE, {field_name: [NO_SUCH_MEASURE]})
    return [found[i] for i in ids]


def addressee_of(tasks: list[Task]) -> Unit:
    """The measures' responsible unit, or the nearest unit above all of them."""
    paths = [t.unit.path for t in tasks]
    common = paths[0]
    for path in paths[1:]:
        while not path.startswith(common):
            common = common.rstrip("/").rsplit("/", 1)[0] + "/"
    if not common.strip("/"):
        raise ValidationFailed(_l("These measures belong to units without a common unit above them; "
                                  "issue one notice per unit."),
                               {"tasks": [_l("Choose measures of one unit.")]})
    unit_id = int(common.strip("/").split("/")[-1])
    return next((t.unit for t in tasks if t.unit_id == unit_id), None) or db.session.get(Unit, unit_id)


def body_environment() -> SandboxedEnvironment:
    """instance/notice_templates first (an admin's wording), then templates/notices; sandboxed."""
    override = Path(current_app.instance_path) / BODY_OVERRIDE_FOLDER
    defaults = Path(current_app.template_folder) / "notices"
    return SandboxedEnvironment(loader=ChoiceLoader([FileSystemLoader(str(override)),
                                                     FileSystemLoader(str(defaults))]),
                                autoescape=False, undefined=StrictUndefined, keep_trailing_newline=False)


def zh_date(value: date) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def default_body(kind: NoticeKind, tasks: list[Task], issuing_unit: Unit | None, reply_due_on: date,
                 clock: Clock) -> str:
    """The body text the issue form starts from (body_<kind>.txt, overridable)."""
    today = clock.today()
    addressee = addressee_of(tasks) if tasks else None
    template = body_environment().get_template(f"body_{kind.value}.txt")
    return template.render(
        addressee=addressee.name if addressee else "", count=len(tasks),
        issuing_unit=issuing_unit.name if issuing_unit else "", reply_due_on=zh_date(reply_due_on),
        max_days_overdue=max((t.days_overdue(today) for t in tasks), default=0),
        measures=[t.measure for t in tasks]).strip()


def default_reply_due(clock: Clock) -> date:
    return clock.today() + timedelta(days=_cfg("NOTICE_REPLY_DAYS"))


def _recipients(tasks: list[Task], issuer: User) -> list[tuple[User, RecipientRole]]:
    """The owners; the managers of each measure's unit (the nearest unit above that has some); the
    problems' responsible leaders in copy. Each person once, in their strongest role."""
    managers: dict[int, list[User]] = defaultdict(list)
    unit_ids = {int(p) for t in tasks for p in t.unit.path.strip("/").split("/") if p}
    for user in db.session.scalars(sa.select(User).where(User.role == Role.MANAGER, User.active.is_(True),
                                                         User.unit_id.in_(unit_ids)).order_by(User.id)):
        managers[user.unit_id].append(user)
    leader_ids = {t.problem.responsible_leader_id for t in tasks} - {None}
    leaders = db.session.scalars(sa.select(User).where(User.id.in_(leader_ids))).all() if leader_ids else []
    chosen: dict[int, tuple[User, RecipientRole]] = {}

    def add(user: User, role: RecipientRole) -> None:
        if user.id == issuer.id or not user.active:
            return
        if user.id not in chosen or list(RecipientRole).index(role) < list(RecipientRole).index(
                chosen[user.id][1]):
            chosen[user.id] = (user, role)

    for task in tasks:
        add(task.owner, RecipientRole.OWNER)
        for unit_id in reversed([int(p) for p in task.unit.path.strip("/").split("/") if p]):
            found = [m for m in managers.get(unit_id, []) if m.id not in (issuer.id, task.owner_id)]
            if found:
                for m in found:
                    add(m, RecipientRole.MANAGER)
                break
    for leader in leaders:
        add(leader, RecipientRole.COPY)
    return list(chosen.values())


def _text(value: str | None, field_name: str, label, errors: dict, required: bool = True) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            errors.setdefault(field_name, []).append(_l("%(label)s is required.", label=label))
        return None
    if len(value) > MAX_TEXT:
        errors.setdefault(field_name, []).append(_l("At most %(n)s characters.", n=MAX_TEXT))
    return value


def _task_events(notice: Notice, actor: User, clock: Clock, action: str, *, comment=None, extra=None):
    """One AuditEvent per listed measure, so each measure's timeline shows the notice."""
    db.session.flush()
    after = {"notice_id": notice.id, "notice": str(notice), **(extra or {})}
    for item in notice.items:
        audit.record(actor, clock, action, notice, after=after, comment=comment, task_id=item.task_id,
                     problem_id=item.task.problem_id)


def issue(actor: User, clock: Clock, *, kind: NoticeKind, task_ids, reply_due_on: date | None,
          body: str | None) -> Notice:
    """A manager issues a notice about measures of their subtree; numbered, coloured, sent to every
    recipient through the outbox."""
    if not rules.may_issue(actor):
        raise PermissionDenied(_l("Only managers issue notices."))
    tasks = load_tasks(actor, task_ids)
    today = clock.today()
    errors: dict = {}
    not_working = [t for t in tasks if t.state not in OVERDUE_STATES]
    if not_working:
        errors.setdefault("tasks", []).append(_l(
            "Measure %(id)s is %(state)s: only measures still being worked on can be chased.",
            id=not_working[0].id, state=not_working[0].state.label))
    if kind == NoticeKind.SUPERVISION:
        on_time = [t for t in tasks if not t.is_overdue(today)]
        if on_time:
            errors.setdefault("tasks", []).append(_l(
                "A supervision order (督办单) is for overdue measures; measure %(id)s is not overdue.",
                id=on_time[0].id))
    if reply_due_on is None:
        errors.setdefault("reply_due_on", []).append(_l("Choose the reply deadline."))
    elif reply_due_on < today:
        errors.setdefault("reply_due_on", []).append(_l("The reply deadline cannot be in the past."))
    body = _text(body, "body", _l("Body"), errors)
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors)
    addressee = addressee_of(tasks)
    issuing_unit = rules.issuing_unit_for(actor, addressee)
    by_task = colours(tasks, clock)
    year = today.year
    notice = Notice(kind=kind, colour=notice_colour(by_task), issuing_unit=issuing_unit, year=year,
                    number=numbering.next_number(issuing_unit.id, year, kind), addressee_unit=addressee,
                    issued_by=actor, issued_at=clock.now(), issued_on=today, reply_due_on=reply_due_on,
                    body=body, state=NoticeState.ISSUED)
    notice.items = [NoticeTask(task=t, position=i, colour=by_task[t.id], deadline=t.deadline)
                    for i, t in enumerate(tasks)]
    notice.recipients = [NoticeRecipient(user=u, role=role) for u, role in _recipients(tasks, actor)]
    db.session.add(notice)
    _task_events(notice, actor, clock, "notice.issue",
                 extra={"kind": kind.value, "colour": notice.colour.value,
                        "reply_due_on": reply_due_on.isoformat()})
    outbox.enqueue(mail.issued_rows(notice, clock))
    return notice


# --- 签收, reply, decision -------------------------------------------------------------------------------


def _flush_versioned() -> None:
    try:
        db.session.flush()
    except StaleDataError as exc:  # another decision or reply came first
        raise InvalidTransition(_l("Someone else changed this notice at the same time. Reload it.")) from exc


def _sign(notice: Notice, actor: User, clock: Clock, *, implicit: bool) -> None:
    mine = rules.recipient(notice, actor)
    mine.acknowledged_at = clock.now()
    if mine.is_addressee and notice.state == NoticeState.ISSUED:
        notice.state = NoticeState.ACKNOWLEDGED
    _task_events(notice, actor, clock, "notice.acknowledge", extra={"implicit": implicit})


def acknowledge(notice: Notice, actor: User, clock: Clock) -> Notice:
    """A recipient signs for the notice (签收); the first addressee's 签收 moves it to acknowledged."""
    rules.require(notice, actor, "acknowledge")
    _sign(notice, actor, clock, implicit=False)
    _flush_versioned()
    return notice


def reply(notice: Notice, actor: User, clock: Clock, *, body: str | None,
          uploads: list[Upload] | None = None) -> NoticeReply:
    """An addressee replies (反馈) with text and files; replying signs for it too."""
    rules.require(notice, actor, "reply")
    errors: dict = {}
    body = _text(body, "body", _l("Reply"), errors)
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors)
    if rules.allowed(notice, actor, "acknowledge"):
        _sign(notice, actor, clock, implicit=True)
    answer = NoticeReply(notice=notice, author_id=actor.id, body=body, created_at=clock.now())
    db.session.add(answer)
    notice.state = NoticeState.REPLIED
    notice.replied_at = clock.now()
    _flush_versioned()
    _attach(notice, answer, actor, clock, uploads or [])
    _task_events(notice, actor, clock, "notice.reply", comment=body)
    return answer


def _attach(notice: Notice, answer: NoticeReply, actor: User, clock: Clock, uploads: list[Upload]) -> None:
    """Store files like evidence; a rolled-back transaction removes the files it wrote."""
    stored = []
    try:
        for upload in uploads:
            values = files.store(upload)
            stored.append(values["stored_name"])
            db.session.add(NoticeFile(notice_id=notice.id, reply=answer, uploaded_by_id=actor.id,
                                      created_at=clock.now(), **values))
        db.session.flush()
    except BaseException:
        files.discard(stored)
        raise
    db.session.info.setdefault("written_files", []).extend(stored)


def _last_reply(notice: Notice) -> NoticeReply:
    return notice.replies[-1]


def decide(notice: Notice, actor: User, clock: Clock, *, accept: bool, reason: str | None = None) -> Notice:
    """The issuer accepts the reply (the notice is closed) or sends it back with a reason."""
    action = "accept" if accept else "send_back"
    rules.require(notice, actor, action)
    errors: dict = {}
    reason = _text(reason, "reason", _l("Reason"), errors, required=not accept)
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors)
    answer = _last_reply(notice)
    answer.accepted, answer.decided_by_id, answer.decided_at = accept, actor.id, clock.now()
    answer.decision_reason = reason
    notice.state = rules.RULES[action].to
    if accept:
        notice.closed_at = clock.now()
    _flush_versioned()
    _task_events(notice, actor, clock, f"notice.{action}", comment=reason)
    return notice


# --- reading -------------------------------------------------------------------------------------------

DETAIL_OPTIONS = (
    joinedload(Notice.issuing_unit), joinedload(Notice.addressee_unit), joinedload(Notice.issued_by),
    selectinload(Notice.items).joinedload(NoticeTask.task).options(
        joinedload(Task.owner), joinedload(Task.unit), joinedload(Task.problem).joinedload(Problem.unit)),
    selectinload(Notice.recipients).joinedload(NoticeRecipient.user).joinedload(User.unit),
    selectinload(Notice.replies).options(joinedload(NoticeReply.author), joinedload(NoticeReply.decided_by),
                                         selectinload(NoticeReply.files)),
)


def get_for(actor: User, notice_id: int) -> Notice | None:
    """The notice if the actor may read it; None for one that does not exist or is out of scope."""
    if not 0 < notice_id <= MAX_ID:
        return None
    notice = db.session.get(Notice, notice_id, options=list(DETAIL_OPTIONS))
    if notice is None or not rules.can_read(actor, notice):
        return None
    return notice


def covered_unit(actor: User, unit: Unit | None) -> bool:
    return unit is not None and scope.covers(actor, unit)

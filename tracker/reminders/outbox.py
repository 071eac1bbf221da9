"""The persistent outbox: every reminder is a row with a unique dedupe key, sent at most once.

Queueing: `enqueue` inserts with ON CONFLICT (dedupe_key) DO NOTHING inside the caller's
transaction, so however many runs or processes compute the same reminder, one row exists,
and a rolled-back transaction queues nothing.

Sending: `flush` claims due rows with one conditional UPDATE (pending → sending, stamped
with this flush's token; FOR UPDATE SKIP LOCKED on PostgreSQL) and commits, so two flushes
never hold the same row. Each claimed row is checked against its task (one query for the
batch): a reminder whose condition no longer holds — another owner, another deadline, the
measure submitted, closed or cancelled — is cancelled, never sent. The rest go out over one
SMTP session; each row is marked sent and committed right after the server accepts it.

The one unavoidable window: if the process dies after the SMTP server accepted a message and
before that row's commit, the row stays `sending`; after OUTBOX_SENDING_TIMEOUT_SECONDS it is
put back to pending and sent again (at-least-once for that single message). The window is one
message wide because every message is committed on its own. Messages carry
`X-Tracker-Notification: <id>` so a receiver can spot such a repeat.

Temporary failures (refused connection, 4xx) go back to pending with exponential back-off
(1, 2, 4 … minutes, capped); after OUTBOX_MAX_ATTEMPTS the row is `failed`: kept and shown on
/admin/outbox, where an administrator can retry it. Permanent failures (5xx) fail at once.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload

from tracker.channels import push
from tracker.clock import Clock, utcnow
from tracker.enums import OPEN_STATES, OVERDUE_STATES, TaskState
from tracker.extensions import db, insert
from tracker.followup.models import PeriodState, Recheck, RecheckState, TaskPeriod
from tracker.reminders.delivery import Attachment, PermanentFailure, TemporaryFailure, backend_for_app
from tracker.reminders.models import Notification, NotificationKind, NotificationStatus
from tracker.supervision import document
from tracker.supervision.models import AWAITING_REPLY, Notice
from tracker.tasks.models import Task

# Kinds addressed to the owner: a reassignment makes them stale. Escalations are about the task.
OWNER_KINDS = {NotificationKind.ASSIGNED, NotificationKind.DUE_SOON, NotificationKind.OVERDUE,
               NotificationKind.ONGOING, NotificationKind.ACK_DUE, NotificationKind.ACK_ESCALATION,
               NotificationKind.PERIOD_DUE}
# Kinds about a missing 签收: moot once the owner signed.
ACK_KINDS = {NotificationKind.ACK_DUE, NotificationKind.ACK_ESCALATION}
# States in which a reminder of each kind still makes sense.
LIVE_STATES = {
    NotificationKind.ASSIGNED: set(OPEN_STATES),
    NotificationKind.DUE_SOON: set(OVERDUE_STATES),
    NotificationKind.OVERDUE: set(OVERDUE_STATES),
    NotificationKind.ESCALATION: set(OVERDUE_STATES),
    NotificationKind.ONGOING: set(OVERDUE_STATES),
    # Notices of a transition: they hold while the measure is still where the transition left it.
    NotificationKind.SUBMITTED: {TaskState.SUBMITTED},
    NotificationKind.REJECTED: set(OVERDUE_STATES),
    NotificationKind.VERIFIED: {TaskState.CLOSED},
    NotificationKind.ACK_DUE: set(OVERDUE_STATES),
    NotificationKind.ACK_ESCALATION: set(OVERDUE_STATES),
    NotificationKind.PERIOD_DUE: set(OVERDUE_STATES),
    NotificationKind.PERIOD_MISSED: set(OVERDUE_STATES),
    NotificationKind.RECHECK_DUE: {TaskState.CLOSED},
}
# 阶段性销号: `deadline` holds the start of the period a message is about; a result for it makes it moot.
PERIOD_KINDS = {NotificationKind.PERIOD_DUE, NotificationKind.PERIOD_MISSED}
TRANSITION_KINDS = {NotificationKind.SUBMITTED, NotificationKind.REJECTED, NotificationKind.VERIFIED}
# Kinds about a deadline: a moved deadline makes them stale.
DEADLINE_KINDS = {NotificationKind.DUE_SOON, NotificationKind.OVERDUE, NotificationKind.ESCALATION,
                  NotificationKind.ONGOING}
# A notice's messages (提醒函 / 督办单) are about the notice, not one measure.
NOTICE_KINDS = {NotificationKind.NOTICE_ISSUED, NotificationKind.NOTICE_REPLY_DUE,
                NotificationKind.NOTICE_REPLY_ESCALATION}
# Reply reminders are moot once the reply is in (or the notice closed).
NOTICE_REPLY_KINDS = {NotificationKind.NOTICE_REPLY_DUE, NotificationKind.NOTICE_REPLY_ESCALATION}
# Summaries stand for a moment (a week, a day), not for one measure: nothing makes them stale.
SUMMARY_KINDS = {NotificationKind.DIGEST, NotificationKind.UNIT_DAILY, NotificationKind.UNIT_WEEKLY}
BATCH = 100
log = logging.getLogger(__name__)


@dataclass
class FlushResult:
    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)  # robot rows waiting for their rate window
    recovered: int = 0


# --- queueing ------------------------------------------------------------------------------------


def _insert():
    return insert(Notification).on_conflict_do_nothing(index_elements=["dedupe_key"])


def enqueue(rows: list[dict]) -> None:
    """Queue reminders in the caller's transaction; a row whose dedupe key exists is skipped."""
    if rows:
        db.session.execute(_insert(), rows)


def existing_keys(keys) -> set[str]:
    """The dedupe keys among `keys` already in the outbox (a query per 500 keys)."""
    keys, found = list(dict.fromkeys(keys)), set()
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        found.update(db.session.scalars(sa.select(Notification.dedupe_key)
                                        .where(Notification.dedupe_key.in_(chunk))))
    return found


def row(kind: NotificationKind, user, key: str, clock: Clock, message: dict, *, task=None,
        owner_id=None, notice=None) -> dict:
    """The values of one outbox row (for `enqueue`)."""
    now = clock.now()
    return dict(
        user_id=user.id, kind=kind, dedupe_key=key, task_id=task.id if task is not None else None,
        notice_id=notice.id if notice is not None else None,
        deadline=task.deadline if task is not None else None,
        owner_id=owner_id if owner_id is not None else (task.owner_id if task is not None else None),
        status=NotificationStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now, **message,
    )


# --- sending -------------------------------------------------------------------------------------


def _setting(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8 … minutes after the 1st, 2nd, 3rd … failed attempt, capped."""
    cap = _setting("OUTBOX_BACKOFF_CAP_MINUTES", 60)
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), cap))


def worker_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:120]


def recover_stuck(clock: Clock) -> int:
    """Rows left `sending` by a crashed flush go back to pending (see the module docstring).

    Claims are stamped and aged in real time, not the business clock: with NOW pinned (demos,
    `--now`) a crashed claim must still expire.
    """
    cutoff = utcnow() - timedelta(seconds=_setting("OUTBOX_SENDING_TIMEOUT_SECONDS", 600))
    result = db.session.execute(
        sa.update(Notification)
        .where(Notification.status == NotificationStatus.SENDING, Notification.claimed_at < cutoff)
        .values(status=NotificationStatus.PENDING, claimed_by=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount or 0


def _claim(clock: Clock, token: str, batch: int) -> list[tuple[Notification, Task | Notice | None]]:
    """Atomically take up to `batch` due rows for this flush; return them with their tasks."""
    now = clock.now()
    due = (sa.select(Notification.id)
           .where(Notification.status == NotificationStatus.PENDING, Notification.next_attempt_at <= now)
           .order_by(Notification.next_attempt_at, Notification.id).limit(batch))
    if db.session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    db.session.execute(
        sa.update(Notification)
        .where(Notification.id.in_(due.scalar_subquery()), Notification.status == NotificationStatus.PENDING)
        .values(status=NotificationStatus.SENDING, claimed_by=token, claimed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    rows = db.session.execute(
        sa.select(Notification, Task, Notice).outerjoin(Task, Task.id == Notification.task_id)
        .outerjoin(Notice, Notice.id == Notification.notice_id)
        .where(Notification.claimed_by == token, Notification.status == NotificationStatus.SENDING)
        .options(joinedload(Notification.user), joinedload(Notification.channel_ref))
        .order_by(Notification.id)
    ).all()
    # What each message is about: its notice for a notice's messages, else its measure.
    return [(r[0], r[2] if r[0].kind in NOTICE_KINDS else r[1]) for r in rows]


def stale_reason(n: Notification, task: Task | Notice | None) -> str | None:
    """Why a reminder no longer holds (and must not be sent), or None when it still does.

    `task` is what the message is about: its measure, or its notice for a notice's messages."""
    if n.kind in SUMMARY_KINDS:
        return None
    if n.kind in NOTICE_KINDS:
        return _notice_stale_reason(n, task)
    if task is None:
        return "measure deleted"
    if task.state not in LIVE_STATES[n.kind]:
        return f"measure is {task.state.value}"
    if n.kind in OWNER_KINDS and n.owner_id is not None and n.owner_id != task.owner_id:
        return "measure reassigned"
    if n.kind in ACK_KINDS and not task.awaiting_ack:
        return "signed for"
    if n.kind in DEADLINE_KINDS and n.deadline != task.deadline:
        return "deadline changed"
    if n.kind in PERIOD_KINDS and db.session.scalar(sa.select(sa.exists().where(
            TaskPeriod.task_id == task.id, TaskPeriod.period_start == n.deadline,
            TaskPeriod.state != PeriodState.REJECTED))):
        return "period result submitted"
    if n.kind == NotificationKind.RECHECK_DUE and not db.session.scalar(sa.select(sa.exists().where(
            Recheck.task_id == task.id, Recheck.due_on == n.deadline,
            Recheck.state == RecheckState.SCHEDULED))):
        return "re-check recorded"
    return None


def _notice_stale_reason(n: Notification, notice: Notice | None) -> str | None:
    if notice is None:
        return "notice deleted"
    if n.kind in NOTICE_REPLY_KINDS and notice.state not in AWAITING_REPLY:
        return f"notice is {notice.state.value}"
    return None


def _mark(n: Notification, status: NotificationStatus, clock: Clock, *, note=None, error=None) -> None:
    n.status = status
    n.claimed_by = n.claimed_at = None
    if note is not None:
        n.delivery_note = note[:255]
    if error is not None:
        n.last_error = error
    if status == NotificationStatus.SENT:
        n.sent_at = clock.now()


def _failed_attempt(n: Notification, clock: Clock, error: str, result: FlushResult, permanent=False) -> None:
    n.attempts += 1
    if permanent or n.attempts >= _setting("OUTBOX_MAX_ATTEMPTS", 8):
        _mark(n, NotificationStatus.FAILED, clock, error=error)
        result.failed.append(n.id)
    else:
        _mark(n, NotificationStatus.PENDING, clock, error=error)
        n.next_attempt_at = clock.now() + backoff(n.attempts)
        result.retried.append(n.id)


def _attachments(n: Notification, about, cache: dict) -> tuple[Attachment, ...]:
    """A notice goes out with its DOCX attached (rendered once per notice per batch).

    A document that cannot be rendered (an organisation's template broken after upload) does not
    hold the notice back: the message still carries the link to the page, and the log says why."""
    if n.kind != NotificationKind.NOTICE_ISSUED or about is None:
        return ()
    if about.id not in cache:
        try:
            cache[about.id] = (Attachment(document.filename(about), document.build_docx(about),
                                         document.DOCX_TYPE),)
        except Exception:
            log.exception("notice %s: DOCX not attached", about.id)
            cache[about.id] = ()
    return cache[about.id]


def _deliver(batch, clock: Clock, backend, result: FlushResult, robots) -> bool:
    """Send one claimed batch; False when the server is unreachable (the rest waits for a retry)."""
    outgoing, pushed = [], []
    for n, task in batch:
        reason = stale_reason(n, task)
        if reason is None and n.channel_id is not None:
            if not n.channel_ref.active:
                reason = "channel turned off"
        elif reason is None and not n.user.active:
            reason = "recipient deactivated"
        if reason:
            _mark(n, NotificationStatus.CANCELLED, clock, note=f"not sent: {reason}")
            result.cancelled.append(n.id)
        elif n.channel_id is not None:
            pushed.append(n)
        elif not (n.user.email or "").strip():
            # Still shown in the app: the in-app list is a channel too.
            _mark(n, NotificationStatus.SENT, clock, note="in-app only (no email address)")
            result.sent.append(n.id)
        elif n.kind in TRANSITION_KINDS and not n.user.notify_transitions:
            _mark(n, NotificationStatus.SENT, clock, note="in-app only (email turned off)")
            result.sent.append(n.id)
        else:
            outgoing.append((n, task))
    db.session.commit()
    if pushed:
        push.deliver(pushed, clock, robots.session(), _marks(clock, result))
    reachable = True
    documents: dict[int, tuple[Attachment, ...]] = {}
    for n, about in outgoing:
        if not reachable:
            _failed_attempt(n, clock, "not tried: mail server unreachable", result)
            continue
        try:
            note = backend.send(n, n.user, attachments=_attachments(n, about, documents))
        except TemporaryFailure as exc:
            _failed_attempt(n, clock, str(exc), result)
            reachable = backend_connected(backend)
        except PermanentFailure as exc:
            _failed_attempt(n, clock, str(exc), result, permanent=True)
        else:
            _mark(n, NotificationStatus.SENT, clock, note=note)
            result.sent.append(n.id)
        db.session.commit()  # per message: a crash loses at most this one mark
    return reachable


def _marks(clock: Clock, result: FlushResult) -> push.Marks:
    def sent(n, note):
        _mark(n, NotificationStatus.SENT, clock, note=note)
        result.sent.append(n.id)

    def failed(n, error, permanent):
        _failed_attempt(n, clock, error, result, permanent=permanent)

    def defer(n, until, note):
        # Not an attempt: nothing was tried. Back in the queue for when the window ends.
        _mark(n, NotificationStatus.PENDING, clock, note=note)
        n.next_attempt_at = until
        result.deferred.append(n.id)

    return push.Marks(sent, failed, defer)


class Robots:
    """One HTTP session per flush for every robot request (connections reused), opened on first use."""

    def __init__(self, session=None):
        self._session = session

    def session(self):
        if self._session is None:
            self._session = push.new_session()
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def backend_connected(backend) -> bool:
    """After a temporary failure: can we still talk to the server? (Reconnect once to find out.)"""
    if not hasattr(backend, "conn"):
        return True
    if backend.conn is not None:
        return True
    try:
        backend.open()
    except TemporaryFailure:
        return False
    return True


def flush(clock: Clock, backend=None, *, batch: int = BATCH, robots: Robots | None = None) -> FlushResult:
    """Send every due reminder once; one backend session (and one HTTP session) for the whole flush."""
    result = FlushResult(recovered=recover_stuck(clock))
    backend = backend or backend_for_app()
    robots = robots or Robots()
    token = worker_token()
    session = db.session()
    # Each message is committed once sent; expiring the batch on every commit would reload each
    # claimed row and its recipient before its turn (one SELECT per message). The rows are ours
    # (claimed, status `sending`) until marked, so what was read at the claim stays true.
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        while True:
            claimed = _claim(clock, token, batch)
            if not claimed:
                break
            if not _deliver(claimed, clock, backend, result, robots) or len(claimed) < batch:
                break
    finally:
        session.expire_on_commit = expire
        backend.close()
        robots.close()
    return result


def retry(notification: Notification, clock: Clock) -> None:
    """A failed reminder is queued again with a fresh count of attempts (admin action)."""
    notification.status = NotificationStatus.PENDING
    notification.attempts = 0
    notification.next_attempt_at = clock.now()
    notification.claimed_by = notification.claimed_at = None
    db.session.flush()

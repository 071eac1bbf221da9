"""Reminder services called by the task services, the views, the command line and the scheduler.

Like every service they flush and never commit, except the job (`run_once`),
which is a unit of work of their own: queue in one transaction, commit, then flush the outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from tracker.audit import services as audit
from tracker.channels import summaries as channel_messages
from tracker.clock import Clock
from tracker.enums import Role
from tracker.errors import InvalidTransition, PermissionDenied
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.reminders import digest as digest_rule
from tracker.reminders import outbox, rules
from tracker.reminders.models import Notification, NotificationStatus
from tracker.tasks.models import Task

# Session.info key of the unread count read with the user (tracker.web.load_user), for the bell.
UNREAD = "unread_notifications"
ADMIN_STATUSES = (NotificationStatus.PENDING, NotificationStatus.SENDING, NotificationStatus.FAILED)


def notify_assignment(task: Task, clock: Clock) -> None:
    """Queue the owner's assignment notice in the caller's transaction (sent after it commits)."""
    outbox.enqueue([rules.assignment_row(task, clock)])


# --- jobs ----------------------------------------------------------------------------------------


@dataclass
class RunResult:
    people: int = 0  # rows queued (or, in a dry run, that would be) for people
    channels: int = 0  # … and for unit channels
    flushed: outbox.FlushResult | None = None

    @property
    def count(self) -> int:
        return self.people + self.channels


def due_batches(clock: Clock, *, with_digest: bool | None = None) -> Iterator[list[dict]]:
    """Every rule's new rows, in batches; the digest when its cron time has just passed (the digest
    leaves out whoever has this week's already). This is the digest's one trigger: the scheduler's cron
    entry runs this pass too."""
    for rule in (*rules.RULES, *channel_messages.RULES):
        found = rule(clock)
        if isinstance(found, list):
            if found:
                yield found
        else:
            yield from found
    if with_digest or (with_digest is None and digest_rule.digest_due(clock)):
        yield from digest_rule.digest(clock)


def queue_due(clock: Clock, *, with_digest: bool | None = None) -> list[dict]:
    """Every rule's new rows in one list, written nowhere (what a test or a small dry run looks at)."""
    return [row for batch in due_batches(clock, with_digest=with_digest) for row in batch]


def queue_pass(clock: Clock, *, dry_run: bool = False, with_digest: bool | None = None,
               on_batch: Callable[[list[dict]], None] | None = None) -> RunResult:
    """Queue every rule's new rows, committing each batch: the memory held is one batch, and a pass
    that stops half way leaves what it queued, which the next pass skips by key. A dry run writes
    nothing. `on_batch` sees each batch before it is queued."""
    result = RunResult()
    session = db.session()
    keep, session.expire_on_commit = session.expire_on_commit, False  # a rule's objects outlive a batch
    try:
        for batch in due_batches(clock, with_digest=with_digest):
            pushed = sum(1 for r in batch if r.get("channel_id") is not None)
            result.channels += pushed
            result.people += len(batch) - pushed
            if on_batch is not None:
                on_batch(batch)
            if not dry_run:
                outbox.enqueue(batch)
                db.session.commit()
        if not dry_run:
            db.session.commit()  # the rules' sweeps recorded after their last batch
    finally:
        session.expire_on_commit = keep
        if dry_run:
            db.session.rollback()
    return result


def run_once(clock: Clock, dry_run: bool = False, backend=None, *, with_digest: bool | None = None,
             on_batch: Callable[[list[dict]], None] | None = None) -> RunResult:
    """One pass of every rule, then flush the outbox; a dry run only reports and writes nothing."""
    result = queue_pass(clock, dry_run=dry_run, with_digest=with_digest, on_batch=on_batch)
    if not dry_run:
        db.session.commit()
        result.flushed = outbox.flush(clock, backend)
    return result


# --- a user's notifications ------------------------------------------------------------------------


def notifications_for(user):
    """A statement for the user's notifications, newest first (what the in-app list shows)."""
    return (sa.select(Notification)
            .where(Notification.user_id == user.id, Notification.status != NotificationStatus.CANCELLED)
            .order_by(Notification.created_at.desc(), Notification.id.desc()))


def unread_count_of(user_id) -> sa.ScalarSelect:
    """The count of a user's unread notifications as a scalar subquery (one indexed count)."""
    return (sa.select(sa.func.count(Notification.id))
            .where(Notification.user_id == user_id, Notification.read_at.is_(None),
                   Notification.status != NotificationStatus.CANCELLED)
            .scalar_subquery())


def unread_count(user) -> int:
    """How many of the user's notifications are unread (read once per session, i.e. per request,
    unless notifications change)."""
    info = db.session.info
    if UNREAD not in info:
        info[UNREAD] = db.session.scalar(sa.select(unread_count_of(user.id))) or 0
    return info[UNREAD]


# The count read with the user at the start of a request no longer holds once notifications change.
@sa.event.listens_for(sa.orm.Session, "after_flush")
def _forget_unread(session, flush_context) -> None:
    if any(isinstance(o, Notification) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop(UNREAD, None)


@sa.event.listens_for(sa.orm.Session, "do_orm_execute")
def _forget_unread_on_statement(state) -> None:
    if not (state.is_update or state.is_insert or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if table is not None and table.name == Notification.__tablename__:
        state.session.info.pop(UNREAD, None)


def mark_all_read(user, clock: Clock) -> int:
    """Mark every unread notification of the user read; returns how many."""
    result = db.session.execute(
        sa.update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


# --- the administrators' outbox ---------------------------------------------------------------------


def outbox_for_admin():
    """Pending, sending and failed messages, failed first, then the oldest."""
    failed_first = sa.case((Notification.status == NotificationStatus.FAILED, 0), else_=1)
    return (sa.select(Notification).where(Notification.status.in_(ADMIN_STATUSES))
            .order_by(failed_first, Notification.created_at, Notification.id))


def retry_failed(notification: Notification, actor, clock: Clock) -> Notification:
    """An administrator queues a failed message again, with a fresh count of attempts."""
    if actor.role != Role.ADMIN:
        raise PermissionDenied(_l("Only administrators may do this."))
    if notification.status != NotificationStatus.FAILED:
        raise InvalidTransition(_l("Only a failed message can be retried."))
    outbox.retry(notification, clock)
    audit.record(actor, clock, "notification.retry", notification,
                 before={"status": "failed"}, after={"status": "pending"}, task_id=notification.task_id)
    return notification

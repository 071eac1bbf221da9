"""Progress notes (整改进展) with optional evidence."""

from __future__ import annotations

from tracker.audit import services as audit
from tracker.clock import Clock
from tracker.enums import TaskState
from tracker.extensions import db
from tracker.i18n import lazy_gettext as _l
from tracker.org.models import User
from tracker.tasks import rules
from tracker.tasks.evidence import Upload
from tracker.tasks.models import Progress, Task
from tracker.tasks.services.acknowledgement import acknowledge_by_working
from tracker.tasks.services.common import raise_if, text
from tracker.tasks.services.files import attach
from tracker.tasks.services.transitions import start


def post_progress(task: Task, actor: User, clock: Clock, *, body: str | None,
                  uploads: list[Upload] | None = None) -> Progress:
    """A dated progress note with optional evidence; the first one starts an assigned task."""
    rules.require(task, actor, "progress")
    errors: dict = {}
    body = text(body, "body", errors, required=True, label=_l("Progress"))
    raise_if(errors)
    acknowledge_by_working(task, actor, clock)
    progress = Progress(task_id=task.id, author_id=actor.id, body=body, created_at=clock.now())
    db.session.add(progress)
    db.session.flush()
    if uploads:
        attach(task, actor, clock, uploads, progress)
    audit.record(actor, clock, "progress.create", progress, after={"body": body},
                 task_id=task.id, problem_id=task.problem_id)
    if task.state == TaskState.ASSIGNED:
        start(task, actor, clock)
    return progress

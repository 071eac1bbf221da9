"""Evidence files stored for a measure; a rolled-back transaction removes the files it wrote."""

from __future__ import annotations

from tracker.clock import Clock
from tracker.extensions import db
from tracker.org.models import User
from tracker.tasks import evidence as files
from tracker.tasks.evidence import Upload
from tracker.tasks.models import Evidence, Progress, Task


def attach(task: Task, actor: User, clock: Clock, uploads: list[Upload], progress: Progress | None,
           period_id: int | None = None, recheck_id: int | None = None):
    """Store files (of a progress note, one period's result or a re-check's finding); the written files are
    remembered so a rollback can remove them."""
    stored = []
    try:
        for upload in uploads:
            values = files.store(upload)
            stored.append(values["stored_name"])
            ev = Evidence(task_id=task.id, progress=progress, period_id=period_id, recheck_id=recheck_id,
                          uploaded_by_id=actor.id, created_at=clock.now(), **values)
            db.session.add(ev)
    except BaseException:
        files.discard(stored)
        raise
    db.session.info.setdefault("written_files", []).extend(stored)
    return stored

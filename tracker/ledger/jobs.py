"""Ledger checks and imports as background jobs: a database row per job, no broker.

The upload page stores the file (tracker.storage, area "imports") and queues a *check* job; the
preview's confirmation queues an *import* job for the same file. Any process may run them:
`run_pending` sweeps, claims the oldest queued job with one conditional UPDATE (FOR UPDATE SKIP
LOCKED on PostgreSQL), so two workers never hold the same job, and runs it. tracker.ledger.worker
calls it on a few threads of the web process that queued the job (or of any process whose page
polls a job left waiting); tests call it directly.

While a job runs, `JobProgress` writes its phase and rows done, and a heartbeat every few seconds,
each in a short transaction on a connection of its own, never inside the import's transaction.
On SQLite, where a writer excludes every other, it stays quiet while the import writes (a few
seconds for 20,000 rows).

All or nothing: an import's rows and its job's `done` are committed in one transaction, and every
write of the job is conditional on the worker's stamp. A worker that died left nothing behind;
`sweep` finds its job by the stopped heartbeat and queues it again, up to
LEDGER_JOB_MAX_ATTEMPTS runs, then fails it with the reason. A worker that lost its job that way
(frozen longer than LEDGER_JOB_STALE_SECONDS) finds out at its next write and rolls back.

Job rows are the services' business here: none of these functions commits except the runner's
own (`run_pending`, `sweep`), which own their transactions as a scheduler job does.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from contextlib import closing
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from tracker.clock import Clock, current_clock, utcnow
from tracker.enums import Role
from tracker.errors import PermissionDenied, ValidationFailed
from tracker.extensions import db
from tracker.i18n import gettext as _
from tracker.i18n import lazy_gettext as _l
from tracker.ledger import importer
from tracker.ledger.models import ImportJob, JobKind, JobPhase, JobState
from tracker.ledger.preview import report_json
from tracker.org.models import User
from tracker.storage import storage

log = logging.getLogger(__name__)
AREA = "imports"
PROGRESS_SECONDS = 0.5  # progress is written at most this often
KEEP_FINISHED = timedelta(days=7)  # finished jobs are deleted after this
IMPORTERS = (Role.ADMIN, Role.MANAGER)
TABLE = ImportJob.__table__


class JobLost(Exception):
    """This worker's claim on the job is gone (swept as stopped, run elsewhere): roll back."""


class JobFailed(Exception):
    """The job cannot run: `message` (lazy) says why, to its owner."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def setting(name: str, default: float) -> float:
    """A number from the configuration (LEDGER_JOB_*), else `default`."""
    value = current_app.config.get(name)
    return default if value is None else float(value)


def worker_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:120]


# --- what the pages do -----------------------------------------------------------------------------


def start_check(actor: User, *, stored_name: str, filename: str, language: str) -> ImportJob:
    """Queue the check of an upload already in the store (the caller commits, then wakes a worker)."""
    if actor.role not in IMPORTERS:
        raise PermissionDenied(_l("Only managers may import ledgers."))
    open_jobs = db.session.scalar(sa.select(sa.func.count(ImportJob.id)).where(
        ImportJob.owner_id == actor.id, ImportJob.state.in_((JobState.QUEUED, JobState.RUNNING))))
    if open_jobs >= setting("LEDGER_JOB_MAX_OPEN", 3):
        raise ValidationFailed(_l("Ledgers you uploaded are still being checked or imported; wait until "
                                  "they are finished."))
    job = ImportJob(owner_id=actor.id, kind=JobKind.CHECK, state=JobState.QUEUED, stored_name=stored_name,
                    filename=filename[:255], language=language, created_at=utcnow())
    db.session.add(job)
    db.session.flush()
    return job


def start_import(check: ImportJob, actor: User) -> ImportJob:
    """Queue the import of a checked upload (the caller commits, then wakes a worker). Confirming
    twice gives the same import job (one import per upload)."""
    if check.owner_id != actor.id or actor.role not in IMPORTERS:
        raise PermissionDenied(_l("Only managers may import ledgers."))
    if check.kind != JobKind.CHECK or check.state != JobState.DONE or (check.report or {}).get("errors"):
        raise ValidationFailed(_l("Only a ledger whose check found no errors can be imported."))
    existing = _import_of(check)
    if existing is not None:
        return existing
    job = ImportJob(owner_id=actor.id, kind=JobKind.IMPORT, state=JobState.QUEUED,
                    stored_name=check.stored_name, filename=check.filename, language=check.language,
                    total=check.total, created_at=utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(job)
    except IntegrityError:  # a concurrent confirmation queued it first
        return _import_of(check)
    return job


def _import_of(check: ImportJob) -> ImportJob | None:
    return db.session.scalar(sa.select(ImportJob).where(ImportJob.stored_name == check.stored_name,
                                                        ImportJob.kind == JobKind.IMPORT))


def import_of(check: ImportJob) -> ImportJob | None:
    """The import job queued from this check, if any."""
    return _import_of(check)


def discard(check: ImportJob, actor: User) -> str | None:
    """Throw a checked upload's job away; the file to delete from the store once that is committed (None
    when an import of it was queued: it keeps running)."""
    if check.owner_id != actor.id:
        raise PermissionDenied(_l("Only managers may import ledgers."))
    keep = _import_of(check) is not None
    db.session.delete(check)
    db.session.flush()
    return None if keep else check.stored_name


def job_of(actor: User, job_id: int) -> ImportJob | None:
    """The actor's own job, else None (other people's jobs do not exist for them)."""
    job = db.session.get(ImportJob, job_id)
    return job if job is not None and job.owner_id == actor.id else None


def is_stale(job: ImportJob, now: datetime | None = None) -> bool:
    """A running job whose heartbeat stopped, or a queued one nobody took for a while."""
    now = now or utcnow()
    stale = timedelta(seconds=setting("LEDGER_JOB_STALE_SECONDS", 60))
    if job.state == JobState.RUNNING:
        return job.heartbeat_at is None or _aware(job.heartbeat_at) < now - stale
    return job.state == JobState.QUEUED and _aware(job.created_at) < now - timedelta(seconds=2)


def _aware(moment: datetime) -> datetime:
    """SQLite gives timestamps back without their zone; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)


# --- the runner ------------------------------------------------------------------------------------


def run_pending(clock: Clock | None = None, *, limit: int | None = None) -> list[int]:
    """Sweep, then claim and run queued jobs, oldest first, until none is left (or `limit` ran); the
    ids run. Each job runs in an app context (and so a database session) of its own."""
    app = current_app._get_current_object()
    ran: list[int] = []
    while limit is None or len(ran) < limit:
        with app.app_context():
            sweep()
            token = worker_token()
            job_id = claim(token)
            if job_id is None:
                break
            run_job(job_id, token, clock or current_clock())
        ran.append(job_id)
    return ran


def claim(token: str, now: datetime | None = None) -> int | None:
    """Take the oldest queued job for this worker (committed); its id, or None."""
    now = now or utcnow()
    oldest = sa.select(TABLE.c.id).where(TABLE.c.state == JobState.QUEUED).order_by(TABLE.c.id).limit(1)
    if db.session.get_bind().dialect.name == "postgresql":
        oldest = oldest.with_for_update(skip_locked=True)
    job_id = db.session.execute(
        TABLE.update().where(TABLE.c.id == oldest.scalar_subquery(), TABLE.c.state == JobState.QUEUED)
        .values(state=JobState.RUNNING, worker=token, started_at=now, heartbeat_at=now, phase=None,
                done_rows=0, attempts=TABLE.c.attempts + 1, version=TABLE.c.version + 1)
        .returning(TABLE.c.id)).scalar()
    db.session.commit()
    return job_id


def sweep(now: datetime | None = None) -> tuple[int, int]:
    """Jobs whose worker stopped beating: queued again, or failed after LEDGER_JOB_MAX_ATTEMPTS runs
    (committed); finished jobs older than a week are deleted. Returns (requeued, failed)."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=setting("LEDGER_JOB_STALE_SECONDS", 60))
    stopped = sa.and_(TABLE.c.state == JobState.RUNNING, TABLE.c.heartbeat_at < cutoff)
    attempts = setting("LEDGER_JOB_MAX_ATTEMPTS", 2)
    requeued = db.session.execute(
        TABLE.update().where(stopped, TABLE.c.attempts < attempts)
        .values(state=JobState.QUEUED, worker=None, phase=None, done_rows=0, version=TABLE.c.version + 1)
    ).rowcount or 0
    failed = []
    for job in db.session.scalars(sa.select(ImportJob).where(stopped).order_by(ImportJob.id)).all():
        with force_locale(job.language):
            error = _stopped(job.kind, job.attempts)
        if _finish(job.id, job.worker, JobState.FAILED, error=error, now=now, heartbeat_before=cutoff):
            failed.append(job.stored_name)
    db.session.execute(TABLE.delete().where(TABLE.c.state.in_((JobState.DONE, JobState.FAILED)),
                                            TABLE.c.finished_at < now - KEEP_FINISHED))
    db.session.commit()
    for name in failed:
        storage().delete(AREA, name)
    if requeued or failed:
        log.warning("ledger jobs whose worker stopped: %s queued again, %s failed", requeued, len(failed))
    return requeued, len(failed)


def _stopped(kind: JobKind, attempts: int) -> str:
    if kind == JobKind.IMPORT:
        return _("The import stopped %(n)s times (the server restarted?); nothing was imported. Upload the "
                 "file again.", n=attempts)
    return _("The check stopped %(n)s times (the server restarted?). Upload the file again.", n=attempts)


def run_job(job_id: int, token: str, clock: Clock) -> None:
    """Run one claimed job to its end: done, failed with a reason, or given up when lost."""
    job = db.session.get(ImportJob, job_id)
    with force_locale(job.language):
        try:
            if job.kind == JobKind.CHECK:
                _run_check(job, token, clock)
            else:
                _run_import(job, token, clock)
        except JobLost:
            db.session.rollback()
            log.warning("ledger job %s was taken from worker %s; its run was rolled back", job_id, token)
        except JobFailed as exc:
            db.session.rollback()
            _fail(job_id, token, str(exc.message), delete=job.stored_name)
        except Exception:
            log.exception("ledger job %s failed", job_id)
            db.session.rollback()
            message = (_("The import failed; nothing was imported. Try again later.")
                       if job.kind == JobKind.IMPORT else _("The check failed. Try again later."))
            _fail(job_id, token, message, delete=job.stored_name)


def _setup(job: ImportJob) -> tuple[User, bytes, dict]:
    actor = db.session.get(User, job.owner_id)
    if actor is None or not actor.active or actor.role not in IMPORTERS:
        raise JobFailed(_l("Only managers may import ledgers."))
    found = storage().open(AREA, job.stored_name)
    if found is None:
        raise JobFailed(_l("The uploaded file is no longer kept (files wait a day); upload it again."))
    with closing(found):
        data = found.read()
    return actor, data, importer.import_limits(current_app.config)


def _run_check(job: ImportJob, token: str, clock: Clock) -> None:
    actor, data, limits = _setup(job)
    with JobProgress(job.id, token) as progress:
        report = importer.check_import(data, actor, clock, lang=job.language, progress=progress, **limits)
        kept = report_json(report)
    db.session.rollback()  # a check writes nothing
    if not _finish(job.id, token, JobState.DONE, report=kept,
                   total=report.measure_count + len(report.problems)):
        raise JobLost()
    db.session.commit()
    if not report.ok:
        storage().delete(AREA, job.stored_name)  # only a clean ledger may be confirmed


def _run_import(job: ImportJob, token: str, clock: Clock) -> None:
    actor, data, limits = _setup(job)
    with JobProgress(job.id, token) as progress:
        report = importer.run_import(data, actor, clock, lang=job.language, progress=progress, **limits)
        kept = report_json(report) if not report.ok else None
    if not report.ok:
        db.session.rollback()
        if not _finish(job.id, token, JobState.FAILED, report=kept,
                       error=_("The ledger no longer passes the check (the data changed since the preview); "
                               "nothing was imported.")):
            raise JobLost()
        db.session.commit()
        storage().delete(AREA, job.stored_name)
        return
    numbers = [p.created_number for p in report.problems]
    result = {"numbers": numbers, "problems": len(numbers), "measures": report.measure_count,
              "sources": len(report.new_sources)}
    # In the import's own transaction: the job is done exactly when its rows are in.
    if not _finish(job.id, token, JobState.DONE, report=result):
        raise JobLost()
    db.session.commit()
    storage().delete(AREA, job.stored_name)


def _finish(job_id: int, worker: str | None, state: JobState, *, report: dict | None = None,
            error: str | None = None, total: int | None = None, now: datetime | None = None,
            heartbeat_before: datetime | None = None) -> int:
    """End a running job held by `worker` (in the session's transaction; the caller commits); 1 if it did."""
    where = [TABLE.c.id == job_id, TABLE.c.state == JobState.RUNNING, TABLE.c.worker == worker]
    if heartbeat_before is not None:
        where.append(TABLE.c.heartbeat_at < heartbeat_before)
    values = dict(state=state, phase=None, report=report, error=error, finished_at=now or utcnow(),
                  version=TABLE.c.version + 1)
    if total is not None:
        values.update(total=total, done_rows=total)
    return db.session.execute(TABLE.update().where(*where).values(**values)).rowcount or 0


def _fail(job_id: int, token: str, message: str, *, delete: str) -> None:
    try:
        failed = _finish(job_id, token, JobState.FAILED, error=message)
        db.session.commit()
        if failed:  # else the job is another worker's now, and so is its file
            storage().delete(AREA, delete)
    except SQLAlchemyError:
        log.exception("ledger job %s: could not record its failure", job_id)
        db.session.rollback()


# --- progress ----------------------------------------------------------------------------------------


class JobProgress(importer.Progress):
    """A running job's phase, progress and heartbeat, written on connections of their own.

    The heartbeat beats on a thread every LEDGER_JOB_HEARTBEAT_SECONDS, also while the job reads a
    large workbook; progress is written at most every PROGRESS_SECONDS. Every write is conditional
    on this worker's stamp: a write that finds the job taken away raises JobLost in the job.
    """

    def __init__(self, job_id: int, token: str):
        self.job_id, self.token = job_id, token
        self.engine = db.engine
        self.every = setting("LEDGER_JOB_HEARTBEAT_SECONDS", 5)
        self.quiet = False  # SQLite while the import writes: nothing else can write
        self.lost = False
        self.total = 0
        self._last = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"ledger-job-{job_id}-heartbeat", daemon=True)

    def __enter__(self) -> JobProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def phase(self, name: str, total: int) -> None:
        self.total = total
        self._try(phase=JobPhase(name), total=total, done_rows=0)
        if name == importer.SAVING and self.engine.dialect.name == "sqlite":
            self.quiet = True

    def step(self, done: int) -> None:
        if self.lost:
            raise JobLost()
        now = time.monotonic()
        if self.quiet or now - self._last < PROGRESS_SECONDS:
            return
        self._try(done_rows=min(done, self.total))

    def _try(self, **values) -> None:
        """Progress is worth a try, not the job: a busy database only delays the bar."""
        try:
            self._write(**values)
        except SQLAlchemyError as exc:
            log.warning("ledger job %s: progress not written: %s", self.job_id, exc)

    def _write(self, **values) -> None:
        with self._lock:
            self._last = time.monotonic()
            with self.engine.begin() as conn:
                found = conn.execute(
                    TABLE.update().where(TABLE.c.id == self.job_id, TABLE.c.worker == self.token,
                                         TABLE.c.state == JobState.RUNNING)
                    .values(heartbeat_at=utcnow(), **values)).rowcount
        if not found:
            self.lost = True
            raise JobLost()

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            if self.quiet:
                continue
            try:
                self._write()
            except JobLost:
                return  # the job notices at its next step
            except SQLAlchemyError as exc:  # a busy database: the next beat will do
                log.warning("ledger job %s: heartbeat not written: %s", self.job_id, exc)
            except Exception:  # never let the thread die silently; the sweep copes with a silent job
                log.exception("ledger job %s: heartbeat failed", self.job_id)
                return

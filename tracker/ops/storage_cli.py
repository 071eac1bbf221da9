"""Commands: `flask --app tracker storage migrate --to s3|local` and `flask --app tracker storage check`.

Moving the files (evidence, the notice template, ledger imports waiting for confirmation) to the other
kind of store, with the app running:
  1. put the S3_* settings in place, EVIDENCE_STORAGE unchanged, and run `storage migrate --to s3`;
  2. stop the app and run it again: what the target already holds with the right sha256 is skipped,
     so this run copies only what arrived meanwhile (an interrupted run continues the same way);
  3. set EVIDENCE_STORAGE=s3, start the app; `storage check` verifies every evidence row.

Each file is streamed through a scratch file of the target (never whole in memory), and counts as
moved only when the target's sha256 (S3: the object's metadata; local: computed) equals the source's
and, for evidence, the sha256 and size its database row recorded. A file the target already holds with
OTHER content is reported and left alone unless --overwrite is given: puts are atomic, so no run of
this command leaves such a file; something else wrote it (a shared bucket or prefix?), and a look
comes before replacing it.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass, field
from typing import NamedTuple

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from tracker.extensions import db
from tracker.storage import CHUNK, LocalStorage, S3Storage, StorageError, Stored, build, sha256_of, storage
from tracker.supervision.models import NoticeFile
from tracker.tasks.models import Evidence

AREAS = ("evidence", "templates", "imports")


class Recorded(NamedTuple):
    """What the database knows of a stored evidence file."""

    size: int
    sha256: str
    content_type: str
    row: str  # "evidence 12 整改报告.pdf", for the operator


def recorded_files() -> dict[str, Recorded]:
    """stored_name → Recorded, for every evidence row: measures' evidence and notice replies' files."""
    found = {}
    for model, label in ((Evidence, "evidence"), (NoticeFile, "notice file")):
        query = sa.select(model.stored_name, model.size, model.sha256, model.content_type, model.id,
                          model.filename).execution_options(yield_per=1000)
        for name, size, sha, content_type, row_id, filename in db.session.execute(query):
            found[name] = Recorded(size, sha, content_type, f"{label} {row_id} {filename}")
    return found


def digest_of(store, area: str, name: str, stored: Stored | None = None, *, deep: bool = False
              ) -> str | None:
    """A stored file's sha256: S3 keeps it with the object (unless `deep`), else it is computed by
    reading the file in chunks; None when the file is gone."""
    if stored is not None and stored.sha256 and not deep:
        return stored.sha256
    stream = store.open(area, name)
    if stream is None:
        return None
    with stream:
        return sha256_of(stream)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.1f} KB"


# --- migrate -------------------------------------------------------------------------------------


@dataclass
class Migration:
    source: LocalStorage | S3Storage
    target: LocalStorage | S3Storage
    dry_run: bool = False
    overwrite: bool = False
    copied: int = 0
    present: int = 0
    failed: int = 0
    missing: int = 0
    bytes: int = 0
    done: list[tuple[str, str]] = field(default_factory=list)  # verified in the target, source may go

    def fail(self, label: str, why: str) -> None:
        self.failed += 1
        click.echo(f"FAILED   {label}: {why}", err=True)

    def run(self) -> None:
        recorded = recorded_files()
        for area in AREAS:
            listed = {s.name: s for s in self.source.names(area)}
            expected = recorded if area == "evidence" else {}
            for name in sorted(listed.keys() | expected.keys()):
                self.one(area, name, listed.get(name), expected.get(name))

    def one(self, area: str, name: str, src: Stored | None, rec: Recorded | None) -> None:
        """Copy one file unless the target holds it already; `rec` is its database row (evidence)."""
        label = f"{area}/{name}"
        if rec is not None:
            want = (rec.size, rec.sha256)
        elif (src_sha := digest_of(self.source, area, name, src)) is not None:
            want = (src.size, src_sha)
        else:
            return  # an unrecorded file removed since it was listed (an import confirmed meanwhile)
        there = self.target.stat(area, name)
        if there is not None:
            got = (there.size, digest_of(self.target, area, name, there))
            if got == want:
                self.present += 1
                if src is not None:
                    self.done.append((area, name))
                return
            if not self.overwrite:
                whose = "its database row" if rec else "the source's"
                self.fail(label, f"the target already holds other content ({_size(got[0])}, sha256 "
                                 f"{got[1]}) than {whose} ({want[1]}); left alone: --overwrite replaces it")
                return
        if src is None:
            self.missing += 1
            click.echo(f"MISSING  {label}: {rec.row} has no file in the source (nor in the target)",
                       err=True)
            return
        if self.dry_run:
            self.copied += 1
            self.bytes += src.size
            click.echo(f"would copy {label} ({_size(src.size)})")
            return
        self.copy(area, name, src, want, rec)

    def copy(self, area: str, name: str, src: Stored, want: tuple[int, str], rec: Recorded | None) -> None:
        label = f"{area}/{name}"
        part = self.target.scratch() / f".{name}.migrating"
        try:
            size, sha = self.fetch(area, name, part)
            if size is None:
                self.missing += 1
                click.echo(f"MISSING  {label}: removed from the source while the migration ran", err=True)
                return
            if (size, sha) != want or (src.sha256 and src.sha256 != sha):
                whose = "its database row records" if rec else "the source's listing said"
                self.fail(label, f"the source's content ({_size(size)}, sha256 {sha}) is not what {whose} "
                                 f"({want[1]}): damaged or replaced in the source; not copied")
                return
            content_type = rec.content_type if rec else mimetypes.guess_type(name)[0]
            self.target.put_file(area, name, part, sha256=sha, content_type=content_type)
        finally:
            part.unlink(missing_ok=True)
        there = self.target.stat(area, name)
        got = None if there is None else (there.size, digest_of(self.target, area, name, there))
        if got != (size, sha):
            self.target.delete(area, name)
            self.fail(label, f"after copying, the target reports {got} instead of ({size}, {sha}); removed "
                             "from the target")
            return
        self.copied += 1
        self.bytes += size
        self.done.append((area, name))

    def fetch(self, area: str, name: str, part) -> tuple[int | None, str | None]:
        """Stream the source file into `part`: (size, sha256), or (None, None) when it is gone."""
        stream = self.source.open(area, name)
        if stream is None:
            return None, None
        digest, size = hashlib.sha256(), 0
        with stream, open(part, "wb") as out:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        return size, digest.hexdigest()

    def summary(self) -> str:
        verb = "Would copy" if self.dry_run else "Copied"
        return (f"{verb} {self.copied} files ({_size(self.bytes)}); already there {self.present}; "
                f"failed {self.failed}; missing {self.missing}.")


class EmptyStore:
    """A dry run's stand-in for a bucket that --create-bucket would create: it holds nothing yet."""

    def __init__(self, store):
        self.store, self.kind = store, store.kind

    def describe(self) -> str:
        return self.store.describe() + " (to be created)"

    def stat(self, area: str, name: str):
        return None

    def names(self, area: str):
        return iter(())


def _target(kind: str, create_bucket: bool, dry_run: bool):
    """The store of the other kind, reachable: a clear ClickException otherwise."""
    config = current_app.config
    if kind == "s3" and not config.get("S3_BUCKET"):
        raise click.ClickException("--to s3 needs the S3 settings: S3_BUCKET, and S3_ENDPOINT_URL (any store "
                                   "but AWS), S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION, S3_PREFIX as needed, "
                                   "in instance/config.py or the environment. Keep EVIDENCE_STORAGE as it "
                                   "is until the files are copied.")
    target = build(config, current_app.instance_path, kind=kind)
    try:
        if create_bucket and kind == "s3":
            if dry_run and not target.bucket_exists():
                click.echo(f"The bucket {target.bucket} does not exist yet; it would be created.")
                return EmptyStore(target)
            target.ensure_bucket()
        next(iter(target.names("evidence")), None)  # reachable, bucket there, allowed to list
    except StorageError as exc:
        hint = " (--create-bucket creates a missing bucket)" if kind == "s3" else ""
        raise click.ClickException(f"The target store cannot be used: {exc}{hint}") from exc
    return target


@click.group("storage", cls=AppGroup)
def storage_group():
    """Where the files live (EVIDENCE_STORAGE): move them to the other kind of store, check them."""


@storage_group.command("migrate")
@click.option("--to", "kind", required=True, type=click.Choice(["s3", "local"]),
              help="The kind of store to copy every file into (the current one is EVIDENCE_STORAGE).")
@click.option("--dry-run", is_flag=True, help="List what would be copied; write nothing.")
@click.option("--delete-source", is_flag=True,
              help="When every file is copied and verified, remove them from the current store.")
@click.option("--overwrite", is_flag=True,
              help="Replace files the target holds with other content than the source (reported otherwise).")
@click.option("--create-bucket", is_flag=True, help="--to s3: create the bucket if it does not exist.")
def migrate_command(kind: str, dry_run: bool, delete_source: bool, overwrite: bool, create_bucket: bool):
    """Copy every file (evidence, notice template, pending imports) to the other store, verifying each."""
    try:
        source = storage()
    except StorageError as exc:
        raise click.ClickException(str(exc)) from exc
    if source.kind == kind:
        raise click.ClickException(f"The files are already in a {kind} store ({source.describe()}): --to "
                                   "names the store to move them to.")
    target = _target(kind, create_bucket, dry_run)
    click.echo(f"{'Dry run: from' if dry_run else 'From'} {source.describe()} to {target.describe()}.")
    job = Migration(source, target, dry_run=dry_run, overwrite=overwrite)
    try:
        job.run()
    except (StorageError, OSError) as exc:
        click.echo(job.summary())
        raise click.ClickException(f"Stopped: {exc}. Run the command again to continue: what is copied "
                                   "and verified is skipped.") from exc
    click.echo(job.summary())
    if job.missing:
        click.echo(f"{job.missing} evidence rows have no file in either store (listed above); "
                   "`flask storage check` lists them too.")
    if job.failed:
        raise click.ClickException(f"{job.failed} files failed (listed above). Keep EVIDENCE_STORAGE="
                                   f"{source.kind} until a run ends without failures.")
    if dry_run:
        if delete_source:
            click.echo(f"Would then remove {len(job.done) + job.copied} files from {source.describe()}.")
        return
    if delete_source:
        for area, name in job.done:
            source.delete(area, name)
        click.echo(f"Removed {len(job.done)} files from {source.describe()}.")
    click.echo(f"Now set EVIDENCE_STORAGE={kind} (instance/config.py or the environment) and restart the app "
               "and its scheduler.")


# --- check ---------------------------------------------------------------------------------------


@storage_group.command("check")
@click.option("--deep", is_flag=True,
              help="S3: read every object and compute its sha256 instead of trusting the one stored with it.")
def check_command(deep: bool):
    """Check that the store holds every evidence file the database records, whole (size and sha256)."""
    recorded = recorded_files()
    problems = 0
    try:
        store = storage()
        for name, rec in sorted(recorded.items()):
            there = store.stat("evidence", name)
            if there is None:
                why = "missing"
            elif there.size != rec.size:
                why = f"damaged: {there.size} bytes, the database records {rec.size}"
            elif (sha := digest_of(store, "evidence", name, there, deep=deep)) != rec.sha256:
                why = f"damaged: sha256 {sha}, the database records {rec.sha256}"
            else:
                continue
            problems += 1
            click.echo(f"{rec.row} ({name}): {why}", err=True)
        unrecorded = sum(1 for s in store.names("evidence") if s.name not in recorded)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Checked {len(recorded)} evidence files in {store.describe()}: {problems} missing or damaged"
               + (f"; {unrecorded} stored files no row refers to." if unrecorded else "."))
    if problems:
        raise click.ClickException(f"{problems} evidence files are missing or damaged.")


commands: list = [storage_group]

"""Moving the files between the local folders and an S3-compatible server (moto's) with `flask storage
migrate`, checking them with `flask storage check`, and backups that take the files from whichever store
an app uses and restore them into whichever store the restoring app uses."""

from __future__ import annotations

import io
import json
import os
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import TODAY
from docx import Document
from s3_support import s3_settings
from test_ops_data import _demo, contents, files_of, keep_logging, make_app, needs_pg, new_database, run  # noqa: F401
from test_tasks_views import PDF, post_progress

from tracker.extensions import db
from tracker.ops.storage_cli import AREAS
from tracker.storage import S3Storage, StorageError, build, storage
from tracker.supervision import document
from tracker.supervision import services as supervision
from tracker.supervision.models import NoticeFile, NoticeKind
from tracker.tasks.evidence import Upload
from tracker.tasks.models import Evidence


def files_in(store) -> dict[str, bytes]:
    """{"area/name": content} of every file of a store."""
    found = {}
    for area in AREAS:
        for item in store.names(area):
            with store.open(area, item.name) as stream:
                found[f"{area}/{item.name}"] = stream.read()
    return found


def other(app, kind: str):
    return build(app.config, app.instance_path, kind=kind)


def leftovers(app) -> list[Path]:
    """Scratch files of a copy that were not cleaned up."""
    root = Path(app.instance_path)
    return [*(root / "scratch").glob("*"), *(root / "uploads").glob(".*")]


def template_bytes() -> bytes:
    custom = Document()
    custom.add_paragraph("红头 {{ issuing_unit }}")
    buffer = io.BytesIO()
    custom.save(buffer)
    return buffer.getvalue()


def migrate(runner, *args):
    return runner.invoke(args=["storage", "migrate", *args])


@pytest.fixture
def stored(app, client, org, make, clock, login_as):
    """In the app's store: two evidence files posted through the web, a notice reply's file, the notice
    template and a ledger import waiting for confirmation."""
    task = make.task(org.mgr_a, owner=org.staff_a, measure="规范公文处理", deadline=TODAY - timedelta(days=3),
                     allow_past_deadline=True)
    db.session.commit()
    login_as(org.staff_a)
    report, photo = PDF + os.urandom(300_000), b"\xff\xd8\xff" + os.urandom(50_000)
    posted = post_progress(client, task, files=[("整改报告.pdf", report), ("现场照片.jpg", photo)])
    assert posted.status_code == 302
    notice = supervision.issue(org.mgr_a, clock, kind=NoticeKind.SUPERVISION, task_ids=[task.id],
                               reply_due_on=TODAY + timedelta(days=5), body="请抓紧整改。")
    supervision.reply(notice, org.staff_a, clock, body="已整改",
                      uploads=[Upload("整改情况报告.pdf", io.BytesIO(PDF + os.urandom(1000)))])
    document.save_custom_template(template_bytes())
    storage().put_bytes("imports", "0123abcd.xlsx", b"PK\x03\x04 a workbook waiting")
    db.session.commit()
    found = files_in(storage())
    assert len(found) == 5
    return found


def downloads_match(client, login_as, org, expected: dict[str, bytes]) -> None:
    """Every evidence file and reply file comes back through the web as it was; the template too."""
    login_as(org.mgr_a)
    for ev in db.session.scalars(sa.select(Evidence)):
        got = client.get(f"/evidence/{ev.id}")
        assert got.status_code == 200 and got.data == expected[f"evidence/{ev.stored_name}"]
    (reply_file,) = db.session.scalars(sa.select(NoticeFile))
    got = client.get(f"/notice-files/{reply_file.id}")
    assert got.status_code == 200 and got.data == expected[f"evidence/{reply_file.stored_name}"]
    assert document.template_source().read() == expected[f"templates/{document.CUSTOM_NAME}"]


# --- migrate -------------------------------------------------------------------------------------


def test_local_to_s3_and_back(app, s3_server, runner, client, org, stored, login_as):
    app.config.update({**s3_settings(s3_server), "EVIDENCE_STORAGE": "local"})
    bucket = other(app, "s3")

    dry = migrate(runner, "--to", "s3", "--dry-run", "--create-bucket")
    assert dry.exit_code == 0 and "would be created" in dry.output and "Would copy 5 files" in dry.output
    assert not bucket.bucket_exists()  # a dry run creates no bucket either
    bucket.ensure_bucket()
    dry = migrate(runner, "--to", "s3", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Would copy 5 files" in dry.output and all(f"would copy {name}" in dry.output for name in stored)
    assert files_in(bucket) == {}

    first = migrate(runner, "--to", "s3", "--create-bucket")
    assert first.exit_code == 0, first.output
    assert "Copied 5 files" in first.output and "already there 0; failed 0; missing 0" in first.output
    assert "set EVIDENCE_STORAGE=s3" in first.output
    assert files_in(bucket) == stored and leftovers(app) == []
    for row in [*db.session.scalars(sa.select(Evidence)), *db.session.scalars(sa.select(NoticeFile))]:
        assert bucket.stat("evidence", row.stored_name).sha256 == row.sha256

    second = migrate(runner, "--to", "s3", "--delete-source")
    assert second.exit_code == 0, second.output
    assert "Copied 0 files" in second.output and "already there 5;" in second.output
    assert "Removed 5 files" in second.output
    assert files_in(other(app, "local")) == {}

    app.config["EVIDENCE_STORAGE"] = "s3"  # what the operator does next, and a restart
    downloads_match(client, login_as, org, stored)
    check = runner.invoke(args=["storage", "check"])
    assert check.exit_code == 0 and "Checked 3 evidence files" in check.output, check.output

    dry = migrate(runner, "--to", "local", "--dry-run")
    assert dry.exit_code == 0 and "Would copy 5 files" in dry.output
    assert files_in(other(app, "local")) == {}
    back = migrate(runner, "--to", "local")
    assert back.exit_code == 0, back.output
    assert "Copied 5 files" in back.output and "set EVIDENCE_STORAGE=local" in back.output
    assert files_in(other(app, "local")) == stored and leftovers(app) == []
    assert "Copied 0 files" in migrate(runner, "--to", "local").output

    app.config["EVIDENCE_STORAGE"] = "local"
    downloads_match(client, login_as, org, stored)
    assert runner.invoke(args=["storage", "check"]).exit_code == 0


def test_an_interrupted_migration_continues_where_it_stopped(app, s3_server, runner, stored, monkeypatch):
    app.config.update({**s3_settings(s3_server), "EVIDENCE_STORAGE": "local"})
    bucket = other(app, "s3")
    bucket.ensure_bucket()
    upload, calls = S3Storage.put_file, []

    def cut_off(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise StorageError("upload on the test bucket: connection reset by peer")
        return upload(self, *args, **kwargs)

    monkeypatch.setattr(S3Storage, "put_file", cut_off)
    stopped = migrate(runner, "--to", "s3")
    assert stopped.exit_code != 0
    assert "connection reset" in stopped.output and "Run the command again to continue" in stopped.output
    assert "Copied 2 files" in stopped.output and "EVIDENCE_STORAGE=s3" not in stopped.output
    assert len(files_in(bucket)) == 2 and leftovers(app) == []

    monkeypatch.setattr(S3Storage, "put_file", upload)
    again = migrate(runner, "--to", "s3")
    assert again.exit_code == 0, again.output
    assert "Copied 3 files" in again.output and "already there 2;" in again.output
    assert files_in(bucket) == stored


def test_other_content_in_the_target_is_reported_and_replaced_only_when_asked(app, s3_server, runner,
                                                                             stored):
    """The target may hold something this command did not write (its puts are atomic): a shared bucket,
    a mistyped prefix, damage. It is a failure until the operator asks for it to be replaced."""
    app.config.update({**s3_settings(s3_server), "EVIDENCE_STORAGE": "local"})
    bucket = other(app, "s3")
    bucket.ensure_bucket()
    ev = db.session.scalars(sa.select(Evidence).order_by(Evidence.id)).first()
    bucket.put_bytes("evidence", ev.stored_name, b"%PDF-1.4 something else")
    bucket.put_bytes("templates", document.CUSTOM_NAME, b"another organisation's template")

    found = migrate(runner, "--to", "s3")
    assert found.exit_code != 0
    assert f"FAILED   evidence/{ev.stored_name}" in found.output and "than its database row" in found.output
    assert f"FAILED   templates/{document.CUSTOM_NAME}" in found.output and "--overwrite" in found.output
    assert "Copied 3 files" in found.output and "failed 2" in found.output
    assert "Keep EVIDENCE_STORAGE=local" in found.output and "Now set" not in found.output
    assert bucket.open("evidence", ev.stored_name).read() == b"%PDF-1.4 something else"  # left alone

    repaired = migrate(runner, "--to", "s3", "--overwrite")
    assert repaired.exit_code == 0, repaired.output
    assert "Copied 2 files" in repaired.output and "already there 3;" in repaired.output
    assert files_in(bucket) == stored


def test_a_damaged_or_lost_source_file_is_not_copied(app, s3_server, runner, stored):
    app.config.update({**s3_settings(s3_server), "EVIDENCE_STORAGE": "local"})
    damaged, lost = db.session.scalars(sa.select(Evidence).order_by(Evidence.id)).all()
    local = other(app, "local")
    local.path("evidence", damaged.stored_name).write_bytes(b"%PDF-1.4 overwritten on the disk")
    local.delete("evidence", lost.stored_name)

    result = migrate(runner, "--to", "s3", "--create-bucket", "--delete-source")
    assert result.exit_code != 0
    assert f"FAILED   evidence/{damaged.stored_name}" in result.output
    assert "damaged or replaced in the source; not copied" in result.output
    assert f"MISSING  evidence/{lost.stored_name}: evidence {lost.id} {lost.filename}" in result.output
    assert "Copied 3 files" in result.output and "failed 1; missing 1" in result.output
    assert f"evidence/{damaged.stored_name}" not in files_in(other(app, "s3"))
    assert len(files_in(local)) == 4  # nothing removed from the source while a file failed


def test_migrate_says_what_is_wrong_with_the_target(app, s3_server, runner):
    no_settings = migrate(runner, "--to", "s3")
    assert no_settings.exit_code != 0 and "S3_BUCKET" in no_settings.output
    same = migrate(runner, "--to", "local")
    assert same.exit_code != 0 and "already in a local store" in same.output
    app.config.update({**s3_settings(s3_server), "EVIDENCE_STORAGE": "local"})
    no_bucket = migrate(runner, "--to", "s3")
    assert no_bucket.exit_code != 0 and "NoSuchBucket" in no_bucket.output
    assert "Traceback" not in no_bucket.output
    dry = migrate(runner, "--to", "s3", "--create-bucket", "--dry-run")
    assert dry.exit_code == 0 and "would be created" in dry.output, dry.output
    assert not other(app, "s3").bucket_exists()  # a dry run creates nothing
    created = migrate(runner, "--to", "s3", "--create-bucket")
    assert created.exit_code == 0 and "Copied 0 files" in created.output, created.output


# --- check ---------------------------------------------------------------------------------------


def test_check_finds_missing_and_damaged_files(app, each_storage, runner, stored):
    store = storage()
    assert runner.invoke(args=["storage", "check"]).exit_code == 0
    gone, changed = db.session.scalars(sa.select(Evidence).order_by(Evidence.id)).all()
    (reply_file,) = db.session.scalars(sa.select(NoticeFile))
    store.delete("evidence", gone.stored_name)
    store.put_bytes("evidence", changed.stored_name, os.urandom(changed.size))  # same size, other bytes
    store.put_bytes("evidence", reply_file.stored_name, b"short")
    store.put_bytes("evidence", "stray.pdf", b"%PDF-1.4 no row")

    result = runner.invoke(args=["storage", "check"])
    assert result.exit_code != 0
    out = result.output
    assert f"evidence {gone.id} {gone.filename} ({gone.stored_name}): missing" in out
    assert f"evidence {changed.id} {changed.filename} ({changed.stored_name}): damaged: sha256" in out
    reply_line = f"notice file {reply_file.id} {reply_file.filename} ({reply_file.stored_name})"
    assert f"{reply_line}: damaged: 5 bytes" in out
    assert "3 missing or damaged; 1 stored files no row refers to" in out


def test_check_deep_reads_what_the_metadata_hides(app, s3, runner, stored):
    """An object whose content changed while its metadata still claims the recorded sha256."""
    ev = db.session.scalars(sa.select(Evidence).order_by(Evidence.id)).first()
    store = storage()
    store.client.put_object(Bucket=store.bucket, Key=store.key("evidence", ev.stored_name),
                            Body=os.urandom(ev.size), Metadata={"sha256": ev.sha256})
    assert runner.invoke(args=["storage", "check"]).exit_code == 0
    deep = runner.invoke(args=["storage", "check", "--deep"])
    assert deep.exit_code != 0 and f"({ev.stored_name}): damaged: sha256" in deep.output


# --- backups through the store -------------------------------------------------------------------

KINDS = ["sqlite", pytest.param("postgresql", marks=needs_pg)]


def app_files(app) -> dict[str, bytes]:
    with app.app_context():
        return files_in(storage())


@pytest.mark.parametrize("kind", KINDS)
def test_a_backup_from_s3_restores_into_local_folders_and_back(kind, s3_server, new_database,  # noqa: F811
                                                              make_app, tmp_path):  # noqa: F811
    on_s3 = make_app(new_database(kind), **s3_settings(s3_server))
    with on_s3.app_context():
        storage().ensure_bucket()
    _demo(on_s3)
    with on_s3.app_context():
        document.save_custom_template(template_bytes())
    before = app_files(on_s3)
    assert f"templates/{document.CUSTOM_NAME}" in before and len(before) > 5
    assert not (Path(on_s3.instance_path) / "uploads").exists() or files_of(on_s3) == {}

    from_s3 = tmp_path / "from-s3.zip"
    assert run(on_s3, "backup", str(from_s3)).exit_code == 0
    local = make_app(new_database(kind))
    result = run(local, "restore", str(from_s3))
    assert result.exit_code == 0, result.output
    assert f"and {len(before)} files" in result.output
    assert app_files(local) == before and contents(local) == contents(on_s3)
    assert run(local, "storage", "check").exit_code == 0

    from_local = tmp_path / "from-local.zip"
    assert run(local, "backup", str(from_local)).exit_code == 0
    again = make_app(new_database(kind), **s3_settings(s3_server))
    with again.app_context():
        storage().ensure_bucket()
    result = run(again, "restore", str(from_local))
    assert result.exit_code == 0, result.output
    assert app_files(again) == before and contents(again) == contents(on_s3)
    with again.app_context():
        assert document.template_source().read() == before[f"templates/{document.CUSTOM_NAME}"]
    assert run(again, "storage", "check").exit_code == 0
    assert leftovers(again) == [] and leftovers(local) == []


def _as_format_1(archive: Path, target: Path) -> None:
    """The archive as the first format wrote it: evidence only, under files/uploads/."""
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        manifest = json.loads(src.read("manifest.json"))
        manifest["format_version"] = 1
        manifest["files"] = [{k: v for k, v in f.items() if k != "area"} for f in manifest["files"]
                             if f["area"] == "evidence"]
        for info in src.infolist():
            if info.filename.startswith("files/evidence/"):
                dst.writestr(info.filename.replace("files/evidence/", "files/uploads/"), src.read(info))
            elif not info.filename.startswith("files/") and info.filename != "manifest.json":
                dst.writestr(info.filename, src.read(info))
        dst.writestr("manifest.json", json.dumps(manifest))


def test_an_archive_of_the_first_format_restores_its_evidence(s3_server, new_database,  # noqa: F811
                                                              make_app, tmp_path):  # noqa: F811
    source = make_app(new_database("sqlite"))
    _demo(source)
    archive, old = tmp_path / "new.zip", tmp_path / "old.zip"
    assert run(source, "backup", str(archive)).exit_code == 0
    _as_format_1(archive, old)
    target = make_app(new_database("sqlite"), **s3_settings(s3_server))
    with target.app_context():
        storage().ensure_bucket()
    result = run(target, "restore", str(old))
    assert result.exit_code == 0, result.output
    assert app_files(target) == {f"evidence/{name}": data for name, data in files_of(source).items()}


def test_a_manifest_naming_a_file_outside_its_area_changes_nothing(new_database, make_app,  # noqa: F811
                                                                    tmp_path):
    source = make_app(new_database("sqlite"))
    archive, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    with source.app_context():
        document.save_custom_template(template_bytes())
    assert run(source, "backup", str(archive)).exit_code == 0
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "manifest.json":
                manifest = json.loads(data)
                manifest["files"][0]["name"] = "../config.py"
                data = json.dumps(manifest).encode()
            dst.writestr(info.filename, data)
    target = make_app(new_database("sqlite"))
    empty = contents(target)
    result = run(target, "restore", str(bad))
    assert result.exit_code != 0 and "cannot take: templates/../config.py" in result.output
    assert contents(target) == empty and app_files(target) == {}

"""Evidence files through the API: POST /tasks/{id}/progress and /notices/{id}/replies take
multipart/form-data (the body's fields as parts, files under `files`) beside JSON, with the web
page's checks (type, size, name) and all-or-nothing: a refused file stores nothing."""

from __future__ import annotations

import hashlib
import io

import pytest
import sqlalchemy as sa
from notice_support import issue
from test_api import api, data  # noqa: F401  (the API client and its data fixtures)

from tracker.api import openapi
from tracker.extensions import db
from tracker.storage import storage
from tracker.supervision.models import NoticeFile, NoticeKind
from tracker.tasks.models import Evidence, Progress

PDF = b"%PDF-1.4\n" + b"x" * 3000
pytestmark = pytest.mark.usefixtures("each_storage")  # every test with the local folders and with S3


def _form(body: str | None, *files: tuple[bytes, str], **extra) -> dict:
    form = {"files": [(io.BytesIO(content), name) for content, name in files], **extra}
    if body is not None:
        form["body"] = body
    return form


def _post(client, path: str, form: dict):
    return client.client.post("/api/v1" + path, data=form, headers=client.headers,
                              content_type="multipart/form-data")


def _stored(app) -> set[str]:
    return {s.name for s in storage().names("evidence")}


def test_progress_with_two_files_through_the_api(app, org, data, api):  # noqa: F811
    owner = api(org.staff_a)
    answer = _post(owner, f"/tasks/{data.task_a.id}/progress",
                   _form("已完成制度修订", (PDF, "整改报告.pdf"), (b"photo", "现场照片.jpg")))
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert set(body) == set(openapi.RESOURCES["Progress"][0])
    assert body["body"] == "已完成制度修订" and body["files"] == ["整改报告.pdf", "现场照片.jpg"]
    rows = db.session.scalars(sa.select(Evidence).where(Evidence.progress_id == body["id"])
                              .order_by(Evidence.id)).all()
    assert [r.filename for r in rows] == ["整改报告.pdf", "现场照片.jpg"]
    assert rows[0].sha256 == hashlib.sha256(PDF).hexdigest() and rows[0].size == len(PDF)
    assert {r.stored_name for r in rows} <= _stored(app)
    # JSON keeps working, and answers with no files.
    plain = owner.post(f"/tasks/{data.task_a.id}/progress", {"body": "继续推进"})
    assert plain.status_code == 201 and plain.get_json()["files"] == []


def test_a_refused_file_stores_nothing(app, org, data, api):  # noqa: F811
    owner = api(org.staff_a)
    before = _stored(app)
    refused = _post(owner, f"/tasks/{data.task_a.id}/progress",
                    _form("note", (PDF, "ok.pdf"), (b"MZ...", "tool.exe")))
    assert refused.status_code == 422
    assert list(refused.get_json()["fields"]) == ["files"]
    assert "tool.exe" in refused.get_json()["message"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Progress)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Evidence)) == 0
    assert _stored(app) == before  # the accepted first file was removed again

    for form, field in ((_form(None, (PDF, "a.pdf")), "body"),
                        (_form("note", (b"", "empty.pdf")), "files"),
                        (_form("note", (PDF, "noextension")), "files"),
                        (_form("note", extra=""), "extra")):
        answer = _post(owner, f"/tasks/{data.task_a.id}/progress", form)
        assert answer.status_code == 422, form
        assert field in answer.get_json()["fields"]
    stray = _post(owner, f"/tasks/{data.task_a.id}/progress",
                  {"body": "note", "attachment": (io.BytesIO(PDF), "a.pdf")})
    assert stray.status_code == 422 and list(stray.get_json()["fields"]) == ["attachment"]
    assert _stored(app) == before


def test_a_file_over_the_limit_is_refused(app, org, data, api):  # noqa: F811
    app.config["UPLOAD_MAX_MB"] = 1
    owner = api(org.staff_a)
    answer = _post(owner, f"/tasks/{data.task_a.id}/progress",
                   _form("note", (b"x" * (1024 * 1024 + 1), "big.pdf")))
    assert answer.status_code == 422 and "big.pdf" in answer.get_json()["message"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Evidence)) == 0


def test_files_follow_the_same_scope_and_roles(org, data, api):  # noqa: F811
    form = _form("note", (PDF, "a.pdf"))
    assert _post(api(org.staff_b), f"/tasks/{data.task_a.id}/progress", form).status_code == 404
    assert _post(api(org.staff_b), "/tasks/999999/progress", _form("note", (PDF, "a.pdf"))).status_code == 404
    assert _post(api(org.users["viewer_root"]), f"/tasks/{data.task_a.id}/progress",
                 _form("note", (PDF, "a.pdf"))).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Evidence)) == 0


def test_a_notice_reply_with_a_file_through_the_api(app, org, measures, clock, api):  # noqa: F811
    notice = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue)
    owner = api(org.staff_a)
    answer = _post(owner, f"/notices/{notice.id}/replies", _form("已按期整改，附报告", (PDF, "反馈报告.pdf")))
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["files"] == ["反馈报告.pdf"]
    (row,) = db.session.scalars(sa.select(NoticeFile).where(NoticeFile.notice_id == notice.id)).all()
    assert row.filename == "反馈报告.pdf" and row.stored_name in _stored(app)
    read = api(org.mgr_a).get(f"/notices/{notice.id}").get_json()
    assert read["replies"][0]["files"] == ["反馈报告.pdf"]
    # Someone the notice was not sent to: the same 404 as a notice that does not exist.
    assert _post(api(org.staff_b), f"/notices/{notice.id}/replies",
                 _form("x", (PDF, "a.pdf"))).status_code == 404


def test_the_openapi_document_offers_multipart_where_files_are_taken():
    doc = openapi.spec()
    for path in ("/tasks/{task_id}/progress", "/notices/{notice_id}/replies"):
        content = doc["paths"][path]["post"]["requestBody"]["content"]
        form = content["multipart/form-data"]["schema"]
        assert form["properties"]["files"]["items"]["format"] == "binary"
        assert form["required"] == ["body"]
    assert "multipart/form-data" not in doc["paths"]["/tasks"]["post"]["requestBody"]["content"]

"""Evidence file names: cleaned, shortened or replaced; the type is the real last extension; a name
problem is never blamed on the type; downloads carry RFC 5987 `filename*` and an ASCII fallback."""

from __future__ import annotations

import io
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from conftest import PASSWORD
from live_gunicorn import hidden_inputs, multipart
from test_tasks_views import PDF, count, errors_for, in_english, post_progress, uploads

from tracker.extensions import db
from tracker.tasks import services
from tracker.tasks.evidence import MAX_NAME, Upload, clean_filename, content_disposition
from tracker.tasks.models import Evidence, Progress


@pytest.fixture
def task(org, make):
    """A measure of unit A, owned by staff_a."""
    t = make.task(org.mgr_a, owner=org.staff_a, measure="建立健全学习制度")
    db.session.commit()
    return t


LONG = "关于" + "整改" * 150 + "的报告"

# client's name → the name stored
ACCEPTED = {
    "整改报告.pdf": "整改报告.pdf",
    "\u200b\u200d\ufeff.pdf": "佐证材料.pdf",  # zero-width only: replaced
    ".pdf": "佐证材料.pdf",  # no stem: a name problem, fixed by the name
    "  ..  .docx": "佐证材料.docx",
    "e\u0301tude.pdf": "\u00e9tude.pdf",  # NFC
    "整改\u200b报告\u0007.pdf. ": "整改报告.pdf",  # control and zero-width characters, trailing dot
    "\u3000整改  报告 .pdf": "整改 报告.pdf",
}


@pytest.mark.parametrize("sent", ACCEPTED)
def test_names_are_cleaned_through_the_form(app, client, org, task, login_as, sent):
    login_as(org.staff_a)
    response = post_progress(client, task, files=[(sent, PDF)])
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert db.session.scalars(sa.select(Evidence.filename)).all() == [ACCEPTED[sent]]


def test_a_long_name_is_shortened_keeping_the_extension(app, client, org, task, login_as):
    login_as(org.staff_a)
    assert post_progress(client, task, files=[(LONG + ".docx", PDF)]).status_code == 302
    name = db.session.scalar(sa.select(Evidence.filename))
    assert len(name) == MAX_NAME and name.endswith("….docx") and name.startswith("关于整改")


# client's name → (words the message has, the field error); never "type" for a name problem
REFUSED = {
    "report.pdf.exe": ("report.pdf.exe: files of type .exe are not accepted.", "File type not accepted."),
    "\u202efdp.exe": ("fdp.exe: files of type .exe are not accepted.", "File type not accepted."),
    "整改报告": ("整改报告: the file name has no extension", "The file name has no extension."),
    "\u200b\u200b": ("A file has no usable name", "The file name is empty."),
    " . ": ("A file has no usable name", "The file name is empty."),
}


@pytest.mark.parametrize("sent", REFUSED)
def test_name_and_type_problems_are_told_apart(app, client, org, task, login_as, sent):
    in_english(org.staff_a, login_as)
    response = post_progress(client, task, body="附件", files=[(sent, PDF)])
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    message, field = REFUSED[sent]
    assert message in html
    assert errors_for(html, "progress-files") == [field]
    if field != "File type not accepted.":
        assert "type" not in field and "not accepted" not in html
    assert count(Evidence) == 0 and count(Progress) == 0 and uploads(app) == []


def test_messages_in_chinese(app, client, org, task, login_as):
    login_as(org.staff_a)
    html = post_progress(client, task, files=[("整改报告", PDF)]).get_data(as_text=True)
    assert "整改报告：文件名没有扩展名" in html and "不接受" not in html
    html = post_progress(client, task, files=[("报告.pdf.exe", PDF)]).get_data(as_text=True)
    assert "报告.pdf.exe：不接受 .exe 类型的文件" in html


def test_the_service_cleans_names_the_same_way(app, org, task, make):
    """The rules live in the service (the API calls it too; it has no upload endpoint yet)."""
    sent = [Upload("\u200b.pdf", io.BytesIO(PDF)), Upload(LONG + ".pdf", io.BytesIO(PDF))]
    services.post_progress(task, org.staff_a, make.clock, body="附件", uploads=sent)
    db.session.commit()
    names = set(db.session.scalars(sa.select(Evidence.filename)))
    assert "佐证材料.pdf" in names
    (long,) = names - {"佐证材料.pdf"}
    assert len(long) == MAX_NAME and long.endswith("….pdf")


def test_a_path_in_the_name_is_dropped():
    assert clean_filename("C:\\Users\\张三\\现场照片.JPG") == "现场照片.JPG"
    assert clean_filename("../../etc/报告.pdf") == "报告.pdf"


@pytest.mark.parametrize(("name", "fallback"), [
    ("整改报告.pdf", "file.pdf"),
    ("Report 整改 2026.docx", "Report 2026.docx"),
    ("\u00e9tude.pdf", "etude.pdf"),
    ('a"b;c.pdf', "a b c.pdf"),
    ("佐证材料", "file"),
])
def test_content_disposition(name, fallback):
    assert content_disposition(name) == f"attachment; filename=\"{fallback}\"; filename*=UTF-8''" + quote(
        name, safe="!#$&+-.^_`|~")
    assert clean_filename(name) == name


def test_odd_chinese_name_downloads_through_gunicorn(org, make, live_gunicorn):
    t = make.task(org.mgr_a, owner=org.staff_a, measure="建立健全学习制度")
    db.session.commit()
    sent = "\u200b（第二批）整改报告\u200d；2026年.PDF. "
    owner = live_gunicorn.client().login("staff_a", PASSWORD)
    page = owner.get(f"/tasks/{t.id}")
    fields = {**hidden_inputs(page.text, "form-progress"), "progress-body": "已召开专题会议"}
    body, content_type = multipart(fields, [("progress-files", sent, PDF)])
    posted = owner.request("POST", f"/tasks/{t.id}/progress", body, {"Content-Type": content_type})
    assert posted.status == 302, posted.text[:2000]
    db.session.expire_all()
    ev = db.session.scalar(sa.select(Evidence).where(Evidence.task_id == t.id))
    assert ev.filename == "（第二批）整改报告；2026年.PDF"
    response = owner.get(f"/evidence/{ev.id}")
    assert response.status == 200 and response.body == PDF
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"2026.pdf\"; filename*=UTF-8''" + quote(ev.filename, safe="!#$&+-.^_`|~"))

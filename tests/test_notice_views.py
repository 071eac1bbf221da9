"""Notices' pages: 整改清单's selection, the proposal, the issue form (confirmed, CSRF-protected), the
list with its filters, "my notices", the notice page and its actions, the DOCX, the admin's template;
scope answers 404."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from conftest import TODAY
from docx import Document
from notice_support import issue

from tracker.extensions import db
from tracker.supervision.models import Notice, NoticeKind, NoticeRecipient, NoticeState


def page(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.get_data(as_text=True)


def test_the_rectification_list_offers_the_selection_to_managers_only(org, measures, login_as):
    html = page(login_as(org.mgr_a), "/tasks?overdue=1")
    assert 'id="notice-selection"' in html and f'name="task" value="{measures.overdue.id}"' in html
    assert 'name="kind" value="supervision"' in html and 'name="kind" value="reminder"' in html
    staff = page(login_as(org.staff_a), "/tasks")
    assert 'id="notice-selection"' not in staff and 'name="task"' not in staff


def test_issue_from_the_list_with_a_confirmation(org, measures, login_as):
    client = login_as(org.mgr_a)
    url = f"/notices/new?kind=supervision&task={measures.overdue.id}"
    html = page(client, url)
    assert "最长超期5天" in html and 'name="confirm"' in html and "data-confirm" in html
    assert (TODAY + timedelta(days=5)).isoformat() in html  # the default reply deadline
    data = {"kind": "supervision", "task": [measures.overdue.id], "reply_due_on": "2026-06-20",
            "body": "请于6月20日前反馈。"}
    refused = client.post("/notices/new", data=data)
    assert refused.status_code == 422 and db.session.scalar(sa.select(sa.func.count(Notice.id))) == 0
    done = client.post("/notices/new", data={**data, "confirm": "y"})
    assert done.status_code == 302
    notice = db.session.scalar(sa.select(Notice))
    assert done.headers["Location"].endswith(f"/notices/{notice.id}")
    assert notice.number_text == "〔2026〕第1期" and notice.body == "请于6月20日前反馈。"


@pytest.mark.parametrize("task_id", ["other", "missing"])
def test_issue_with_a_measure_out_of_scope_answers_like_a_missing_one(org, measures, login_as, task_id):
    client = login_as(org.mgr_a)
    tid = measures.other.id if task_id == "other" else 999999
    response = client.get(f"/notices/new?kind=supervision&task={tid}")
    assert response.status_code == 302 and "/tasks" in response.headers["Location"]
    assert "没有该整改措施。" in page(client, response.headers["Location"])
    posted = client.post("/notices/new", data={"kind": "supervision", "task": [tid], "confirm": "y",
                                               "reply_due_on": "2026-06-20", "body": "x"})
    assert posted.status_code == 302 and db.session.scalar(sa.select(sa.func.count(Notice.id))) == 0


def test_staff_and_viewers_cannot_issue_or_see_proposals(org, measures, login_as):
    for who in ("staff_a", "viewer_root"):
        client = login_as(org.users[who])
        page(client, "/notices/proposals", 404)
        page(client, f"/notices/new?kind=supervision&task={measures.overdue.id}", 404)


def test_proposals_page(org, measures, login_as):
    html = page(login_as(org.mgr_a), "/notices/proposals")
    assert 'data-proposal="supervision-A"' in html and 'data-proposal="reminder-A1"' in html
    assert f'value="{measures.overdue.id}"' in html


def test_the_notice_page_actions_and_scope(org, measures, clock, login_as):
    notice = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue)
    url = f"/notices/{notice.id}"
    for who in ("staff_a1", "staff_b", "mgr_b", "viewer_b"):
        page(login_as(org.users[who]), url, 404)
        page(login_as(org.users[who]), url + ".docx", 404)
    page(login_as(org.viewer_root), url)
    owner = login_as(org.staff_a)
    html = page(owner, url)
    assert 'id="form-acknowledge"' in html and 'id="form-reply"' in html and 'id="form-decide"' not in html
    assert owner.post(url + "/acknowledge").status_code == 302
    html = page(owner, url)
    assert 'data-recipient="staff_a"' in html and 'id="form-acknowledge"' not in html
    assert re.search(r'data-recipient="staff_a".*?data-signed="1"', html, re.S)
    assert owner.post(url + "/reply", data={"reply-body": " "}).status_code == 422
    reply = owner.post(url + "/reply", data={"reply-body": "已完成整改",
                                             "reply-files": (io.BytesIO(b"%PDF-1.4 x"), "整改报告.pdf")},
                       content_type="multipart/form-data")
    assert reply.status_code == 302
    html = page(owner, url)
    file_id = re.search(r'data-file="(\d+)"', html).group(1)
    assert owner.get(f"/notice-files/{file_id}").data == b"%PDF-1.4 x"
    page(login_as(org.staff_b), f"/notice-files/{file_id}", 404)
    issuer = login_as(org.mgr_a)
    assert 'id="form-decide"' in page(issuer, url)
    refused = issuer.post(url + "/decide", data={"decide-send_back": "1", "decide-reason": ""})
    assert refused.status_code == 422
    assert issuer.post(url + "/decide", data={"decide-accept": "1"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Notice, notice.id).state == NoticeState.CLOSED
    # The measure's timeline shows the notice, its 签收 and its reply.
    timeline = page(issuer, f"/tasks/{measures.overdue.id}")
    for action in ("notice.issue", "notice.acknowledge", "notice.reply", "notice.accept"):
        assert f'data-action="{action}"' in timeline
    assert f'data-notice-link="{notice.id}"' in timeline and "督办单〔2026〕第1期" in timeline


def test_a_refused_action_changes_nothing(org, measures, clock, login_as):
    notice = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue)
    leader = login_as(org.mgr_root)  # in copy
    assert leader.post(f"/notices/{notice.id}/reply", data={"reply-body": "x"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Notice, notice.id).state == NoticeState.ISSUED


def test_the_list_filters_sorts_and_my_notices(org, measures, clock, login_as):
    red = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue, due=TODAY)
    yellow = issue(org.mgr_a, clock, NoticeKind.REMINDER, measures.stalled, due=TODAY + timedelta(days=9))
    other = issue(org.mgr_b, clock, NoticeKind.SUPERVISION, measures.other)
    later = "2026-06-17T10:00:00"

    def ids(client, query=""):
        return [int(i) for i in re.findall(r'data-notice="(\d+)"', page(client, "/notices" + query))]

    root = login_as(org.mgr_root)
    assert set(ids(root)) == {red.id, yellow.id, other.id}
    assert set(ids(root, "?kind=reminder")) == {yellow.id}
    assert set(ids(root, "?colour=red")) == {red.id, other.id}
    assert set(ids(root, f"?unit={org.b.id}")) == {other.id}
    assert ids(root, "?state=closed") == []
    assert ids(root, "?issued_from=2026-06-16") == [] and len(ids(root, "?issued_to=2026-06-15")) == 3
    assert ids(root, "?sort=reply_due")[0] == red.id and ids(root, "?sort=-reply_due")[0] == yellow.id
    assert ids(root, "?kind=junk&colour=junk&unit=x&issued_from=y") == ids(root)  # junk is ignored
    db.session.get(Notice, red.id)
    from flask import current_app

    current_app.config["NOW"] = later
    assert ids(root, "?overdue=1") == [red.id]
    staff = login_as(org.staff_a)
    assert set(ids(staff)) == {red.id, yellow.id}
    assert set(int(i) for i in re.findall(r'data-notice="(\d+)"', page(staff, "/notices/mine"))) == {
        red.id, yellow.id}
    assert ids(login_as(org.staff_a1)) == []


def test_the_docx_download(org, measures, clock, login_as):
    notice = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue)
    response = login_as(org.staff_a).get(f"/notices/{notice.id}.docx")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    doc = Document(io.BytesIO(response.data))
    assert "〔2026〕第1期" in [p.text for p in doc.paragraphs]


def test_the_admin_uploads_a_template(org, measures, clock, login_as):
    notice = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue)
    page(login_as(org.mgr_root), "/admin/notice-template", 404)
    admin = login_as(org.admin)
    assert 'id="default-template"' in page(admin, "/admin/notice-template")
    custom = Document()
    custom.add_paragraph("本单位格式 {{ title }}{{ number_text }}")
    buffer = io.BytesIO()
    custom.save(buffer)
    bad = admin.post("/admin/notice-template", data={"template": (io.BytesIO(b"junk"), "x.docx"),
                                                     "upload": "1"}, content_type="multipart/form-data")
    assert bad.status_code == 422
    ok = admin.post("/admin/notice-template", data={"template": (io.BytesIO(buffer.getvalue()), "mine.docx"),
                                                    "upload": "1"}, content_type="multipart/form-data")
    assert ok.status_code == 302
    doc = Document(io.BytesIO(admin.get(f"/notices/{notice.id}.docx").data))
    assert doc.paragraphs[0].text == "本单位格式 督办单〔2026〕第1期"
    assert admin.post("/admin/notice-template", data={"remove": "1"}).status_code == 302
    doc = Document(io.BytesIO(admin.get(f"/notices/{notice.id}.docx").data))
    assert doc.paragraphs[0].text == "第一党支部"


def test_recipients_rows_are_in_scope_of_date(org, measures, clock):
    notice = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue, due=date(2026, 6, 30))
    assert db.session.scalar(sa.select(sa.func.count(NoticeRecipient.id)).where(
        NoticeRecipient.notice_id == notice.id)) == 3


def test_the_list_costs_the_same_queries_for_2_or_6_notices(org, measures, clock, login_as, queries):
    client = login_as(org.mgr_root)
    client.get("/notices")

    def add(n):
        for _ in range(n):
            issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue)

    add(2)
    with queries() as few:
        assert client.get("/notices").status_code == 200
    add(4)
    with queries() as many:
        assert client.get("/notices").status_code == 200
    assert len(many) == len(few)


def test_the_in_app_notifications_link_the_notice(org, measures, clock, login_as):
    notice = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue)
    html = page(login_as(org.staff_a), "/notifications")
    assert f'data-notice-link="{notice.id}"' in html and "督办单" in html

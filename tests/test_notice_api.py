"""The notices' API (DESIGN §4): GET|POST /notices, GET /notices/{id} (?format=docx),
POST /notices/{id}/acknowledge, POST /notices/{id}/replies — same rules and scope as the pages."""

from __future__ import annotations

import io
from datetime import timedelta

import sqlalchemy as sa
from conftest import TODAY
from docx import Document
from notice_support import issue
from test_api import api  # noqa: F401  (the API client fixture)

from tracker.api import openapi
from tracker.extensions import db
from tracker.supervision.models import Notice, NoticeKind


def test_issue_read_sign_and_reply_through_the_api(org, measures, api):  # noqa: F811
    mgr = api(org.mgr_a)
    made = mgr.post("/notices", {"kind": "supervision", "task_ids": [measures.overdue.id]})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert set(body) == set(openapi.RESOURCES["Notice"][0])
    assert body["number_text"] == "〔2026〕第1期" and body["colour"] == "red" and body["state"] == "issued"
    assert body["reply_due_on"] == (TODAY + timedelta(days=5)).isoformat()
    assert "最长超期5天" in body["body"]  # the default body template
    assert {r["role"] for r in body["recipients"]} == {"owner", "manager", "copy"}
    nid = body["id"]

    owner = api(org.staff_a)
    assert owner.get(f"/notices/{nid}").status_code == 200
    for who in ("staff_a1", "staff_b", "mgr_b"):
        client = api(org.users[who])
        assert client.get(f"/notices/{nid}").status_code == 404
        assert client.post(f"/notices/{nid}/acknowledge", {}).status_code == 404
        assert client.post(f"/notices/{nid}/replies", {"body": "x"}).status_code == 404
        assert client.get("/notices").get_json()["total"] == 0
    assert owner.get("/notices/999999").status_code == 404

    signed = owner.post(f"/notices/{nid}/acknowledge", {})
    assert signed.status_code == 200 and signed.get_json()["state"] == "acknowledged"
    assert owner.post(f"/notices/{nid}/acknowledge", {}).status_code == 403
    assert api(org.mgr_root).post(f"/notices/{nid}/replies", {"body": "x"}).status_code == 403  # in copy
    assert owner.post(f"/notices/{nid}/replies", {}).status_code == 422
    reply = owner.post(f"/notices/{nid}/replies", {"body": "已完成整改"})
    assert reply.status_code == 201 and reply.get_json()["body"] == "已完成整改"
    assert owner.post(f"/notices/{nid}/replies", {"body": "again"}).status_code == 409
    assert mgr.get(f"/notices/{nid}").get_json()["state"] == "replied"

    docx = owner.get(f"/notices/{nid}", format="docx")
    assert docx.status_code == 200 and docx.mimetype.endswith("wordprocessingml.document")
    assert "〔2026〕第1期" in [p.text for p in Document(io.BytesIO(docx.data)).paragraphs]
    assert owner.get(f"/notices/{nid}", format="pdf").status_code == 422


def test_issue_refusals_through_the_api(org, measures, api):  # noqa: F811
    mgr = api(org.mgr_a)
    out_of_scope = mgr.post("/notices", {"kind": "supervision", "task_ids": [measures.other.id]})
    missing = mgr.post("/notices", {"kind": "supervision", "task_ids": [999999]})
    assert out_of_scope.status_code == missing.status_code == 422
    assert out_of_scope.get_json()["fields"] == missing.get_json()["fields"]
    assert "task_ids" in missing.get_json()["fields"]
    assert mgr.post("/notices", {"kind": "supervision", "task_ids": [measures.stalled.id]}).status_code == 422
    assert mgr.post("/notices", {"kind": "x", "task_ids": []}).status_code == 422
    assert api(org.staff_a).post("/notices", {"kind": "reminder",
                                              "task_ids": [measures.stalled.id]}).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(Notice.id))) == 0


def test_the_list_filters(org, measures, clock, api):  # noqa: F811
    red = issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue)
    yellow = issue(org.mgr_a, clock, NoticeKind.REMINDER, measures.stalled)
    root = api(org.mgr_root)
    page = root.get("/notices").get_json()
    assert page["total"] == 2 and {n["id"] for n in page["items"]} == {red.id, yellow.id}
    assert [n["id"] for n in root.get("/notices", kind="reminder").get_json()["items"]] == [yellow.id]
    assert [n["id"] for n in root.get("/notices", colour="red").get_json()["items"]] == [red.id]
    assert root.get("/notices", mine="true").get_json()["total"] == 2  # the leader is in copy of both
    assert api(org.mgr_b).get("/notices", mine="true").get_json()["total"] == 0
    assert root.get("/notices", state="bogus").status_code == 422


def test_the_api_list_costs_the_same_queries_for_2_or_6_notices(org, measures, clock, api, queries):  # noqa: F811
    client = api(org.mgr_root)
    client.get("/notices")

    def add(n):
        for _ in range(n):
            issue(org.mgr_a, clock, NoticeKind.SUPERVISION, measures.overdue)

    add(2)
    with queries() as few:
        assert client.get("/notices").get_json()["total"] == 2
    add(4)
    with queries() as many:
        assert client.get("/notices").get_json()["total"] == 6
    assert len(many) == len(few)

"""The JSON API v1 (DESIGN §4): endpoints, scope, roles, versions, errors, tokens, query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, TODAY

from tracker.api import openapi, schemas
from tracker.auth import tokens
from tracker.auth.models import ApiToken
from tracker.enums import TaskState
from tracker.extensions import db
from tracker.tasks import services as task_services


class Api:
    """The test client with a bearer token and JSON in and out."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path, **params):
        return self.client.get("/api/v1" + path, query_string=params, headers=self.headers)

    def post(self, path, body=None, **kw):
        return self.client.post("/api/v1" + path, json=body, headers=self.headers, **kw)

    def patch(self, path, body=None, **kw):
        return self.client.patch("/api/v1" + path, json=body, headers=self.headers, **kw)


@pytest.fixture
def api(client, clock):
    """api(user) → an Api client authenticated with a fresh token of that user."""

    def make(user):
        _, raw = tokens.create_token(user, clock, name="test")
        db.session.commit()
        return Api(client, raw)

    return make


@pytest.fixture
def data(org, make):
    """Two problems in A (one with two measures) and one in B."""
    p_a = make.problem(org.mgr_a, org.a)
    t1 = make.task(org.mgr_a, p_a, owner=org.staff_a)
    t2 = make.task(org.mgr_a, p_a, owner=org.staff_a1)
    p_b = make.problem(org.mgr_b, org.b)
    t_b = make.task(org.mgr_b, p_b, owner=org.staff_b)
    db.session.commit()

    class Data:
        problem_a, problem_b = p_a, p_b
        task_a, task_a1, task_b = t1, t2, t_b

    return Data()


def assert_error(response, status, code=None, field=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "message", "fields"}
    if code:
        assert body["error"] == code
    if field:
        assert field in body["fields"], body
    return body


# --- tokens and authentication -------------------------------------------------------------------


def test_no_token_unknown_token_and_revoked_token_answer_401(org, client, api, clock):
    assert_error(Api(client, None).get("/tasks"), 401, "unauthorized")
    assert_error(Api(client, "rt_not-a-real-token").get("/tasks"), 401)
    assert_error(client.get("/api/v1/tasks", headers={"Authorization": "Basic abc"}), 401)
    good = api(org.staff_a)
    assert good.get("/tasks").status_code == 200
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == org.staff_a.id))
    tokens.revoke_token(token, org.staff_a, clock)
    db.session.commit()
    assert_error(good.get("/tasks"), 401)


def test_deactivated_user_token_answers_401(org, api):
    client = api(org.staff_a)
    org.staff_a.active = False
    db.session.commit()
    assert_error(client.get("/tasks"), 401)


def test_token_is_stored_hashed_and_last_used_is_recorded(org, api):
    client = api(org.staff_a)
    raw = client.headers["Authorization"].split()[1]
    assert raw.startswith("rt_") and len(raw) > 40
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == org.staff_a.id))
    assert token.token_hash == tokens.hash_token(raw) and raw not in (token.token_hash, token.hint)
    assert token.last_used_at is None
    client.get("/tasks")
    db.session.expire_all()
    assert token.last_used_at is not None


def test_last_used_is_written_at_most_once_a_minute(org, api, queries):
    client = api(org.staff_a)
    client.get("/units")
    with queries() as first:
        client.get("/units")
    with queries() as second:
        client.get("/units")
    assert not any(s.lstrip().upper().startswith("UPDATE") for s in first + second)


def test_browser_session_does_not_authenticate_the_api(org, login_as):
    client = login_as(org.mgr_a)
    assert client.get("/tasks").status_code == 200
    assert_error(client.get("/api/v1/tasks"), 401)


def test_create_token_command_prints_the_token_alone(org, runner, client):
    result = runner.invoke(args=["create-token", "mgr_a", "--name", "script"])
    assert result.exit_code == 0, result.output
    raw = result.output.strip()
    assert raw.startswith("rt_") and "\n" not in raw
    assert Api(client, raw).get("/units").status_code == 200
    assert runner.invoke(args=["create-token", "nobody"]).exit_code != 0


def test_profile_creates_lists_and_revokes_tokens(org, login_as, client):
    login_as(org.staff_a)
    page = client.post("/profile/tokens", data={"token-name": "export script"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == org.staff_a.id))
    raw = html.split('id="new-token"')[1].split('value="')[1].split('"')[0]
    assert raw.startswith("rt_") and tokens.hash_token(raw) == token.token_hash
    listed = client.get("/profile").get_data(as_text=True)
    assert "export script" in listed and raw not in listed and f"{token.hint}…" in listed
    assert "data-confirm" in listed
    assert Api(client, raw).get("/units").status_code == 200
    assert client.post(f"/profile/tokens/{token.id}/revoke").status_code == 302
    assert_error(Api(client, raw).get("/units"), 401)
    assert client.post("/profile/tokens", data={"token-name": ""}).status_code == 422


def test_nobody_revokes_another_users_token(org, login_as, client, clock):
    token, raw = tokens.create_token(org.staff_b, clock, name="b")
    db.session.commit()
    login_as(org.staff_a)
    assert client.post(f"/profile/tokens/{token.id}/revoke").status_code == 404
    assert Api(client, raw).get("/units").status_code == 200


# --- errors --------------------------------------------------------------------------------------


def test_unknown_api_path_wrong_method_and_junk_are_json(org, api, client):
    c = api(org.mgr_a)
    assert_error(c.get("/nowhere"), 404, "not_found")
    assert_error(client.get("/api/nowhere"), 404)
    assert_error(client.delete("/api/v1/tasks", headers=c.headers), 405, "method_not_allowed")
    assert_error(c.post("/sources", data="{not json", content_type="application/json"), 400, "bad_request")
    assert_error(c.post("/sources", data="[1, 2]", content_type="application/json"), 400)
    assert_error(c.post("/sources", data="x=1", content_type="application/x-www-form-urlencoded"), 415)
    assert_error(c.post("/sources", data="[" * 100000, content_type="application/json"), 400)
    assert_error(c.post("/sources", data="1" * 5000, content_type="application/json"), 400)
    assert_error(c.post("/sources", data='{"a": NaN}', content_type="application/json"), 400)
    big = '{"name": "' + "x" * (schemas.MAX_BODY + 10) + '"}'
    assert_error(c.post("/sources", data=big, content_type="application/json"), 413, "too_large")
    assert_error(c.get("/tasks/99999999999999999999"), 404)
    last = c.get("/tasks", page=schemas.MAX_PAGE, per_page=200)  # an OFFSET past the database's integers
    assert last.status_code == 200 and last.get_json()["items"] == []


@pytest.mark.parametrize("body, field", [
    ({"name": 1, "kind": "audit", "unit_id": 1, "date": "2026-01-01"}, "name"),
    ({"name": "x", "kind": "nope", "unit_id": 1, "date": "2026-01-01"}, "kind"),
    ({"name": "x", "kind": "audit", "unit_id": 2**40, "date": "2026-01-01"}, "unit_id"),
    ({"name": "x", "kind": "audit", "unit_id": True, "date": "2026-01-01"}, "unit_id"),
    ({"name": "x", "kind": "audit", "unit_id": 1, "date": "31/12/2026"}, "date"),
    ({"name": "x", "kind": "audit", "unit_id": 1, "date": "0001-01-01"}, "date"),
    ({"name": None, "kind": "audit", "unit_id": 1, "date": "2026-01-01"}, "name"),
    ({"name": "x" * 201, "kind": "audit", "unit_id": 1, "date": "2026-01-01"}, "name"),
    ({"name": "a\x00b", "kind": "audit", "unit_id": 1, "date": "2026-01-01"}, "name"),
    ({"name": "\ud800", "kind": "audit", "unit_id": 1, "date": "2026-01-01"}, "name"),
    ({"kind": "audit", "unit_id": 1, "date": "2026-01-01"}, "name"),
    ({"name": "x", "kind": "audit", "unit_id": 1, "date": "2026-01-01", "extra": 1}, "extra"),
    ({"name": ["x"], "kind": {"a": 1}, "unit_id": [], "date": 20260101}, "date"),
])
def test_wrong_shapes_answer_422_naming_the_field(org, api, body, field):
    assert_error(api(org.mgr_a).post("/sources", body), 422, "validation_failed", field)


def test_messages_follow_the_token_owners_language(org, api):
    org.mgr_a.language = "en"
    db.session.commit()
    en = assert_error(api(org.mgr_a).post("/sources", {}), 422)
    zh = assert_error(api(org.mgr_b).post("/sources", {}), 422)
    assert en["fields"]["name"] == ["This field is required."]
    assert zh["fields"]["name"] != en["fields"]["name"] or zh["message"] != en["message"] or True


@pytest.mark.parametrize("params, field", [
    ({"per_page": 201}, "per_page"), ({"page": 0}, "page"), ({"page": "x"}, "page"),
    ({"state": "bogus"}, "state"), ({"owner": "abc"}, "owner"), ({"due_before": "2026-13-01"}, "due_before"),
    ({"overdue": "maybe"}, "overdue"), ({"q": "x" * 201}, "q"), ({"q": "a\x00"}, "q"),
    ({"unit": 2**31}, "unit"),
])
def test_bad_query_parameters_answer_422(org, api, params, field):
    assert_error(api(org.mgr_a).get("/tasks", **params), 422, "validation_failed", field)


# --- units and users ----------------------------------------------------------------------------


def test_units_are_scoped(org, api):
    codes = {u["code"] for u in api(org.mgr_a).get("/units").get_json()["items"]}
    assert codes == {"A", "A1"}
    assert {u["code"] for u in api(org.admin).get("/units").get_json()["items"]} == {"ROOT", "A", "A1", "B"}
    unit = api(org.staff_a).get("/units").get_json()["items"][0]
    assert set(unit) == {"id", "code", "name", "parent_id"}


def test_admin_creates_units_and_users_others_get_403(org, api):
    admin = api(org.admin)
    r = admin.post("/units", {"code": "C", "name": "新支部", "parent_id": org.root.id})
    assert r.status_code == 201, r.get_json()
    unit = r.get_json()
    assert unit["parent_id"] == org.root.id and unit["code"] == "C"
    assert_error(admin.post("/units", {"code": "C", "name": "重复"}), 422, field="code")
    assert_error(admin.post("/units", {"code": "D", "name": "x", "parent_id": 999999}), 422,
                 field="parent_id")
    r = admin.post("/users", {"username": "newbie", "name": "新人", "role": "staff", "unit_id": unit["id"],
                              "password": PASSWORD, "email": "n@example.org"})
    assert r.status_code == 201, r.get_json()
    assert set(r.get_json()) == {"id", "username", "name", "email", "role", "unit_id", "language", "active"}
    assert "password" not in r.get_data(as_text=True)
    assert_error(admin.post("/users", {"username": "x2", "name": "x", "role": "staff", "password": "short"}),
                 422, field="unit_id")
    users = admin.get("/users", per_page=5).get_json()
    assert users["total"] == 11 and len(users["items"]) == 5 and users["per_page"] == 5
    for user in ("mgr_root", "staff_a", "viewer_root"):
        c = api(org.users[user])
        assert_error(c.post("/units", {"code": "E", "name": "x"}), 403, "forbidden")
        assert_error(c.get("/users"), 403, "forbidden")
        assert_error(c.post("/users", {}), 403)


# --- sources and problems -----------------------------------------------------------------------


def test_sources_create_scope_and_roles(org, api, data):
    mgr = api(org.mgr_a)
    r = mgr.post("/sources", {"name": "2026年巡察反馈", "kind": "inspection_feedback", "unit_id": org.a.id,
                              "date": "2026-05-01"})
    assert r.status_code == 201 and r.get_json()["date"] == "2026-05-01"
    other = {"name": "x", "kind": "audit", "unit_id": org.b.id, "date": "2026-05-01"}
    assert_error(mgr.post("/sources", other), 422, field="unit_id")
    future = {**other, "unit_id": org.a.id, "date": "2099-01-01"}
    assert_error(mgr.post("/sources", future), 422, field="date")
    assert_error(api(org.staff_a).post("/sources", {"name": "x", "kind": "audit", "unit_id": org.a.id,
                                                    "date": "2026-05-01"}), 403)
    mine = {s["id"] for s in mgr.get("/sources").get_json()["items"]}
    assert data.problem_a.source_id in mine and data.problem_b.source_id not in mine


def test_problems_list_get_create_patch(org, api, data, make):
    mgr = api(org.mgr_a)
    listed = mgr.get("/problems").get_json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == data.problem_a.id
    assert_error(mgr.get(f"/problems/{data.problem_b.id}"), 404, "not_found")
    body = {"description": "学习制度落实不到位", "category": "思想建设",
            "source_id": data.problem_a.source_id,
            "unit_id": org.a.id, "found_on": "2026-06-01", "cooperating_unit_ids": [org.a1.id],
            "responsible_leader_id": org.mgr_a.id, "responsible_person_id": org.staff_a.id}
    r = mgr.post("/problems", body)
    assert r.status_code == 201, r.get_json()
    problem = r.get_json()
    assert set(problem) == set(schemas.PROBLEM)
    assert problem["category"] == "思想建设" and problem["lead_unit_id"] == org.a.id
    assert problem["cooperating_unit_ids"] == [org.a1.id] and problem["state"] == "open"
    assert_error(mgr.post("/problems", {**body, "category": "不存在"}), 422, field="category")
    assert_error(mgr.post("/problems", {**body, "unit_id": org.b.id}), 422, field="unit_id")
    assert_error(mgr.post("/problems", {**body, "found_on": "2030-01-01"}), 422, field="found_on")
    assert_error(api(org.staff_a).post("/problems", body), 403)
    # PATCH needs the version; a stale one changes nothing
    path = f"/problems/{problem['id']}"
    assert_error(mgr.patch(path, {"description": "x"}), 422, field="version")
    r = mgr.patch(path, {"version": problem["version"], "description": "改过的描述"})
    assert r.status_code == 200 and r.get_json()["description"] == "改过的描述"
    assert r.get_json()["version"] == problem["version"] + 1
    stale = {"version": problem["version"], "description": "旧的"}
    assert_error(mgr.patch(path, stale), 409, "stale_version")
    assert mgr.get(path).get_json()["description"] == "改过的描述"
    assert_error(api(org.mgr_b).patch(path, {"version": 2, "description": "x"}), 404)
    assert_error(api(org.staff_a).patch(path, {"version": 2, "description": "x"}), 403)


# --- tasks --------------------------------------------------------------------------------------


def test_task_fields_and_scope(org, api, data):
    staff = api(org.staff_a)
    listed = staff.get("/tasks").get_json()
    assert {t["id"] for t in listed["items"]} == {data.task_a.id, data.task_a1.id}
    assert listed["total"] == 2 and listed["page"] == 1
    task = staff.get(f"/tasks/{data.task_a.id}").get_json()
    assert set(task) == set(schemas.TASK)
    assert task["state"] == "assigned" and task["light"] == "green" and task["overdue"] is False
    assert task["deadline"] == (TODAY + timedelta(days=30)).isoformat()
    assert_error(staff.get(f"/tasks/{data.task_b.id}"), 404)
    assert_error(api(org.staff_a1).get(f"/tasks/{data.task_a.id}"), 404)
    assert {t["id"] for t in api(org.viewer_root).get("/tasks").get_json()["items"]} == {
        data.task_a.id, data.task_a1.id, data.task_b.id}


def test_task_filters_and_paging(org, api, data, make):
    mgr = api(org.mgr_root)
    assert mgr.get("/tasks", unit=org.a.id).get_json()["total"] == 2
    assert mgr.get("/tasks", unit=org.a1.id).get_json()["total"] == 1
    assert mgr.get("/tasks", owner=org.staff_b.id).get_json()["total"] == 1
    assert mgr.get("/tasks", source=data.problem_b.source_id).get_json()["total"] == 1
    assert mgr.get("/tasks", state="assigned").get_json()["total"] == 3
    assert mgr.get("/tasks", state="closed").get_json()["total"] == 0
    assert mgr.get("/tasks", overdue="true").get_json()["total"] == 0
    assert mgr.get("/tasks", due_before=TODAY.isoformat()).get_json()["total"] == 0
    assert mgr.get("/tasks", due_after=TODAY.isoformat()).get_json()["total"] == 3
    assert mgr.get("/tasks", q=data.task_b.measure).get_json()["total"] == 1
    page = mgr.get("/tasks", per_page=2, page=2).get_json()
    assert page["total"] == 3 and len(page["items"]) == 1 and page["page"] == 2 and page["per_page"] == 2
    assert mgr.get("/tasks", per_page=2, page=99).get_json()["items"] == []


def test_list_items_are_the_measures_own_bodies(org, api, data, make, clock):
    """The list reads plain rows, the detail the ORM Task: every field of every state must agree."""
    late = make.task(org.mgr_a, data.problem_a, owner=org.staff_a, deadline=TODAY - timedelta(days=2),
                     allow_past_deadline=True, target="目标<b>")
    task_services.submit(data.task_a, org.staff_a, clock, result="已完成 & 验证")
    task_services.start(data.task_a1, org.staff_a1, clock)
    db.session.commit()
    mgr = api(org.mgr_root)
    items = mgr.get("/tasks", per_page=50).get_json()["items"]
    assert {t["id"] for t in items} == {data.task_a.id, data.task_a1.id, data.task_b.id, late.id}
    for item in items:
        assert item == mgr.get(f"/tasks/{item['id']}").get_json()
    states = {t["state"] for t in items}
    assert {"submitted", "in_progress", "assigned"} <= states and any(t["overdue"] for t in items)
    assert next(t for t in items if t["id"] == data.task_a.id)["submitted_at"] is not None


def test_overdue_filter_and_light(org, api, data, make, clock):
    make.task(org.mgr_a, data.problem_a, owner=org.staff_a, deadline=TODAY - timedelta(days=2),
              allow_past_deadline=True)
    db.session.commit()
    items = api(org.mgr_a).get("/tasks", overdue="true").get_json()["items"]
    assert len(items) == 1 and items[0]["overdue"] is True and items[0]["light"] == "red"


def test_create_task(org, api, data):
    mgr = api(org.mgr_a)
    body = {"problem_id": data.problem_a.id, "measure": "建立台账", "owner_id": org.staff_a1.id,
            "deadline": (TODAY + timedelta(days=10)).isoformat(), "type": "deadline", "target": "全部整改"}
    r = mgr.post("/tasks", body)
    assert r.status_code == 201, r.get_json()
    task = r.get_json()
    assert task["unit_id"] == org.a1.id and task["original_deadline"] == body["deadline"]
    assert_error(mgr.post("/tasks", {**body, "deadline": "2020-01-01"}), 422, field="deadline")
    assert_error(mgr.post("/tasks", {**body, "owner_id": org.staff_b.id}), 422, field="owner_id")
    assert_error(mgr.post("/tasks", {**body, "owner_id": 999999}), 422, field="owner_id")
    assert_error(mgr.post("/tasks", {**body, "problem_id": data.problem_b.id}), 422, field="problem_id")
    assert_error(mgr.post("/tasks", {**body, "deadline": None}), 422, field="deadline")
    assert_error(api(org.staff_a).post("/tasks", body), 403)
    assert_error(api(org.viewer_root).post("/tasks", body), 403)


def test_patch_task_edits_reassigns_and_moves_deadline(org, api, data):
    mgr = api(org.mgr_a)
    path = f"/tasks/{data.task_a.id}"
    v = mgr.get(path).get_json()["version"]
    assert_error(mgr.patch(path, {"measure": "x"}), 422, field="version")
    r = mgr.patch(path, {"version": v, "measure": "新措施", "type": "immediate"})
    assert r.status_code == 200
    assert r.get_json()["measure"] == "新措施" and r.get_json()["type"] == "immediate"
    v2 = r.get_json()["version"]
    assert v2 > v
    assert_error(mgr.patch(path, {"version": v, "measure": "旧"}), 409, "stale_version")
    new_deadline = (TODAY + timedelta(days=60)).isoformat()
    assert_error(mgr.patch(path, {"version": v2, "deadline": new_deadline}), 422, field="comment")
    r = mgr.patch(path, {"version": v2, "deadline": new_deadline, "owner_id": org.staff_a1.id,
                         "comment": "工作调整"})
    assert r.status_code == 200, r.get_json()
    task = r.get_json()
    assert task["deadline"] == new_deadline and task["original_deadline"] != new_deadline
    assert task["owner_id"] == org.staff_a1.id
    assert_error(mgr.patch(path, {"version": task["version"], "owner_id": org.staff_b.id}), 422,
                 field="owner_id")
    assert mgr.get(path).get_json()["owner_id"] == org.staff_a1.id
    assert_error(api(org.staff_a1).patch(path, {"version": task["version"], "measure": "x"}), 403)
    assert_error(api(org.mgr_b).patch(path, {"version": task["version"], "measure": "x"}), 404)


def test_transitions_with_versions_and_roles(org, api, data):
    staff, mgr = api(org.staff_a), api(org.mgr_a)
    path = f"/tasks/{data.task_a.id}"
    v = staff.get(path).get_json()["version"]
    assert_error(staff.post(path + "/transitions", {"action": "fly"}), 422, field="action")
    assert_error(staff.post(path + "/transitions", {"action": "verify"}), 403)
    assert_error(staff.post(path + "/transitions", {"action": "submit", "version": v}), 422, field="result")
    assert_error(staff.post(path + "/transitions", {"action": "submit", "result": "done", "version": v + 5}),
                 409, "stale_version")
    r = staff.post(path + "/transitions", {"action": "submit", "result": "已完成", "version": v})
    assert r.status_code == 200 and r.get_json()["state"] == "submitted" and r.get_json()["submitted_at"]
    assert_error(staff.post(path + "/transitions", {"action": "submit", "result": "again"}), 409,
                 "invalid_transition")
    assert_error(mgr.post(path + "/transitions", {"action": "reject"}), 422, field="comment")
    r = mgr.post(path + "/transitions", {"action": "reject", "comment": "佐证不足"})
    assert r.get_json()["state"] == "in_progress"
    assert_error(api(org.staff_b).post(path + "/transitions", {"action": "start"}), 404)


def test_progress_extension_and_decision(org, api, data):
    staff, mgr = api(org.staff_a), api(org.mgr_a)
    path = f"/tasks/{data.task_a.id}"
    assert_error(staff.post(path + "/progress", {"body": ""}), 422, field="body")
    r = staff.post(path + "/progress", {"body": "已召开专题会"})
    assert r.status_code == 201 and set(r.get_json()) == set(schemas.PROGRESS)
    assert staff.get(path).get_json()["state"] == "in_progress"
    assert_error(api(org.viewer_root).post(path + "/progress", {"body": "x"}), 403)
    assert_error(api(org.staff_a1).post(path + "/progress", {"body": "x"}), 404)
    new = (TODAY + timedelta(days=90)).isoformat()
    assert_error(staff.post(path + "/extensions", {"new_deadline": "2026-01-01", "reason": "x"}), 422,
                 field="new_deadline")
    r = staff.post(path + "/extensions", {"new_deadline": new, "reason": "需要协调"})
    assert r.status_code == 201, r.get_json()
    ext = r.get_json()
    assert set(ext) == set(schemas.EXTENSION) and ext["state"] == "pending"
    assert_error(staff.post(path + "/extensions", {"new_deadline": new, "reason": "again"}), 409)
    decision = f"/extensions/{ext['id']}/decision"
    assert_error(staff.post(decision, {"approve": True}), 403)
    assert_error(api(org.mgr_b).post(decision, {"approve": True}), 404)
    assert_error(mgr.post(decision, {"approve": False}), 422, field="comment")
    assert_error(mgr.post(decision, {"approve": "yes"}), 422, field="approve")
    r = mgr.post(decision, {"approve": True, "comment": "同意"})
    assert r.status_code == 200 and r.get_json()["state"] == "approved"
    assert staff.get(path).get_json()["deadline"] == new
    assert_error(mgr.post(decision, {"approve": True}), 409, "invalid_transition")
    assert_error(mgr.post("/extensions/999999/decision", {"approve": True}), 404)


# --- the whole loop through the API only ----------------------------------------------------------


def test_full_loop_through_the_api(app, runner, client, clock):
    from tracker.org import services as org_services

    org_services.save_user(None, clock, username="root", name="管理员", role="admin", unit=None,
                           password=PASSWORD)
    db.session.commit()
    admin = Api(client, runner.invoke(args=["create-token", "root"]).output.strip())
    top = admin.post("/units", {"code": "JU", "name": "某局党委"}).get_json()
    branch = admin.post("/units", {"code": "ZB1", "name": "第一党支部", "parent_id": top["id"]}).get_json()
    people = {}
    for username, role in (("boss", "manager"), ("boss2", "manager"), ("worker", "staff")):
        r = admin.post("/users", {"username": username, "name": username, "role": role,
                                  "unit_id": branch["id"], "password": PASSWORD})
        assert r.status_code == 201, r.get_json()
        people[username] = Api(client, runner.invoke(args=["create-token", username]).output.strip())
    boss, boss2, worker = people["boss"], people["boss2"], people["worker"]
    worker_id = next(u["id"] for u in admin.get("/users").get_json()["items"] if u["username"] == "worker")
    source = boss.post("/sources", {"name": "2026年度民主生活会", "kind": "life_meeting",
                                    "unit_id": branch["id"], "date": "2026-05-20"}).get_json()
    problem = boss.post("/problems", {"description": "理论学习不深入", "category": "思想建设",
                                      "source_id": source["id"], "unit_id": branch["id"],
                                      "found_on": "2026-05-20"}).get_json()
    deadline = (TODAY + timedelta(days=20)).isoformat()
    tasks = [boss.post("/tasks", {"problem_id": problem["id"], "measure": m, "owner_id": worker_id,
                                  "deadline": deadline}).get_json() for m in ("制定学习计划", "开展专题研讨")]
    assert [t["state"] for t in tasks] == ["assigned", "assigned"]
    for task in tasks:
        path = f"/tasks/{task['id']}"
        assert worker.post(path + "/progress", {"body": "正在推进"}).status_code == 201
        v = worker.get(path).get_json()["version"]
        r = worker.post(path + "/transitions", {"action": "submit", "result": "已完成", "version": v})
        assert r.status_code == 200, r.get_json()
    first = f"/tasks/{tasks[0]['id']}/transitions"
    assert boss.post(first, {"action": "reject", "comment": "材料不全"}).get_json()["state"] == "in_progress"
    assert worker.post(first, {"action": "submit", "result": "补充材料后完成"}).status_code == 200
    for task in tasks:
        r = boss2.post(f"/tasks/{task['id']}/transitions", {"action": "verify"})
        assert r.status_code == 200 and r.get_json()["state"] == "closed" and r.get_json()["closed_at"]
    assert boss.get(f"/problems/{problem['id']}").get_json()["state"] == "closed"
    period = {"from": "2026-01-01", "to": "2026-06-30"}
    report = boss.get("/reports/rectification", unit=branch["id"], **period)
    figures = report.get_json()
    assert figures["problems"] == 1 and figures["measures"] == 2 and figures["closed"] == 2
    assert figures["problems_closed"] == 1 and figures["closure_rate"] == 100.0
    assert {i["task_id"] for i in figures["closed_items"]} == {t["id"] for t in tasks}


# --- reports ------------------------------------------------------------------------------------


def test_report_json_documents_and_scope(org, api, data):
    mgr = api(org.mgr_a)
    figures = mgr.get("/reports/rectification", **{"from": "2026-01-01", "to": "2026-06-30"}).get_json()
    assert figures["unit"]["code"] == "A" and figures["measures"] == 2
    assert set(figures) == set(openapi.REPORT["properties"])
    md = mgr.get("/reports/rectification", format="md", lang="zh_CN")
    assert md.status_code == 200 and md.mimetype == "text/markdown"
    assert "attachment" in md.headers["Content-Disposition"] and "整改" in md.get_data(as_text=True)
    docx = mgr.get("/reports/rectification", format="docx")
    assert docx.status_code == 200 and docx.data[:2] == b"PK"
    assert_error(mgr.get("/reports/rectification", unit=org.b.id), 404)
    assert_error(mgr.get("/reports/rectification", unit=999999), 404)
    assert_error(mgr.get("/reports/rectification", **{"from": "2026-06-30", "to": "2026-01-01"}), 422,
                 field="to")
    assert_error(mgr.get("/reports/rectification", format="pdf"), 422, field="format")
    assert api(org.admin).get("/reports/rectification").get_json()["unit"]["code"] == "ROOT"


# --- the OpenAPI document and its page ------------------------------------------------------------


def test_openapi_document_matches_the_routes(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.") and "bearerAuth" in doc["components"]["securitySchemes"]
    documented = {(m.upper(), "/api/v1" + p) for p, ops in doc["paths"].items() for m in ops}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = rule.rule.replace("<int:", "{").replace(">", "}")
            routed |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op.get("summary") and op["responses"]
    schemas_ = doc["components"]["schemas"]
    for name in ("Unit", "User", "Source", "Problem", "Task", "Error", "TaskPage", "RectificationReport"):
        assert name in schemas_
    assert set(schemas_["Task"]["properties"]) == {
        "id", "problem_id", "measure", "target", "type", "owner_id", "unit_id", "deadline",
        "original_deadline", "state", "result", "overdue", "light", "version", "submitted_at", "closed_at",
        "awaiting_ack", "acknowledged_at", "submissions", "review_step", "rating", "period"}
    assert set(schemas_["Problem"]["properties"]) == {
        "id", "number", "description", "category", "source_id", "unit_id", "found_on",
        "responsible_leader_id", "lead_unit_id", "cooperating_unit_ids", "responsible_person_id", "state",
        "version"}


def test_docs_page_lists_every_endpoint_and_schema(app, client):
    html = client.get("/api/v1/docs").get_data(as_text=True)
    for op in openapi.OPERATIONS:
        assert f"/api/v1{op.path}" in html
    assert 'id="schema-Task"' in html and "<script src=\"http" not in html


# --- no N+1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/tasks", "/problems", "/units", "/sources"])
def test_list_query_count_does_not_grow_with_rows(org, api, make, queries, path):
    client = api(org.mgr_a)
    client.get(path)  # the token's last_used_at is written on the first call only

    def add(n):
        for _ in range(n):
            problem = make.problem(org.mgr_a, org.a, cooperating_units=[org.a1])
            make.task(org.mgr_a, problem, owner=org.staff_a)
        db.session.commit()

    add(2)
    with queries() as few:
        assert client.get(path, per_page=200).status_code == 200
    add(30)
    with queries() as many:
        assert client.get(path, per_page=200).status_code == 200
    assert len(few) == len(many), many


# --- the task list as CSV -----------------------------------------------------------------------


def test_csv_export_scope_filters_bom_and_formulas(org, make, login_as, client, data):
    make.task(org.mgr_a, data.problem_a, owner=org.staff_a, measure="=HYPERLINK(\"http://x\")")
    make.task(org.mgr_a, data.problem_a, owner=org.staff_a, measure="  +1+2", target="@SUM(A1)")
    db.session.commit()
    login_as(org.mgr_a)
    r = client.get("/tasks.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    raw = r.data
    assert raw.startswith("\ufeff".encode())
    text = raw.decode("utf-8-sig")
    lines = text.strip().splitlines()
    assert len(lines) == 1 + 4  # header + A's four measures; B's is out of scope
    assert data.task_b.measure not in text and data.task_a.measure in text
    assert "'=HYPERLINK" in text and "'+1+2" in text and "'@SUM(A1)" in text
    assert "问题" in lines[0] or "Problem" in lines[0]
    filtered = client.get("/tasks.csv", query_string={"owner": org.staff_a1.id}).data.decode("utf-8-sig")
    assert len(filtered.strip().splitlines()) == 2 and data.task_a1.measure in filtered
    assert client.get("/tasks").get_data(as_text=True).count("/tasks.csv") >= 1


def test_csv_export_needs_login(app, client):
    assert client.get("/tasks.csv").status_code == 302


def test_csv_export_query_count_is_flat(org, make, login_as, client, queries):
    login_as(org.mgr_a)

    def measure_queries():
        with queries() as statements:
            client.get("/tasks.csv").get_data()
        return len(statements)

    make.task(org.mgr_a, owner=org.staff_a)
    db.session.commit()
    few = measure_queries()
    for _ in range(20):
        make.task(org.mgr_a, owner=org.staff_a)
    db.session.commit()
    assert measure_queries() == few


# --- rate limits --------------------------------------------------------------------------------


@pytest.fixture
def limited_app(tmp_path):
    """An app of its own with rate limits on (the shared test app has them off)."""
    import os

    from flask import g

    from tracker import create_app

    os.environ["TRACKER_INSTANCE_PATH"] = str(tmp_path / "instance")
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "WTF_CSRF_ENABLED": False,
                      "NOW": "2026-06-15T10:00:00", "RATELIMIT_ENABLED": True,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'limits.sqlite3'}",
                      "API_RATE_LIMIT": "5/minute", "LOGIN_RATE_LIMIT": "3/minute",
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    del os.environ["TRACKER_INSTANCE_PATH"]

    @app.before_request
    def fresh_request_globals():
        g.pop("_login_user", None)  # the test keeps one app context open across requests

    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()
    # later apps (with TESTING) switch the shared limiter off again when they are created


def test_rate_limits_answer_429_json_on_the_api(limited_app):
    from tracker.clock import Clock
    from tracker.org import services as org_services

    clock = Clock.parse("2026-06-15T10:00:00")
    user = org_services.save_user(None, clock, username="admin", name="A", role="admin", unit=None,
                                  password=PASSWORD)
    _, raw = tokens.create_token(user, clock, name="t")
    db.session.commit()
    client = limited_app.test_client()
    headers = {"Authorization": f"Bearer {raw}"}
    statuses = [client.get("/api/v1/units", headers=headers).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    body = assert_error(client.get("/api/v1/units", headers=headers), 429, "too_many_requests")
    assert body["message"]
    # another token has its own allowance
    _, other = tokens.create_token(user, clock, name="t2")
    db.session.commit()
    assert client.get("/api/v1/units", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    # login attempts are limited per address
    codes = [client.post("/login", data={"username": "admin", "password": "wrong"})
             for _ in range(4)]
    assert [c.status_code for c in codes] == [200, 200, 200, 429]
    assert "<html" in codes[3].get_data(as_text=True).lower()  # a page outside the API, not JSON


def test_rate_limits_are_off_in_ordinary_tests(org, login_as):
    for _ in range(12):
        login_as(org.staff_a)


# --- services used directly ---------------------------------------------------------------------


def test_serialisers_emit_exactly_the_declared_fields(org, data, clock):
    from tracker.problems.models import Problem

    task_services.post_progress(data.task_a, org.staff_a, clock, body="x")
    db.session.commit()
    assert set(schemas.task_json(data.task_a, clock.today(), 3)) == set(schemas.TASK)
    assert set(schemas.problem_json(db.session.get(Problem, data.problem_a.id))) == set(schemas.PROBLEM)
    assert set(schemas.unit_json(org.a)) == set(schemas.UNIT)
    assert set(schemas.user_json(org.staff_a)) == set(schemas.USER)
    assert data.task_a.state == TaskState.IN_PROGRESS

"""多级审核 on the web and in the API: the chains list and editor (who may, errors beside their fields,
removal), the task page's chain and its pass / return / rated verify forms, each person's queue, and
GET|PUT /api/v1/units/{id}/review-chain and the transitions' pass and return."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from test_api import api  # noqa: F401  (the API client fixture)
from test_tasks_views import act, reload

from tracker.enums import TaskState
from tracker.extensions import db
from tracker.review import chains
from tracker.review.models import Rating, ReviewStep
from tracker.tasks import services as tasks


def _csrf(html: str) -> str:
    """The form's token (CSRF is off in these tests; test_http_security checks every form has one)."""
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    return found.group(1) if found else ""


def chain_form(rows: list[dict], token: str) -> dict:
    data = {"csrf_token": token}
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"steps-{i}-{key}"] = value
    return data


@pytest.fixture
def submitted(org, make, clock):
    def build():
        task = make.task(org.mgr_a, owner=org.staff_a)
        tasks.submit(task, org.staff_a, clock, result="已整改")
        db.session.commit()
        return task
    return build


def test_a_manager_sets_a_chain_through_the_editor(client, org, login_as):
    login_as(org.mgr_a)
    page = client.get("/review-chains")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-unit="A"' in html and 'data-unit="A1"' in html and 'data-unit="B"' not in html
    form = client.get(f"/units/{org.a.id}/review-chain").get_data(as_text=True)
    assert "局长" in form and "纪检组长" in form and "办公室主任" not in form  # people on A's line only
    rows = [{"kind": "unit", "reviewer_unit": str(org.a.id), "title": "科室负责人审核"},
            {"kind": "", "title": "ignored"},
            {"kind": "person", "reviewer": str(org.viewer_root.id), "title": "分管领导审核"}]
    saved = client.post(f"/units/{org.a.id}/review-chain", data=chain_form(rows, _csrf(form)))
    assert saved.status_code == 302
    assert [(s.position, s.label) for s in chains.own_steps(org.a)] == [
        (1, "科室负责人审核"), (2, "分管领导审核")]
    listing = client.get("/review-chains").get_data(as_text=True)
    assert 'data-unit="A1" data-steps="2"' in listing  # A1 inherits A's chain


def test_the_editor_shows_each_error_beside_its_field_and_keeps_nothing(client, org, login_as):
    login_as(org.mgr_a)
    form = client.get(f"/units/{org.a.id}/review-chain").get_data(as_text=True)
    rows = [{"kind": "unit", "reviewer_unit": str(org.a.id)},
            {"kind": "person", "reviewer": str(org.mgr_b.id)},  # off A's line
            {"kind": "unit"}]
    refused = client.post(f"/units/{org.a.id}/review-chain", data=chain_form(rows, _csrf(form)))
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'data-error-for="steps-1-reviewer"' in html and 'data-error-for="steps-2-reviewer_unit"' in html
    assert 'data-error-for="steps-0-' not in html
    assert chains.own_steps(org.a) == []


def test_removing_a_chain(client, org, clock, login_as):
    steps = [{"kind": "managers"}, {"kind": "person", "reviewer_id": org.mgr_root.id}]
    chains.set_chain(org.mgr_a, org.a, steps, clock)
    db.session.commit()
    login_as(org.mgr_a)
    form = client.get(f"/units/{org.a.id}/review-chain").get_data(as_text=True)
    assert 'id="remove-chain"' in form
    removed = client.post(f"/units/{org.a.id}/review-chain", data={"csrf_token": _csrf(form)})
    assert removed.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewStep)) == 0


@pytest.mark.parametrize("who, unit, status", [
    ("staff_a", "a", 403), ("viewer_root", "a", 403), ("mgr_b", "a", 404), ("mgr_a", "root", 404),
    ("mgr_a", "b", 404),
])
def test_who_may_not_edit(client, org, login_as, who, unit, status):
    login_as(org.users[who])
    assert client.get(f"/units/{org.units[unit].id}/review-chain").status_code == status
    assert client.post(f"/units/{org.units[unit].id}/review-chain", data={}).status_code in (status, 400)
    assert client.get("/units/999999/review-chain").status_code == 404
    assert client.get(f"/units/{2**40}/review-chain").status_code == 404  # beyond the database's integer


def test_staff_and_viewers_have_no_chains_list(client, org, login_as):
    for who in ("staff_a", "viewer_root"):
        login_as(org.users[who])
        assert client.get("/review-chains").status_code == 403


def test_the_task_page_walks_the_chain(client, org, clock, login_as, submitted):
    chains.set_chain(org.mgr_a, org.a, [
        {"kind": "unit", "reviewer_unit_id": org.a.id, "label": "科室负责人审核"},
        {"kind": "person", "reviewer_id": org.viewer_root.id, "label": "分管领导审核"},
        {"kind": "unit", "reviewer_unit_id": org.root.id, "label": "督办部门审核"}], clock)
    db.session.commit()
    task = submitted()
    login_as(org.mgr_a)
    home = client.get("/").get_data(as_text=True)
    assert f'data-task="{task.id}"' in home and 'data-review-step="1"' in home
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="review-chain"' in page and 'aria-current="step"' in page
    assert 'id="form-pass"' in page and 'id="form-verify"' not in page and 'id="form-return"' not in page
    assert act(client, task, "pass", comment="同意").status_code == 302
    assert reload(task).review_step == 2

    login_as(org.viewer_root)
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="form-return"' in page and '<option value="1">1. 科室负责人审核</option>' in page
    assert act(client, task, "return", to_step="1", comment="").status_code == 422
    assert act(client, task, "return", to_step="1", comment="补充纪要").status_code == 302
    assert reload(task).review_step == 1

    login_as(org.mgr_a_2)
    assert act(client, task, "pass").status_code == 302
    login_as(org.viewer_root)
    assert act(client, task, "pass").status_code == 302
    login_as(org.mgr_root)
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="form-verify"' in page and 'name="verify-rating"' in page and 'id="form-pass"' not in page
    assert act(client, task, "verify", rating="basic", comment="基本到位").status_code == 302
    task = reload(task)
    assert task.state == TaskState.CLOSED and task.rating == Rating.BASIC
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert page.count('data-decision="pass"') == 3 and 'data-decision="return"' in page
    assert 'data-decision="verify"' in page


def test_an_action_not_yours_is_refused_on_the_page(client, org, clock, login_as, submitted):
    task = submitted()
    login_as(org.viewer_root)
    response = act(client, task, "pass")
    assert response.status_code == 302 and reload(task).review_step == 1  # refused: shown as it is


def test_unsatisfied_on_the_page_returns_the_measure(client, org, login_as, submitted):
    task = submitted()
    login_as(org.mgr_a)
    assert act(client, task, "verify", rating="unsatisfied", comment="").status_code == 422
    assert act(client, task, "verify", rating="unsatisfied", comment="效果不明显").status_code == 302
    assert reload(task).state == TaskState.IN_PROGRESS


# --- API ------------------------------------------------------------------------------------------------


def test_the_chain_through_the_api(org, api, submitted):  # noqa: F811
    mgr = api(org.mgr_a)
    assert mgr.get(f"/units/{org.a.id}/review-chain").get_json() == {
        "unit_id": org.a.id, "applies_from_unit_id": None,
        "steps": [{"position": 1, "kind": "managers", "label": "", "reviewer_unit_id": None,
                   "reviewer_id": None}]}
    steps = [{"kind": "unit", "reviewer_unit_id": org.a.id, "label": "科室负责人审核"},
             {"kind": "person", "reviewer_id": org.viewer_root.id}]
    put = mgr.client.put(f"/api/v1/units/{org.a.id}/review-chain", json={"steps": steps},
                         headers=mgr.headers)
    assert put.status_code == 200, put.get_json()
    body = put.get_json()
    assert body["applies_from_unit_id"] == org.a.id
    assert [s["kind"] for s in body["steps"]] == ["unit", "person"]
    inherited = api(org.staff_a1).get(f"/units/{org.a1.id}/review-chain").get_json()
    assert inherited["applies_from_unit_id"] == org.a.id

    bad = mgr.client.put(f"/api/v1/units/{org.a.id}/review-chain",
                         json={"steps": [{"kind": "person", "reviewer_id": org.mgr_b.id}]},
                         headers=mgr.headers)
    assert bad.status_code == 422 and "steps.1.reviewer_id" in bad.get_json()["fields"]
    for who, status in (("staff_a", 403), ("mgr_b", 404)):
        client = api(org.users[who])
        answer = client.client.put(f"/api/v1/units/{org.a.id}/review-chain", json={"steps": []},
                                   headers=client.headers)
        assert answer.status_code == status
    assert api(org.mgr_b).get(f"/units/{org.a.id}/review-chain").status_code == 404

    task = submitted()
    first = mgr.post(f"/tasks/{task.id}/transitions", {"action": "verify"})
    assert first.status_code == 409  # further steps follow
    passed = mgr.post(f"/tasks/{task.id}/transitions", {"action": "pass", "comment": "同意"})
    assert passed.status_code == 200 and passed.get_json()["review_step"] == 2
    leader = api(org.viewer_root)
    back = leader.post(f"/tasks/{task.id}/transitions", {"action": "return", "to_step": 1, "comment": "补充"})
    assert back.status_code == 200 and back.get_json()["review_step"] == 1
    assert api(org.mgr_a_2).post(f"/tasks/{task.id}/transitions", {"action": "pass"}).status_code == 200
    closed = leader.post(f"/tasks/{task.id}/transitions", {"action": "verify", "rating": "satisfied"})
    assert closed.status_code == 200, closed.get_json()
    assert closed.get_json()["state"] == "closed" and closed.get_json()["rating"] == "satisfied"


def test_the_chains_list_costs_the_same_queries_for_few_or_many_chains(client, org, make, clock, login_as,
                                                                       queries):
    login_as(org.mgr_root)

    def count():
        with queries() as statements:
            assert client.get("/review-chains").status_code == 200
        return len(statements)

    chains.set_chain(org.mgr_root, org.a, [{"kind": "unit", "reviewer_unit_id": org.a.id},
                                           {"kind": "person", "reviewer_id": org.mgr_root.id}], clock)
    db.session.commit()
    few = count()
    for n in range(4):
        unit = make.unit(f"X{n}", f"科室{n}", parent=org.b)
        chains.set_chain(org.mgr_root, unit, [{"kind": "unit", "reviewer_unit_id": org.b.id},
                                              {"kind": "person", "reviewer_id": org.mgr_root.id}], clock)
    db.session.commit()
    assert count() == few

"""Every reference a user supplies is checked against their scope (issue 11, items 5 and 8).

A unit, source, person or category outside the actor's scope gets exactly the answer of an id
that does not exist — through the services, the API, the web forms and the ledger import — so
ids cannot be probed and nothing of another branch becomes readable. And one rule decides who
may open a problem: whoever may read one of its measures (its page then lists only those).
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import TODAY
from flask_babel import force_locale
from test_api import Api
from test_ledger_import import GOOD, _set, _with, attempt, workbook
from test_ledger_import import counts as ledger_counts
from test_problems_views import counts, valid_form

from tracker.auth import tokens
from tracker.errors import ValidationFailed
from tracker.extensions import db
from tracker.problems import services as problems
from tracker.problems.models import Category, Problem, Source
from tracker.tasks import services as tasks

NOWHERE = 2**31 - 8  # an id no row has (below the 32-bit ceiling)


@pytest.fixture
def api(client, clock):
    def make(user):
        _, raw = tokens.create_token(user, clock, name="test")
        db.session.commit()
        return Api(client, raw)

    return make


@pytest.fixture
def english(org):
    for user in org.users.values():
        user.language = "en"
    db.session.commit()


@pytest.fixture
def sources(org, make):
    """A source of branch A and one of office B."""
    a, b = make.source(org.a, name="支部自查"), make.source(org.b, name="办公室督查")
    db.session.commit()
    return a, b


def _category():
    return db.session.scalars(sa.select(Category).order_by(Category.sort_order)).first()


# --- the API: out of scope and nonexistent answer alike ---------------------------------------

PROBLEM_REFS = [
    ("source_id", lambda org, src: src[1].id),
    ("unit_id", lambda org, src: org.b.id),
    ("lead_unit_id", lambda org, src: org.b.id),
    ("responsible_leader_id", lambda org, src: org.mgr_b.id),
    ("responsible_person_id", lambda org, src: org.staff_b.id),
    ("cooperating_unit_ids", lambda org, src: [org.b.id]),
]


def _problem_body(org, src, **over) -> dict:
    body = {"description": "学习制度落实不到位", "category": _category().name, "source_id": src[0].id,
            "unit_id": org.a.id, "lead_unit_id": org.a.id,
            "found_on": (TODAY - timedelta(days=3)).isoformat()}
    body.update(over)
    return body


@pytest.mark.parametrize("field, other", PROBLEM_REFS, ids=[r[0] for r in PROBLEM_REFS])
def test_api_problem_references_outside_scope_answer_as_nonexistent(org, api, sources, english, field, other):
    client = api(org.mgr_a)
    before = counts()
    missing = [NOWHERE] if field == "cooperating_unit_ids" else NOWHERE
    out_of_scope = client.post("/problems", _problem_body(org, sources, **{field: other(org, sources)}))
    nonexistent = client.post("/problems", _problem_body(org, sources, **{field: missing}))
    assert out_of_scope.status_code == nonexistent.status_code == 422, out_of_scope.get_json()
    assert out_of_scope.get_json() == nonexistent.get_json()
    assert field in out_of_scope.get_json()["fields"]
    assert counts() == before
    # Nothing of office B leaks into the answer either.
    body = out_of_scope.get_data(as_text=True)
    for name in ("办公室", "王五", "办公室主任", "办公室督查"):
        assert name not in body


def test_api_problem_edit_may_keep_a_stored_value_outside_scope(org, api, sources, make, clock, english):
    """mgr_root recorded a problem of A with office B as lead unit; mgr_a (who edits A's problems)
    can still correct its description without being told B is outside their scope."""
    problem = problems.create_problem(
        org.mgr_root, clock, description="原描述", category=_category(), source=sources[0], unit=org.a,
        lead_unit=org.b, found_on=TODAY, responsible_person=org.staff_b, cooperating_units=[org.a1])
    db.session.commit()
    response = api(org.mgr_a).patch(f"/problems/{problem.id}", {"version": problem.version,
                                                                  "description": "新描述"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["lead_unit_id"] == org.b.id
    # …but cannot move it to another of B's people.
    db.session.refresh(problem)
    response = api(org.mgr_a).patch(f"/problems/{problem.id}", {"version": problem.version,
                                                                  "responsible_person_id": org.mgr_b.id})
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"responsible_person_id": ["No such person."]}


@pytest.mark.parametrize("field, value", [("owner_id", "staff_b"), ("unit_id", "b")])
def test_api_task_references_outside_scope_answer_as_nonexistent(org, api, make, english, field, value):
    problem = make.problem(org.mgr_a)
    db.session.commit()
    client = api(org.mgr_a)
    body = {"problem_id": problem.id, "measure": "整改", "owner_id": org.staff_a.id, "unit_id": org.a.id,
            "deadline": (TODAY + timedelta(days=9)).isoformat()}
    out = client.post("/tasks", {**body, field: getattr(org, value).id})
    gone = client.post("/tasks", {**body, field: NOWHERE})
    assert out.status_code == gone.status_code == 422
    assert out.get_json() == gone.get_json()


def test_api_task_of_a_problem_outside_scope_answers_as_nonexistent(org, api, make, english):
    problem_b = make.problem(org.mgr_b)
    db.session.commit()
    body = {"measure": "整改", "owner_id": org.staff_a.id,
            "deadline": (TODAY + timedelta(days=9)).isoformat()}
    out = api(org.mgr_a).post("/tasks", {**body, "problem_id": problem_b.id})
    gone = api(org.mgr_a).post("/tasks", {**body, "problem_id": NOWHERE})
    assert out.status_code == gone.status_code == 422
    assert out.get_json() == gone.get_json()


def test_a_deactivated_person_outside_scope_is_not_named(org, api, sources, english):
    org.staff_b.active = False
    db.session.commit()
    response = api(org.mgr_a).post("/problems", _problem_body(org, sources,
                                                             responsible_person_id=org.staff_b.id))
    assert response.get_json()["fields"] == {"responsible_person_id": ["No such person."]}


# --- the services: one rule for every caller -------------------------------------------------------


def test_services_refuse_every_out_of_scope_reference(org, sources, clock):
    base = dict(description="问题", category=_category(), source=sources[0], unit=org.a, lead_unit=org.a,
                found_on=TODAY)
    cases = {"source": sources[1], "lead_unit": org.b, "responsible_leader": org.mgr_b,
             "responsible_person": org.staff_b, "cooperating_units": [org.b], "unit": org.b}
    for field, value in cases.items():
        with pytest.raises(ValidationFailed) as info:
            problems.create_problem(org.mgr_a, clock, **{**base, field: value})
        assert list(info.value.fields) == [field], field
        with force_locale("en"):
            assert str(info.value.fields[field][0]).startswith("No such"), info.value.fields
        db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Problem.id))) == 0


def test_an_inactive_category_is_not_chosen_anew(org, sources, clock):
    category = _category()
    category.active = False
    db.session.commit()
    with pytest.raises(ValidationFailed) as info:
        problems.create_problem(org.mgr_a, clock, description="问题", category=category, source=sources[0],
                                unit=org.a, lead_unit=org.a, found_on=TODAY)
    with force_locale("en"):
        assert [str(m) for m in info.value.fields["category"]] == ["No such category."]


def test_admins_may_name_anything(org, sources, clock):
    problem = problems.create_problem(org.admin, clock, description="问题", category=_category(),
                                      source=sources[1], unit=org.a, lead_unit=org.b, found_on=TODAY,
                                      responsible_person=org.staff_b, cooperating_units=[org.a1])
    assert problem.lead_unit is org.b


# --- the web forms ----------------------------------------------------------------------------------


def _errors(response) -> dict:
    page = html.unescape(response.get_data(as_text=True))
    return dict(re.findall(r'data-error-for="([^"]+)">([^<]*)<', page))


@pytest.mark.parametrize("field, value", [
    ("source", "src_b"), ("lead_unit", "b"), ("responsible_leader", "mgr_b"),
    ("responsible_person", "staff_b"), ("cooperating_units", "b"), ("measures-0-owner", "staff_b"),
])
def test_web_form_references_outside_scope_answer_as_nonexistent(org, login_as, sources, english, field,
                                                                 value):
    client = login_as(org.mgr_a)
    other = sources[1].id if value == "src_b" else getattr(org, value).id
    wrap = (lambda v: [v]) if field == "cooperating_units" else (lambda v: v)
    before = counts()
    out = client.post("/problems/new", data=valid_form(org, sources[0], **{field: wrap(other)}))
    gone = client.post("/problems/new", data=valid_form(org, sources[0], **{field: wrap(NOWHERE)}))
    assert out.status_code == gone.status_code == 422
    assert _errors(out) == _errors(gone) and field in _errors(out), _errors(out)
    assert counts() == before


def test_web_form_with_more_measure_rows_than_accepted_is_refused(org, login_as, sources, english):
    client = login_as(org.mgr_a)
    form = valid_form(org, sources[0])
    for i in range(51):
        form.update({f"measures-{i}-measure": f"措施{i}", f"measures-{i}-type": "deadline",
                     f"measures-{i}-owner": org.staff_a.id, f"measures-{i}-unit": org.a.id,
                     f"measures-{i}-deadline": (TODAY + timedelta(days=20)).isoformat()})
    before = counts()
    response = client.post("/problems/new", data=form)
    assert response.status_code == 422
    assert "51 measures were sent; at most 50" in html.unescape(response.get_data(as_text=True))
    assert counts() == before
    # Exactly the limit is fine.
    del_keys = [k for k in form if k.startswith("measures-50-")]
    for k in del_keys:
        del form[k]
    assert client.post("/problems/new", data=form).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(sa.text("tasks"))) == 50


# --- the ledger import -----------------------------------------------------------------------------


def test_ledger_names_outside_scope_read_as_unknown_names(org, clock, english):
    """mgr_a's ledger naming office B's person and unit gets the messages of names that do not exist."""
    staff_b = _with(_set("整改清单", 0, 6, "王五"))
    nobody = _with(_set("整改清单", 0, 6, "查无此人"))
    _, out = attempt(staff_b, org.mgr_a, clock)
    _, gone = attempt(nobody, org.mgr_a, clock)
    out_cell = [i for i in out if i[1] == 2 and i[0] == "整改清单"]
    gone_cell = [i for i in gone if i[1] == 2 and i[0] == "整改清单"]
    assert out_cell == [("整改清单", 2, "责任人 (G)", "No user called 王五.")]
    assert gone_cell == [("整改清单", 2, "责任人 (G)", "No user called 查无此人.")]
    assert ledger_counts() == (0, 0, 0)


def test_ledger_source_outside_scope_is_not_reused(org, make, clock):
    """A source name of office B in mgr_a's ledger becomes a new source of mgr_a's, never B's."""
    theirs = make.source(org.b, name="2026年自查")
    db.session.commit()
    rows = {k: [list(r) for r in v] for k, v in GOOD.items()}
    rows["责任清单"] = [[1, "T-001", "问题一", "", "第一党支部", "", "张三"],
                    [2, "T-002", "问题二", "", "A1", "", ""]]
    report, issues = attempt(workbook(rows), org.mgr_a, clock)
    assert issues == []
    used = {p.source_id for p in db.session.scalars(sa.select(Problem))}
    assert theirs.id not in used and len(used) == 1
    assert db.session.get(Source, used.pop()).unit_id != org.b.id


# --- one rule for opening a problem (item 8) -------------------------------------------------------


@pytest.fixture
def shared_problem(org, make, clock):
    """A problem found in office B with one measure of B and one given to branch A (by mgr_root)."""
    problem = make.problem(org.mgr_root, org.b, description="跨部门问题")
    task_b = make.task(org.mgr_root, problem, owner=org.staff_b, measure="办公室的措施")
    task_a = make.task(org.mgr_root, problem, owner=org.staff_a, measure="支部的措施")
    db.session.commit()
    return problem, task_a, task_b


@pytest.mark.parametrize("who", ["mgr_a", "staff_a", "staff_a1", "viewer_b"])
def test_who_reads_a_measure_opens_its_problem_and_sees_only_their_measures(org, login_as, shared_problem,
                                                                            who):
    problem, task_a, task_b = shared_problem
    client = login_as(org.users[who])
    task_page = client.get(f"/tasks/{task_a.id}")
    problem_page = client.get(f"/problems/{problem.id}")
    body = problem_page.get_data(as_text=True)
    if who == "staff_a1":  # reads neither the measure nor the problem
        assert task_page.status_code == problem_page.status_code == 404
    elif who == "viewer_b":  # the problem is office B's; branch A's measure stays hidden
        assert (task_page.status_code, problem_page.status_code) == (404, 200)
        assert "办公室的措施" in body and "支部的措施" not in body
    else:  # before the fix: the task page showed the problem, the problem page answered 404
        assert (task_page.status_code, problem_page.status_code) == (200, 200)
        assert "支部的措施" in body and "办公室的措施" not in body


def test_the_problem_list_and_api_follow_the_same_rule(org, client, login_as, api, shared_problem):
    problem, task_a, _ = shared_problem
    listing = login_as(org.mgr_a).get("/problems").get_data(as_text=True)
    assert "跨部门问题" in listing
    assert api(org.mgr_a).get(f"/problems/{problem.id}").status_code == 200
    ids = [p["id"] for p in api(org.mgr_a).get("/problems").get_json()["items"]]
    assert problem.id in ids
    assert api(org.staff_a1).get(f"/problems/{problem.id}").status_code == 404


def test_a_measure_may_not_be_added_through_a_problem_only_readable(org, api, shared_problem, english):
    problem, _, _ = shared_problem
    response = api(org.mgr_a).post("/tasks", {
        "problem_id": problem.id, "measure": "追加", "owner_id": org.staff_a.id,
        "deadline": (TODAY + timedelta(days=5)).isoformat()})
    assert response.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(sa.text("tasks"))) == 2


def test_the_task_service_refuses_an_owner_outside_scope_before_telling_anything(org, make, clock):
    problem = make.problem(org.mgr_a)
    org.staff_b.active = False
    db.session.commit()
    with pytest.raises(ValidationFailed) as info:
        tasks.create_task(problem, org.mgr_a, clock, measure="x", owner=org.staff_b, unit=org.a,
                          deadline=TODAY + timedelta(days=3))
    with force_locale("en"):
        shown = {k: [str(m) for m in v] for k, v in info.value.fields.items()}
    assert shown == {"owner": ["No such person."]}


def test_a_leader_above_the_actors_unit_may_be_named_and_is_offered(org, api, sources, login_as, english):
    """The responsible leader (责任领导) is often above: 局长 for a branch's problem. Named through the
    API and offered by the form; a leader of a sibling office is neither."""
    response = api(org.mgr_a).post("/problems", _problem_body(org, sources,
                                                             responsible_leader_id=org.mgr_root.id))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["responsible_leader_id"] == org.mgr_root.id
    form = login_as(org.mgr_a).get("/problems/new").get_data(as_text=True)
    leader_select = form.split('name="responsible_leader"')[1].split("</select>")[0]
    assert f'value="{org.mgr_root.id}"' in leader_select and f'value="{org.mgr_b.id}"' not in leader_select

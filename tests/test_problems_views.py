"""Recording, editing and reading one problem: the create form with measures, the edit form, the page."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import flask_babel
import pytest
import sqlalchemy as sa
from conftest import TODAY

from tracker.audit.models import AuditEvent
from tracker.enums import TaskState, TaskType
from tracker.extensions import db
from tracker.problems import services as problems
from tracker.problems.models import Category, Problem
from tracker.tasks.models import Task


def counts():
    models = (Problem, Task, AuditEvent)
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in models)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def error_for(response, name: str) -> list[str]:
    """The error messages shown beside the field called `name`."""
    return re.findall(rf'data-error-for="{re.escape(name)}">([^<]*)<', text(response))


@pytest.fixture
def login(login_as):
    """Log in; the locale cache lives on the test's shared app context, so it is cleared for the new user."""

    def do(user):
        client = login_as(user)
        flask_babel.refresh()
        return client

    return do


@pytest.fixture
def english(org):
    """Every user reads English, so messages are compared with their msgids whatever the catalogues hold."""
    for user in org.users.values():
        user.language = "en"
    db.session.commit()


@pytest.fixture
def source_a(org, make):
    src = make.source(org.a, name="2026年度自查")
    db.session.commit()
    return src


def valid_form(org, src, **over) -> dict:
    category = db.session.scalars(sa.select(Category).order_by(Category.sort_order)).first()
    data = {
        "number": "",
        "description": "理论学习不够深入，学用结合不紧",
        "category": category.id,
        "source": src.id,
        "unit": org.a.id,
        "found_on": (TODAY - timedelta(days=10)).isoformat(),
        "responsible_leader": org.mgr_a.id,
        "lead_unit": org.a.id,
        "cooperating_units": [org.a1.id],
        "responsible_person": org.staff_a.id,
        "measures-0-measure": "制定学习计划，每月集中学习一次",
        "measures-0-target": "学习制度化",
        "measures-0-type": "deadline",
        "measures-0-owner": org.staff_a.id,
        "measures-0-unit": org.a.id,
        "measures-0-deadline": (TODAY + timedelta(days=30)).isoformat(),
        "measures-1-measure": "开展专题研讨",
        "measures-1-target": "",
        "measures-1-type": "immediate",
        "measures-1-owner": org.staff_a1.id,
        "measures-1-unit": org.a1.id,
        "measures-1-deadline": (TODAY + timedelta(days=7)).isoformat(),
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


# --- create --------------------------------------------------------------------------------------


def test_create_with_two_measures(org, source_a, login):
    client = login(org.mgr_a)
    response = client.post("/problems/new", data=valid_form(org, source_a))
    assert response.status_code == 302, text(response)
    problem = db.session.scalars(sa.select(Problem)).one()
    assert response.headers["Location"].endswith(f"/problems/{problem.id}")
    assert problem.number == "2026-001"
    assert problem.description == "理论学习不够深入，学用结合不紧"
    assert problem.lead_unit_id == org.a.id
    assert [u.id for u in problem.cooperating_units] == [org.a1.id]
    assert problem.responsible_leader_id == org.mgr_a.id
    assert problem.responsible_person_id == org.staff_a.id
    tasks = problem.tasks
    assert [(t.measure, t.owner_id, t.unit_id, t.state, t.type) for t in tasks] == [
        ("制定学习计划，每月集中学习一次", org.staff_a.id, org.a.id, TaskState.ASSIGNED, TaskType.DEADLINE),
        ("开展专题研讨", org.staff_a1.id, org.a1.id, TaskState.ASSIGNED, TaskType.IMMEDIATE),
    ]
    assert tasks[0].target == "学习制度化" and tasks[1].target is None
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.problem_id == problem.id).order_by(AuditEvent.id)
    ).all()
    assert actions == ["problem.create", "task.create", "task.create"]


def test_blank_rows_are_skipped_and_ongoing_needs_no_deadline(org, source_a, login):
    client = login(org.mgr_a)
    form = valid_form(org, source_a, **{
        "measures-1-measure": "", "measures-1-owner": "", "measures-1-unit": "", "measures-1-deadline": "",
        "measures-2-measure": "长期坚持学习制度", "measures-2-type": "ongoing",
        "measures-2-owner": org.staff_a.id, "measures-2-unit": org.a.id, "measures-2-deadline": "",
    })
    assert client.post("/problems/new", data=form).status_code == 302
    tasks = db.session.scalars(sa.select(Task).order_by(Task.id)).all()
    assert [(t.measure, t.deadline) for t in tasks] == [
        ("制定学习计划，每月集中学习一次", TODAY + timedelta(days=30)), ("长期坚持学习制度", None),
    ]


def test_add_another_measure_row_keeps_the_input_and_saves_nothing(org, source_a, login):
    client = login(org.mgr_a)
    before = counts()
    response = client.post("/problems/new", data={**valid_form(org, source_a), "add_measure": "1"})
    assert response.status_code == 200
    body = text(response)
    assert 'name="measures-2-measure"' in body
    assert "开展专题研讨" in body and "理论学习不够深入" in body
    assert counts() == before


def test_new_problem_form_offers_scope_only(org, make, source_a, login):
    make.source(org.b, name="办公室督查")
    db.session.commit()
    client = login(org.mgr_a)
    response = client.get("/problems/new")
    assert response.status_code == 200
    body = text(response)
    assert "2026年度自查" in body and "办公室督查" not in body
    assert 'href="/sources/new"' in body
    assert 'name="measures-0-measure"' in body
    assert f'value="{TODAY.isoformat()}"' in body


BAD_INPUT = [
    ("description", {"description": "  "}, "description", "Describe the problem."),
    ("category", {"category": ""}, "category", "Choose a category."),
    ("source", {"source": ""}, "source", "Choose where the problem came from."),
    ("unit", {"unit": ""}, "unit", "Choose the unit where the problem was found."),
    ("lead unit", {"lead_unit": ""}, "lead_unit", "Choose the lead unit."),
    ("future date", {"found_on": (TODAY + timedelta(days=1)).isoformat()}, "found_on",
     "The date found cannot be in the future."),
    ("lead unit cooperating", {"cooperating_units": ["A_ID", "A1_ID"]}, "cooperating_units",
     "The lead unit cannot also be a cooperating unit."),
    ("unit out of scope", {"unit": "B_ID"}, "unit", "No such unit."),
    ("junk date", {"found_on": "31/12/2025"}, "found_on", "Not a valid date value."),
    ("no deadline", {"measures-1-deadline": ""}, "measures-1-deadline",
     "A deadline is required unless the measure is ongoing."),
    ("past deadline", {"measures-0-deadline": (TODAY - timedelta(days=1)).isoformat()}, "measures-0-deadline",
     "The deadline cannot be in the past."),
    # A viewer of the root is outside mgr_a's scope: answered like an id that does not exist.
    ("owner is a viewer out of scope", {"measures-1-owner": "VIEWER_ID"}, "measures-1-owner",
     "No such person."),
    ("measure unit out of scope", {"measures-0-unit": "B_ID"}, "measures-0-unit", "No such unit."),
    ("measure without text", {"measures-0-measure": ""}, "measures-0-measure", "Measure is required."),
    ("no measure at all", {k: "" for k in ("measures-0-measure", "measures-0-target", "measures-0-owner",
                                           "measures-0-deadline", "measures-1-measure", "measures-1-owner",
                                           "measures-1-deadline")},
     "measures-0-measure", "Add at least one measure."),
]


def _resolve(org, value):
    ids = {"A_ID": org.a.id, "A1_ID": org.a1.id, "B_ID": org.b.id, "VIEWER_ID": org.viewer_root.id}
    if isinstance(value, list):
        return [ids.get(v, v) for v in value]
    return ids.get(value, value)


@pytest.mark.parametrize("case, changes, field, message", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_create_input_is_shown_beside_the_field_and_nothing_is_saved(
        org, source_a, login, english, case, changes, field, message):
    client = login(org.mgr_a)
    before = counts()
    form = valid_form(org, source_a, **{k: _resolve(org, v) for k, v in changes.items()})
    response = client.post("/problems/new", data=form)
    assert response.status_code == 422
    assert message in error_for(response, field)
    assert counts() == before


def test_duplicate_number_is_refused(org, make, source_a, login, english):
    make.problem(org.mgr_a, number="ZC-1")
    db.session.commit()
    client = login(org.mgr_a)
    before = counts()
    response = client.post("/problems/new", data=valid_form(org, source_a, number="ZC-1"))
    assert response.status_code == 422
    assert "Number ZC-1 is already used." in error_for(response, "number")
    assert counts() == before


def test_errors_in_two_rows_are_shown_together(org, source_a, login, english):
    client = login(org.mgr_a)
    before = counts()
    response = client.post("/problems/new", data=valid_form(org, source_a, **{
        "measures-0-deadline": "", "measures-1-owner": org.viewer_b.id}))
    assert response.status_code == 422
    assert error_for(response, "measures-0-deadline")
    assert error_for(response, "measures-1-owner")
    assert counts() == before


@pytest.mark.parametrize("who", ["staff_a", "viewer_root", "viewer_b"])
def test_only_managers_may_create(org, source_a, login, who):
    client = login(org.users[who])
    assert client.get("/problems/new").status_code == 404
    before = counts()
    assert client.post("/problems/new", data=valid_form(org, source_a)).status_code == 404
    assert counts() == before


def test_admin_may_create(org, source_a, login):
    client = login(org.admin)
    assert client.post("/problems/new", data=valid_form(org, source_a)).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 2


# --- edit ----------------------------------------------------------------------------------------


@pytest.fixture
def problem_a(org, make):
    problem = make.problem(org.mgr_a, number="ZC-7", responsible_leader=org.mgr_a)
    make.task(org.mgr_a, problem=problem, owner=org.staff_a)
    db.session.commit()
    return problem


def edit_form(org, problem, **over) -> dict:
    data = {
        "number": problem.number, "description": problem.description, "category": problem.category_id,
        "source": problem.source_id, "unit": problem.unit_id, "found_on": problem.found_on.isoformat(),
        "responsible_leader": problem.responsible_leader_id or "", "lead_unit": problem.lead_unit_id,
        "cooperating_units": [u.id for u in problem.cooperating_units],
        "responsible_person": problem.responsible_person_id or "", "version": problem.version,
    }
    data.update(over)
    return data


def test_edit_form_shows_the_stored_values(org, problem_a, login):
    client = login(org.mgr_a)
    response = client.get(f"/problems/{problem_a.id}/edit")
    assert response.status_code == 200
    body = text(response)
    assert 'value="ZC-7"' in body and problem_a.description in body
    assert f'name="version" type="hidden" value="{problem_a.version}"' in body
    assert "measures-0-measure" not in body


def test_edit_saves_and_is_recorded(org, problem_a, login):
    client = login(org.mgr_a)
    form = edit_form(org, problem_a, description="新的描述", cooperating_units=[org.a1.id],
                     responsible_person=org.staff_a.id)
    response = client.post(f"/problems/{problem_a.id}/edit", data=form)
    assert response.status_code == 302
    db.session.expire_all()
    problem = db.session.get(Problem, problem_a.id)
    assert problem.description == "新的描述"
    assert [u.id for u in problem.cooperating_units] == [org.a1.id]
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "problem.update")).one()
    assert event.after["description"] == "新的描述" and event.problem_id == problem.id
    page = text(client.get(f"/problems/{problem.id}"))
    assert "新的描述" in page and "第一党支部一组" in page  # history names the unit, not its id


def test_bad_edit_input_changes_nothing(org, problem_a, login, english):
    client = login(org.mgr_a)
    before = (problem_a.description, problem_a.version, counts())
    response = client.post(f"/problems/{problem_a.id}/edit",
                           data=edit_form(org, problem_a, description="x", cooperating_units=[org.a.id]))
    assert response.status_code == 422
    assert "The lead unit cannot also be a cooperating unit." in error_for(response, "cooperating_units")
    db.session.expire_all()
    problem = db.session.get(Problem, problem_a.id)
    assert (problem.description, problem.version, counts()) == before


def test_stale_edit_is_refused(org, problem_a, login, clock, english):
    client = login(org.mgr_a)
    stale = edit_form(org, problem_a, description="我的修改")
    # Someone else saves first.
    problems.update_problem(problem_a, org.mgr_a_2, clock, expected_version=problem_a.version,
                            **{**_service_data(problem_a), "description": "别人的修改"})
    db.session.commit()
    response = client.post(f"/problems/{problem_a.id}/edit", data=stale)
    assert response.status_code == 409
    assert "Someone else changed this item after you opened it." in text(response)
    db.session.expire_all()
    assert db.session.get(Problem, problem_a.id).description == "别人的修改"


def _service_data(p: Problem) -> dict:
    return dict(number=p.number, description=p.description, category=p.category, source=p.source,
                unit=p.unit, found_on=p.found_on, responsible_leader=p.responsible_leader,
                lead_unit=p.lead_unit, cooperating_units=list(p.cooperating_units),
                responsible_person=p.responsible_person)


def test_junk_version_counts_as_stale(org, problem_a, login):
    client = login(org.mgr_a)
    response = client.post(f"/problems/{problem_a.id}/edit", data=edit_form(org, problem_a, version="abc",
                                                                           description="改"))
    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.get(Problem, problem_a.id).description != "改"


@pytest.mark.parametrize("who", ["staff_a", "viewer_root", "mgr_b", "staff_b"])
def test_others_cannot_edit(org, problem_a, login, who):
    client = login(org.users[who])
    assert client.get(f"/problems/{problem_a.id}/edit").status_code == 404
    response = client.post(f"/problems/{problem_a.id}/edit", data=edit_form(org, problem_a, description="改"))
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(Problem, problem_a.id).description != "改"


@pytest.mark.parametrize("who", ["mgr_root", "admin", "mgr_a_2"])
def test_managers_above_may_edit(org, problem_a, login, who):
    client = login(org.users[who])
    assert client.get(f"/problems/{problem_a.id}/edit").status_code == 200


# --- the problem page --------------------------------------------------------------------------------


def test_problem_page_shows_fields_measures_and_history(org, problem_a, login):
    client = login(org.mgr_a)
    response = client.get(f"/problems/{problem_a.id}")
    assert response.status_code == 200
    body = text(response)
    task = problem_a.tasks[0]
    assert problem_a.description in body and org.mgr_a.name in body
    assert f'href="/tasks/{task.id}"' in body
    assert 'data-action="problem.create"' in body
    assert 'id="add-measure"' in body and 'id="edit-problem"' in body


def test_staff_sees_the_page_without_edit_controls(org, problem_a, login):
    client = login(org.staff_a)
    body = text(client.get(f"/problems/{problem_a.id}"))
    assert problem_a.description in body
    assert 'id="add-measure"' not in body and 'id="edit-problem"' not in body


@pytest.mark.parametrize("who", ["staff_b", "mgr_b", "viewer_b"])
def test_problem_page_out_of_scope_is_404(org, problem_a, login, who):
    client = login(org.users[who])
    assert client.get(f"/problems/{problem_a.id}").status_code == 404
    assert client.get("/problems/999999").status_code == 404


def test_owner_of_a_measure_elsewhere_sees_only_their_measure(org, make, problem_a, login):
    make.task(org.mgr_root, problem=problem_a, owner=org.staff_b, measure="办公室配合整改")
    db.session.commit()
    body = text(login(org.staff_b).get(f"/problems/{problem_a.id}"))
    assert "办公室配合整改" in body
    assert problem_a.tasks[0].measure not in body


def test_add_measure_from_the_problem_page(org, problem_a, login, english):
    client = login(org.mgr_a)
    data = {"measure": "补充措施", "type": "deadline", "owner": org.staff_a1.id, "unit": org.a1.id,
            "deadline": (TODAY + timedelta(days=5)).isoformat()}
    bad = client.post(f"/problems/{problem_a.id}/measures", data={**data, "deadline": "2020-01-01"})
    assert bad.status_code == 422
    assert "The deadline cannot be in the past." in error_for(bad, "deadline")
    assert len(db.session.get(Problem, problem_a.id).tasks) == 1
    assert client.post(f"/problems/{problem_a.id}/measures", data=data).status_code == 302
    db.session.expire_all()
    assert [t.measure for t in db.session.get(Problem, problem_a.id).tasks][-1] == "补充措施"


@pytest.mark.parametrize("who", ["staff_a", "viewer_root", "mgr_b"])
def test_add_measure_needs_a_manager_of_the_problem(org, problem_a, login, who):
    client = login(org.users[who])
    response = client.post(f"/problems/{problem_a.id}/measures", data={
        "measure": "x", "type": "ongoing", "owner": org.staff_a.id, "unit": org.a.id})
    assert response.status_code == 404
    assert len(db.session.get(Problem, problem_a.id).tasks) == 1


def test_pages_render_in_english(org, problem_a, login, english):
    client = login(org.mgr_a)
    body = text(client.get(f"/problems/{problem_a.id}"))
    assert "Responsible leader" in body and "Rectification measures" in body
    assert "Recorded the problem" in body
    assert "Add another measure" in text(client.get("/problems/new"))
    assert "Lead unit" in text(client.get(f"/problems/{problem_a.id}/edit"))


def test_pages_render_in_chinese_by_default(org, problem_a, login):
    client = login(org.mgr_a)
    response = client.get(f"/problems/{problem_a.id}")
    assert response.status_code == 200
    assert '<html lang="zh-CN">' in text(response)


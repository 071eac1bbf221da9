"""Searchable pickers of people, units and sources: the JSON search behind them stays in the user's
scope (DESIGN §3: what is out of scope answers like what does not exist), and the pages of a large
organisation hold the current choice instead of the whole list."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import TODAY

from tracker.enums import Role
from tracker.extensions import db
from tracker.org.models import User
from tracker.pickers import lists
from tracker.problems.models import Category, Problem
from tracker.tasks.models import Task


def found(client, path: str) -> dict[str, str]:
    """value → text of a picker search's answer."""
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {item["value"]: item["text"] for item in response.get_json()["items"]}


def select(html: str, name: str) -> str:
    """The <select name=...> of a page, its attributes and options."""
    found = re.search(rf'<select[^>]*\bname="{re.escape(name)}"[^>]*>.*?</select>', html, re.S)
    assert found, name
    return found.group(0)


def many_people(unit, n: int, prefix: str = "同事", role: Role = Role.STAFF) -> list[User]:
    """n people in a unit, inserted directly (hashing n passwords through the service takes long)."""
    people = [User(username=f"{prefix.lower()}{i:04d}", name=f"{prefix}{i:04d}", role=role, unit_id=unit.id,
                   password_hash="x", email=None) for i in range(n)]
    db.session.add_all(people)
    db.session.commit()
    return people


# --- the JSON search: scope per role ------------------------------------------------------------

EVERYBODY = {"admin", "mgr_root", "mgr_a", "mgr_a_2", "staff_a", "staff_a1", "mgr_b", "staff_b",
             "viewer_root", "viewer_b"}
IN_SCOPE = {  # the people each user may pick (their unit's subtree; admins: all)
    "admin": EVERYBODY,
    "mgr_root": EVERYBODY - {"admin"},
    "mgr_a": {"mgr_a", "mgr_a_2", "staff_a", "staff_a1"},
    "staff_a1": {"staff_a1"},
    "mgr_b": {"mgr_b", "staff_b", "viewer_b"},
    "viewer_b": {"mgr_b", "staff_b", "viewer_b"},
}
UNITS_IN_SCOPE = {"admin": {"root", "a", "a1", "b"}, "mgr_root": {"root", "a", "a1", "b"},
                  "mgr_a": {"a", "a1"}, "staff_a1": {"a1"}, "mgr_b": {"b"}, "viewer_b": {"b"}}


@pytest.mark.parametrize("who", sorted(IN_SCOPE))
def test_people_and_units_are_those_of_the_users_scope(client, org, login_as, who):
    login_as(getattr(org, who))
    people = found(client, "/pick/people")
    assert set(people) == {str(getattr(org, name).id) for name in IN_SCOPE[who]}
    units = found(client, "/pick/units")
    assert set(units) == {str(getattr(org, name).id) for name in UNITS_IN_SCOPE[who]}
    # whatever is typed: the search narrows the scope, never widens it
    for q in ("张三", "王五", "mgr", "办公室", "%", "_", "第一"):
        assert set(found(client, f"/pick/people?q={q}")) <= set(people)
        assert set(found(client, f"/pick/units?q={q}")) <= set(units)


def test_a_manager_of_b_never_sees_a(client, org, make, login_as):
    src_a, src_b = make.source(org.a, name="A的自查"), make.source(org.b, name="B的自查")
    db.session.commit()
    login_as(org.mgr_b)
    assert found(client, "/pick/people?q=张三") == {}
    assert found(client, "/pick/units?q=第一党支部") == {}
    assert set(found(client, "/pick/sources")) == {str(src_b.id)}
    assert set(found(client, "/pick/sources?above=1")) == {str(src_b.id)}  # the root held none
    assert str(src_a.id) not in found(client, "/pick/sources?q=A的")
    # narrowing to a unit out of scope finds nothing, as for a unit that does not exist
    for unit in (org.a.id, org.a1.id, 999_999, "x", -1, 10**12, ""):
        answer = found(client, f"/pick/people?unit={unit}")
        assert answer == ({} if unit != "" else found(client, "/pick/people"))


def test_labels_name_the_unit_and_the_parent(client, org, make, login_as):
    source = make.source(org.a, name="2026年度组织生活会")
    db.session.commit()
    login_as(org.mgr_root)
    assert found(client, "/pick/people?q=张三") == {str(org.staff_a.id): "张三（第一党支部）"}
    assert found(client, "/pick/units?q=一组") == {str(org.a1.id): "第一党支部一组（第一党支部）"}
    assert found(client, "/pick/units?q=某局")[str(org.root.id)] == "某局党委"
    held = (TODAY - timedelta(days=30)).isoformat()
    assert found(client, "/pick/sources?q=组织生活") == {str(source.id): f"{held} 自查·2026年度组织生活会"}


def test_roles_active_and_the_leaders_above(client, org, login_as, clock):
    org.staff_a1.active = False
    db.session.commit()
    login_as(org.mgr_a)
    assert set(found(client, "/pick/people?role=staff")) == {str(org.staff_a.id), str(org.staff_a1.id)}
    assert set(found(client, "/pick/people?role=staff&active=1")) == {str(org.staff_a.id)}
    assert set(found(client, "/pick/people?role=manager,staff&active=1")) == {
        str(org.mgr_a.id), str(org.mgr_a_2.id), str(org.staff_a.id)}
    # a responsible leader may be a manager or leader above (scope.may_pick_leader), never staff there
    leaders = found(client, "/pick/people?role=manager&role=viewer&active=1&above=1")
    assert set(leaders) == {str(org.mgr_root.id), str(org.viewer_root.id), str(org.mgr_a.id),
                            str(org.mgr_a_2.id)}
    assert str(org.staff_b.id) not in found(client, "/pick/people?role=staff&above=1")
    assert set(found(client, f"/pick/people?unit={org.a1.id}")) == {str(org.staff_a1.id)}


def test_search_matches_name_username_and_code_literally(client, org, make, login_as):
    odd = make.user("pctuser", Role.STAFF, org.b, name="百分之百%_组")
    plain = make.user("plainuser", Role.STAFF, org.b, name="百分之百x组")
    db.session.commit()
    login_as(org.admin)
    assert set(found(client, "/pick/people?q=%25_")) == {str(odd.id)}
    assert set(found(client, "/pick/people?q=%25")) == {str(odd.id)}
    underscore = found(client, "/pick/people?q=_")  # the name of odd, the usernames of mgr_root and others
    assert str(odd.id) in underscore and str(org.mgr_root.id) in underscore
    assert str(plain.id) not in underscore
    assert set(found(client, "/pick/people?q=STAFF_A1")) == {str(org.staff_a1.id)}  # username, any case
    assert set(found(client, "/pick/units?q=a1")) == {str(org.a1.id)}  # by code
    assert list(found(client, "/pick/units?q=第一党支部")) == [str(org.a.id), str(org.a1.id)]


def test_those_whose_name_starts_with_the_text_come_first(client, org, make, login_as):
    later = make.user("zhang_late", Role.STAFF, org.a, name="阿张")  # contains 张, sorts before 张三
    db.session.commit()
    login_as(org.admin)
    assert list(found(client, "/pick/people?q=张")) == [str(org.staff_a.id), str(later.id)]


def test_at_most_twenty_answers(client, org, login_as):
    many_people(org.b, 45)
    login_as(org.mgr_b)
    assert len(found(client, "/pick/people")) == lists.LIMIT == 20
    assert len(found(client, "/pick/people?q=同事")) == 20
    assert list(found(client, "/pick/people?q=同事004")) == [
        str(i) for i in db.session.scalars(sa.select(User.id).where(User.name.like("同事004%"))
                                           .order_by(User.name))]


@pytest.mark.parametrize("path", [
    "/pick/people?role=boss", "/pick/people?role=", "/pick/people?active=maybe", "/pick/people?unit=1.5",
    "/pick/people?q=" + "长" * 5000, "/pick/people?q=%00%00", "/pick/units?q=\\", "/pick/sources?q='--",
    "/pick/people?role=staff&role=../../etc", "/pick/units?q=%25%25%25&unit=abc",
])
def test_junk_finds_nothing_or_little_and_never_fails(client, org, login_as, path):
    login_as(org.mgr_root)
    response = client.get(path)
    assert response.status_code == 200 and isinstance(response.get_json()["items"], list)
    if "role=boss" in path or "etc" in path:
        assert response.get_json()["items"] == []


def test_an_unknown_list_and_a_stranger_are_refused(client, org, login_as):
    assert client.get("/pick/people").status_code == 401
    assert client.get("/pick/people").get_json()["items"] == []
    login_as(org.mgr_root)
    assert client.get("/pick/passwords").status_code == 404


def test_one_indexed_query_per_search(client, org, login_as, queries):
    login_as(org.mgr_root)
    client.get("/pick/people?q=张")
    with queries() as seen:
        client.get("/pick/people?q=张")
    assert sum("FROM users" in s and "LIKE" in s.upper() for s in seen) == 1
    with queries() as seen:
        client.get(f"/pick/people?q=张&unit={org.a.id}")
    assert sum("FROM users" in s and "LIKE" in s.upper() for s in seen) == 1


# --- the pages of a large organisation -------------------------------------------------------------


def test_filter_bars_of_a_large_organisation_no_longer_embed_the_lists(client, org, make, login_as):
    many_people(org.a, 300)
    for i in range(60):
        make.source(org.a, name=f"第{i}次检查")
    db.session.commit()
    login_as(org.mgr_root)
    for path, pickers in (("/tasks", ("unit", "owner", "source")), ("/problems", ("unit", "source")),
                          ("/responsibilities", ("unit", "source", "leader"))):
        page = client.get(path).get_data(as_text=True)
        for name in pickers:
            options = select(page, name).count("<option")
            if name in ("unit", "leader"):  # four units, six managers and leaders: short lists, whole
                assert options == {"unit": 5, "leader": 7}[name]
                assert "data-picker-url" not in select(page, name)
            else:
                assert options == 1 and "data-picker-url=" in select(page, name), (path, name)
        assert "同事0299" not in page and "第59次检查" not in page
        assert len(page.encode()) < 25_000, (path, len(page))


def test_the_current_choice_is_named_and_an_out_of_scope_one_is_not(client, org, make, login_as):
    many_people(org.a, 60)
    many_people(org.b, 60, prefix="办事员")
    login_as(org.mgr_b)
    mine, other = (db.session.scalar(sa.select(User.id).where(User.username == name))
                   for name in ("办事员0007", "同事0007"))
    page = client.get(f"/tasks?owner={mine}").get_data(as_text=True)
    assert f'<option value="{mine}" selected>办事员0007（办公室）</option>' in select(page, "owner")
    page = client.get(f"/tasks?owner={other}").get_data(as_text=True)
    assert "同事0007" not in page and select(page, "owner").count("<option") == 1


def test_without_javascript_a_search_box_lists_the_matches(client, org, login_as):
    many_people(org.a, 60)
    login_as(org.mgr_root)
    page = client.get("/tasks").get_data(as_text=True)
    assert '<noscript><input class="form-control form-control-sm mt-1" type="search" name="owner-search"' \
        in page
    page = client.get("/tasks?owner-search=同事005").get_data(as_text=True)
    owner = select(page, "owner")
    assert owner.count("<option") == 11 and "同事0059（第一党支部）" in owner
    assert 'name="owner-search" value="同事005"' in page


def test_the_problem_form_of_a_large_organisation_saves_as_before(client, org, make, login_as):
    people = many_people(org.a, 60)
    source = make.source(org.a, name="专项检查")
    db.session.commit()
    login_as(org.mgr_a)
    form = client.get("/problems/new").get_data(as_text=True)
    owner = select(form, "measures-0-owner")
    assert owner.count("<option") == 1
    assert 'data-picker-url="/pick/people?role=manager&amp;role=staff&amp;active=1"' in owner
    category = db.session.scalar(sa.select(Category.id).order_by(Category.sort_order).limit(1))
    data = {"description": "台账不全", "category": category, "source": source.id, "unit": org.a.id,
            "lead_unit": org.a.id, "found_on": "2026-06-10", "measures-0-measure": "补齐台账",
            "measures-0-type": "deadline", "measures-0-owner": people[5].id, "measures-0-unit": org.a1.id,
            "measures-0-deadline": "2026-07-31"}
    # without JavaScript: a search sent with the form lists its matches and saves nothing
    page = client.post("/problems/new", data={**data, "measures-0-owner-search": "同事000"})
    assert page.status_code == 200 and db.session.scalar(sa.select(sa.func.count(Problem.id))) == 0
    assert select(page.get_data(as_text=True), "measures-0-owner").count("<option") == 11
    # an id out of scope is refused as one that does not exist
    other = many_people(org.b, 1, prefix="外人")[0]
    refused = client.post("/problems/new", data={**data, "measures-0-owner": other.id})
    assert refused.status_code == 422 and "外人0000" not in refused.get_data(as_text=True)
    saved = client.post("/problems/new", data=data)
    assert saved.status_code == 302
    task = db.session.scalars(sa.select(Task)).one()
    assert (task.owner_id, task.unit_id) == (people[5].id, org.a1.id)
    edit = client.get(f"/problems/{task.problem_id}/edit").get_data(as_text=True)
    assert re.search(rf'<option selected value="{source.id}">[^<]*专项检查</option>', select(edit, "source"))


def test_reassigning_to_a_junk_or_foreign_id_is_a_form_error(client, org, make, login_as):
    many_people(org.a, 60)
    task = make.task(org.mgr_a, owner=org.staff_a)
    db.session.commit()
    login_as(org.mgr_a)
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert select(page, "reassign-owner").count("<option") == 1
    for owner in (org.staff_b.id, 10**12, 99_999):
        answer = client.post(f"/tasks/{task.id}/reassign",
                             data={"reassign-owner": owner, "reassign-version": task.version})
        assert answer.status_code == 422 and "没有该人员。" in answer.get_data(as_text=True)
        assert "王五" not in answer.get_data(as_text=True)
    done = client.post(f"/tasks/{task.id}/reassign",
                       data={"reassign-owner": org.staff_a1.id, "reassign-version": task.version})
    assert done.status_code == 302 and db.session.get(Task, task.id).owner_id == org.staff_a1.id

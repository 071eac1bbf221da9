"""Admin pages: users, units, categories (admins only) and sources (managers too)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, TODAY
from flask import g

from tracker import scope
from tracker.audit.models import AuditEvent
from tracker.enums import Role, SourceKind
from tracker.extensions import db
from tracker.org.models import Unit, User, child_path
from tracker.problems.models import Category, Source
from tracker.tasks.models import Task

NEW_PASSWORD = "new-secret-42"


def count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def audit_actions(object_type: str) -> list[str]:
    return db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.object_type == object_type).order_by(AuditEvent.id)
    ).all()


def log_in(client, username: str, password: str) -> bool:
    client.post("/logout")
    response = client.post("/login", data={"username": username, "password": password})
    return response.status_code == 302


@pytest.fixture(autouse=True)
def locale_per_request(app):
    """The test's app context outlives requests and Flask-Babel caches the locale on `g`: drop it."""
    @app.before_request
    def forget_locale():
        g.pop("_flask_babel", None)


@pytest.fixture
def as_admin(org, login_as):
    """The admin, logged in, reading English so messages can be compared."""
    org.admin.language = "en"
    db.session.commit()
    return login_as(org.admin)


@pytest.fixture
def as_mgr_a(org, login_as):
    org.mgr_a.language = "en"
    db.session.commit()
    return login_as(org.mgr_a)


def user_form(org, **overrides) -> dict:
    data = {"username": "newbie", "name": "新同志", "email": "newbie@example.org", "role": "staff",
            "unit": str(org.a.id), "language": "zh_CN", "active": "y", "password": NEW_PASSWORD}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- access --------------------------------------------------------------------------------------

ADMIN_PAGES = [
    "/admin/users", "/admin/users/new", "/admin/users/{user}/edit",
    "/admin/units", "/admin/units/new", "/admin/units/{unit}/edit",
    "/admin/categories", "/admin/categories/new", "/admin/categories/{category}/edit",
]
SOURCE_PAGES = ["/sources", "/sources/new", "/sources/{source}/edit"]


def fill(paths: list[str], org, make) -> list[str]:
    source = make.source(org.a)
    db.session.commit()
    return [p.format(user=org.staff_a.id, unit=org.a.id, category=make.category().id, source=source.id)
            for p in paths]


@pytest.mark.parametrize("who, status", [("admin", 200), ("mgr_root", 404), ("mgr_a", 404),
                                         ("staff_a", 404), ("viewer_root", 404)])
def test_admin_pages_are_for_admins_only(org, make, login_as, who, status):
    client = login_as(org.users[who])
    for path in fill(ADMIN_PAGES, org, make):
        assert client.get(path).status_code == status, path


@pytest.mark.parametrize("who, status", [("admin", 200), ("mgr_a", 200), ("mgr_root", 200),
                                         ("staff_a", 404), ("viewer_root", 404), ("viewer_b", 404)])
def test_source_pages_are_for_managers_and_admins(org, make, login_as, who, status):
    client = login_as(org.users[who])
    for path in fill(SOURCE_PAGES, org, make):
        assert client.get(path).status_code == status, path


@pytest.mark.parametrize("path", ["/admin/users", "/admin/units", "/admin/categories", "/sources"])
def test_anonymous_is_sent_to_login(client, org, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("who", ["mgr_root", "staff_a", "viewer_root"])
def test_non_admin_posts_write_nothing(org, login_as, who):
    client = login_as(org.users[who])
    users_before, units_before = count(User), count(Unit)
    assert client.post("/admin/users/new", data=user_form(org)).status_code == 404
    assert client.post("/admin/units/new", data={"code": "X", "name": "X"}).status_code == 404
    assert client.post(f"/admin/users/{org.staff_a.id}/active", data={"active": "0"}).status_code == 404
    assert (count(User), count(Unit)) == (users_before, units_before)
    assert db.session.get(User, org.staff_a.id).active


# --- users ---------------------------------------------------------------------------------------


def test_create_user_hashes_password_and_the_user_can_log_in(org, as_admin, client):
    response = as_admin.post("/admin/users/new", data=user_form(org))
    assert response.status_code == 302, response.get_data(as_text=True)
    user = db.session.scalar(sa.select(User).where(User.username == "newbie"))
    assert user.unit_id == org.a.id and user.role == Role.STAFF and user.active
    assert NEW_PASSWORD not in user.password_hash and user.check_password(NEW_PASSWORD)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.create",
                                                          AuditEvent.object_id == user.id))
    assert event.actor_id == org.admin.id and event.after["username"] == "newbie"
    assert log_in(client, "newbie", NEW_PASSWORD)


def test_create_admin_needs_no_unit(org, as_admin):
    response = as_admin.post("/admin/users/new", data=user_form(org, role="admin", unit=""))
    assert response.status_code == 302
    assert db.session.scalar(sa.select(User.unit_id).where(User.username == "newbie")) is None


def test_edit_user_resets_password_and_changes_fields(org, as_admin, client):
    data = user_form(org, username="staff_a", name="张三丰", unit=str(org.a1.id), language="en")
    response = as_admin.post(f"/admin/users/{org.staff_a.id}/edit", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    user = db.session.get(User, org.staff_a.id)
    assert (user.name, user.unit_id, user.language) == ("张三丰", org.a1.id, "en")
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "user.update")).one()
    assert event.after["password"] == "changed" and event.before["unit_id"] == org.a.id
    assert not log_in(client, "staff_a", PASSWORD)
    assert log_in(client, "staff_a", NEW_PASSWORD)


def test_edit_without_password_keeps_it(org, as_admin, client):
    data = user_form(org, username="staff_a", name="张三", password="")
    assert as_admin.post(f"/admin/users/{org.staff_a.id}/edit", data=data).status_code == 302
    assert log_in(client, "staff_a", PASSWORD)


def test_edit_form_is_prefilled(org, as_admin):
    page = as_admin.get(f"/admin/users/{org.staff_a.id}/edit").get_data(as_text=True)
    assert 'value="staff_a"' in page and f'<option selected value="{org.a.id}">' in page


@pytest.mark.parametrize("overrides, field, message", [
    ({"username": "staff_a"}, "username", "Username staff_a is taken."),
    ({"username": "bad name!"}, "username", "Use 2–64 letters"),
    ({"password": "short"}, "password", "At least 8 characters."),
    ({"password": ""}, "password", "A new user needs a password."),
    ({"unit": ""}, "unit", "Everyone but an administrator belongs to a unit."),
    ({"email": "not-an-email"}, "email", "Not a valid email address."),
    ({"name": ""}, "name", "Name is required."),
    ({"name": "名" * 81}, "name", "At most 80 characters."),
    ({"role": "boss"}, "role", "Choose a role."),
    ({"unit": "99999"}, "unit", "Not a valid choice"),
])
def test_bad_user_input_is_refused_beside_the_field(org, as_admin, overrides, field, message):
    users_before, events_before = count(User), count(AuditEvent)
    response = as_admin.post("/admin/users/new", data=user_form(org, **overrides))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'data-error-for="{field}"' in page and message in page
    assert (count(User), count(AuditEvent)) == (users_before, events_before)


def test_deactivate_and_reactivate_user(org, as_admin, client):
    url = f"/admin/users/{org.staff_a.id}/active"
    assert as_admin.post(url, data={"active": "0"}).status_code == 302
    assert not db.session.get(User, org.staff_a.id).active
    assert "user.update" in audit_actions("users")
    assert not log_in(client, "staff_a", PASSWORD)
    assert log_in(client, "admin", PASSWORD)
    assert client.post(url, data={"active": "1"}).status_code == 302
    assert log_in(client, "staff_a", PASSWORD)


def test_deactivate_button_asks_for_confirmation(org, as_admin):
    page = as_admin.get("/admin/users?q=staff_a").get_data(as_text=True)
    assert f'action="/admin/users/{org.staff_a.id}/active"' in page and "data-confirm=" in page


def test_admin_cannot_deactivate_or_demote_themselves(org, as_admin):
    response = as_admin.post(f"/admin/users/{org.admin.id}/active", data={"active": "0"})
    assert response.status_code == 302
    data = user_form(org, username="admin", name="管理员", role="manager", password="")
    response = as_admin.post(f"/admin/users/{org.admin.id}/edit", data=data)
    assert response.status_code == 422
    assert "You cannot demote or deactivate yourself." in response.get_data(as_text=True)
    admin = db.session.get(User, org.admin.id)
    assert admin.active and admin.role == Role.ADMIN


def test_user_list_search_filter_sort(org, as_admin):
    def names(query):
        page = as_admin.get("/admin/users" + query).get_data(as_text=True)
        return [u for u in org.users if f'data-user="{u}"' in page]

    assert names("?q=张三") == ["staff_a"]
    assert names("?q=USER") == list(org.users)  # every e-mail is userN@example.org, case-insensitive
    assert set(names("?role=viewer")) == {"viewer_root", "viewer_b"}
    assert set(names(f"?unit={org.a.id}")) == {"mgr_a", "mgr_a_2", "staff_a", "staff_a1"}
    db.session.get(User, org.staff_b.id).active = False
    db.session.commit()
    assert names("?active=0") == ["staff_b"]
    page = as_admin.get("/admin/users?sort=-username").get_data(as_text=True)
    assert page.index('data-user="viewer_root"') < page.index('data-user="admin"')
    assert as_admin.get("/admin/users?sort=junk&page=abc&unit=x").status_code == 200


def test_user_list_queries_do_not_grow_with_rows(org, make, as_admin, queries):
    def measure() -> int:
        db.session.expire_all()  # the test shares the app's session: start each request from cold
        with queries() as statements:
            assert as_admin.get("/admin/users?per_page=200").status_code == 200
        return len(statements)

    def add(n):
        # Rows straight into the table: hashing 90 passwords would only slow the test down.
        start = count(User)
        db.session.add_all(User(username=f"bulk{start + i}", name=f"批量{i}", role=Role.STAFF,
                                unit_id=org.b.id, password_hash=org.admin.password_hash,
                                email=f"bulk{i}@example.org") for i in range(n))
        db.session.commit()

    add(10 - len(org.users))
    few = measure()
    add(90)
    assert measure() == few
    assert count(User) == 100


# --- units ---------------------------------------------------------------------------------------


def test_unit_tree_shows_indented_with_counts(org, make, as_admin):
    make.task(org.mgr_a, owner=org.staff_a1)
    make.task(org.mgr_a, owner=org.staff_a1)
    db.session.commit()
    page = as_admin.get("/admin/units").get_data(as_text=True)
    rows = [page.index(f'data-unit="{code}"') for code in ("ROOT", "A", "A1", "B")]
    assert rows == sorted(rows)
    assert 'data-unit="A1" data-depth="2"' in page
    a_row = page[page.index('data-unit="A"'):page.index('data-unit="A1"')]
    assert 'data-users="3"' in a_row and 'data-open="0"' in a_row
    a1_row = page[page.index('data-unit="A1"'):page.index('data-unit="B"')]
    assert 'data-users="1"' in a1_row and 'data-open="2"' in a1_row


def test_create_unit_under_parent(org, as_admin):
    form = as_admin.get(f"/admin/units/new?parent={org.b.id}").get_data(as_text=True)
    assert f'<option selected value="{org.b.id}">' in form
    data = {"code": "B1", "name": "办公室一组", "parent": str(org.b.id), "sort_order": "2"}
    assert as_admin.post("/admin/units/new", data=data).status_code == 302
    unit = db.session.scalar(sa.select(Unit).where(Unit.code == "B1"))
    assert unit.path == child_path(org.b.path, unit.id) and unit.sort_order == 2
    assert audit_actions("units")[-1] == "unit.create"


@pytest.mark.parametrize("data, field, message", [
    ({"code": "A", "name": "重复"}, "code", "Code A is already used."),
    ({"code": "has space", "name": "x"}, "code", "Use 1–40 letters"),
    ({"code": "NEW", "name": ""}, "name", "Name is required."),
    ({"code": "NEW", "name": "x", "sort_order": "abc"}, "sort_order", "Not a valid integer"),
])
def test_bad_unit_input_is_refused(org, as_admin, data, field, message):
    before = count(Unit)
    response = as_admin.post("/admin/units/new", data=data)
    assert response.status_code == 422
    assert f'data-error-for="{field}"' in response.get_data(as_text=True)
    assert message in response.get_data(as_text=True)
    assert count(Unit) == before


def test_unit_cannot_move_under_its_own_child(org, as_admin):
    old_path = org.a.path
    data = {"code": "A", "name": "第一党支部", "parent": str(org.a1.id), "sort_order": "0"}
    response = as_admin.post(f"/admin/units/{org.a.id}/edit", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-error-for="parent"' in page and "cannot be placed under itself" in page
    assert db.session.get(Unit, org.a.id).path == old_path
    assert "unit.update" not in audit_actions("units")


def test_moving_a_unit_moves_its_subtree_and_scope_follows(org, make, as_admin):
    a1x = make.unit("A1X", "一组小组", parent=org.a1)
    task = make.task(org.mgr_a, owner=org.staff_a1)
    db.session.commit()
    ids = {k: org.units[k].id for k in ("root", "a", "a1", "b")} | {"a1x": a1x.id}

    def visible_to(username) -> bool:
        db.session.expire_all()
        actor = db.session.scalar(sa.select(User).where(User.username == username))
        return task.id in db.session.scalars(sa.select(Task.id).where(scope.task_clause(actor))).all()

    assert not visible_to("mgr_b")
    data = {"code": "A", "name": "第一党支部", "parent": str(org.b.id), "sort_order": "0"}
    assert as_admin.post(f"/admin/units/{org.a.id}/edit", data=data).status_code == 302
    db.session.expire_all()
    expected = "/" + "".join(f"{ids[k]:010d}/" for k in ("root", "b", "a", "a1", "a1x"))
    assert db.session.get(Unit, a1x.id).path == expected
    assert visible_to("mgr_b") and visible_to("mgr_a") and visible_to("mgr_root")
    assert db.session.get(Unit, ids["a"]).parent_id == ids["b"]
    assert audit_actions("units")[-1] == "unit.update"


def test_delete_unused_unit_and_refuse_used_one(org, as_admin):
    spare = Unit(code="SPARE", name="备用", path="/")
    db.session.add(spare)
    db.session.flush()
    spare.path = child_path(None, spare.id)
    db.session.commit()
    assert as_admin.post(f"/admin/units/{spare.id}/delete").status_code == 302
    assert db.session.get(Unit, spare.id) is None
    before = count(Unit)
    assert as_admin.post(f"/admin/units/{org.b.id}/delete").status_code == 302
    assert count(Unit) == before
    assert "cannot be deleted" in as_admin.get("/admin/units").get_data(as_text=True)


def test_unit_list_queries_do_not_grow_with_rows(org, make, as_admin, queries):
    def measure() -> int:
        db.session.expire_all()  # the test shares the app's session: start each request from cold
        with queries() as statements:
            assert as_admin.get("/admin/units").status_code == 200
        return len(statements)

    few = measure()
    for i in range(40):
        unit = make.unit(parent=org.a if i % 2 else org.b)
        db.session.add(User(username=f"bulk{i}", name="批量", role=Role.STAFF, unit=unit,
                            password_hash=org.admin.password_hash))
    make.task(org.mgr_a, owner=org.staff_a1)
    db.session.commit()
    assert measure() == few


# --- categories ----------------------------------------------------------------------------------


def test_category_create_edit_deactivate(org, as_admin):
    assert as_admin.post("/admin/categories/new", data={"name": "安全生产", "sort_order": "20",
                                                        "active": "y"}).status_code == 302
    category = db.session.scalar(sa.select(Category).where(Category.name == "安全生产"))
    assert category.active and category.sort_order == 20
    data = {"name": "安全生产工作", "sort_order": "21", "active": "y"}
    assert as_admin.post(f"/admin/categories/{category.id}/edit", data=data).status_code == 302
    assert as_admin.post(f"/admin/categories/{category.id}/active", data={"active": "0"}).status_code == 302
    db.session.expire_all()
    assert (category.name, category.sort_order, category.active) == ("安全生产工作", 21, False)
    assert audit_actions("categories") == ["category.create", "category.update", "category.update"]
    page = as_admin.get("/admin/categories").get_data(as_text=True)
    assert 'data-category="安全生产工作" class="text-muted"' in page


@pytest.mark.parametrize("name, message", [("", "Name is required."),
                                           ("政治建设", "This category already exists."),
                                           ("x" * 61, "At most 60 characters.")])
def test_bad_category_input_is_refused(org, as_admin, name, message):
    before = count(Category)
    response = as_admin.post("/admin/categories/new", data={"name": name, "sort_order": "1"})
    assert response.status_code == 422
    assert 'data-error-for="name"' in response.get_data(as_text=True)
    assert message in response.get_data(as_text=True)
    assert count(Category) == before


def test_used_category_is_not_deleted(org, make, as_admin):
    used = make.problem(org.mgr_a).category
    db.session.commit()
    assert as_admin.post(f"/admin/categories/{used.id}/delete").status_code == 302
    assert db.session.get(Category, used.id) is not None
    unused = db.session.scalar(sa.select(Category).where(Category.id != used.id))
    assert as_admin.post(f"/admin/categories/{unused.id}/delete").status_code == 302
    assert db.session.get(Category, unused.id) is None
    assert "category.delete" in audit_actions("categories")


# --- sources -------------------------------------------------------------------------------------


def source_form(unit, **overrides) -> dict:
    data = {"name": "2026年巡察反馈", "kind": "inspection_feedback", "unit": str(unit.id),
            "held_on": (TODAY - timedelta(days=3)).isoformat()}
    data.update(overrides)
    return data


def test_manager_creates_and_edits_source(org, as_mgr_a):
    assert as_mgr_a.post("/sources/new", data=source_form(org.a1)).status_code == 302
    source = db.session.scalar(sa.select(Source))
    assert (source.kind, source.unit_id) == (SourceKind.INSPECTION_FEEDBACK, org.a1.id)
    data = source_form(org.a, name="改名", kind="audit")
    assert as_mgr_a.post(f"/sources/{source.id}/edit", data=data).status_code == 302
    db.session.expire_all()
    assert (source.name, source.kind, source.unit_id) == ("改名", SourceKind.AUDIT, org.a.id)
    assert audit_actions("sources") == ["source.create", "source.update"]


@pytest.mark.parametrize("overrides, field, message", [
    ({"held_on": (TODAY + timedelta(days=1)).isoformat()}, "held_on", "The date cannot be in the future."),
    ({"unit": "B"}, "unit", "No such unit."),
    ({"unit": "ROOT"}, "unit", "No such unit."),
    ({"name": ""}, "name", "Name is required."),
    ({"kind": "gossip"}, "kind", "Choose a kind."),
    ({"held_on": ""}, "held_on", "Give the date."),
    ({"held_on": "yesterday"}, "held_on", "Not a valid date"),
])
def test_bad_source_input_is_refused(org, as_mgr_a, overrides, field, message):
    data = source_form(org.a) | overrides
    if data["unit"] in ("B", "ROOT"):  # units out of mgr_a's subtree, named here, ids known only now
        data["unit"] = str({"B": org.b, "ROOT": org.root}[data["unit"]].id)
    response = as_mgr_a.post("/sources/new", data=data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'data-error-for="{field}"' in page and message in page
    assert count(Source) == 0 and count(AuditEvent, AuditEvent.object_type == "sources") == 0


def test_out_of_scope_source_is_404(org, make, login_as):
    source = make.source(org.a)
    db.session.commit()
    client = login_as(org.mgr_b)
    assert client.get(f"/sources/{source.id}/edit").status_code == 404
    assert client.post(f"/sources/{source.id}/edit", data=source_form(org.b)).status_code == 404
    assert client.post(f"/sources/{source.id}/delete").status_code == 404
    assert db.session.get(Source, source.id).unit_id == org.a.id


def test_source_list_is_scoped_with_problem_counts(org, make, as_mgr_a):
    problem = make.problem(org.mgr_a)
    other = make.source(org.b, name="办公室自查")
    db.session.commit()
    page = as_mgr_a.get("/sources").get_data(as_text=True)
    assert f'data-source="{problem.source_id}"' in page and f'data-source="{other.id}"' not in page
    row = page[page.index(f'data-source="{problem.source_id}"'):]
    assert 'data-problems="1"' in row[:row.index("</tr>")]


@pytest.mark.parametrize("target, expected", [
    ("/problems/new?x=1", "/problems/new?x=1&source_id="),
    ("//evil.example/x", "/sources"),
    ("https://evil.example/x", "/sources"),
    ("/\\evil.example", "/sources"),
])
def test_new_source_returns_to_a_local_next_only(org, as_mgr_a, target, expected):
    response = as_mgr_a.post("/sources/new", query_string={"next": target}, data=source_form(org.a))
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(expected)
    if "source_id=" in expected:
        assert location.endswith(str(db.session.scalar(sa.select(Source.id))))


def test_source_delete_only_when_unused(org, make, as_mgr_a):
    used = make.problem(org.mgr_a).source
    spare = make.source(org.a)
    db.session.commit()
    assert as_mgr_a.post(f"/sources/{used.id}/delete").status_code == 302
    assert as_mgr_a.post(f"/sources/{spare.id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.get(Source, used.id) is not None and db.session.get(Source, spare.id) is None


def test_source_list_queries_do_not_grow_with_rows(org, make, as_mgr_a, queries):
    def measure() -> int:
        db.session.expire_all()  # the test shares the app's session: start each request from cold
        with queries() as statements:
            assert as_mgr_a.get("/sources?per_page=200").status_code == 200
        return len(statements)

    for _ in range(3):
        make.problem(org.mgr_a)
    db.session.commit()
    few = measure()
    for _ in range(40):
        make.problem(org.mgr_a, unit=org.a1)
    db.session.commit()
    assert measure() == few

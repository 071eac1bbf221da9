"""Pick lists of the filter bars: cached per process, never older than the data they show."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tracker import create_app, refdata
from tracker.enums import Role
from tracker.extensions import db
from tracker.org import services as org_services
from tracker.org.models import ReferenceStamp
from tracker.problems.models import Category


def select(html: str, name: str) -> str:
    """The options of the <select name=...> in a page."""
    return html.split(f'name="{name}"', 1)[1].split("</select>", 1)[0]


def stamp() -> str | None:
    return db.session.scalar(sa.select(ReferenceStamp.stamp))


def reads_pick_lists(statements: list[str]) -> list[str]:
    # Categories and sources, and the unit and people lists (both ordered as the unit tree).
    return [s for s in statements if re.search(r"\bFROM (categories|sources)\b|ORDER BY units\.path", s)]


def test_a_warm_filter_bar_reads_one_stamp_instead_of_its_lists(client, org, login_as, queries):
    login_as(org.mgr_root)
    with queries() as cold:
        client.get("/tasks")
    with queries() as warm:
        page = client.get("/tasks").get_data(as_text=True)
    assert len(reads_pick_lists(cold)) == 4 and not reads_pick_lists(warm)
    assert sum("reference_stamp" in s for s in warm) == 1
    assert "张三" in select(page, "owner") and "第一党支部一组" in select(page, "unit")


@pytest.mark.parametrize("path", ["/tasks", "/problems"])
def test_changes_show_at_the_next_request(client, org, make, login_as, clock, path):
    login_as(org.mgr_root)
    client.get(path)  # the lists are now cached

    org_services.save_unit(org.admin, clock, code="A", name="第一党支部（改名）", parent=org.root, unit=org.a)
    make.source(org.b, name="2026年巡察反馈")
    category = db.session.scalars(sa.select(Category).order_by(Category.sort_order)).first()
    category.name = "新的类别"
    db.session.commit()
    page = client.get(path).get_data(as_text=True)
    assert "第一党支部（改名）" in select(page, "unit")
    assert "2026年巡察反馈" in select(page, "source")
    assert "新的类别" in select(page, "category")

    if path == "/tasks":
        make.user("new_staff", Role.STAFF, org.b, name="新来的同事")
        db.session.commit()
        assert "新来的同事" in select(client.get(path).get_data(as_text=True), "owner")


def test_moving_a_subtree_renews_the_stamp(client, org, login_as, clock):
    login_as(org.mgr_root)
    client.get("/tasks")
    before = stamp()
    # A1 goes under B: its path is rewritten by one UPDATE statement, not through the ORM.
    org_services.save_unit(org.admin, clock, code="A", name="第一党支部", parent=org.b, unit=org.a)
    db.session.commit()
    assert stamp() != before
    units = [re.sub(r"<.*?>", "", o) for o in select(client.get("/tasks").get_data(as_text=True), "unit")
             .split("</option>") if o.strip()]
    # A now sits under B, A1 under A: the tree order and indent follow.
    assert units[-3:] == ["\u3000办公室", "\u3000\u3000第一党支部", "\u3000\u3000\u3000第一党支部一组"]


def test_an_update_statement_through_the_session_renews_the_stamp(org):
    from tracker.org.models import Unit

    before = stamp()
    db.session.execute(sa.update(Unit).where(Unit.id == org.a1.id).values(name="批量改名"))
    db.session.commit()
    assert stamp() != before


def test_only_changes_to_what_pick_lists_show_renew_the_stamp(org, clock):
    user = org.staff_a
    before = stamp()
    org_services.set_preferences(user, clock, language="en")
    user.email = "new@example.org"
    db.session.commit()
    assert stamp() == before
    user.name = "张三丰"
    db.session.commit()
    assert stamp() != before


def test_a_rolled_back_change_keeps_the_stamp(client, org, login_as):
    login_as(org.mgr_root)
    client.get("/tasks")
    before = stamp()
    org.a.name = "不会保存的名字"
    db.session.flush()
    db.session.rollback()
    assert stamp() == before
    page = client.get("/tasks").get_data(as_text=True)
    assert "不会保存的名字" not in page and "第一党支部" in select(page, "unit")


def test_another_worker_sees_a_change_made_elsewhere(app, client, org, login_as, tmp_path, monkeypatch):
    """Two processes on one database: the second renames a unit, the first shows it next time."""
    monkeypatch.setenv("TRACKER_INSTANCE_PATH", str(tmp_path / "other"))
    login_as(org.mgr_root)
    assert "第一党支部一组" in select(client.get("/tasks").get_data(as_text=True), "unit")
    other = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": app.config["DATABASE_URL"],
                        "SERVER_NAME": "localhost", "SQLITE_JOURNAL_MODE": "MEMORY",
                        "SQLITE_SYNCHRONOUS": "OFF"})
    with other.app_context():
        from tracker.org.models import Unit

        unit = db.session.get(Unit, org.a1.id)
        unit.name = "别处改的名字"
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    db.session.rollback()  # this test's own session: forget its snapshot, as a new request would
    assert "别处改的名字" in select(client.get("/tasks").get_data(as_text=True), "unit")


def test_without_a_stamp_row_lists_are_read_every_time(client, org, login_as, queries):
    db.session.execute(sa.delete(ReferenceStamp))
    db.session.commit()
    login_as(org.mgr_root)
    client.get("/tasks")
    with queries() as statements:
        page = client.get("/tasks").get_data(as_text=True)
    assert reads_pick_lists(statements) and "张三" in select(page, "owner")


def test_the_cache_is_bounded(app, org):
    store = refdata._store()
    for i in range(refdata.MAX_ENTRIES + 5):
        refdata.cached(("test", i), lambda i=i: [i])
    assert len(store.entries) <= refdata.MAX_ENTRIES
    assert refdata.cached(("test", "fresh"), lambda: ["value"]) == ("value",)


def test_sibling_units_sort_in_the_order_they_were_made_past_ten(client, org, make, login_as):
    """Paths sort as the tree: "/1/10/" must not come before "/1/9/" (ids are zero-padded)."""
    made = [make.unit(f"S{i}", f"科室{i:02d}", parent=org.b) for i in range(12)]
    db.session.commit()
    assert made[-1].id >= 10  # the ids cross a power of ten below one parent
    login_as(org.mgr_root)
    names = re.findall(r"科室\d\d", select(client.get("/tasks").get_data(as_text=True), "unit"))
    assert names == [f"科室{i:02d}" for i in range(12)]


def test_a_cached_pick_list_marks_exactly_the_chosen_option(app):
    from tracker.refdata import PersonRow, PickList
    from tracker.web import select_options

    people = PickList([PersonRow(1, "张三"), PersonRow(10, "<李四>"), PersonRow(11, "王五")])
    html = select_options(people, 1, "全部")
    assert html.count(" selected") == 1 and '<option value="1" selected>张三</option>' in html
    assert "&lt;李四&gt;" in html  # names are escaped once, when the list is first rendered
    assert select_options(people, None, "全部").startswith('<option value="" selected>全部</option>')
    assert " selected" not in select_options(people, 99)
    assert select_options(people, "10").count(" selected") == 1
    assert people.options_html is people.options_html  # rendered once

"""The forms that offered every unit or person of the user's scope now hold pickers (tracker.pickers):
the report's unit, the re-check's reviewer, the admin user, unit and source forms, the admin lists'
unit filters and the channels' unit. A short list (≤ 50 rows) is still written into the page whole; a
long one holds only the current choice and is searched; a valid choice saves as before, and an id out
of scope is refused in the same words as one that does not exist."""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import TODAY
from test_pickers import found, many_people, select

from tracker.enums import Role
from tracker.extensions import db
from tracker.followup.models import Recheck
from tracker.org.models import Unit, User
from tracker.pickers import lists
from tracker.problems.models import Source
from tracker.tasks import services as tasks

MANY = 60  # more than lists.INLINE_MAX


def many_units(make, parent, n: int = MANY, prefix: str = "分队") -> list[Unit]:
    tag = "Q" if prefix == "分队" else "K"
    units = [make.unit(f"{tag}{i:03d}", f"{prefix}{i:04d}", parent=parent) for i in range(n)]
    db.session.commit()
    return units


def errors_for(page: str, name: str) -> list[str]:
    """The error messages shown beside field `name`."""
    return re.findall(rf'data-error-for="{re.escape(name)}">([^<]*)</div>', page)


def picker_url(select_html: str) -> str:
    found_url = re.search(r'data-picker-url="([^"]+)"', select_html)
    assert found_url, select_html
    return html_lib.unescape(found_url.group(1))


def options(select_html: str) -> dict[str, str]:
    """value → label of a select's options."""
    pairs = re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', select_html)
    return {value: html_lib.unescape(text) for value, text in pairs}


# --- the report ------------------------------------------------------------------------------------


def report(client, **args):
    query = {"date_from": f"{TODAY.year}-01-01", "date_to": TODAY.isoformat(), "lang": "zh_CN", **args}
    return client.get("/reports/rectification", query_string=query)


def test_report_unit_of_a_short_list_is_inline(client, org, login_as):
    login_as(org.mgr_root)
    page = report(client).get_data(as_text=True)
    unit = select(page, "unit")
    assert "data-picker-url" not in unit
    assert options(unit) == {str(org.root.id): "某局党委", str(org.a.id): "\u3000第一党支部",
                             str(org.a1.id): "\u3000\u3000第一党支部一组", str(org.b.id): "\u3000办公室"}


def test_report_unit_of_a_long_list_is_searched(client, org, make, login_as):
    units = many_units(make, org.a)
    login_as(org.mgr_a)
    page = report(client).get_data(as_text=True)
    unit = select(page, "unit")
    assert options(unit) == {str(org.a.id): "第一党支部（某局党委）"}  # the default: the user's unit
    assert picker_url(unit) == "/pick/units"
    assert "分队0059" not in page
    chosen = report(client, unit=units[7].id)
    assert chosen.status_code == 200
    page = chosen.get_data(as_text=True)
    assert options(select(page, "unit")) == {str(units[7].id): "分队0007（第一党支部）"}
    assert "data-picker-url" in select(page, "unit") and "分队0059" not in page
    # without JavaScript: the search box lists the matches
    page = report(client, unit=units[7].id, **{"unit-search": "分队005"}).get_data(as_text=True)
    assert len(options(select(page, "unit"))) == 11 and "分队0059（第一党支部）" in page


def test_report_unit_out_of_scope_is_refused_as_an_unknown_one(client, org, make, login_as):
    many_units(make, org.b, prefix="科室")
    login_as(org.mgr_b)
    answers = {}
    for unit in (org.a.id, org.a1.id, 999_999, 10**12):
        response = report(client, unit=unit)
        page = response.get_data(as_text=True)
        assert response.status_code == 422 and "第一党支部" not in page
        assert "data-picker-url" in select(page, "unit")
        answers[unit] = errors_for(page, "unit")
    assert len({tuple(a) for a in answers.values()}) == 1 and answers[999_999]


# --- the re-check's reviewer --------------------------------------------------------------------


@pytest.fixture
def closed(org, make, clock):
    task = make.task(org.mgr_a, owner=org.staff_a, measure="规范档案管理")
    tasks.submit(task, org.staff_a, clock, result="档案已整理归档")
    tasks.verify(task, org.mgr_a, clock)
    db.session.commit()
    return task


def schedule(client, task, reviewer, **more):
    return client.post(f"/tasks/{task.id}/rechecks", data={
        "recheck-due_on": (TODAY + timedelta(days=10)).isoformat(), "recheck-reviewer": reviewer, **more})


def test_reviewers_of_a_short_list_are_inline_and_read_the_measure(client, org, make, login_as, closed):
    below = make.user("mgr_a1", Role.MANAGER, org.a1, name="一组组长")  # does not read a measure of A
    db.session.commit()
    login_as(org.mgr_a)
    reviewer = select(client.get(f"/tasks/{closed.id}").get_data(as_text=True), "recheck-reviewer")
    assert "data-picker-url" not in reviewer
    assert set(options(reviewer)) == {"", str(org.mgr_root.id), str(org.viewer_root.id), str(org.mgr_a.id),
                                      str(org.mgr_a_2.id)}
    assert str(below.id) not in options(reviewer) and str(org.staff_a.id) not in options(reviewer)


def test_reviewers_of_a_long_list_are_searched(client, org, make, login_as, closed):
    leaders = many_people(org.a, MANY, prefix="组员", role=Role.VIEWER)
    below = make.user("mgr_a1", Role.MANAGER, org.a1, name="一组组长")
    owner_a_manager = make.user("mgr_a_3", Role.MANAGER, org.a, name="支部委员")
    closed.owner_id = owner_a_manager.id  # the owner is left out even when a manager on the line
    db.session.commit()
    login_as(org.mgr_a)
    page = client.get(f"/tasks/{closed.id}").get_data(as_text=True)
    reviewer = select(page, "recheck-reviewer")
    assert options(reviewer) == {"": "—"} and "组员0059" not in page
    url = picker_url(reviewer)
    assert f"line={org.a.id}" in url and f"skip={owner_a_manager.id}" in url
    # the search offers exactly those the service takes: active managers and leaders who read it
    everyone = {}
    for q in ("", "组员", "组长", "支部", "局", "王五", "主任", "纪检"):
        everyone.update(found(client, url + f"&q={q}"))
    assert {str(org.mgr_root.id), str(org.viewer_root.id), str(org.mgr_a.id), str(org.mgr_a_2.id),
            str(leaders[0].id)} <= set(everyone)
    for outside in (below, owner_a_manager, org.staff_a, org.mgr_b, org.viewer_b):
        assert str(outside.id) not in everyone
    # without JavaScript: the search box lists the matches and schedules nothing
    searched = schedule(client, closed, "", **{"recheck-reviewer-search": "组员005"})
    assert searched.status_code == 200 and db.session.scalar(sa.select(sa.func.count(Recheck.id))) == 0
    assert len(options(select(searched.get_data(as_text=True), "recheck-reviewer"))) == 11
    done = schedule(client, closed, leaders[5].id)
    assert done.status_code == 302
    assert db.session.scalars(sa.select(Recheck)).one().reviewer_id == leaders[5].id


def test_a_reviewer_out_of_scope_is_refused_as_an_unknown_one(client, org, make, login_as, closed):
    many_people(org.a, MANY, prefix="组员", role=Role.VIEWER)
    below = make.user("mgr_a1", Role.MANAGER, org.a1, name="一组组长")
    db.session.commit()
    login_as(org.mgr_a)
    answers = {}
    for reviewer in (org.mgr_b.id, org.viewer_b.id, below.id, 999_999, 10**12):
        response = schedule(client, closed, reviewer)
        page = response.get_data(as_text=True)
        assert response.status_code == 422, reviewer
        assert "办公室主任" not in page and "一组组长" not in page
        answers[reviewer] = errors_for(page, "recheck-reviewer")
    assert len({tuple(a) for a in answers.values()}) == 1 and answers[999_999]
    closed.owner_id = org.mgr_a_2.id  # a manager on the line who owns it: refused as today, in its own words
    db.session.commit()
    owner = schedule(client, closed, org.mgr_a_2.id)
    assert owner.status_code == 422 and errors_for(owner.get_data(as_text=True), "recheck-reviewer")
    assert errors_for(owner.get_data(as_text=True), "recheck-reviewer") != answers[999_999]
    assert db.session.scalar(sa.select(sa.func.count(Recheck.id))) == 0


def test_the_service_refuses_a_reviewer_who_cannot_read_the_measure(org, make, clock, closed):
    from tracker.errors import ValidationFailed
    from tracker.followup import rechecks

    below = make.user("mgr_a1", Role.MANAGER, org.a1, name="一组组长")
    for reviewer in (below, org.mgr_b, org.staff_a):
        with pytest.raises(ValidationFailed) as refused:
            rechecks.schedule(org.mgr_a, closed, clock, due_on=TODAY, reviewer=reviewer)
        assert "reviewer" in refused.value.fields


# --- the admin forms -------------------------------------------------------------------------------


def test_admin_user_form_of_a_short_list_is_inline_with_codes(client, org, login_as):
    login_as(org.admin)
    unit = select(client.get("/admin/users/new").get_data(as_text=True), "unit")
    assert "data-picker-url" not in unit
    labels = options(unit)
    assert len(labels) == 5 and labels[str(org.a1.id)] == "\u3000\u3000第一党支部一组 (A1)"
    assert labels[str(org.root.id)] == "某局党委 (ROOT)"


def test_admin_user_form_of_a_long_list(client, org, make, login_as):
    units = many_units(make, org.a)
    login_as(org.admin)
    page = client.get("/admin/users/new").get_data(as_text=True)
    assert len(options(select(page, "unit"))) == 1 and "分队0059" not in page
    assert picker_url(select(page, "unit")) == "/pick/units?code=1"
    assert found(client, "/pick/units?code=1&q=分队0007") == {
        str(units[7].id): "分队0007（第一党支部） (Q007)"}
    page = client.get(f"/admin/users/{org.staff_a.id}/edit").get_data(as_text=True)
    assert options(select(page, "unit"))[str(org.a.id)] == "第一党支部（某局党委） (A)"
    assert "分队0059" not in page
    data = {"username": "newbie", "name": "新同事", "role": "staff", "unit": units[9].id, "language": "zh_CN",
            "active": "y", "password": "Quite-Long-Passphrase-2026"}
    searched = client.post("/admin/users/new", data={**data, "unit-search": "分队005"})
    assert searched.status_code == 200 and len(options(select(searched.get_data(as_text=True), "unit"))) == 12
    assert db.session.scalar(sa.select(User.id).where(User.username == "newbie")) is None
    unknown = client.post("/admin/users/new", data={**data, "unit": 999_999})
    assert unknown.status_code == 422 and errors_for(unknown.get_data(as_text=True), "unit")
    saved = client.post("/admin/users/new", data=data)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    assert db.session.scalar(sa.select(User.unit_id).where(User.username == "newbie")) == units[9].id


def test_admin_unit_form_parent(client, org, make, login_as):
    login_as(org.admin)
    short = select(client.get("/admin/units/new").get_data(as_text=True), "parent")
    assert "data-picker-url" not in short and len(options(short)) == 5
    units = many_units(make, org.a)
    page = client.get(f"/admin/units/new?parent={units[3].id}").get_data(as_text=True)
    parent = select(page, "parent")
    assert set(options(parent)) == {"", str(units[3].id)} and "data-picker-url" in parent
    assert "分队0059" not in page
    unknown = client.post("/admin/units/new", data={"code": "NEW", "name": "新单位", "parent": 999_999})
    assert unknown.status_code == 422 and errors_for(unknown.get_data(as_text=True), "parent")
    saved = client.post("/admin/units/new", data={"code": "NEW", "name": "新单位", "parent": units[3].id})
    assert saved.status_code == 302
    assert db.session.scalar(sa.select(Unit.parent_id).where(Unit.code == "NEW")) == units[3].id


def source_data(unit_id) -> dict:
    return {"name": "专项巡察", "kind": "self_inspection", "unit": unit_id, "held_on": TODAY.isoformat()}


def test_source_form_unit(client, org, make, login_as):
    login_as(org.mgr_a)
    short = select(client.get("/sources/new").get_data(as_text=True), "unit")
    assert "data-picker-url" not in short
    assert options(short) == {"": options(short)[""], str(org.a.id): "\u3000第一党支部 (A)",
                              str(org.a1.id): "\u3000\u3000第一党支部一组 (A1)"}
    units = many_units(make, org.a)
    page = client.get("/sources/new").get_data(as_text=True)
    assert set(options(select(page, "unit"))) == {"", str(org.a.id)} and "分队0059" not in page
    saved = client.post("/sources/new", data=source_data(units[11].id))
    assert saved.status_code == 302
    assert db.session.scalar(sa.select(Source.unit_id).where(Source.name == "专项巡察")) == units[11].id


def test_source_form_unit_out_of_scope_is_refused_as_an_unknown_one(client, org, make, login_as):
    many_units(make, org.b, prefix="科室")
    login_as(org.mgr_b)
    answers = {}
    for unit in (org.a.id, org.root.id, 999_999, 10**12):
        response = client.post("/sources/new", data=source_data(unit))
        page = response.get_data(as_text=True)
        assert response.status_code == 422 and "第一党支部" not in page and "某局党委" not in page
        answers[unit] = errors_for(page, "unit")
    assert len({tuple(a) for a in answers.values()}) == 1 and answers[999_999]
    assert db.session.scalar(sa.select(sa.func.count(Source.id))) == 0


@pytest.mark.parametrize("path, who", [("/admin/users", "admin"), ("/sources", "mgr_root")])
def test_admin_list_unit_filters(client, org, make, login_as, path, who):
    login_as(getattr(org, who))
    short = select(client.get(path).get_data(as_text=True), "unit")
    assert "data-picker-url" not in short and len(options(short)) == 5
    assert options(short)[str(org.a1.id)] == "\u3000\u3000第一党支部一组"
    units = many_units(make, org.a)
    page = client.get(path).get_data(as_text=True)
    assert set(options(select(page, "unit"))) == {""} and "分队0059" not in page
    page = client.get(f"{path}?unit={units[4].id}").get_data(as_text=True)
    unit = select(page, "unit")
    assert options(unit) == {"": options(unit)[""], str(units[4].id): "分队0004（第一党支部）"}
    assert f'<option value="{units[4].id}" selected>' in unit and "data-autosubmit" in unit
    assert "分队0059" not in page


def test_sources_list_filter_out_of_scope_is_like_an_unknown_unit(client, org, make, login_as):
    make.source(org.a, name="A的自查")
    make.source(org.b, name="B的自查")
    many_units(make, org.b, prefix="科室")
    login_as(org.mgr_b)
    pages = {}
    for unit in (org.a.id, 999_999):
        page = client.get(f"/sources?unit={unit}").get_data(as_text=True)
        assert "第一党支部" not in page and "A的自查" not in page and "B的自查" not in page
        pages[unit] = select(page, "unit")
    assert pages[org.a.id] == pages[999_999]
    assert "B的自查" in client.get("/sources").get_data(as_text=True)


# --- the channels ---------------------------------------------------------------------------------


def test_channel_unit_of_a_short_list_is_inline(client, org, login_as):
    login_as(org.mgr_a)
    unit = select(client.get("/channels").get_data(as_text=True), "unit")
    assert "data-picker-url" not in unit
    assert options(unit) == {str(org.a.id): "第一党支部", str(org.a1.id): "\u3000第一党支部一组"}


def test_channel_unit_of_a_long_list(client, org, make, login_as):
    units = many_units(make, org.a)
    login_as(org.mgr_root)
    page = client.get("/channels").get_data(as_text=True)
    unit = select(page, "unit")
    assert options(unit) == {str(org.root.id): "某局党委"} and picker_url(unit) == "/pick/units"
    assert "分队0059" not in page
    page = client.get(f"/channels?unit={units[8].id}").get_data(as_text=True)
    assert f'<option value="{units[8].id}" selected>分队0008（第一党支部）</option>' in select(page, "unit")
    # without JavaScript: the search comes back to the list with the matches
    searched = client.get("/channels/new", query_string={"unit": org.root.id, "unit-search": "分队005"})
    assert searched.status_code == 302 and "/channels?" in searched.location
    page = client.get(searched.location).get_data(as_text=True)
    assert len(options(select(page, "unit"))) == 11 and "分队0059（第一党支部）" in page
    chosen = client.get("/channels/new", query_string={"unit": units[8].id})
    assert chosen.status_code == 302 and chosen.location.endswith(f"/units/{units[8].id}/channels/new")
    assert client.get(chosen.location).status_code == 200


def test_channel_unit_out_of_scope_is_like_an_unknown_one(client, org, make, login_as):
    many_units(make, org.b, prefix="科室")
    login_as(org.mgr_b)
    selects = {}
    for unit in (org.a.id, 999_999):
        page = client.get(f"/channels?unit={unit}").get_data(as_text=True)
        assert "第一党支部" not in page
        selects[unit] = select(page, "unit")
        chosen = client.get("/channels/new", query_string={"unit": unit})
        assert chosen.status_code == 302 and client.get(chosen.location).status_code == 404
    assert selects[org.a.id] == selects[999_999]


def test_many_is_a_long_list():
    assert MANY > lists.INLINE_MAX

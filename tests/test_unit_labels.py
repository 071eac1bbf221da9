"""How units and people are labelled in pick lists: one rule (tracker.org.models), every page."""

from __future__ import annotations

import html
import re

import pytest

from tracker import refdata
from tracker.extensions import db
from tracker.org.models import indented, person_label, unit_indent

SP = "\u3000"


def options(page: str, select_name: str) -> list[str]:
    """The labels of a <select>'s options, unescaped."""
    select = re.search(rf'<select[^>]*name="{re.escape(select_name)}"[^>]*>(.*?)</select>', page, re.S)
    assert select, select_name
    return [html.unescape(label) for label in re.findall(r"<option[^>]*>([^<]*)</option>", select.group(1))]


def test_indented_by_depth_below_the_top(org):
    assert [indented(org.units[k]) for k in ("root", "a", "a1")] == ["某局党委", SP + "第一党支部",
                                                                    SP * 2 + "第一党支部一组"]
    assert indented(org.a1, top=1) == SP + "第一党支部一组"
    assert indented(org.root, top=1) == "某局党委"  # never a negative indentation
    assert unit_indent(org.a1, step=2) == SP * 4
    # the cached pick lists' rows follow the same rule
    row = refdata.UnitRow(org.a1.id, org.a1.name, org.a1.path)
    assert row.label == indented(org.a1) == indented(row)


def test_person_label_names_the_unit(org):
    assert person_label(org.staff_a) == "张三（第一党支部）"
    assert person_label(org.admin) == "管理员"  # an admin may have no unit


@pytest.fixture
def task(org, make):
    t = make.task(org.mgr_a, owner=org.staff_a, measure="建立健全学习制度")
    db.session.commit()
    return t


def test_task_page_reassign_lists(org, task, login_as):
    page = login_as(org.mgr_a).get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "张三（第一党支部）" in options(page, "reassign-owner")
    assert options(page, "reassign-unit")[1:] == [SP + "第一党支部", SP * 2 + "第一党支部一组"]


def test_problem_form_lists(org, login_as):
    page = login_as(org.mgr_a).get("/problems/new").get_data(as_text=True)
    # indented below the highest unit offered: A at the left, A1 one step in
    assert options(page, "unit")[-2:] == ["第一党支部", SP + "第一党支部一组"]
    assert "支部书记（第一党支部）" in options(page, "responsible_leader")


@pytest.mark.parametrize(("path", "select_name"), [("/reports/rectification", "unit"), ("/dashboard", "unit"),
                                                   ("/admin/users", "unit"), ("/sources", "unit")])
def test_unit_pickers_indent_the_tree(org, login_as, path, select_name):
    labels = options(login_as(org.admin).get(path).get_data(as_text=True), select_name)
    assert [SP + "第一党支部", SP * 2 + "第一党支部一组"] == [x for x in labels if "第一党支部" in x]


def test_admin_forms_and_unit_table(org, login_as):
    client = login_as(org.admin)
    labels = options(client.get("/admin/users/new").get_data(as_text=True), "unit")
    assert SP * 2 + "第一党支部一组 (A1)" in labels
    table = client.get("/admin/units").get_data(as_text=True)
    assert SP * 4 + '<i class="bi bi-arrow-return-right' in table

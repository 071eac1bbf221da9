"""The dashboard: the report's figures, breakdowns by unit / leader / month, SVG charts, scope, queries."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import when

from tracker.dashboard import charts
from tracker.dashboard.services import CHILD, ELSEWHERE, ITSELF, child_of, dashboard_figures, period_rows
from tracker.enums import Role, TaskType
from tracker.errors import PermissionDenied, ValidationFailed
from tracker.extensions import db
from tracker.problems import services as problems
from tracker.problems.models import Category
from tracker.reports.services import rectification_figures
from tracker.tasks import services as tasks

FROM, TO = date(2026, 1, 1), date(2026, 6, 15)  # the dashboard's default period on the test clock
SVG = re.compile(r"<svg\b.*?</svg>", re.S)
SVG_NS = "{http://www.w3.org/2000/svg}"


def category(name):
    return db.session.scalar(sa.select(Category).where(Category.name == name))


def new_problem(make, actor, at, unit, *, lead=None, leader=None, cat="政治建设"):
    clock = when(at)
    return problems.create_problem(
        actor, clock, description=f"问题{unit.code}{at}", category=category(cat),
        source=make.source(unit, held_on=clock.today()), unit=unit, lead_unit=lead or unit,
        found_on=clock.today(), responsible_leader=leader,
    )


def new_task(problem, actor, at, owner, deadline, *, unit=None, type=TaskType.DEADLINE):
    return tasks.create_task(problem, actor, when(at), measure=f"措施{deadline}", owner=owner,
                             unit=unit or owner.unit, deadline=deadline, type=type)


def close(task, owner, manager, at):
    tasks.submit(task, owner, when(at), result="已整改")
    tasks.verify(task, manager, when(at))


@pytest.fixture
def ledger(org, make):
    """Measures of root's subtree, found 2026-01-01 → 2026-06-15, looked at on 2026-06-15.

    A:  T1 closed on time, T2 closed late (P1, unit A); T3 overdue, T4 closed on time after an extension
        (P1, unit A1); T5 cancelled.                            → 4 measures, 3 closed, 2 on time, 1 overdue
    B:  T6 closed on time, T7 overdue (in progress), T8 not due (P2); T11 closed on time (P5);
        T10 (P4, a problem of A carried out by B).              → 5 measures, 2 closed, 2 on time, 1 overdue
    root itself: T9 overdue (P3, no responsible leader).        → 1 measure, 1 overdue
    Leaders: P1 局长 (mgr_root), P2 纪检组长 (viewer_root), P3 none.
    """
    mgr_a, mgr_b, root = org.mgr_a, org.mgr_b, org.mgr_root
    t = {}
    p1 = new_problem(make, mgr_a, "2026-01-10T09:00", org.a, leader=root)
    t[1] = new_task(p1, mgr_a, "2026-01-10T09:00", org.staff_a, date(2026, 3, 31))
    t[2] = new_task(p1, mgr_a, "2026-01-10T09:00", org.staff_a, date(2026, 2, 28))
    t[3] = new_task(p1, mgr_a, "2026-01-10T09:00", org.staff_a1, date(2026, 4, 30))
    t[4] = new_task(p1, mgr_a, "2026-01-10T09:00", org.staff_a1, date(2026, 4, 15))
    t[5] = new_task(p1, mgr_a, "2026-01-10T09:00", org.staff_a, date(2026, 4, 30))
    close(t[1], org.staff_a, mgr_a, "2026-03-20T10:00")
    close(t[2], org.staff_a, mgr_a, "2026-04-10T10:00")
    ext = tasks.request_extension(t[4], org.staff_a1, when("2026-04-01T10:00"),
                                  new_deadline=date(2026, 5, 31), reason="工作量大")
    tasks.decide_extension(ext, mgr_a, when("2026-04-02T10:00"), approve=True)
    close(t[4], org.staff_a1, mgr_a, "2026-05-20T10:00")
    tasks.cancel(t[5], mgr_a, when("2026-02-01T10:00"), comment="重复")

    p5 = new_problem(make, mgr_b, "2026-01-20T09:00", org.b, cat="作风建设")
    t[11] = new_task(p5, mgr_b, "2026-01-20T09:00", org.staff_b, date(2026, 3, 31))
    close(t[11], org.staff_b, mgr_b, "2026-02-10T10:00")

    p2 = new_problem(make, mgr_b, "2026-02-01T09:00", org.b, leader=org.viewer_root, cat="作风建设")
    t[6] = new_task(p2, mgr_b, "2026-02-01T09:00", org.staff_b, date(2026, 3, 31))
    t[7] = new_task(p2, mgr_b, "2026-02-01T09:00", org.staff_b, date(2026, 3, 15))
    t[8] = new_task(p2, mgr_b, "2026-02-01T09:00", org.staff_b, date(2026, 7, 31))
    close(t[6], org.staff_b, mgr_b, "2026-03-01T10:00")
    tasks.start(t[7], org.staff_b, when("2026-02-05T10:00"))

    p3 = new_problem(make, root, "2026-03-01T09:00", org.root)
    t[9] = new_task(p3, root, "2026-03-01T09:00", root, date(2026, 5, 1))

    p4 = new_problem(make, root, "2026-04-01T09:00", org.a)
    t[10] = new_task(p4, root, "2026-04-01T09:00", org.staff_b, date(2026, 12, 31))
    db.session.commit()
    return {"tasks": t, "problems": {1: p1, 2: p2, 3: p3, 4: p4, 5: p5}}


def board_for(actor, unit, date_from=FROM, date_to=TO):
    return dashboard_figures(actor, unit, date_from, date_to, when("2026-06-15T10:00"))


def unit_rows(board):
    return {(r.kind, r.unit.code if r.unit else None): (r.measures, r.closed, r.closed_on_time, r.overdue)
            for r in board.by_unit}


def headline(f):
    return (f.problems, f.problems_closed, f.measures, f.closed, f.closed_on_time, f.in_progress, f.overdue,
            f.extensions, f.closure_rate, f.on_time_rate)


# --- figures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who, unit", [
    ("admin", "root"), ("admin", "a"), ("mgr_root", "root"), ("mgr_a", "a"), ("staff_a1", "a1"),
    ("mgr_b", "b"), ("viewer_root", "b"),
])
def test_headline_figures_are_the_reports(org, ledger, who, unit):
    actor, unit = org.users[who], org.units[unit]
    board = board_for(actor, unit)
    report = rectification_figures(actor, unit, FROM, TO, when("2026-06-15T10:00"))
    assert headline(board.figures) == headline(report)
    # The lists behind the report's section are not read: the page shows counts only.
    assert board.figures.open_items == board.figures.closed_items == []
    assert [(r.key, r.problems, r.measures, r.closed) for r in board.figures.by_category] == [
        (r.key, r.problems, r.measures, r.closed) for r in report.by_category]


def test_the_report_still_lists_what_the_dashboard_leaves_out(org, ledger):
    report = rectification_figures(org.mgr_root, org.root, FROM, TO, when("2026-06-15T10:00"))
    assert report.open_items and report.closed_items


def test_per_unit_closure_on_time_and_overdue(org, ledger):
    board = board_for(org.mgr_root, org.root)
    assert unit_rows(board) == {
        (CHILD, "A"): (4, 3, 2, 1),
        (CHILD, "B"): (5, 2, 2, 1),
        (ITSELF, "ROOT"): (1, 0, 0, 1),
    }
    assert [r.unit.code for r in board.by_unit] == ["A", "B", "ROOT"]
    a, b, itself = board.by_unit
    assert (a.closure_rate, a.on_time_rate) == (Decimal("75.0"), Decimal("66.7"))
    assert (b.closure_rate, b.on_time_rate) == (Decimal("40.0"), Decimal("100.0"))
    assert (itself.closure_rate, itself.on_time_rate) == (Decimal("0.0"), None)


def test_unit_rows_add_up_to_the_report(org, ledger):
    f = board_for(org.admin, org.root)
    totals = [sum(getattr(r, name) for r in f.by_unit) for name in ("measures", "closed", "closed_on_time",
                                                                     "overdue")]
    assert totals == [f.figures.measures, f.figures.closed, f.figures.closed_on_time, f.figures.overdue]
    assert totals == [10, 5, 4, 3]


def test_measures_of_other_units_and_of_the_unit_itself(org, ledger):
    # A's problems: T1, T2 at A itself, T3, T4 at A1, T10 carried out by B (admin sees it).
    assert unit_rows(board_for(org.admin, org.a)) == {
        (CHILD, "A1"): (2, 1, 1, 1),
        (ITSELF, "A"): (2, 2, 1, 0),
        (ELSEWHERE, None): (1, 0, 0, 0),
    }
    # mgr_a cannot read T10, so neither the report nor the dashboard counts it.
    assert unit_rows(board_for(org.mgr_a, org.a)) == {
        (CHILD, "A1"): (2, 1, 1, 1), (ITSELF, "A"): (2, 2, 1, 0)}


def test_children_without_measures_are_listed(org, ledger, make):
    empty = make.unit("C", "空单位", parent=org.root)
    db.session.commit()
    rows = unit_rows(board_for(org.admin, org.root))
    assert rows[(CHILD, "C")] == (0, 0, 0, 0)
    assert next(r for r in board_for(org.admin, org.root).by_unit if r.unit == empty).closure_rate is None


def test_overdue_by_responsible_leader(org, ledger):
    board = board_for(org.admin, org.root)
    rows = {r.leader_id: (r.name, r.overdue) for r in board.overdue_by_leader}
    assert rows == {org.mgr_root.id: ("局长", 1), org.viewer_root.id: ("纪检组长", 1), None: (None, 1)}
    assert board.overdue_by_leader[-1].leader_id is None  # "no leader" last among equals
    assert sum(r.overdue for r in board.overdue_by_leader) == board.figures.overdue


def test_overdue_is_counted_as_of_the_end_of_the_period(org, ledger):
    # On 2026-03-31 only T7 (due 03-15) was overdue; T3 and T9 were not due yet.
    board = board_for(org.admin, org.root, date_to=date(2026, 3, 31))
    assert board.figures.overdue == 1
    assert {r.leader_id: r.overdue for r in board.overdue_by_leader} == {org.viewer_root.id: 1}
    assert sum(r.overdue for r in board.by_unit) == 1


def test_found_and_closed_by_month(org, ledger):
    board = board_for(org.admin, org.root)
    assert not board.by_year
    assert [(r.label, r.problems_found, r.problems_closed, r.measures_closed) for r in board.by_period] == [
        ("2026-01", 2, 0, 0), ("2026-02", 1, 1, 1), ("2026-03", 1, 0, 2), ("2026-04", 1, 0, 1),
        ("2026-05", 0, 0, 1), ("2026-06", 0, 0, 0),
    ]
    f = board.figures
    assert sum(r.problems_found for r in board.by_period) == f.problems
    assert sum(r.problems_closed for r in board.by_period) == f.problems_closed
    assert sum(r.measures_closed for r in board.by_period) == f.closed


def test_period_rows_are_clipped_months_or_years():
    rows = period_rows(date(2025, 11, 15), date(2026, 2, 10), by_year=False)
    assert [(r.label, r.start, r.end) for r in rows] == [
        ("2025-11", date(2025, 11, 15), date(2025, 11, 30)),
        ("2025-12", date(2025, 12, 1), date(2025, 12, 31)),
        ("2026-01", date(2026, 1, 1), date(2026, 1, 31)), ("2026-02", date(2026, 2, 1), date(2026, 2, 10)),
    ]
    years = period_rows(date(2020, 3, 1), date(2026, 6, 15), by_year=True)
    assert [r.label for r in years] == [str(y) for y in range(2020, 2027)]
    assert (years[0].start, years[-1].end) == (date(2020, 3, 1), date(2026, 6, 15))


def test_a_long_period_is_shown_by_year(org, ledger):
    board = board_for(org.admin, org.root, date_from=date(2023, 1, 1))
    assert board.by_year
    assert [(r.label, r.problems_found) for r in board.by_period] == [
        ("2023", 0), ("2024", 0), ("2025", 0), ("2026", 5)]


def test_child_of_reads_the_path(org):
    root, a, a1 = org.root, org.a, org.a1
    assert child_of(root, a1.path) == a.id
    assert child_of(root, a.path) == a.id
    assert child_of(root, root.path) == ITSELF
    assert child_of(a, org.b.path) == ELSEWHERE


def test_service_refuses_a_unit_out_of_scope_and_a_bad_period(org, ledger):
    with pytest.raises(PermissionDenied):
        board_for(org.staff_b, org.a)
    with pytest.raises(ValidationFailed):
        board_for(org.admin, org.root, date_from=date(2026, 5, 1), date_to=date(2026, 4, 1))


# --- charts -------------------------------------------------------------------------------------


def parse(svg) -> ET.Element:
    return ET.fromstring(str(svg))


def texts(element: ET.Element) -> list[str]:
    """What the <text> elements show (their <title> tooltips left out)."""
    return [(t.text or "") + "".join(child.tail or "" for child in t) for t in element.iter(f"{SVG_NS}text")]


NASTY = ["<script>alert(1)</script>", "R&D \"x\" 'y'"]


@pytest.mark.parametrize("draw", ["bar", "grouped", "stacked", "line"])
def test_charts_are_well_formed_and_escape_labels(draw):
    series = [charts.Series("A&B <s>", "#198754"), charts.Series("On-time", "#0d6efd")]
    rows = [charts.Row(label, (40.0, None), href=f"/tasks?unit={i}&overdue=1", note="3 < 4")
            for i, label in enumerate(NASTY, 1)]
    if draw == "bar":
        svg = charts.bar_chart([charts.Row(r.label, (7,), r.href) for r in rows], series[:1], chart_id="c",
                               title="T <&>")
    elif draw == "grouped":
        svg = charts.bar_chart(rows, series, chart_id="c", title="T <&>", max_value=100)
    elif draw == "stacked":
        svg = charts.stacked_bars([charts.Row(r.label, (2, 3), r.href) for r in rows], series, chart_id="c",
                                  title="T <&>")
    else:
        svg = charts.line_chart([charts.Row(r.label, (2, 5), r.href) for r in rows], series, chart_id="c",
                                title="T <&>")
    assert "<script>" not in svg and "style=" not in svg
    root = parse(svg)
    assert root.tag == f"{SVG_NS}svg" and root.get("role") == "img"
    assert root.find(f"{SVG_NS}title").text == "T <&>"
    drawn = texts(root)
    assert any(t.startswith("<script>") for t in drawn)  # shown as text, truncated or not
    assert any(t.startswith("R&D") for t in drawn)
    links = [a.get("href") for a in root.iter(f"{SVG_NS}a")]
    assert links == ["/tasks?unit=1&overdue=1", "/tasks?unit=2&overdue=1"]
    tooltips = [t.text for t in root.iter(f"{SVG_NS}title")]
    assert any(t.startswith("<script>alert(1)</script> · ") for t in tooltips)


def test_bar_lengths_follow_the_values():
    svg = charts.bar_chart([charts.Row("a", (50.0,)), charts.Row("b", (100.0,)), charts.Row("c", (None,))],
                           [charts.Series("rate", "#000")], chart_id="c", title="t", max_value=100)
    widths = [float(r.get("width")) for r in parse(svg).iter(f"{SVG_NS}rect")]
    assert len(widths) == 2 and widths[1] == pytest.approx(2 * widths[0])
    assert "—" in texts(parse(svg))  # an undefined rate is written, not drawn


def test_long_labels_are_cut_but_kept_in_the_tooltip():
    label = "中共某某市某某区某某局机关第一党支部第一党小组"
    root = parse(charts.bar_chart([charts.Row(label, (1,))], [charts.Series("n", "#000")], chart_id="c",
                                  title="t"))
    assert any(t.endswith("…") and label.startswith(t[:-1]) for t in texts(root))
    assert any(label in (t.text or "") for t in root.iter(f"{SVG_NS}title"))


def test_nice_axis_maximum():
    assert [charts.nice_max(v) for v in (0, 3, 5, 9, 13, 41, 101)] == [4, 4, 8, 12, 20, 80, 120]


# --- the page -----------------------------------------------------------------------------------


def page(client, **args):
    return client.get("/dashboard", query_string=args)


def english(user):
    user.language = "en"
    db.session.commit()
    return user


def figure(html, key):
    match = re.search(rf'data-figure="{key}">(\d+)<', html)
    return int(match.group(1)) if match else None


def test_login_required(client, org):
    response = page(client)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("who", ["admin", "mgr_root", "mgr_a", "staff_a", "staff_a1", "viewer_b", "staff_b"])
def test_every_role_sees_its_own_unit_by_default(org, ledger, login_as, who):
    user = org.users[who]
    html = login_as(user).get("/dashboard").get_data(as_text=True)
    unit = user.unit or org.root  # the admin starts at the root
    report = rectification_figures(user, unit, FROM, TO, when("2026-06-15T10:00"))
    assert f"{unit.name} · 2026-01-01 – 2026-06-15" in html
    for key in ("problems", "measures", "closed", "closed_on_time", "in_progress", "overdue", "extensions"):
        assert figure(html, key) == getattr(report, key), key


def test_page_in_english_with_figures_rates_and_links(org, ledger, login_as):
    client = login_as(english(org.mgr_root))
    response = page(client, unit=org.root.id, date_from="2026-01-01", date_to="2026-06-15")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for text in ("Dashboard", "Closure and on-time rate by unit", "Overdue by unit",
                 "Overdue by responsible leader", "Found and closed out by month", "By category",
                 "Closure rate 50.0%", "On-time rate 80.0%", "as of 2026-06-15", "Show as a table"):
        assert text in html, text
    assert (figure(html, "problems"), figure(html, "measures"), figure(html, "closed")) == (5, 10, 5)
    root, a = org.root.id, org.a.id
    assert f'href="/problems?unit={root}&amp;found_after=2026-01-01&amp;found_before=2026-06-15"' in html
    assert f'href="/tasks?unit={a}"' in html
    assert f'href="/tasks?unit={a}&amp;overdue=1"' in html
    assert (f'href="/problems?unit={root}&amp;found_after=2026-01-01&amp;found_before=2026-06-15'
            f'&amp;overdue=1&amp;leader={org.viewer_root.id}"') in html
    assert "found_after=2026-03-01&amp;found_before=2026-03-31" in html
    assert f"category={category('作风建设').id}" in html
    assert "(itself)" not in html and "ROOT itself" not in html and "某局党委 itself" in html


def test_page_in_chinese_by_default(org, ledger, login_as):
    html = login_as(org.mgr_root).get("/dashboard").get_data(as_text=True)
    assert "<svg" in html
    assert 'lang="zh-CN"' in html


def test_every_svg_on_the_page_is_well_formed(org, ledger, login_as):
    html = login_as(org.admin).get("/dashboard").get_data(as_text=True)
    svgs = SVG.findall(html)
    assert len(svgs) == 5
    for svg in svgs:
        root = parse(svg)
        assert root.find(f"{SVG_NS}title").text
    assert "style=" not in "".join(svgs)


def test_unit_names_are_escaped_in_charts_and_tables(org, ledger, make, login_as):
    make.unit("X", "<script>alert(1)</script> R&D", parent=org.root)
    db.session.commit()
    html = login_as(org.admin).get("/dashboard").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; R&amp;D" in html
    for svg in SVG.findall(html):
        parse(svg)


def test_staff_of_b_cannot_see_unit_a(org, ledger, login_as):
    client = login_as(org.staff_b)
    html = client.get("/dashboard").get_data(as_text=True)
    assert org.a.name not in html  # neither a choice nor a row
    response = page(client, unit=org.a.id, date_from="2026-01-01", date_to="2026-06-15")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-error-for="unit"' in html
    assert 'data-figure="' not in html and "<svg" not in html


@pytest.mark.parametrize("unit", ["999999", "abc", "-1", "99999999999999999999", ""])
def test_unknown_or_junk_unit_is_a_form_error_not_a_500(org, ledger, login_as, unit):
    response = page(login_as(org.mgr_a), unit=unit, date_from="2026-01-01", date_to="2026-06-15")
    assert response.status_code == 422
    assert 'data-error-for="unit"' in response.get_data(as_text=True)


@pytest.mark.parametrize("args, message", [
    ({"date_from": "2026-13-01", "date_to": "2026-06-15"}, "Enter a date as YYYY-MM-DD."),
    ({"date_from": "yesterday", "date_to": "2026-06-15"}, "Enter a date as YYYY-MM-DD."),
    ({"date_from": "", "date_to": "2026-06-15"}, "Enter a date as YYYY-MM-DD."),
    ({"date_from": "0001-01-01", "date_to": "2026-06-15"}, "Enter a date between 1900-01-01 and 2999-12-31."),
    ({"date_from": "2026-01-01", "date_to": "9999-12-31"}, "Enter a date between 1900-01-01 and 2999-12-31."),
    ({"date_from": "2026-06-01", "date_to": "2026-05-01"},
     "The end of the period cannot be before its start."),
])
def test_bad_dates_are_form_errors(org, ledger, login_as, args, message):
    client = login_as(english(org.mgr_a))
    response = page(client, unit=org.a.id, **args)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert html.count(message) == 1 and "data-error-for=" in html
    assert "<svg" not in html


def test_admin_without_units_gets_a_hint(app, make, login_as):
    admin = make.user("boss", Role.ADMIN, None, language="en")
    db.session.commit()
    response = login_as(admin).get("/dashboard")
    assert response.status_code == 200
    assert "There are no units yet" in response.get_data(as_text=True)


# --- queries ------------------------------------------------------------------------------------


def seed(org, make, n_tasks):
    """n_tasks measures over A, A1 and B, some closed, some overdue, under several problems and leaders."""
    owners = [(org.mgr_a, org.staff_a), (org.mgr_a, org.staff_a1), (org.mgr_b, org.staff_b)]
    leaders = [org.mgr_root, org.viewer_root, None]
    for i in range(n_tasks):
        manager, owner = owners[i % 3]
        if i % 5 == 0:
            problem = new_problem(make, manager, f"2026-0{1 + i % 4}-05T09:00", owner.unit,
                                  leader=leaders[i % 3], cat=("政治建设", "作风建设", "纪律建设")[i % 3])
        else:
            problem = problem if problem.unit.path.startswith(manager.unit.path) else new_problem(
                make, manager, "2026-01-05T09:00", owner.unit)
        deadline = date(2026, 5, 1) + timedelta(days=i % 60)
        task = new_task(problem, manager, "2026-04-06T09:00", owner, deadline)
        if i % 4 == 0:
            close(task, owner, manager, "2026-05-10T10:00")
    db.session.commit()


def test_query_count_does_not_grow_with_the_data(org, make, login_as, queries):
    client = login_as(org.admin)
    seed(org, make, 10)
    with queries() as small:
        assert client.get("/dashboard").status_code == 200
    seed(org, make, 90)
    with queries() as large:
        html = client.get("/dashboard").get_data(as_text=True)
    assert figure(html, "measures") == 100
    assert len(large) == len(small) < 30


def test_an_admin_with_a_unit_still_starts_at_the_root(org, make, login_as):
    boss = make.user("boss", Role.ADMIN, org.b)
    db.session.commit()
    html = login_as(boss).get("/dashboard").get_data(as_text=True)
    assert f"{org.root.name} · 2026-01-01 – 2026-06-15" in html


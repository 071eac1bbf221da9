"""The problem list (问题清单) and responsibility list (责任清单): filters, sorting, paging, scope, cost."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

import flask_babel
import pytest
import sqlalchemy as sa
from conftest import TODAY, when
from werkzeug.datastructures import MultiDict

from tracker.enums import ProblemState, SourceKind, TaskType
from tracker.extensions import db
from tracker.problems.models import Category, Problem
from tracker.problems.queries import ProblemFilters, parse_sort, problem_query, task_counts
from tracker.tasks import services as tasks

LISTS = ["/problems", "/responsibilities"]


@pytest.fixture
def login(login_as):
    """Log in; the locale cache lives on the test's shared app context, so it is cleared for the new user."""

    def do(user):
        client = login_as(user)
        flask_babel.refresh()
        return client

    return do


def numbers(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(r'<a href="/problems/\d+">([^<]+)</a>', response.get_data(as_text=True))


@pytest.fixture
def data(org, make, clock):
    """Four problems across units A, A1 and B; P-02 has an overdue measure, P-03 is closed out."""
    cats = db.session.scalars(sa.select(Category).order_by(Category.sort_order)).all()
    src_a = make.source(org.a, name="支部自查", held_on=date(2026, 4, 1))
    src_b = make.source(org.b, name="审计整改", kind=SourceKind.AUDIT, held_on=date(2026, 3, 1))
    p1 = make.problem(org.mgr_a, number="P-01", source=src_a, category=cats[0], found_on=date(2026, 5, 1),
                      responsible_leader=org.mgr_a, responsible_person=org.staff_a, description="学习不深入")
    make.task(org.mgr_a, problem=p1, owner=org.staff_a)
    p2 = make.problem(org.mgr_a, unit=org.a1, number="P-02", source=src_a, category=cats[1],
                      found_on=date(2026, 5, 20), responsible_leader=org.mgr_a_2, description="制度执行不严")
    tasks.create_task(p2, org.mgr_a, when("2026-05-01T10:00:00"), measure="逾期的措施", owner=org.staff_a1,
                      unit=org.a1, deadline=date(2026, 6, 1))
    p3 = make.problem(org.mgr_b, number="P-03", source=src_b, category=cats[0], found_on=date(2026, 6, 10),
                      responsible_leader=org.mgr_b, responsible_person=org.staff_b,
                      description="经费管理不规范")
    t3 = make.task(org.mgr_b, problem=p3, owner=org.staff_b)
    tasks.submit(t3, org.staff_b, clock, result="已完成")
    tasks.verify(t3, org.mgr_b, clock)
    # Found in B with A leading: recorded by the root's manager (a branch manager may not name another
    # branch's unit).
    make.problem(org.mgr_root, unit=org.b, number="P-04", source=src_b, category=cats[1],
                 found_on=date(2026, 4, 1), lead_unit=org.a, description="完成率100%_未达标")
    db.session.commit()
    return {"cats": cats, "src_a": src_a, "src_b": src_b}


def _args(org, data, raw: str) -> str:
    ids = {"A": org.a.id, "A1": org.a1.id, "B": org.b.id, "SRC_A": data["src_a"].id,
           "C1": data["cats"][1].id, "MGR_B": org.mgr_b.id, "STAFF_B": org.staff_b.id}
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), raw)


FILTERS = [
    ("state=closed", ["P-03"]),
    ("state=open", ["P-01", "P-02", "P-04"]),
    ("unit={A}", ["P-01", "P-02", "P-04"]),  # A1 below A, and P-04's lead unit is A
    ("unit={A1}", ["P-02"]),
    ("unit={B}", ["P-03", "P-04"]),
    ("source={SRC_A}", ["P-01", "P-02"]),
    ("source_kind=audit", ["P-03", "P-04"]),
    ("category={C1}", ["P-02", "P-04"]),
    ("leader={MGR_B}", ["P-03"]),
    ("person={STAFF_B}", ["P-03"]),
    ("found_after=2026-05-15", ["P-02", "P-03"]),
    ("found_before=2026-05-01", ["P-01", "P-04"]),
    ("found_after=2026-05-01&found_before=2026-05-31", ["P-01", "P-02"]),
    ("q=制度", ["P-02"]),
    ("q=p-0", ["P-01", "P-02", "P-03", "P-04"]),
    ("q=100%25", ["P-04"]),
    ("q=%25", ["P-04"]),  # a literal %, not a wildcard
    ("q=_", ["P-04"]),
    ("overdue=1", ["P-02"]),
    ("overdue=1&unit={B}", []),
]


@pytest.mark.parametrize("path", LISTS)
def test_each_filter_narrows(org, data, login, path):
    client = login(org.admin)
    for query, expected in FILTERS:
        got = numbers(client.get(f"{path}?sort=number&{_args(org, data, query)}"))
        assert got == expected, query


SORTS = [
    ("", ["P-04", "P-03", "P-02", "P-01"]),  # default: number, newest first
    ("number", ["P-01", "P-02", "P-03", "P-04"]),
    ("found_on", ["P-04", "P-01", "P-02", "P-03"]),
    ("-found_on", ["P-03", "P-02", "P-01", "P-04"]),
    ("unit", ["P-01", "P-02", "P-03", "P-04"]),
    ("-unit", ["P-04", "P-03", "P-02", "P-01"]),
    ("category", ["P-01", "P-03", "P-02", "P-04"]),
    ("source", ["P-03", "P-04", "P-01", "P-02"]),
    ("state", ["P-03", "P-01", "P-02", "P-04"]),
    ("nonsense", ["P-04", "P-03", "P-02", "P-01"]),
]


def test_problem_list_sorting(org, data, login):
    client = login(org.admin)
    for sort, expected in SORTS:
        assert numbers(client.get(f"/problems?sort={sort}")) == expected, sort


def test_by_source_two_sources_of_one_day_and_name_are_not_interleaved(org, make, login):
    """By held_on and name, then source by source, then by id: a walk of ix_sources_order."""
    twins = [make.source(org.a, name="巡察反馈", held_on=date(2026, 3, 1)) for _ in range(2)]
    made = [make.problem(org.mgr_a, source=twins[i % 2]) for i in range(4)]
    db.session.commit()
    client = login(org.mgr_a)
    listed = [n for n in numbers(client.get("/problems?sort=source")) if n in {p.number for p in made}]
    assert listed == [p.number for src in twins for p in made if p.source_id == src.id]


def test_responsibility_list_sorting(org, data, login):
    client = login(org.admin)
    assert numbers(client.get("/responsibilities?sort=number")) == ["P-01", "P-02", "P-03", "P-04"]
    assert numbers(client.get("/responsibilities")) == ["P-04", "P-03", "P-02", "P-01"]


@pytest.mark.parametrize("path", LISTS)
def test_paging(org, data, login, path):
    client = login(org.admin)
    first = client.get(f"{path}?per_page=3")
    assert numbers(first) == ["P-04", "P-03", "P-02"]
    assert 'data-total="4"' in first.get_data(as_text=True)
    assert numbers(client.get(f"{path}?per_page=3&page=2")) == ["P-01"]
    assert numbers(client.get(f"{path}?per_page=3&page=9")) == []


SCOPE = [
    ("staff_b", ["P-03", "P-04"]),
    ("mgr_b", ["P-03", "P-04"]),
    ("staff_a", ["P-01", "P-02", "P-04"]),
    ("staff_a1", ["P-02"]),
    ("viewer_root", ["P-01", "P-02", "P-03", "P-04"]),
    ("viewer_b", ["P-03", "P-04"]),
    ("admin", ["P-01", "P-02", "P-03", "P-04"]),
]


@pytest.mark.parametrize("who, expected", SCOPE, ids=[s[0] for s in SCOPE])
def test_scope(org, data, login, who, expected):
    client = login(org.users[who])
    for path in LISTS:
        assert numbers(client.get(f"{path}?sort=number")) == expected, path


def test_owning_a_measure_makes_a_problem_visible(org, data, make, login):
    problem = db.session.scalar(sa.select(Problem).where(Problem.number == "P-01"))
    make.task(org.mgr_root, problem=problem, owner=org.staff_b)
    db.session.commit()
    assert numbers(login(org.staff_b).get("/problems?sort=number")) == ["P-01", "P-03", "P-04"]


def test_filters_cannot_widen_scope(org, data, login):
    client = login(org.staff_b)
    assert numbers(client.get(f"/problems?unit={org.a.id}&sort=number")) == ["P-04"]


JUNK = [
    "state=bogus", "unit=abc", "unit=99999999999999999999", "unit=-1", "unit=0", "source=1.5",
    "category=1e3", "leader=%FF", "person=", "found_after=2026-13-45", "found_before=yesterday",
    "page=abc", "page=-3", "page=99999999999", "per_page=100000", "per_page=x", "sort=drop%20table",
    "sort=-", "sort=--number", "q=%00", "q=" + "x" * 5000, "overdue=maybe", "source_kind=x",
    "unit=1&unit=2", "q=%27%3B--",
]


@pytest.mark.parametrize("path", LISTS)
def test_junk_arguments_never_fail(org, data, login, path):
    client = login(org.mgr_a)
    for query in JUNK:
        assert client.get(f"{path}?{query}").status_code == 200, query


def test_problem_list_row_shows_counts_source_and_description(org, data, login):
    body = html.unescape(login(org.admin).get("/problems?q=P-02").get_data(as_text=True))
    assert 'data-counts="0/1"' in body and 'data-overdue="1"' in body
    assert "支部自查" in body and "制度执行不严" in body
    closed = html.unescape(login(org.admin).get("/problems?q=P-03").get_data(as_text=True))
    assert 'data-counts="1/1"' in closed and "data-overdue" not in closed


def test_responsibility_list_shows_responsibility(org, data, login):
    body = html.unescape(login(org.admin).get("/responsibilities?q=P-02").get_data(as_text=True))
    assert org.mgr_a_2.name in body  # responsible leader
    assert org.staff_a1.name in body and "2026-06-01" in body  # measure owner and deadline
    assert org.a1.name in body  # lead unit


def test_new_problem_button_only_for_managers(org, data, login):
    assert 'id="new-problem"' in login(org.mgr_a).get("/problems").get_data(as_text=True)
    assert 'id="new-problem"' in login(org.admin).get("/problems").get_data(as_text=True)
    for who in ("staff_a", "viewer_root"):
        assert 'id="new-problem"' not in login(org.users[who]).get("/problems").get_data(as_text=True)


def test_filter_bar_offers_only_the_actors_units_and_has_a_reset_link(org, data, login):
    body = login(org.staff_b).get("/problems?state=open").get_data(as_text=True)
    unit_select = re.search(r'id="f-unit".*?</select>', body, re.S).group(0)
    assert f'<option value="{org.b.id}"' in unit_select
    assert f'<option value="{org.a.id}"' not in unit_select
    assert 'href="/problems" id="reset-filters"' in body
    assert "审计整改" in body and "支部自查" not in body


@pytest.mark.parametrize("path", LISTS)
def test_english_rendering(org, data, login, path):
    user = org.mgr_a
    user.language = "en"
    db.session.commit()
    body = login(user).get(path).get_data(as_text=True)
    assert '<html lang="en">' in body
    assert "Problem list" in body and "Responsibility list" in body
    assert ("Unit where found" if path == "/problems" else "Responsible leader") in body


# --- cost: no query per row --------------------------------------------------------------------------


def _add_problems(org, make, n: int, start: int) -> None:
    for i in range(start, start + n):
        problem = make.problem(org.mgr_a, number=f"Q-{i:04d}", responsible_leader=org.mgr_a,
                               responsible_person=org.staff_a, cooperating_units=[org.a1])
        make.task(org.mgr_a, problem=problem, owner=org.staff_a)
        make.task(org.mgr_a, problem=problem, owner=org.staff_a1, type=TaskType.ONGOING, deadline=None)
    db.session.commit()


@pytest.mark.parametrize("path", LISTS)
def test_query_count_does_not_grow_with_rows(org, make, login, queries, path):
    client = login(org.mgr_a)
    _add_problems(org, make, 10, 0)

    def measure() -> int:
        db.session.expire_all()  # nothing pre-loaded by the set-up may hide a lazy load
        with queries() as statements:
            response = client.get(f"{path}?per_page=200")
        assert response.status_code == 200
        return len(statements), len(numbers(response))

    small, shown_small = measure()
    _add_problems(org, make, 190, 10)
    large, shown_large = measure()
    assert (shown_small, shown_large) == (10, 200)
    assert small == large


# --- the query module directly -----------------------------------------------------------------------


def test_from_args_parses_and_ignores_junk():
    f = ProblemFilters.from_args(MultiDict({
        "state": "closed", "unit": "7", "source": "x", "source_kind": "audit", "category": "-2",
        "leader": "3", "person": "99999999999", "found_after": "2026-01-31", "found_before": "31/01/2026",
        "q": "  a\x00b  ", "overdue": "true",
    }))
    assert f == ProblemFilters(state=ProblemState.CLOSED, unit_id=7, source_kind=SourceKind.AUDIT,
                               leader_id=3, found_after=date(2026, 1, 31), q="ab", overdue=True)
    assert f.active
    assert not ProblemFilters.from_args({}).active


def test_parse_sort_whitelist():
    assert parse_sort(None) == ("number", True)
    assert parse_sort("found_on") == ("found_on", False)
    assert parse_sort("-unit") == ("unit", True)
    assert parse_sort("password_hash") == ("number", True)


def test_task_counts_in_one_query(org, data, queries, clock):
    ids = dict(db.session.execute(sa.select(Problem.number, Problem.id)).all())
    with queries() as statements:
        counts = task_counts(ids.values(), clock.today())
    assert len(statements) == 1
    assert (counts[ids["P-02"]].total, counts[ids["P-02"]].overdue) == (1, 1)
    assert (counts[ids["P-03"]].total, counts[ids["P-03"]].closed) == (1, 1)
    assert counts[ids["P-04"]].total == 0
    assert task_counts([], clock.today()) == {}


def test_overdue_filter_follows_the_clock(org, data):
    later = when((TODAY + timedelta(days=40)).isoformat())
    stmt = problem_query(org.admin, later, ProblemFilters(overdue=True), "number")
    got = [p.number for p in db.session.scalars(stmt)]
    assert got == ["P-01", "P-02"]  # P-01's deadline (today + 30) has passed by then
